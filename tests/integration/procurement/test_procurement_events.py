"""Procurement on the real broker: its member list follows membership's events, leaving the
consortium leaves every agreement (agreement-left on the topic), its own events reach the
topic as CloudEvents, and scheduled agreement ends fire on their date."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.membership import MemberLeft
from kit.auth import Role
from kit.consumer import MESSAGES
from kit.envelope import encode
from services.procurement import commands
from services.procurement.app import build
from tests.conftest import Infra, consumer_ready, running, wait_for
from tests.integration.conftest import Service, library_body, register_and_join
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    add_member,
    library,
    need_with_interest,
    ok,
    open_tender,
    opt_in,
    outbox,
    published,
    signed_agreement,
    unique_isil,
)

pytestmark = pytest.mark.integration

# A procurement of this module's own (own database, own consumer group): these tests count
# exactly what one instance publishes, and an instance shared with other modules would also
# carry their members. (What once looked like a shared procurement that stopped consuming was
# two session instances in one consumer group, each missing the events the other took; see
# the session fixture in conftest.py.)


@pytest.fixture(scope="module")
async def live_procurement(infra: Infra) -> AsyncIterator[Service]:
    dsn = await infra.new_database("procurement_events")
    settings = infra.settings(
        "procurement", dsn, consumer_group=f"procurement-events-{uuid.uuid4().hex[:8]}"
    )
    app = build(settings)
    async with running(app) as client:
        await consumer_ready(app)
        yield Service(app, client, dsn)


DAY = dt.timedelta(days=1)


async def known_member(procurement: Service, actors: Actors, isil: str, **expect: object) -> dict:
    async def seen() -> dict | None:
        page = ok(
            await procurement.client.get("/members", params={"q": isil}, headers=actors.coordinator)
        )
        match = [m for m in page["items"] if m["isil"] == isil]
        if match and all(match[0][k] == v for k, v in expect.items()):
            return match[0]
        return None

    return await wait_for(seen)


async def shares(procurement: Service, actors: Actors, agreement_id: str) -> dict[str, int]:
    table = ok(
        await procurement.client.get(
            f"/agreements/{agreement_id}/cost-shares", headers=actors.coordinator
        )
    )
    assert table["total_cents"] in (0, table["annual_cost_cents"])
    return {row["isil"]: row["share_cents"] for row in table["items"]}


async def test_a_library_that_leaves_the_consortium_leaves_its_agreements(
    infra: Infra, membership: Service, live_procurement: Service, actors: Actors
) -> None:
    procurement = live_procurement
    leaving, staying = unique_isil("FI-L"), unique_isil("FI-S")
    await register_and_join(
        membership, infra, library_body(leaving, population=30_000, library_system="QURIA")
    )
    await register_and_join(membership, infra, library_body(staying, population=10_000))
    member = await known_member(procurement, actors, leaving, active=True)
    assert member["library_system"] == "quria" and member["population"] == 30_000
    await known_member(procurement, actors, staying, active=True)

    first = await signed_agreement(procurement, actors)
    second = await signed_agreement(procurement, actors, cost_share={"model": "equal"})
    for isil in (leaving, staying):
        await opt_in(procurement, actors, first["id"], isil)
    await opt_in(procurement, actors, second["id"], leaving)
    assert await shares(procurement, actors, first["id"]) == {
        leaving: 7_500_000,
        staying: 2_500_000,
    }

    response = await membership.client.post(
        f"/libraries/{leaving}/notice",
        json={"effective_date": TODAY.isoformat()},
        headers={"Authorization": f"Bearer {infra.token(Role.COORDINATOR)}"},
    )
    assert response.status_code == 200, response.text

    # Seen from outside: agreement-left on procurement's topic, for both agreements.
    events = await published(infra, first["id"], wanted=5)
    assert [name for name, _ in events] == [
        "agreement-signed",
        "agreement-signed",  # v2 beside v1
        "agreement-joined",
        "agreement-joined",
        "agreement-left",
    ]
    left = events[-1][1]
    assert (left["isil"], left["reason"], left["left_on"], left["participants"]) == (
        leaving,
        "membership-ended",
        TODAY.isoformat(),
        1,
    )
    [*_, (name, payload)] = await published(infra, second["id"], wanted=3)
    assert name == "agreement-left" and payload["participants"] == 0

    # The cost shares are recomputed: the library that stayed now carries the whole cost.
    assert await shares(procurement, actors, first["id"]) == {staying: 10_000_000}
    assert await shares(procurement, actors, second["id"]) == {}
    await known_member(procurement, actors, leaving, active=False)
    # A former member cannot opt in again.
    response = await procurement.client.post(
        f"/agreements/{first['id']}/participants", json={}, headers=actors.library(leaving)
    )
    assert response.status_code == 409


async def test_member_updated_refreshes_the_population_behind_the_cost_shares(
    infra: Infra, membership: Service, live_procurement: Service, actors: Actors
) -> None:
    procurement = live_procurement
    a, b = unique_isil("FI-U"), unique_isil("FI-U")
    for isil in (a, b):
        await register_and_join(membership, infra, library_body(isil, population=10_000))
        await known_member(procurement, actors, isil, active=True)
    agreement = await signed_agreement(procurement, actors, annual_cost_cents=100_000)
    for isil in (a, b):
        await opt_in(procurement, actors, agreement["id"], isil)
    assert await shares(procurement, actors, agreement["id"]) == {a: 50_000, b: 50_000}
    # Only the coordinator changes a population (a documented exception to the official
    # figures); the library changes its own library system.
    response = await membership.client.patch(
        f"/libraries/{a}",
        json={"population": 30_000, "population_reason": "serves part of a neighbour"},
        headers={"Authorization": f"Bearer {infra.token(Role.COORDINATOR)}"},
    )
    assert response.status_code == 200, response.text
    response = await membership.client.patch(
        f"/libraries/{a}",
        json={"library_system": "Sierra"},
        headers={"Authorization": f"Bearer {infra.token(Role.LIBRARY, isil=a)}"},
    )
    assert response.status_code == 200, response.text
    await known_member(procurement, actors, a, population=30_000, library_system="sierra")
    assert await shares(procurement, actors, agreement["id"]) == {a: 75_000, b: 25_000}


async def test_a_redelivered_member_left_emits_agreement_left_once(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    procurement = live_procurement
    isil = await add_member(procurement)
    agreement = await signed_agreement(procurement, actors)
    await opt_in(procurement, actors, agreement["id"], isil)
    message = encode(
        MemberLeft(library=library(isil), effective_date=TODAY, period=1), source="/tests"
    )
    duplicates = MESSAGES.labels("procurement", message.topic, "duplicate")
    before = duplicates._value.get()
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(2):  # the same CloudEvent (same id) twice
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
    finally:
        await producer.stop()

    # The counter is the process's: the session's shared procurement (another group) counts
    # its own duplicate too, so wait for this one's effect first, then for the duplicate.
    async def agreement_left() -> list[dict]:
        return [p for n, p in await outbox(procurement, agreement["id"]) if n == "agreement-left"]

    await wait_for(agreement_left)
    await wait_for(lambda: duplicates._value.get() >= before + 1)
    left = await agreement_left()
    assert len(left) == 1 and left[0]["isil"] == isil


async def test_procurement_events_reach_the_topic_as_cloudevents(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    procurement = live_procurement
    interested = [await add_member(procurement) for _ in range(2)]
    need_id = await need_with_interest(procurement, actors, interested)
    tender = await open_tender(procurement, actors, [need_id])
    [(name, payload)] = await published(infra, tender["id"], wanted=1)
    assert name == "tender-opened"
    # Outreach invites these libraries without asking procurement who they are.
    assert payload["interested_libraries"] == sorted(interested)

    agreement = await signed_agreement(procurement, actors)
    await opt_in(procurement, actors, agreement["id"], interested[0])
    events = await published(infra, agreement["id"], wanted=3)
    # agreement-signed v1, then v2 beside it, then the joining.
    assert [name for name, _ in events] == [
        "agreement-signed",
        "agreement-signed",
        "agreement-joined",
    ]
    signed, joined = events[0][1], events[2][1]
    assert events[1][1]["cost_share"] == {
        "model": "per-capita",
        "base_fee_cents": 0,
        "rate_per_resident_cents": None,
        "bands": None,
    }
    # What catalogue and outreach need, with no call back to procurement.
    for field in ("title", "supplier", "product", "material_types", "licence_terms", "periods"):
        assert signed[field], field
    assert signed["annual_cost_cents"] == 10_000_000  # the awarded bid's fee
    assert signed["cost_share_model"] == "per-capita"
    assert joined["isil"] == interested[0] and joined["title"] == signed["title"]


async def ended_by_the_job(
    procurement: Service, actors: Actors, agreement_id: str, today: dt.date
) -> dict[str, Any]:
    """Run the job's rounds until the agreement has ended, as the periodic job would: a row
    that a command or the service's consumer holds at that moment is skipped (SKIP LOCKED)
    and taken on a later round."""

    async def ended() -> dict[str, Any] | None:
        await commands.end_due_agreements(procurement.pool, today)
        state = ok(
            await procurement.client.get(f"/agreements/{agreement_id}", headers=actors.coordinator)
        )
        return state if state["state"] == "ended" else None

    return await wait_for(ended)


async def test_scheduled_ends_fire_on_their_date(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    procurement = live_procurement
    # Three days long: expiry's effective date is TODAY + 3. Every other agreement of this
    # session runs a year, or is terminated further ahead, so driving the job to TODAY + 4
    # ends only these.
    short = await signed_agreement(
        procurement,
        actors,
        first_period={
            "start": TODAY.isoformat(),
            "end": (TODAY + 2 * DAY).isoformat(),
            "cancellation_deadline": TODAY.isoformat(),
        },
    )
    terminated = await signed_agreement(procurement, actors)
    isil = await add_member(procurement)
    await opt_in(procurement, actors, short["id"], isil)
    await opt_in(procurement, actors, terminated["id"], isil)
    ok(
        await procurement.client.post(
            f"/agreements/{terminated['id']}/termination",
            json={"effective_on": (TODAY + 4 * DAY).isoformat(), "reason": "Merged into another"},
            headers=actors.coordinator,
        )
    )

    await commands.end_due_agreements(procurement.pool, TODAY + 2 * DAY)
    state = ok(
        await procurement.client.get(f"/agreements/{short['id']}", headers=actors.coordinator)
    )
    assert state["state"] == "active"

    state = await ended_by_the_job(procurement, actors, short["id"], TODAY + 3 * DAY)
    assert state["end"]["kind"] == "expiry"
    events = await published(infra, short["id"], wanted=4)
    assert [name for name, _ in events][-2:] == ["agreement-ended", "agreement-left"]
    ended, left = events[-2][1], events[-1][1]
    assert (ended["kind"], ended["effective_on"]) == ("expired", (TODAY + 3 * DAY).isoformat())
    assert (left["isil"], left["reason"], left["left_on"]) == (
        isil,
        "agreement-ended",
        (TODAY + 3 * DAY).isoformat(),
    )
    assert await commands.end_due_agreements(procurement.pool, TODAY + 3 * DAY) == 0

    still = ok(
        await procurement.client.get(f"/agreements/{terminated['id']}", headers=actors.coordinator)
    )
    assert still["state"] == "active" and still["end"]["scheduled"] is True
    await ended_by_the_job(procurement, actors, terminated["id"], TODAY + 4 * DAY)
    events = await published(infra, terminated["id"], wanted=4)
    assert [name for name, _ in events][-2:] == ["agreement-ended", "agreement-left"]
    assert events[-2][1]["kind"] == "terminated"
    assert events[-2][1]["reason"] == "Merged into another"
    assert events[-1][1]["left_on"] == (TODAY + 4 * DAY).isoformat()


async def test_two_replicas_of_the_job_end_an_agreement_once(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors)
    ok(
        await procurement.client.post(
            f"/agreements/{agreement['id']}/termination",
            json={"effective_on": (TODAY + 5 * DAY).isoformat(), "reason": "Replica test"},
            headers=actors.coordinator,
        )
    )
    await asyncio.gather(
        *(commands.end_due_agreements(procurement.pool, TODAY + 5 * DAY) for _ in range(3))
    )
    names = [n for n, _ in await outbox(procurement, agreement["id"])]
    assert names.count("agreement-ended") == 1
