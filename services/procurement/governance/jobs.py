"""What procurement's composition root takes from governance: its router and its job.
Importing this module also registers governance's handlers on procurement's reactions."""

from __future__ import annotations

from kit.app import PeriodicJob, Runtime
from services.procurement.governance import commands
from services.procurement.governance import handlers as _handlers  # noqa: F401 - registers
from services.procurement.governance.api import router


async def run_due_surveys(runtime: Runtime) -> None:
    """Surveys open, are reminded about and close on their dates (restart-safe claims)."""
    assert runtime.pool is not None
    await commands.run_due(runtime.pool, runtime.clock.today())


JOB = PeriodicJob("governance-surveys", run_due_surveys)

__all__ = ["JOB", "router"]
