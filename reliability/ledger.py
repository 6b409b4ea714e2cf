"""The ledger: every command the load made, with what it should cause.

Each command carries its own ``X-Correlation-ID``; the kit binds it to the request and the
outbox writes it into the event's ``ce_correlationid`` header, so the reconciliation can find
the event a command caused on the topic without reading any service's tables.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    OK = "ok"  # 2xx: the command happened
    REJECTED = "rejected"  # 4xx: the load should never cause one; reported
    UNKNOWN = "unknown"  # 503, 5xx or no answer: resolved afterwards from the state
    SERVER_ERROR = "server-error"  # 500-599 other than 503: a bug, and also UNKNOWN


@dataclass
class Command:
    correlation_id: str
    service: str
    action: str  # register, join, update, contacts, notice, rejoin, read ...
    key: str  # the aggregate: an ISIL, an agreement id ...
    expects: str | None  # name of the event the command must cause, if any
    started: float = field(default_factory=time.time)  # wall clock: events carry one too
    ended: float = 0.0
    status: int | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # For UNKNOWN outcomes: did the command take effect? Set by the reconciliation.
    happened: bool | None = None

    @property
    def outcome(self) -> Outcome:
        if self.status is not None and 200 <= self.status < 300:
            return Outcome.OK
        if self.status is not None and 400 <= self.status < 500:
            return Outcome.REJECTED
        if self.status is not None and self.status >= 500 and self.status != 503:
            return Outcome.SERVER_ERROR
        return Outcome.UNKNOWN

    @property
    def took_effect(self) -> bool:
        if self.outcome is Outcome.OK:
            return True
        if self.outcome is Outcome.REJECTED:
            return False
        return bool(self.happened)


@dataclass
class Ledger:
    commands: list[Command] = field(default_factory=list)

    def add(self, command: Command) -> Command:
        self.commands.append(command)
        return command

    def counts(self) -> dict[str, int]:
        return dict(Counter(c.outcome.value for c in self.commands))

    def statuses(self) -> dict[str, int]:
        return dict(Counter(str(c.status) if c.status else "no-answer" for c in self.commands))

    def writes(self) -> list[Command]:
        return [c for c in self.commands if c.action != "read"]

    def with_events(self) -> list[Command]:
        return [c for c in self.commands if c.expects]
