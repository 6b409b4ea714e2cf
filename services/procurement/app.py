"""Procurement composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from contracts import procurement as events
from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.clock import Clock
from kit.revocation import react_to_revocations
from kit.settings import Settings
from services.procurement import commands
from services.procurement.api import ROUTERS
from services.procurement.deps import ProcurementDeps
from services.procurement.governance import jobs as governance
from services.procurement.handlers import reactions


async def end_due_agreements(runtime: Runtime) -> None:
    """Expiries and scheduled terminations take effect on their date (agreement-ended)."""
    assert runtime.pool is not None
    await commands.end_due_agreements(runtime.pool, runtime.clock.today())


async def announce_due_leaves(runtime: Runtime) -> None:
    """Opt-outs given with notice take effect on their date (agreement-left)."""
    assert runtime.pool is not None
    await commands.announce_due_leaves(runtime.pool, runtime.clock.today())


async def send_due_reminders(runtime: Runtime) -> None:
    """Cancellation deadlines 60, 30 and 7 days ahead (cancellation-deadline-approaching)."""
    assert runtime.pool is not None
    await commands.send_due_reminders(runtime.pool, runtime.clock.today())


async def expire_due_entitlements(runtime: Runtime) -> None:
    """Time-limited titles and subscriptions end on their date (entitlements-changed)."""
    assert runtime.pool is not None
    await commands.expire_due_entitlements(runtime.pool, runtime.clock.today())


async def announce_ended_standstills(runtime: Runtime) -> None:
    """Decisions whose standstill has run out (standstill-ended)."""
    assert runtime.pool is not None
    await commands.announce_ended_standstills(runtime.pool, runtime.clock.today())


async def procurement_deps(runtime: Runtime) -> ProcurementDeps:
    return ProcurementDeps(clock=runtime.clock)


SPEC = ServiceSpec(
    name="procurement",
    title="Konsortio procurement",
    description=(
        "Joint procurement under the Act on Public Procurement: needs and interest, tenders "
        "with a purchasing body, bids, minimum requirements, compatibility tests, decisions, "
        "standstill and appeals, framework agreements, opt-in, cost shares, billing periods "
        "and cancellation-deadline reminders."
    ),
    migrations=Path(__file__).parent / "migrations",
    routers=[*ROUTERS, governance.router],
    reactions=react_to_revocations(reactions),
    publishes=events.EVENTS,
    deps=procurement_deps,
    jobs=[
        PeriodicJob("end-due-agreements", end_due_agreements),
        PeriodicJob("announce-due-leaves", announce_due_leaves),
        PeriodicJob("send-due-reminders", send_due_reminders),
        PeriodicJob("expire-due-entitlements", expire_due_entitlements),
        PeriodicJob("announce-ended-standstills", announce_ended_standstills),
        governance.JOB,
    ],
)


def build(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    return create_app(SPEC, settings, clock=clock)
