"""The read model on a real database, fed through the real handlers (no broker): the figures a
scenario produces, and that applying every event a second time changes nothing, even without
the inbox (a replay into the same rows converges on the same state)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from contracts.base import Event
from contracts.catalogue import IngestCounts, RecordsAvailable, RecordsWithdrawn, TitlesIngested
from contracts.membership import Library, LibraryNames, MemberLeft, MemberUpdated
from contracts.outreach import AnnouncementPublished, CampaignSent, MessageDelivered
from contracts.procurement import (
    AgreementEnded,
    AgreementLeft,
    InterestRegistered,
    NeedProposed,
    TenderAwarded,
    TenderCancelled,
    TenderOpened,
)
from contracts.procurement import Supplier as ProcurementSupplier
from kit.consumer import Delivery
from kit.db import apply_migrations, create_pool
from kit.envelope import Envelope, decode, encode
from services.dashboard import domain, store
from services.dashboard.api import feed_item
from services.dashboard.figures import figures
from services.dashboard.handlers import reactions
from tests.conftest import Infra
from tests.integration.dashboard.support import joined, opted_in, signed

pytestmark = pytest.mark.integration

TODAY = dt.date.today()
MIGRATIONS = Path(__file__).parents[3] / "services" / "dashboard" / "migrations"


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


# Each scenario library serves its own municipality, except where a test shares them.
MUNICIPALITY = {"FI-A": "020", "FI-B": "049"}


def library(isil: str, population: int) -> Library:
    return Library(
        isil=isil,
        names=LibraryNames(fi=f"Kirjasto {isil}"),
        municipalities=[MUNICIPALITY.get(isil, "091")],
        population=population,
        library_system="Koha",
    )


def envelopes(events: Sequence[Event]) -> list[Envelope]:
    """Each event as the consumer would receive it, with increasing event times."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    result = []
    for index, event in enumerate(events):
        message = encode(event, source="/tests", time=start + dt.timedelta(seconds=index))
        headers = {k: v.encode() for k, v in message.headers.items()}
        result.append(decode(headers, message.key.encode(), message.value))
    return result


async def apply(pool: asyncpg.Pool, received: Sequence[Envelope]) -> None:
    for envelope in received:
        found = reactions.lookup(envelope.type)
        assert found is not None, envelope.type
        model, handler = found
        async with pool.acquire() as conn, conn.transaction():
            await handler(Delivery(conn, envelope), model.model_validate(envelope.data))


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    dsn = await infra.new_database("dashrm")
    created = await create_pool(dsn, 4)
    await apply_migrations(created, MIGRATIONS)
    try:
        yield created
    finally:
        await created.close()


def scenario() -> list[Event]:
    a, b = library("FI-A", 10_000), library("FI-B", 20_000)
    counts = dict(updated=0, unchanged=0, duplicate=0, withdrawn=0, warnings=1)
    return [
        joined("FI-A", 10_000, on=ago(40), municipalities=["020"]),
        joined("FI-B", 20_000, on=ago(20), municipalities=["049"]),
        MemberUpdated(library=b.model_copy(update={"population": 25_000}), is_member=True),
        MemberLeft(library=a, effective_date=ago(5), period=1),
        joined("FI-A", 10_000, on=ago(2), period=2, municipalities=["020"]),
        signed("AG-X", "E-kirjat", 1_000_000),
        opted_in("AG-X", "FI-A", "E-kirjat", 1),
        opted_in("AG-X", "FI-B", "E-kirjat", 2),
        AgreementLeft(
            agreement_id="AG-X", isil="FI-A", left_on=ago(1), reason="opt-out", participants=1
        ),
        signed("AG-Y", "E-lehdet", 500_000),
        opted_in("AG-Y", "FI-B", "E-lehdet", 1),
        AgreementEnded(agreement_id="AG-Y", kind="terminated", effective_on=ago(1)),
        TitlesIngested(
            batch_id="B1",
            collection_id="COL-1",
            agreement_id="AG-X",
            format="onix",
            mode="full",
            counts=IngestCounts(received=10, accepted=8, rejected=2, **counts),
            records_in_collection=8,
        ),
        TitlesIngested(
            batch_id="B2",
            collection_id="COL-1",
            agreement_id="AG-X",
            format="onix",
            mode="delta",
            counts=IngestCounts(received=5, accepted=5, rejected=0, **counts),
            records_in_collection=13,
        ),
        RecordsAvailable(
            isil="FI-A", collection_id="COL-1", agreement_id="AG-X", title="E-kirjat", count=13
        ),
        RecordsAvailable(
            isil="FI-B", collection_id="COL-1", agreement_id="AG-X", title="E-kirjat", count=13
        ),
        RecordsWithdrawn(
            isil="FI-A",
            collection_id="COL-1",
            agreement_id="AG-X",
            count=13,
            reason="agreement-left",
        ),
        RecordsWithdrawn(
            isil="FI-B",
            collection_id="COL-1",
            agreement_id="AG-X",
            count=1,
            reason="titles-removed",
        ),
        MessageDelivered(
            delivery_id=1, kind="welcome", isil="FI-A", cause_id="e1", status="sent", attempts=1
        ),
        MessageDelivered(
            delivery_id=2, kind="welcome", isil="FI-B", cause_id="e2", status="failed", attempts=5
        ),
        MessageDelivered(
            delivery_id=3, kind="kit", isil="FI-B", cause_id="e3", status="sent", attempts=1
        ),
        CampaignSent(
            campaign_id="C1",
            title="Kevät",
            audience="all",
            recipients=2,
            sent=2,
            failed=0,
            finished_at=dt.datetime.now(dt.UTC),
        ),
        AnnouncementPublished(
            announcement_id="AN1",
            title="Uutta",
            language="fi",
            published_at=dt.datetime.now(dt.UTC),
        ),
        NeedProposed(
            need_id="N1",
            proposed_by="FI-A",
            material_type="e-book",
            description="x",
            accepted_licence_models=[],
            required_devices=[],
            required_library_systems=[],
        ),
        InterestRegistered(need_id="N1", isil="FI-A"),
        InterestRegistered(need_id="N1", isil="FI-B"),
        TenderOpened(
            tender_id="T1",
            title="E-kirjat 2027",
            kl_reference="KL-1",
            deadline=dt.datetime.now(dt.UTC),
            need_ids=["N1"],
            material_types=["e-book"],
            interested_libraries=["FI-A"],
            criteria={"price": 60},
        ),
        TenderOpened(
            tender_id="T2",
            title="Lehdet",
            kl_reference="KL-2",
            deadline=dt.datetime.now(dt.UTC),
            need_ids=[],
            material_types=["e-magazine"],
            interested_libraries=[],
            criteria={},
        ),
        TenderAwarded(
            tender_id="T1",
            bid_id="BID",
            supplier=ProcurementSupplier(name="Ellibs", country="FI"),
            product="E-kirjat",
            total_score=88.5,
            overridden=False,
        ),
        TenderCancelled(tender_id="T2", reason="no bids"),
    ]


async def test_a_scenario_gives_the_expected_figures_and_reapplying_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    received = envelopes(scenario())
    await apply(pool, received)
    first = (await figures(pool, TODAY)).model_dump()

    assert first["members"] == {
        "active": 2,
        "population": 35_000,
        "population_share": domain.share(35_000),
    }
    agreements = {a["agreement_id"]: a for a in first["agreements"]["items"]}
    x, y = agreements["AG-X"], agreements["AG-Y"]
    assert (x["active"], x["participants"], x["population"]) == (True, 1, 25_000)
    assert x["population_share"] == domain.share(25_000)
    assert (x["annual_cost_cents"], x["supplier"], x["title"]) == (
        1_000_000,
        "Ellibs Oy",
        "E-kirjat",
    )
    assert (y["active"], y["participants"], y["ended_on"]) == (False, 0, ago(1))
    assert {k: first["agreements"][k] for k in ("active", "participants", "annual_cost_cents")} == {
        "active": 1,
        "participants": 1,
        "annual_cost_cents": 1_000_000,
    }
    [collection] = first["catalogue"]["items"]
    assert collection["collection_id"] == "COL-1" and collection["title"] == "E-kirjat"
    assert (collection["records"], collection["libraries"], collection["batches"]) == (13, 1, 2)
    assert (collection["received"], collection["rejected"], collection["warnings"]) == (15, 2, 2)
    assert collection["accepted_share"] == round(13 / 15, 4)
    assert first["outreach"] == {
        "sent": 2,
        "failed": 1,
        "by_kind": [
            {"kind": "kit", "sent": 1, "failed": 0},
            {"kind": "welcome", "sent": 1, "failed": 1},
        ],
        "campaigns": 1,
        "announcements": 1,
    }
    assert first["procurement"] == {
        "needs": 1,
        "interests": 2,
        "tenders_open": 0,
        "tenders_awarded": 1,
        "tenders_cancelled": 1,
    }
    membership = {p["date"]: p["count"] for p in first["history"]["membership"]}
    assert first["history"]["start"] == ago(40)
    assert (membership[ago(40)], membership[ago(30)], membership[ago(10)]) == (1, 1, 2)
    assert (membership[ago(3)], membership[TODAY]) == (1, 2)  # FI-A left, then came back
    participation = {p["date"]: p["count"] for p in first["history"]["participation"]}
    assert (participation[ago(4)], participation[ago(3)], participation[TODAY]) == (0, 3, 1)

    # The same events again (as a replay without the inbox would deliver them): no change.
    await apply(pool, received)
    assert (await figures(pool, TODAY)).model_dump() == first
    assert await pool.fetchval("SELECT count(*) FROM feed") == len(received)


async def test_the_feed_keeps_the_facts_of_each_event_without_personal_data(
    pool: asyncpg.Pool,
) -> None:
    from contracts.membership import Contact

    person = Contact(
        name="Aino Virtanen", email="aino@tornio.example", role="director", language="fi"
    )
    event = joined("FI-Tro", 21_500)
    event = event.model_copy(
        update={"library": event.library.model_copy(update={"contacts": [person]})}
    )
    [envelope] = envelopes([event])
    await apply(pool, [envelope])
    row = await pool.fetchrow("SELECT * FROM feed WHERE event_id = $1", envelope.id)
    assert (row["producer"], row["name"], row["key"]) == ("membership", "member-joined", "FI-Tro")
    assert row["occurred_at"] == envelope.time
    assert "aino" not in str(dict(row)).lower()
    assert await pool.fetchval("SELECT count(*) FROM members WHERE isil = 'FI-Tro'") == 1


async def test_an_unknown_extra_field_and_a_missing_optional_one_are_tolerated(
    pool: asyncpg.Pool,
) -> None:
    [envelope] = envelopes([opted_in("AG-Z", "FI-Z", "Musiikki", 1)])
    # A producer added a field this dashboard does not know yet.
    data = dict(envelope.data, cost_share_cents=1234)
    reshaped = Envelope(**{**envelope.__dict__, "data": data})
    await apply(pool, [reshaped])
    result = await figures(pool, TODAY)
    [agreement] = result.agreements.items
    assert (agreement.agreement_id, agreement.title, agreement.participants) == (
        "AG-Z",
        "Musiikki",
        1,
    )
    assert agreement.annual_cost_cents is None  # not known until agreement-signed arrives


async def test_libraries_sharing_municipalities_count_each_municipality_once(
    pool: asyncpg.Pool,
) -> None:
    # Helsinki's city library and a second library serving Helsinki too, and a joint library
    # of three towns next to the own library of one of them: summed, they were 1 620 000.
    events = [
        joined("FI-H1", 674_500, municipalities=["091"]),
        joined("FI-H2", 674_500, municipalities=["091"]),
        joined("FI-K", 210_000, municipalities=["179", "182", "216"]),
        joined("FI-J", 61_000, municipalities=["182"]),
        signed("AG-M", "E-kirjat", 100),
        opted_in("AG-M", "FI-H1", "E-kirjat", 1),
        opted_in("AG-M", "FI-H2", "E-kirjat", 2),
        opted_in("AG-M", "FI-K", "E-kirjat", 3),
    ]
    received = envelopes(events)
    await apply(pool, received)
    result = await figures(pool, TODAY)
    served = 674_500 + 70_000 + 70_000 + 70_000  # 182 counts the joint library's larger share
    assert (result.members.active, result.members.population) == (4, served)
    assert result.members.population_share == domain.share(served)
    [agreement] = result.agreements.items
    assert (agreement.participants, agreement.population) == (3, 674_500 + 210_000)
    assert agreement.valid_from == TODAY - dt.timedelta(days=5)

    # The library's municipalities follow its membership events.
    moved = joined("FI-J", 61_000, municipalities=["091"]).library
    await apply(pool, envelopes([MemberUpdated(library=moved, is_member=True)]))
    assert (await figures(pool, TODAY)).members.population == 674_500 + 210_000


async def test_a_campaigns_deliveries_are_one_feed_item_that_counts_them(
    pool: asyncpg.Pool,
) -> None:
    mails = [
        MessageDelivered(
            delivery_id=100 + n,
            kind="campaign",
            isil=f"FI-C{n}",
            cause_id="C-spring",
            status="failed" if n == 4 else "sent",
            attempts=1,
        )
        for n in range(5)
    ]
    other = MessageDelivered(
        delivery_id=200, kind="welcome", isil="FI-C0", cause_id="E-1", status="sent", attempts=1
    )
    received = envelopes([*mails, other])
    await apply(pool, received)

    async def shown(**filters: Any) -> list[tuple[str, str, str]]:
        rows, total = await store.feed_page(
            pool, name=None, producer=None, limit=50, offset=0, grouped=True, **filters
        )
        assert total == len(rows)
        items = [feed_item(row, "en", grouped=True) for row in rows]
        return [(i.event_id, i.key, i.summary) for i in items]

    campaign = ("deliveries:campaign:C-spring", "C-spring", "Messages (campaign): 4 sent, 1 failed")
    welcome = ("deliveries:welcome:E-1", "E-1", "Messages (welcome): 1 sent, 0 failed")
    assert await shown() == [welcome, campaign]
    assert await shown(key="C-spring") == [campaign]
    assert await shown(hide=store.DELIVERIES) == []
    # Every event keeps its own row (the API's default view lists each mail).
    rows, total = await store.feed_page(pool, name=None, producer=None, limit=50, offset=0)
    assert total == 6 and feed_item(rows[0], "en").summary == "Message (welcome) to FI-C0: sent"

    # A redelivered mail (as a replay without the inbox would bring) counts once.
    await apply(pool, received)
    assert await shown() == [welcome, campaign]
    assert (await figures(pool, TODAY)).outreach.sent == 5
