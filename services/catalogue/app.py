"""Catalogue composition root."""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI

from contracts import catalogue as events
from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.revocation import react_to_revocations
from kit.settings import Settings
from services.catalogue import commands
from services.catalogue.api import router
from services.catalogue.deps import CatalogueDeps
from services.catalogue.handlers import reactions
from services.catalogue.melinda import holdings
from services.catalogue.melinda import jobs as melinda_jobs
from services.catalogue.melinda.client import MelindaClient
from services.catalogue.settings import CatalogueSettings


def melinda_deps(settings: CatalogueSettings) -> melinda_jobs.MelindaDeps:
    factory = None
    if settings.melinda_url:

        def factory() -> MelindaClient:
            return MelindaClient(
                settings.melinda_url,
                username=settings.melinda_username,
                password=settings.melinda_password.get_secret_value(),
                library=settings.melinda_library,
                timeout_s=settings.melinda_timeout_s,
            )

    return melinda_jobs.MelindaDeps(
        client=factory,
        isil=settings.catalogue_agency_isil,
        system_code=settings.melinda_sid_code,
        lease=dt.timedelta(seconds=settings.melinda_lease_s),
        poll_interval_s=settings.melinda_poll_interval_s,
    )


def _wire(
    catalogue_settings: CatalogueSettings,
) -> tuple[
    Callable[[Runtime], Awaitable[CatalogueDeps]],
    Callable[[Runtime], Awaitable[None]],
    Callable[[Runtime], Awaitable[None]],
    Callable[[Runtime], Awaitable[None]],
]:
    """The dependencies factory (which also readies the spool and fails orphaned batches)
    and the three scheduled jobs, over one set of dependencies."""
    # Without a configured key, this process signs with a key of its own: its tokens then
    # work on this replica only (several replicas need the setting, the same on each).
    token_key = catalogue_settings.oai_token_key.get_secret_value().encode() or secrets.token_bytes(
        32
    )
    deps = CatalogueDeps(
        settings=catalogue_settings,
        melinda=melinda_deps(catalogue_settings),
        spool_dir=Path(catalogue_settings.catalogue_spool_dir or tempfile.gettempdir()),
        oai_token_key=token_key,
    )

    async def provide(runtime: Runtime) -> CatalogueDeps:
        deps.spool_dir.mkdir(parents=True, exist_ok=True)
        # A batch left 'processing' by a process that died must not block its collection.
        assert runtime.pool is not None
        await commands.fail_orphaned_batches(runtime.pool)
        return deps

    async def reconcile_due(runtime: Runtime) -> None:
        assert runtime.pool is not None
        await commands.reconcile_due(runtime.pool, runtime.clock.today())
        await commands.fail_orphaned_batches(runtime.pool)

    async def resume_melinda(runtime: Runtime) -> None:
        assert runtime.pool is not None
        await melinda_jobs.resume_due(runtime.pool, deps.melinda)

    async def melinda_holdings(runtime: Runtime) -> None:
        assert runtime.pool is not None
        if deps.melinda.client is not None:
            await holdings.sync(runtime.pool, deps.melinda)

    return provide, reconcile_due, resume_melinda, melinda_holdings


def make_spec(catalogue_settings: CatalogueSettings) -> ServiceSpec:
    provide, reconcile_due, resume_melinda, melinda_holdings = _wire(catalogue_settings)
    return ServiceSpec(
        name="catalogue",
        title="Konsortio catalogue",
        description=(
            "The unified metadata process: supplier title lists into collections, quality "
            "reports, per-library record sets, exports, OAI-PMH and Melinda-ready export."
        ),
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        reactions=react_to_revocations(reactions),
        publishes=events.EVENTS,
        jobs=[
            PeriodicJob("reconcile-record-sets", reconcile_due, interval_s=60.0),
            PeriodicJob("resume-melinda-jobs", resume_melinda, interval_s=30.0),
            PeriodicJob("melinda-holdings", melinda_holdings, interval_s=60.0),
        ],
        deps=provide,
        upload_paths=["/batches"],
        upload_max_bytes=catalogue_settings.catalogue_upload_max_bytes,
    )


def build(settings: Settings, catalogue_settings: CatalogueSettings | None = None) -> FastAPI:
    return create_app(make_spec(catalogue_settings or CatalogueSettings()), settings)
