"""Reminders of coming cancellation deadlines, so that a renewal nobody wants is cancelled
in time: 60, 30 and 7 days before each period's deadline, each once.

A reminder is due on and after its day until the deadline itself. When the job comes late
(a service that was down), only the nearest lead still ahead is sent: a "60 days" notice on
day 20 would mislead, so the earlier leads count as passed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from ._checks import require_date
from .agreements import Agreement, AgreementState, Period

#: Days before a cancellation deadline on which a reminder goes out.
LEADS: tuple[int, ...] = (60, 30, 7)


@dataclass(frozen=True, slots=True)
class Reminder:
    agreement_id: str
    period: Period
    deadline: date
    days_before: int
    #: Leads that had passed unsent; recorded as sent so they are never sent late.
    skipped: tuple[int, ...] = ()


def due_reminders(
    agreement: Agreement, today: date, sent: Collection[tuple[date, int]]
) -> tuple[Reminder, ...]:
    """Reminders due ``today`` for ``agreement``; ``sent`` holds (deadline, lead) already
    sent. Only an active agreement with no termination scheduled is reminded of."""
    require_date("today", today)
    if agreement.state is not AgreementState.ACTIVE or agreement.end is not None:
        return ()
    due: list[Reminder] = []
    for period in agreement.periods:
        deadline = period.cancellation_deadline
        if deadline < today:
            continue
        reached = [lead for lead in LEADS if today >= deadline - timedelta(days=lead)]
        pending = [lead for lead in reached if (deadline, lead) not in sent]
        if not pending:
            continue
        nearest = min(reached)
        if nearest not in pending:
            continue
        skipped = tuple(lead for lead in pending if lead != nearest)
        due.append(Reminder(agreement.id, period, deadline, nearest, skipped))
    return tuple(due)
