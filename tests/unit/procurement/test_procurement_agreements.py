from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from procurement_factories import AFTER_DEADLINE, agreement, bid, in_evaluation, need, tender

from services.procurement.domain import (
    AgreementEnd,
    AgreementState,
    CompatibilityResult,
    CostShareModel,
    CostSharePolicy,
    EndKind,
    ExtensionOptions,
    IllegalTransition,
    InvalidValue,
    MaterialType,
    NotPermitted,
    Period,
    ProcurementRuleViolated,
    QualityScore,
    add_months,
    award_tender,
    due_to_end,
    end_agreement,
    parse_licence_terms,
    renew_agreement,
    sign_agreement,
    terminate_agreement,
)

YEAR_2027 = Period(date(2027, 1, 1), date(2027, 12, 31), date(2027, 9, 30))


def test_sign_from_awarded_bid_inherits_its_terms() -> None:
    terms = parse_licence_terms({"concurrent_users": 3, "annual_opt_out": "prohibited"})
    bids = [bid("b-1", 90_000_00, terms=terms), bid("b-2", 100_000_00)]
    t = in_evaluation(tender(), bids)
    quality = [QualityScore("b-1", 80), QualityScore("b-2", 80)]
    results = [CompatibilityResult("b-1", "ios", True)]
    awarded, award = award_tender(t, bids, results, quality, AFTER_DEADLINE, needs=[need()])

    common = {
        "agreement_id": "a-1",
        "tender": awarded,
        "award": award,
        "needs": [need()],
        "first_period": YEAR_2027,
        "extension_options": ExtensionOptions(2, 12),
        "annual_cost_cents": 90_000_00,
        "cost_share": CostSharePolicy(CostShareModel.PER_CAPITA),
        "signed_on": AFTER_DEADLINE.date(),
        "today": AFTER_DEADLINE.date(),
    }
    a = sign_agreement(bid=bids[0], **common)
    assert a.terms == terms and a.supplier == bids[0].supplier
    assert a.material_types == {MaterialType.E_AUDIOBOOK}
    assert a.state is AgreementState.ACTIVE and a.periods == (YEAR_2027,)
    assert a.expires_on == date(2028, 1, 1) and a.renewals_left == 2

    with pytest.raises(InvalidValue, match="bid_id"):
        sign_agreement(bid=bids[1], **common)
    with pytest.raises(IllegalTransition):
        sign_agreement(bid=bids[0], **{**common, "tender": t})
    with pytest.raises(InvalidValue, match="needs"):
        sign_agreement(bid=bids[0], **{**common, "needs": []})


@pytest.mark.parametrize(
    ("start", "end", "deadline", "field"),
    [
        (date(2027, 1, 2), date(2027, 1, 1), date(2027, 1, 1), "period.end"),
        (date(2027, 1, 1), date(2027, 12, 31), date(2028, 1, 1), "period.cancellation_deadline"),
        (date(2027, 1, 1), date(2027, 12, 31), date(2026, 12, 1), "period.cancellation_deadline"),
    ],
)
def test_period_validation(start: date, end: date, deadline: date, field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        Period(start, end, deadline)
    assert caught.value.field == field


def test_periods_must_not_overlap_nor_exceed_the_extension_options() -> None:
    overlapping = Period(date(2027, 12, 1), date(2028, 12, 31), date(2028, 9, 30))
    with pytest.raises(InvalidValue, match="periods"):
        agreement(periods=(YEAR_2027, overlapping))
    later = Period(date(2028, 1, 1), date(2028, 12, 31), date(2028, 9, 30))
    with pytest.raises(InvalidValue, match="extension options"):
        agreement(periods=(YEAR_2027, later), extensions=0)


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2027, 11, 15), 14) == date(2029, 1, 15)


def test_renewal_opens_the_next_period_within_the_options() -> None:
    a = agreement(extensions=1)
    renewed = renew_agreement(a, date(2027, 6, 1))
    assert renewed.periods[1] == Period(date(2028, 1, 1), date(2028, 12, 31), date(2028, 9, 30))
    assert renewed.renewals_left == 0 and renewed.expires_on == date(2029, 1, 1)
    with pytest.raises(NotPermitted, match="extension_options"):
        renew_agreement(renewed, date(2027, 6, 1))
    with pytest.raises(NotPermitted, match="today"):
        renew_agreement(a, date(2028, 1, 1))
    explicit = renew_agreement(a, date(2027, 6, 1), cancellation_deadline=date(2028, 6, 30))
    assert explicit.periods[1].cancellation_deadline == date(2028, 6, 30)


def test_expiry_is_reported_the_day_after_the_last_period() -> None:
    a = agreement()
    assert due_to_end([a], date(2027, 12, 31)) == ()
    ((due, end),) = due_to_end([a], date(2028, 1, 1))
    assert due is a and end == AgreementEnd(EndKind.EXPIRY, date(2028, 1, 1))
    ended = end_agreement(a, date(2028, 1, 5))
    assert ended.state is AgreementState.ENDED and ended.end == end
    assert due_to_end([ended], date(2028, 1, 5)) == ()
    with pytest.raises(NotPermitted):
        end_agreement(a, date(2027, 12, 31))
    with pytest.raises(IllegalTransition):
        end_agreement(ended, date(2028, 1, 5))
    with pytest.raises(IllegalTransition):
        renew_agreement(ended, date(2027, 6, 1))


def test_termination_now_or_scheduled() -> None:
    a = agreement()
    with pytest.raises(InvalidValue, match="reason"):
        terminate_agreement(a, date(2027, 6, 1), "", date(2027, 5, 1))
    with pytest.raises(NotPermitted, match="past"):
        terminate_agreement(a, date(2027, 4, 1), "Supplier bankrupt", date(2027, 5, 1))
    with pytest.raises(NotPermitted, match="expires"):
        terminate_agreement(a, date(2028, 6, 1), "Supplier bankrupt", date(2027, 5, 1))

    now = terminate_agreement(a, date(2027, 5, 1), "Supplier bankrupt", date(2027, 5, 1))
    assert now.state is AgreementState.ENDED
    assert now.end == AgreementEnd(EndKind.TERMINATION, date(2027, 5, 1), "Supplier bankrupt")

    scheduled = terminate_agreement(a, date(2027, 7, 1), "Service discontinued", date(2027, 5, 1))
    assert scheduled.state is AgreementState.ACTIVE
    assert scheduled.scheduled_end is not None
    assert scheduled.is_in_force_on(date(2027, 6, 30)) and not scheduled.is_in_force_on(
        date(2027, 7, 1)
    )
    assert due_to_end([scheduled], date(2027, 6, 30)) == ()
    ((_, end),) = due_to_end([scheduled], date(2027, 7, 1))
    assert end.kind is EndKind.TERMINATION and end.reason == "Service discontinued"
    with pytest.raises(NotPermitted, match="already scheduled"):
        terminate_agreement(scheduled, date(2027, 6, 1), "again", date(2027, 5, 1))
    with pytest.raises(NotPermitted, match="scheduled"):
        renew_agreement(scheduled, date(2027, 5, 1))


def test_due_to_end_lists_only_due_agreements_in_id_order() -> None:
    agreements = [
        agreement("a-3"),
        agreement("a-1"),
        agreement(
            "a-2", periods=(Period(date(2027, 1, 1), date(2029, 12, 31), date(2029, 9, 30)),)
        ),
    ]
    assert [a.id for a, _ in due_to_end(agreements, date(2028, 1, 1))] == ["a-1", "a-3"]


class AgreementMachine(RuleBasedStateMachine):
    """A clock moving forward and random commands: the agreement only goes active → ended,
    never gains more periods than its options, and is reported due exactly when its
    effective end date has arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.today = date(2026, 12, 15)
        self.agreement = agreement(extensions=2)
        self.ended_seen = False

    @rule(days=st.integers(0, 300))
    def time_passes(self, days: int) -> None:
        self.today += timedelta(days=days)

    @rule()
    def renew(self) -> None:
        self._try(lambda: renew_agreement(self.agreement, self.today))

    @rule(ahead=st.integers(0, 1200))
    def terminate(self, ahead: int) -> None:
        on = self.today + timedelta(days=ahead)
        self._try(lambda: terminate_agreement(self.agreement, on, "reason", self.today))

    @rule()
    def scheduler_runs(self) -> None:
        due = due_to_end([self.agreement], self.today)
        if due:
            self.agreement = end_agreement(self.agreement, self.today)
        else:
            with pytest.raises(ProcurementRuleViolated):
                end_agreement(self.agreement, self.today)

    def _try(self, command) -> None:  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
        before = self.agreement
        try:
            self.agreement = command()
        except ProcurementRuleViolated:
            assert self.agreement is before

    @invariant()
    def ended_is_final(self) -> None:
        if self.ended_seen:
            assert self.agreement.state is AgreementState.ENDED
        self.ended_seen = self.agreement.state is AgreementState.ENDED

    @invariant()
    def periods_within_options(self) -> None:
        assert 1 <= len(self.agreement.periods) <= 3
        assert self.agreement.renewals_left >= 0

    @invariant()
    def due_exactly_when_the_end_has_come(self) -> None:
        a = self.agreement
        if a.state is AgreementState.ENDED:
            assert a.end is not None and a.end.effective_on <= self.today
            return
        effective = a.end.effective_on if a.end else a.expires_on
        assert bool(due_to_end([a], self.today)) == (effective <= self.today)


TestAgreementMachine = AgreementMachine.TestCase
TestAgreementMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
