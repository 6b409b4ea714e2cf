"""Dashboard composition root: the read model's consumer (its own group on every topic), the
live feed's broadcaster, the dead-letter reader, and the page, stream and JSON API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from fastapi import FastAPI

from kit.app import Runtime, ServiceSpec, create_app
from kit.revocation import react_to_revocations
from kit.settings import Settings
from services.dashboard import event_docs, governance, pages
from services.dashboard.api import router as api_router
from services.dashboard.dead_letters import DeadLetterReader
from services.dashboard.deps import Dashboard
from services.dashboard.handlers import reactions
from services.dashboard.live import Broadcaster
from services.dashboard.operator import LagProbe
from services.dashboard.settings import DashboardSettings


def _wire(
    dashboard_settings: DashboardSettings,
) -> tuple[
    Callable[[Runtime], Awaitable[Dashboard]],
    Callable[[Runtime], Awaitable[None]],
    Callable[[Runtime], Awaitable[None]],
]:
    async def provide(runtime: Runtime) -> Dashboard:
        assert runtime.pool is not None
        broadcaster = Broadcaster(runtime.settings.database_url, runtime.pool)
        broadcaster.start()
        return Dashboard(
            settings=dashboard_settings,
            broadcaster=broadcaster,
            probe=LagProbe(runtime.settings.kafka),
            http=httpx.AsyncClient(timeout=dashboard_settings.scrape_timeout_s),
            pages=pages.environment(),
        )

    async def on_startup(runtime: Runtime) -> None:
        assert runtime.pool is not None
        reader = DeadLetterReader(
            runtime.settings.kafka, runtime.pool, poll_s=dashboard_settings.dead_letter_poll_s
        )

        async def connected() -> None:
            # The kit exposes the connection as a flag, not an event, so it is polled.
            while not runtime.kafka_ready:  # noqa: ASYNC110
                await asyncio.sleep(0.2)

        # The kit cancels the runtime's tasks on shutdown, after the consumer has drained.
        runtime.tasks.append(asyncio.create_task(reader.run(connected), name="dead-letters"))

    async def on_shutdown(runtime: Runtime) -> None:
        dashboard = runtime.deps_as(Dashboard)
        await dashboard.broadcaster.stop()
        await dashboard.probe.close()
        await dashboard.http.aclose()

    return provide, on_startup, on_shutdown


def build(settings: Settings, dashboard_settings: DashboardSettings | None = None) -> FastAPI:
    provide, on_startup, on_shutdown = _wire(dashboard_settings or DashboardSettings())
    spec = ServiceSpec(
        name="dashboard",
        title="Konsortio dashboard",
        description=(
            "The consortium's key figures and live event feed, built from every topic; an "
            "operator view of health, outbox backlog, consumer lag and dead letters."
        ),
        migrations=Path(__file__).parent / "migrations",
        routers=[api_router, pages.router, event_docs.router, governance.router],
        reactions=react_to_revocations(reactions),
        deps=provide,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
    )
    return create_app(spec, settings)
