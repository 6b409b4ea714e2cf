"""Membership composition root."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi import FastAPI

from contracts import membership as events
from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.settings import Settings
from services.membership import commands
from services.membership.api import router
from services.membership.api_parties import router as parties_router
from services.membership.api_tokens import router as tokens_router


async def load_shipped_figures(runtime: Runtime) -> None:
    assert runtime.pool is not None
    await commands.ensure_shipped_figures(runtime.pool, dt.date.today())


async def apply_due_leaves(runtime: Runtime) -> None:
    assert runtime.pool is not None
    await commands.apply_due_leaves(runtime.pool, dt.date.today())


SPEC = ServiceSpec(
    name="membership",
    title="Konsortio membership",
    description="The library register and consortium membership: organisations, kimppas, "
    "official population figures, agreement versions; join, update, leave.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router, parties_router, tokens_router],
    reactions=None,
    publishes=events.EVENTS,
    jobs=[PeriodicJob("apply-due-leaves", apply_due_leaves)],
    on_startup=[load_shipped_figures],
    upload_paths=[
        "/libraries/import",
        "/organisations/import",
        "/municipalities/population",
        "/agreement-versions",
    ],
    upload_max_bytes=20 * 1024 * 1024,
)


def build(settings: Settings) -> FastAPI:
    return create_app(SPEC, settings)
