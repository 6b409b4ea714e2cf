"""A provider's customer id that is a kimppa's: harvested usage is held by the kimppa
(``kimppa:<id>``) and read by the kimppa's libraries, as membership's events say who they are;
on the real broker, PostgreSQL and a SUSHI stand-in."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from contracts.membership import (
    KimppaRef,
    KimppaUpdated,
    Library,
    LibraryNames,
    MemberJoined,
    MemberUpdated,
)
from kit.auth import Role
from services.usage.sushi_standin import SushiStandIn
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service, unique_isil
from tests.integration.usage.test_usage_harvest import (
    auth,
    configure,
    harvest,
    new_agreement,
    settled,
)

pytestmark = pytest.mark.integration

SPAN = {"from": "2025-01", "to": "2025-02", "metric": "Unique_Title_Requests"}


def library(isil: str, kimppa: KimppaRef | None) -> Library:
    return Library(
        isil=isil,
        names=LibraryNames(fi=f"Kirjasto {isil}"),
        municipalities=["698"],
        population=10_000,
        library_system="Koha",
        kimppa=kimppa,
    )


async def test_a_kimppas_usage_is_held_by_the_kimppa_and_read_by_its_libraries(
    infra: Infra, usage: Service, standin: SushiStandIn, publish: Any
) -> None:
    kimppa_id = f"kimppa-{uuid.uuid4().hex[:6]}"
    holder = f"kimppa:{kimppa_id}"
    first, second, alone = unique_isil("FI-K"), unique_isil("FI-K"), unique_isil("FI-L")
    ref = KimppaRef(id=kimppa_id, name="Testikimppa", library_system="Koha")
    await publish(
        MemberJoined(library=library(first, ref), joined_on=dt.date(2024, 1, 1), period=1),
        MemberJoined(library=library(alone, None), joined_on=dt.date(2024, 1, 1), period=1),
        KimppaUpdated(
            kimppa_id=kimppa_id,
            kimppa_name="Testikimppa",
            library_system="Koha",
            libraries=[first, second],
        ),
    )

    agreement = new_agreement()
    kimppa_customer, own_customer = f"cust-{uuid.uuid4().hex[:6]}", f"cust-{uuid.uuid4().hex[:6]}"
    await configure(
        usage.client, infra, standin, agreement, {holder: kimppa_customer, alone: own_customer}
    )
    await harvest(usage.client, infra, agreement, "2025-01", "2025-02")
    assert await settled(usage.client, infra, agreement) == {"done": 4}
    holders = await usage.pool.fetch(
        "SELECT DISTINCT isil FROM usage_revisions WHERE agreement_id = $1", agreement
    )
    assert {r["isil"] for r in holders} == {holder, alone}

    expected = sum(
        standin.counts(kimppa_customer, f"2025-{m:02d}", isbn)[1]
        for m in (1, 2)
        for isbn, _, _ in standin.title_list()
    )

    async def read(isil: str | None, role: Role = Role.LIBRARY, kimppa: str = kimppa_id) -> Any:
        return await usage.client.get(
            f"/kimppas/{kimppa}/usage", params=SPAN, headers=auth(infra, role, isil)
        )

    async def readable_by(isil: str) -> bool:
        return (await read(isil)).status_code == 200

    # Both libraries of the kimppa (one known from its own event, one from the kimppa's).
    await wait_for(lambda: readable_by(first))
    await wait_for(lambda: readable_by(second))
    for isil in (first, second):
        response = await read(isil)
        assert sum(r["total"] for r in response.json()["items"]) == expected
    response = await read(None, Role.COORDINATOR)
    assert response.status_code == 200
    assert sum(r["total"] for r in response.json()["items"]) == expected
    response = await usage.client.get(
        f"/agreements/{agreement}/usage",
        params={**SPAN, "group": "library"},
        headers=auth(infra, Role.PROCUREMENT),
    )
    assert {r["isil"] for r in response.json()["items"]} == {holder, alone}

    # Any other library is refused, and so is an unknown kimppa.
    assert (await read(alone)).status_code == 403
    assert (await read(first, kimppa="no-such-kimppa")).status_code == 403
    assert (await read(None, Role.COORDINATOR, "no-such-kimppa")).status_code == 404
    # The kimppa's usage is not a library's own.
    response = await usage.client.get(
        f"/libraries/{first}/usage", params=SPAN, headers=auth(infra, Role.LIBRARY, first)
    )
    assert response.status_code == 200 and response.json()["items"] == []

    # The kimppa lets a library go, and a library leaves its kimppa: neither reads it any more.
    await publish(
        KimppaUpdated(
            kimppa_id=kimppa_id, kimppa_name="Testikimppa", library_system="Koha", libraries=[first]
        ),
    )

    async def refused(isil: str) -> bool:
        return (await read(isil)).status_code == 403

    await wait_for(lambda: refused(second))
    assert (await read(first)).status_code == 200
    await publish(MemberUpdated(library=library(first, None), is_member=True))
    await wait_for(lambda: refused(first))
