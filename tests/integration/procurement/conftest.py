"""Procurement for integration tests: one app per session on the real database and broker,
and builders that take a tender or an agreement to the state a test is about.

Members normally arrive from membership's events; ``add_member`` writes them through the
same command the handler uses, so the API tests need no broker. The tests in
``test_procurement_events.py`` use ``live_procurement``, on the real broker.

Time: a tender's deadline is real time. ``in_evaluation`` moves the clock by passing an
explicit ``now`` after the deadline to the command, instead of sleeping; one API test waits for
a real deadline. Scheduled jobs are driven with an explicit ``today``. The database is shared
by the session, so every agreement built here runs a year from today unless a test says
otherwise: a job driven a few days ahead touches only the agreements a test made due.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.membership import Library, LibraryNames
from kit.auth import Role
from kit.settings import KafkaSettings, Settings
from konsortio.stack import free_port
from services.procurement import commands
from services.procurement.app import build
from tests.conftest import Infra, consumer_ready, running, wait_for
from tests.integration.conftest import Service, auth

pytestmark = pytest.mark.integration

TODAY = dt.date.today()
AN_HOUR = dt.timedelta(hours=1)


def offline_settings(infra: Infra, service: str, dsn: str) -> Settings:
    """Settings whose broker address has no listener: the service works and records its
    events in the outbox, and none of them is published."""
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    return infra.settings(service, dsn, kafka=kafka)


@pytest.fixture(scope="session")
async def procurement(infra: Infra) -> AsyncIterator[Service]:
    """For the API tests: the real database, and no broker. They check what each command
    records in the outbox (the same transaction as the state change); keeping the hundreds of
    events they record off the shared broker keeps other services' consumers in this session
    (outreach mails every member about every agreement-signed) from reacting to them."""
    dsn = await infra.new_database("procurement")
    app = build(offline_settings(infra, "procurement", dsn))
    async with running(app) as client:
        yield Service(app, client, dsn)


@pytest.fixture(scope="session")
async def live_procurement(infra: Infra) -> AsyncIterator[Service]:
    """On the real broker: it consumes membership's topic and publishes its own."""
    dsn = await infra.new_database("procurement_live")
    # A consumer group of its own: a module that imports this fixture (governance's conftest)
    # gets an instance of its own, with its own database, and two instances in one group would
    # split the partitions between them, each missing the events the other took.
    group = f"procurement-live-{uuid.uuid4().hex[:8]}"
    app = build(infra.settings("procurement", dsn, consumer_group=group))
    async with running(app) as client:
        await consumer_ready(app)
        yield Service(app, client, dsn)


def unique_isil(prefix: str = "FI-P") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def library(isil: str, population: int = 10_000, system: str = "Koha") -> Library:
    return Library(
        isil=isil,
        names=LibraryNames(fi=f"Kirjasto {isil}", sv=f"Bibliotek {isil}"),
        municipalities=["091"],
        population=population,
        library_system=system,
    )


async def add_member(
    procurement: Service,
    isil: str | None = None,
    population: int = 10_000,
    system: str = "Koha",
    joined_on: dt.date = TODAY - dt.timedelta(days=30),
) -> str:
    isil = isil or unique_isil()
    async with procurement.pool.acquire() as conn, conn.transaction():
        await commands.member_joined(conn, library(isil, population, system), joined_on)
    return isil


class Actors:
    """Tokens of the roles the tests act as."""

    def __init__(self, infra: Infra) -> None:
        self.infra = infra

    def __call__(self, role: Role, isil: str | None = None) -> dict[str, str]:
        return auth(self.infra.token(role, isil))

    @property
    def procurement(self) -> dict[str, str]:
        return self(Role.PROCUREMENT)

    @property
    def coordinator(self) -> dict[str, str]:
        return self(Role.COORDINATOR)

    def library(self, isil: str) -> dict[str, str]:
        return self(Role.LIBRARY, isil)


@pytest.fixture(scope="session")
def actors(infra: Infra) -> Actors:
    return Actors(infra)


def need_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "material_type": "e-audiobook",
        "description": "Finnish and Swedish e-audiobooks for adults and children",
        "accepted_licence_models": ["annual-fee"],
        "required_devices": ["ios", "android"],
        "required_library_systems": ["koha"],
    }
    body.update(extra)
    return body


def tender_body(need_ids: list[str], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "E-audiobooks 2027-2029",
        "kl_reference": f"KL-{uuid.uuid4().hex[:6]}",
        "need_ids": need_ids,
        "deadline": (dt.datetime.now(dt.UTC) + AN_HOUR).isoformat(),
        "criteria": {"price": 50, "quality": 30, "compatibility": 20},
        "price_model": "annual-fee",
        # Below the national threshold: no standstill, so tests may sign at once.
        "estimated_value_cents": 50_000_00,
    }
    body.update(extra)
    return body


def bid_body(supplier: str, price_cents: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "supplier": {"name": supplier, "country": "SE"},
        "product": f"{supplier} Library",
        "price_model": "annual-fee",
        "price_cents": price_cents,
        "supported_devices": ["ios", "android", "web"],
        "supported_library_systems": ["koha", "aurora"],
        "terms": {
            "concurrent_users": 1,
            "loan_period_days": {"value": 21, "note": "renewable once"},
            "drm": "readium-lcp",
            "annual_opt_out": "permitted",
        },
    }
    body.update(extra)
    return body


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def need_with_interest(
    procurement: Service, actors: Actors, interested: list[str] | None = None
) -> str:
    proposer = await add_member(procurement)
    need = ok(
        await procurement.client.post("/needs", json=need_body(), headers=actors.library(proposer)),
        201,
    )
    for isil in interested or []:
        ok(
            await procurement.client.post(
                f"/needs/{need['id']}/interest",
                json={"indicative_budget_cents": 500_000},
                headers=actors.library(isil),
            ),
            201,
        )
    return need["id"]


async def open_tender(
    procurement: Service, actors: Actors, need_ids: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    need_ids = need_ids or [await need_with_interest(procurement, actors)]
    tender = ok(
        await procurement.client.post(
            "/tenders", json=tender_body(need_ids, **extra), headers=actors.procurement
        ),
        201,
    )
    return ok(
        await procurement.client.post(f"/tenders/{tender['id']}/open", headers=actors.procurement)
    )


async def in_evaluation(
    procurement: Service,
    actors: Actors,
    prices: tuple[int, ...] = (10_000_000, 12_000_000),
    terms: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An open tender with bids, moved past its deadline into evaluation."""
    tender = await open_tender(procurement, actors)
    bids = [
        ok(
            await procurement.client.post(
                f"/tenders/{tender['id']}/bids",
                json=bid_body(f"Supplier {i}", price)
                if terms is None
                else bid_body(f"Supplier {i}", price, terms=terms),
                headers=actors.procurement,
            ),
            201,
        )
        for i, price in enumerate(prices)
    ]
    after_deadline = dt.datetime.fromisoformat(tender["deadline"]) + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, tender["id"], after_deadline)
    return tender, bids


async def awarded(
    procurement: Service, actors: Actors, terms: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict]]:
    tender, bids = await in_evaluation(procurement, actors, terms=terms)
    for bid, score in zip(bids, (70, 90), strict=True):
        ok(
            await procurement.client.put(
                f"/tenders/{tender['id']}/bids/{bid['id']}/quality",
                json={"score": score},
                headers=actors.procurement,
            )
        )
        for target in ("ios", "koha"):
            ok(
                await procurement.client.post(
                    f"/tenders/{tender['id']}/bids/{bid['id']}/tests",
                    json={"target": target, "passed": True},
                    headers=actors.procurement,
                ),
                201,
            )
    ok(
        await procurement.client.post(
            f"/tenders/{tender['id']}/award", json={}, headers=actors.procurement
        )
    )
    return tender, bids


def agreement_body(tender_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tender_id": tender_id,
        "title": "E-audiobooks for public libraries",
        "first_period": {
            "start": TODAY.isoformat(),
            "end": (TODAY + dt.timedelta(days=364)).isoformat(),
            "cancellation_deadline": (TODAY + dt.timedelta(days=270)).isoformat(),
        },
        "extension_options": {"count": 2, "months": 12},
        "cost_share": {"model": "per-capita"},
    }
    body.update(extra)
    return body


async def signed_agreement(
    procurement: Service, actors: Actors, terms: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    tender, _ = await awarded(procurement, actors, terms)
    if "annual_cost_cents" in extra:
        # The awarded bid's fee is the price; a test that divides another sum records why.
        extra.setdefault("price_amendment", "a test's own annual cost to divide")
    return ok(
        await procurement.client.post(
            "/agreements", json=agreement_body(tender["id"], **extra), headers=actors.coordinator
        ),
        201,
    )


async def opt_in(
    procurement: Service, actors: Actors, agreement_id: str, isil: str, **body: Any
) -> dict[str, Any]:
    return ok(
        await procurement.client.post(
            f"/agreements/{agreement_id}/participants", json=body, headers=actors.library(isil)
        ),
        201,
    )


async def outbox(procurement: Service, key: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) of what procurement recorded for an aggregate, in order."""
    rows = await procurement.pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE key = $1 ORDER BY id", key
    )
    return [(r["event_type"].split(".")[-2], json.loads(bytes(r["payload"]))) for r in rows]


async def count_rows(procurement: Service, table: str) -> int:
    queries = {
        "needs": "SELECT count(*) FROM needs",
        "interests": "SELECT count(*) FROM interests",
        "tenders": "SELECT count(*) FROM tenders",
        "bids": "SELECT count(*) FROM bids",
        "tests": "SELECT count(*) FROM compatibility_results",
        "quality": "SELECT count(*) FROM quality_scores",
        "awards": "SELECT count(*) FROM awards",
        "agreements": "SELECT count(*) FROM agreements",
        "participations": "SELECT count(*) FROM participations",
        "outbox": "SELECT count(*) FROM outbox",
    }
    return await procurement.pool.fetchval(queries[table])


async def snapshot(procurement: Service) -> dict[str, int]:
    tables = ("needs", "interests", "tenders", "bids", "tests", "quality", "awards")
    tables += ("agreements", "participations", "outbox")
    return {table: await count_rows(procurement, table) for table in tables}


async def published(
    infra: Infra, key: str, wanted: int, topic: str = "konsortio.procurement"
) -> list[tuple[str, dict[str, Any]]]:
    """Read ``topic`` from the outside, from the beginning, until ``wanted`` records keyed
    ``key`` have arrived; (event name, payload) in partition order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: list[Any] = []
    try:

        async def assigned() -> bool:
            await consumer._client.force_metadata_update()
            return bool(consumer.partitions_for_topic(topic))

        await wait_for(assigned)
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            seen.extend(r for records in batch.values() for r in records if r.key == key.encode())
            return len(seen) >= wanted

        await wait_for(enough)
    finally:
        await consumer.stop()
    return [(dict(r.headers)["ce_type"].decode().split(".")[-2], json.loads(r.value)) for r in seen]
