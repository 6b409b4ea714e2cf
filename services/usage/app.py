"""Usage composition root: the SUSHI client, the harvest job, the routes, and what it
reacts to."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts import usage as events
from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.revocation import react_to_revocations
from kit.settings import Settings
from services.usage import commands
from services.usage.api import router
from services.usage.handlers import reactions
from services.usage.settings import UsageSettings
from services.usage.sushi import SushiClient


def spec(usage_settings: UsageSettings) -> ServiceSpec:
    policy = commands.HarvestPolicy(
        batch=usage_settings.harvest_batch,
        lease_s=usage_settings.harvest_lease_s,
        max_attempts=usage_settings.harvest_max_attempts,
        retry_base_s=usage_settings.harvest_retry_base_s,
        secrets_dir=Path(usage_settings.secrets_dir),
    )

    async def sushi_client(_runtime: Runtime) -> SushiClient:
        return SushiClient(usage_settings.sushi_timeout_s)

    async def on_shutdown(runtime: Runtime) -> None:
        await runtime.deps_as(SushiClient).close()

    async def harvest(runtime: Runtime) -> None:
        assert runtime.pool is not None
        client = runtime.deps_as(SushiClient)
        while not runtime.stopping.is_set():
            if await commands.harvest_round(runtime.pool, client.report, policy) == 0:
                return

    return ServiceSpec(
        name="usage",
        title="Konsortio usage",
        description=(
            "COUNTER 5.1 usage over SUSHI and suppliers' loan reports; cost per use and "
            "per-loan invoice checks."
        ),
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        reactions=react_to_revocations(reactions),
        publishes=events.EVENTS,
        jobs=[PeriodicJob("harvest", harvest, interval_s=usage_settings.harvest_interval_s)],
        deps=sushi_client,
        on_shutdown=[on_shutdown],
        upload_paths=["/agreements/"],
        upload_max_bytes=500 * 1024 * 1024,
    )


def build(settings: Settings, usage_settings: UsageSettings | None = None) -> FastAPI:
    return create_app(spec(usage_settings or UsageSettings()), settings)
