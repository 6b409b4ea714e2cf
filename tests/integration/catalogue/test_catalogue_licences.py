"""Records follow licences, on the real database and broker.

- A licence with post-cancellation access: a library that leaves keeps the records it had.
- A per-title agreement (one copy, one user purchases): a library's set holds the titles it
  bought (entitlements-changed through the broker), by ISBN; an expired purchase withdraws
  its title only when no other purchase covers it; on leaving, perpetual titles stay and the
  others go.
- A kimppa's purchase reaches every library of the kimppa, and the kimppa's set holds it once.
- A malformed holder is dead-lettered: nothing of it is recorded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from contracts.membership import KimppaUpdated
from contracts.procurement import EntitlementsChanged, TermValue, TitleEntitlement
from services.catalogue import commands
from tests.conftest import Infra, wait_for
from tests.integration.catalogue.conftest import (
    Actors,
    base_number,
    isbn,
    join,
    leave,
    marc_file,
    marc_records,
    outbox_events,
    publish,
    signed_event,
    unique,
    unique_isil,
    upload,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
TODAY = dt.date.today()


async def sign_with(catalogue: Service, **changes: Any) -> str:
    agreement_id = unique("agr")
    event = signed_event(agreement_id, title="Lisensoitu").model_copy(update=changes)
    async with catalogue.pool.acquire() as conn, conn.transaction():
        await commands.agreement_signed(conn, event)
    return agreement_id


async def live_titles(catalogue: Service, owner: str) -> list[str]:
    """Match keys (ISBNs) of the records a library's set holds now."""
    rows = await catalogue.pool.fetch(
        """
        SELECT r.match_key FROM library_records lr JOIN records r ON r.id = lr.record_id
        WHERE lr.isil = $1 AND NOT lr.deleted ORDER BY 1
        """,
        owner,
    )
    return [row["match_key"] for row in rows]


def title(
    number: int, *, survives: bool = False, order: str = "", acquired: dt.date = TODAY
) -> TitleEntitlement:
    return TitleEntitlement(
        isbn=isbn(number),
        licence_model="one-copy-one-user",
        copies=1,
        acquired_on=acquired,
        order_reference=order,
        survives_leaving=survives,
    )


async def test_post_cancellation_access_keeps_the_records_after_leaving(
    catalogue: Service, actors: Actors
) -> None:
    agreement = await sign_with(
        catalogue,
        licence_terms={
            "post_cancellation_access": TermValue(type="permitted_status", value="permitted")
        },
    )
    isil = unique_isil("FI-P")
    await join(catalogue, agreement, isil)
    start = base_number()
    await upload(catalogue, actors, agreement, marc_file(marc_records(range(start, start + 3))))
    assert len(await live_titles(catalogue, isil)) == 3
    await leave(catalogue, agreement, isil)
    assert len(await live_titles(catalogue, isil)) == 3  # kept: post-cancellation access
    withdrawn = [p for n, p in await outbox_events(catalogue, isil) if n == "records-withdrawn"]
    assert [w["count"] for w in withdrawn] == [0]
    # New titles after leaving are not added to a kept set.
    await upload(
        catalogue, actors, agreement, marc_file(marc_records(range(start + 10, start + 11)))
    )
    assert len(await live_titles(catalogue, isil)) == 3


async def test_per_title_sets_follow_purchases_expiry_and_leaving(
    catalogue: Service, actors: Actors, infra: Infra
) -> None:
    agreement = await sign_with(catalogue, price_model="per-title")
    isil = unique_isil("FI-T")
    await join(catalogue, agreement, isil)
    start = base_number()
    await upload(catalogue, actors, agreement, marc_file(marc_records(range(start, start + 4))))
    assert await live_titles(catalogue, isil) == []  # taking part buys nothing by itself

    await publish(
        infra,
        EntitlementsChanged(
            agreement_id=agreement,
            holder=isil,
            change="added",
            titles=[
                title(start, survives=True),
                title(start + 1, order="PO-1"),
                title(start + 1, order="PO-2"),
            ],
        ),
    )
    wanted = sorted([isbn(start), isbn(start + 1)])
    await wait_for(lambda: _equals(live_titles(catalogue, isil), wanted))
    available = [p for n, p in await outbox_events(catalogue, isil) if n == "records-available"]
    assert available[-1]["count"] == 2 and available[-1]["reason"] == "titles-added"
    assert available[-1]["oai_set"] == f"library:{isil}"

    # One of two purchases of a title expires: the other still covers it.
    await publish(
        infra,
        EntitlementsChanged(
            agreement_id=agreement,
            holder=isil,
            change="expired",
            titles=[title(start + 1, order="PO-1")],
        ),
    )
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT expired FROM entitlements WHERE holder = $1 AND order_reference = 'PO-1'",
            isil,
        )
    )
    assert await live_titles(catalogue, isil) == wanted

    # Leaving: the perpetual title stays, the other is withdrawn.
    await leave(catalogue, agreement, isil)
    assert await live_titles(catalogue, isil) == [isbn(start)]
    withdrawn = [p for n, p in await outbox_events(catalogue, isil) if n == "records-withdrawn"]
    assert withdrawn[-1]["count"] == 1 and withdrawn[-1]["reason"] == "agreement-left"


async def test_a_kimppa_purchase_reaches_its_libraries_and_its_set_once(
    catalogue: Service, actors: Actors, infra: Infra
) -> None:
    kimppa_id = f"kimppa-{uuid.uuid4().hex[:8]}"
    first, second = unique_isil("FI-K"), unique_isil("FI-K")
    await publish(
        infra,
        KimppaUpdated(
            kimppa_id=kimppa_id,
            kimppa_name="Ostokimppa",
            library_system="Koha",
            melinda_code="OSTO",
            libraries=[first, second],
        ),
    )
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT count(*) = 2 FROM libraries WHERE kimppa_id = $1", kimppa_id
        )
    )
    agreement = await sign_with(catalogue, price_model="per-title")
    for library in (first, second):
        await join(catalogue, agreement, library)
    start = base_number()
    await upload(catalogue, actors, agreement, marc_file(marc_records(range(start, start + 3))))
    await publish(
        infra,
        EntitlementsChanged(
            agreement_id=agreement,
            holder=f"kimppa:{kimppa_id}",
            change="added",
            titles=[title(start + 2)],
        ),
    )
    await wait_for(lambda: _equals(live_titles(catalogue, second), [isbn(start + 2)]))
    assert await live_titles(catalogue, first) == [isbn(start + 2)]
    rows = await catalogue.pool.fetch(
        "SELECT holders, deleted FROM kimppa_records WHERE kimppa_id = $1", kimppa_id
    )
    assert [(list(r["holders"]), r["deleted"]) for r in rows] == [(sorted([first, second]), False)]


async def test_a_malformed_holder_is_dead_lettered_and_nothing_is_recorded(
    catalogue: Service, actors: Actors, infra: Infra
) -> None:
    agreement = await sign_with(catalogue, price_model="per-title")
    isil = unique_isil("FI-B")
    await join(catalogue, agreement, isil)
    bad = EntitlementsChanged(
        agreement_id=agreement, holder="no such holder", change="added", titles=[title(1)]
    )
    good = EntitlementsChanged(
        agreement_id=agreement, holder=isil, change="added", titles=[title(2)]
    )
    await publish(infra, bad, good)  # one key: the good one is handled after the bad one
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT count(*) = 1 FROM entitlements WHERE agreement_id = $1", agreement
        )
    )
    holders = await catalogue.pool.fetch(
        "SELECT holder FROM entitlements WHERE agreement_id = $1", agreement
    )
    assert [r["holder"] for r in holders] == [isil]


async def _equals(value: Any, expected: Any) -> bool:
    return (await value) == expected
