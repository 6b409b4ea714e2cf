"""Procurement composition root."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi import FastAPI

from contracts import procurement as events
from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.settings import Settings
from services.procurement import commands
from services.procurement.api import router
from services.procurement.governance import jobs as governance
from services.procurement.handlers import reactions


async def end_due_agreements(runtime: Runtime) -> None:
    """Expiries and scheduled terminations take effect on their date (agreement-ended)."""
    assert runtime.pool is not None
    await commands.end_due_agreements(runtime.pool, dt.date.today())


async def announce_due_leaves(runtime: Runtime) -> None:
    """Opt-outs given with notice take effect on their date (agreement-left)."""
    assert runtime.pool is not None
    await commands.announce_due_leaves(runtime.pool, dt.date.today())


SPEC = ServiceSpec(
    name="procurement",
    title="Konsortio procurement",
    description=(
        "Joint procurement: needs and interest, tenders with KL-Kuntahankinnat, bids, "
        "compatibility tests, awards, framework agreements, opt-in and cost shares."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=[router, governance.router],
    reactions=reactions,
    publishes=events.EVENTS,
    jobs=[
        PeriodicJob("end-due-agreements", end_due_agreements),
        PeriodicJob("announce-due-leaves", announce_due_leaves),
        governance.JOB,
    ],
)


def build(settings: Settings) -> FastAPI:
    return create_app(SPEC, settings)
