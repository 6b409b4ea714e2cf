"""The time a service sees, as a dependency: routes, handlers and jobs ask the clock they were
given rather than the system, so a test sets the date a rule depends on (a month that has
closed, a standstill that has ended) instead of patching ``datetime``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def today(self) -> dt.date:
        """The current calendar date where the service runs."""
        ...


class SystemClock:
    """The machine's clock: what every service uses outside tests."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return dt.date.today()


@dataclass
class FixedClock:
    """A clock that stands still until it is moved: for tests and for replaying a day."""

    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a FixedClock needs a timezone-aware instant")

    @classmethod
    def on(cls, day: dt.date, hour: int = 12) -> FixedClock:
        return cls(dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC))

    def now(self) -> dt.datetime:
        return self.at

    def today(self) -> dt.date:
        return self.at.date()

    def advance(self, by: dt.timedelta) -> None:
        self.at += by
