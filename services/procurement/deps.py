"""What procurement's handlers and jobs need besides a database connection: for now the
service's clock, so that dated rules (a member's leaving date, a standstill's end) follow the
clock a test or a replay gives. Handlers get it as ``delivery.deps``."""

from __future__ import annotations

from dataclasses import dataclass

from kit.clock import Clock


@dataclass(frozen=True)
class ProcurementDeps:
    clock: Clock
