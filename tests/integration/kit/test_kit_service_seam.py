"""The seam between the kit and a service: the spec's dependencies factory and the clock reach
routes and periodic jobs by type, and a test moves the date instead of patching time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends

from kit.app import PeriodicJob, Runtime, ServiceClock, ServiceSpec, create_app, provided
from kit.clock import FixedClock
from tests.conftest import Infra, running, wait_for

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class LedgerDeps:
    built_on: dt.date
    days_seen: list[dt.date] = field(default_factory=list)


async def test_the_clock_and_the_dependencies_reach_routes_and_jobs(
    infra: Infra, tmp_path: Path
) -> None:
    clock = FixedClock.on(dt.date(2031, 3, 1))
    router = APIRouter()

    @router.get("/today")
    async def today(
        clock: ServiceClock, deps: Annotated[LedgerDeps, Depends(provided(LedgerDeps))]
    ) -> dict[str, str]:
        return {"today": clock.today().isoformat(), "built_on": deps.built_on.isoformat()}

    async def build_deps(runtime: Runtime) -> LedgerDeps:
        return LedgerDeps(built_on=runtime.clock.today())

    async def note_the_day(runtime: Runtime) -> None:
        runtime.deps_as(LedgerDeps).days_seen.append(runtime.clock.today())

    (tmp_path / "migrations").mkdir()
    spec = ServiceSpec(
        name="seam",
        title="seam",
        description="a service with only a clock and a ledger",
        migrations=tmp_path / "migrations",
        routers=[router],
        deps=build_deps,
        jobs=[PeriodicJob("note-the-day", note_the_day, interval_s=0.05)],
    )
    app = create_app(spec, infra.settings("seam", await infra.new_database("seam")), clock=clock)
    async with running(app) as client:
        first = await client.get("/today")
        assert first.json() == {"today": "2031-03-01", "built_on": "2031-03-01"}
        deps = app.state.runtime.deps_as(LedgerDeps)
        await wait_for(lambda: dt.date(2031, 3, 1) in deps.days_seen)

        clock.advance(dt.timedelta(days=1))
        moved = await client.get("/today")
        assert moved.json() == {"today": "2031-03-02", "built_on": "2031-03-01"}
        await wait_for(lambda: deps.days_seen[-1] == dt.date(2031, 3, 2))

        with pytest.raises(RuntimeError, match="has no FixedClock"):
            app.state.runtime.deps_as(FixedClock)
