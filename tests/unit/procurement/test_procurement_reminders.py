"""Cancellation-deadline reminders: 60, 30 and 7 days ahead, each once, never stale."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import agreement

from services.procurement.domain import LEADS, due_reminders, terminate_agreement

# The factory's agreement: one period in 2027 with its cancellation deadline on 30 September.
DEADLINE = date(2027, 9, 30)


def test_each_lead_is_due_from_its_day_and_sent_once() -> None:
    a = agreement()
    assert due_reminders(a, DEADLINE - timedelta(days=61), set()) == ()
    (first,) = due_reminders(a, DEADLINE - timedelta(days=60), set())
    assert (first.deadline, first.days_before, first.skipped) == (DEADLINE, 60, ())
    sent = {(DEADLINE, 60)}
    assert due_reminders(a, DEADLINE - timedelta(days=59), sent) == ()
    (second,) = due_reminders(a, DEADLINE - timedelta(days=30), sent)
    assert second.days_before == 30
    sent.add((DEADLINE, 30))
    (last,) = due_reminders(a, DEADLINE - timedelta(days=7), sent)
    assert last.days_before == 7
    sent.add((DEADLINE, 7))
    assert due_reminders(a, DEADLINE, sent) == ()
    assert due_reminders(a, DEADLINE + timedelta(days=1), set()) == ()


def test_a_late_run_sends_only_the_nearest_lead() -> None:
    (late,) = due_reminders(agreement(), DEADLINE - timedelta(days=20), set())
    assert late.days_before == 30 and late.skipped == (60,)


def test_no_reminder_once_a_termination_is_scheduled() -> None:
    ending = terminate_agreement(agreement(), date(2027, 10, 1), "not renewed", date(2027, 6, 1))
    assert due_reminders(ending, DEADLINE - timedelta(days=7), set()) == ()


@given(days=st.lists(st.integers(0, 90), min_size=1, max_size=40))
def test_whatever_days_the_job_runs_each_lead_goes_out_at_most_once_and_never_early(
    days: list[int],
) -> None:
    a = agreement()
    sent: set = set()
    sent_on: dict[int, int] = {}
    for before in sorted(set(days), reverse=True):
        today = DEADLINE - timedelta(days=before)
        for r in due_reminders(a, today, sent):
            assert r.days_before not in sent_on
            assert before <= r.days_before
            sent_on[r.days_before] = before
            sent.add((r.deadline, r.days_before))
            sent.update((r.deadline, lead) for lead in r.skipped)
    # Running on a lead's own day always sends that lead, on that day.
    for lead in LEADS:
        if lead in days:
            assert sent_on[lead] == lead
