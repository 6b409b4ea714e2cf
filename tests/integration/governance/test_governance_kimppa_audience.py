"""A survey whose audience is a kimppa asks exactly that kimppa's member libraries, as
procurement learnt them from membership's events on the real broker (member-joined with
``library.kimppa``, then kimppa-updated with the kimppa's libraries now)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.base import Event
from contracts.membership import KimppaRef, KimppaUpdated, MemberJoined
from kit.envelope import encode
from services.procurement.app import build
from tests.conftest import Infra, consumer_ready, running, wait_for
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import TODAY, Actors, library, unique_isil

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def kimppa_procurement(infra: Infra) -> AsyncIterator[Service]:
    """Its own database and consumer group, so only its own events are in question."""
    dsn = await infra.new_database("procurement_kimppa")
    settings = infra.settings(
        "procurement", dsn, consumer_group=f"procurement-kimppa-{uuid.uuid4().hex[:8]}"
    )
    app = build(settings)
    async with running(app) as client:
        await consumer_ready(app)
        yield Service(app, client, dsn)


async def send(infra: Infra, *events: Event) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            message = encode(event, source="/konsortio/membership")
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
    finally:
        await producer.stop()


def joined(isil: str, kimppa: KimppaRef | None) -> MemberJoined:
    lib = library(isil).model_copy(update={"kimppa": kimppa})
    return MemberJoined(library=lib, joined_on=TODAY - dt.timedelta(days=10), period=1)


def survey(audience: str) -> dict[str, Any]:
    return {
        "kind": "new-need",
        "title_fi": "Tarvitaanko uusi palvelu?",
        "title_sv": "Behövs en ny tjänst?",
        "opens_on": TODAY.isoformat(),
        "closes_on": (TODAY + dt.timedelta(days=7)).isoformat(),
        "audience": audience,
        "questions": [
            {
                "id": "need",
                "kind": "single",
                "fi": "Tarvitsetteko?",
                "sv": "Behöver ni?",
                "options": [
                    {"id": "yes", "fi": "Kyllä", "sv": "Ja"},
                    {"id": "no", "fi": "Ei", "sv": "Nej"},
                ],
            }
        ],
    }


async def test_a_kimppa_survey_asks_exactly_that_kimppas_members(
    infra: Infra, kimppa_procurement: Service, actors: Actors
) -> None:
    service = kimppa_procurement
    kimppa_id = f"vaski-{uuid.uuid4().hex[:6]}"
    ref = KimppaRef(id=kimppa_id, name="Vaski", library_system="Koha")
    ours = sorted(unique_isil("FI-K") for _ in range(3))
    other = unique_isil("FI-K")
    lone = unique_isil("FI-K")
    await send(infra, *(joined(isil, ref) for isil in ours), joined(other, None), joined(lone, ref))

    async def kimppa_of(isil: str) -> str | None:
        return await service.pool.fetchval("SELECT kimppa_id FROM members WHERE isil = $1", isil)

    async def members_known() -> bool:
        return all([await kimppa_of(isil) == kimppa_id for isil in [*ours, lone]])

    await wait_for(members_known)

    # kimppa-updated is the kimppa's libraries now: ``lone`` left it, ``other`` joined it.
    now = sorted([*ours, other])
    await send(
        infra,
        KimppaUpdated(
            kimppa_id=kimppa_id, kimppa_name="Vaski", library_system="Koha", libraries=now
        ),
    )

    async def kimppa_changed() -> bool:
        return await kimppa_of(other) == kimppa_id and await kimppa_of(lone) is None

    await wait_for(kimppa_changed)

    response = await service.client.post(
        "/surveys", json=survey(f"kimppa:{kimppa_id}"), headers=actors.coordinator
    )
    assert response.status_code == 201, response.text
    assert response.json()["audience"] == now

    # A library of the kimppa answers; one outside it is refused.
    answer = {"answers": {"need": "yes"}}
    url = f"/surveys/{response.json()['id']}/answers"
    ok = await service.client.put(f"{url}/{ours[0]}", json=answer, headers=actors.library(ours[0]))
    assert ok.status_code == 200, ok.text
    refused = await service.client.put(f"{url}/{lone}", json=answer, headers=actors.library(lone))
    assert refused.status_code == 409, refused.text


@pytest.mark.parametrize("audience", ["kimppa:no-such-kimppa", "kimppa:", "kimppa:bad id"])
async def test_an_unknown_or_malformed_kimppa_is_refused_naming_the_audience(
    kimppa_procurement: Service, actors: Actors, audience: str
) -> None:
    before = await kimppa_procurement.pool.fetchval("SELECT count(*) FROM surveys")
    response = await kimppa_procurement.client.post(
        "/surveys", json=survey(audience), headers=actors.coordinator
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [e.get("field") or "" for e in response.json().get("errors", [])]
    assert any(f.endswith("audience") for f in fields), response.json()
    assert await kimppa_procurement.pool.fetchval("SELECT count(*) FROM surveys") == before
