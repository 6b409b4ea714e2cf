"""One running dashboard per test session, shared by the integration and the browser tests.

The dashboard is served over real HTTP by uvicorn (server-sent events need a streaming server;
httpx's ASGI transport buffers whole responses), with its lifespan run by the shared
``running`` helper. Both test directories define a ``dashboard`` fixture through
``shared_dashboard``, which keeps the instance in the pytest config's stash, so a full run
pays for one consumer-group join, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from contracts.base import Event
from contracts.membership import Library, LibraryNames, MemberJoined
from contracts.procurement import AgreementJoined, AgreementSigned, Supplier
from kit.envelope import encode
from konsortio.consumers import lag
from konsortio.stack import free_port
from services.dashboard.app import build
from services.dashboard.settings import DashboardSettings
from tests.conftest import Infra, consumer_ready, running, wait_for

SCRAPED = ("membership", "outreach", "procurement")
# The kit starts one group member per subscribed topic, one after another, and each join
# rebalances the group: about 30 s for the dashboard's four topics on Tansu (one member over
# all four topics would join in about 5 s).
JOIN_TIMEOUT_S = 90.0
# Municipality codes no other test's libraries use, one per library: the dashboard counts
# each municipality's population once, so libraries that shared one would not add up.
_MUNICIPALITY_CODES = itertools.count(500)


@dataclass
class DashboardUnderTest:
    app: FastAPI
    url: str
    client: httpx.AsyncClient  # real HTTP to ``url``
    dsn: str
    scrape_ports: dict[str, int]  # where the operator view expects the other services

    @property
    def pool(self) -> Any:
        return self.app.state.runtime.pool

    async def figures(self) -> dict[str, Any]:
        response = await self.client.get("/api/figures")
        assert response.status_code == 200, response.text
        return response.json()


@contextlib.asynccontextmanager
async def serve(app: FastAPI, port: int) -> AsyncIterator[str]:
    """Serve an app whose lifespan is already running over HTTP on 127.0.0.1:``port``."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,  # well past the test client's keep-alive (see dashboard_stack)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def dashboard_stack(infra: Infra) -> AsyncIterator[DashboardUnderTest]:
    dsn = await infra.new_database("dashboard")
    ports = {name: free_port() for name in SCRAPED}
    settings = infra.settings("dashboard", dsn)
    app = build(
        settings,
        DashboardSettings(
            service_urls=",".join(f"{n}=http://127.0.0.1:{p}" for n, p in ports.items()),
            scrape_timeout_s=1.0,
            dead_letter_poll_s=0.2,
        ),
    )
    async with running(app), serve(app, free_port()) as url:
        await consumer_ready(app, timeout_s=JOIN_TIMEOUT_S)

        # A new group reads every topic from the start: wait until it has read what earlier
        # tests published, or that backlog lands in the feed after a test's own events and
        # pushes them off the page (seen on the Apache Kafka lane).
        async def caught_up() -> bool:
            behind = await lag(settings.kafka, app.state.runtime.consumer_group)
            return all(p.lag == 0 for p in behind)

        await wait_for(caught_up, timeout_s=JOIN_TIMEOUT_S, interval_s=0.3)
        # The client lets an idle connection go long before the server closes it: with both
        # at 5 s (the defaults), reusing one the server was closing was a ReadError.
        limits = httpx.Limits(keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
            yield DashboardUnderTest(app, url, client, dsn, ports)


DASHBOARD = pytest.StashKey[DashboardUnderTest]()


async def shared_dashboard(
    request: pytest.FixtureRequest, infra: Infra
) -> AsyncIterator[DashboardUnderTest]:
    stash = request.config.stash
    if DASHBOARD in stash:
        yield stash[DASHBOARD]
        return
    async with dashboard_stack(infra) as dashboard:
        stash[DASHBOARD] = dashboard
        try:
            yield dashboard
        finally:
            del stash[DASHBOARD]


# --- publishing events straight to the broker -------------------------------------------------


async def publish(infra: Infra, events: Sequence[Event], source: str = "/tests") -> list[str]:
    """Publish as the producing service's relay would; returns the event ids."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        ids = []
        for event in events:
            message = encode(event, source=source)
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
            ids.append(message.headers["ce_id"])
        return ids
    finally:
        await producer.stop()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def unique_municipality() -> str:
    """A municipality code of this session's own (500 onwards)."""
    return f"{next(_MUNICIPALITY_CODES) % 1000:03d}"


def joined(
    isil: str,
    population: int,
    on: dt.date | None = None,
    period: int = 1,
    municipalities: list[str] | None = None,
) -> MemberJoined:
    return MemberJoined(
        library=Library(
            isil=isil,
            names=LibraryNames(
                fi=f"Testikirjasto {isil}", sv=f"Testbibliotek {isil}", en=f"Test Library {isil}"
            ),
            municipalities=municipalities or [unique_municipality()],
            population=population,
            library_system="Koha",
        ),
        joined_on=on or dt.date.today() - dt.timedelta(days=10),
        period=period,
    )


def signed(agreement_id: str, title: str, annual_cost_cents: int) -> AgreementSigned:
    today = dt.date.today()
    return AgreementSigned(
        agreement_id=agreement_id,
        tender_id=f"T-{agreement_id}",
        title=title,
        supplier=Supplier(name="Ellibs Oy", country="FI"),
        product="E-kirjat",
        material_types=["e-book"],
        licence_terms={},
        periods=[{"start": today - dt.timedelta(days=5), "end": today + dt.timedelta(days=360)}],
        extension_options=1,
        annual_cost_cents=annual_cost_cents,
        cost_share_model="per-capita",
        signed_on=today - dt.timedelta(days=5),
    )


def opted_in(agreement_id: str, isil: str, title: str, participants: int) -> AgreementJoined:
    return AgreementJoined(
        agreement_id=agreement_id,
        isil=isil,
        joined_on=dt.date.today() - dt.timedelta(days=3),
        title=title,
        supplier=Supplier(name="Ellibs Oy", country="FI"),
        product="E-kirjat",
        participants=participants,
    )


def agreement_in(figures: dict[str, Any], agreement_id: str) -> dict[str, Any] | None:
    return next(
        (a for a in figures["agreements"]["items"] if a["agreement_id"] == agreement_id), None
    )
