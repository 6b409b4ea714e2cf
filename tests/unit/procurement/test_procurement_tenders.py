from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from procurement_factories import (
    AFTER_DEADLINE,
    BEFORE_DEADLINE,
    DEADLINE,
    bid,
    in_evaluation,
    member,
    need,
    tender,
)

from services.procurement.domain import (
    TENDER_TRANSITIONS,
    CompatibilityResult,
    Criteria,
    Device,
    DuplicateEntry,
    IllegalTransition,
    Interest,
    InvalidValue,
    LibrarySystem,
    NotPermitted,
    ProcurementRuleViolated,
    QualityScore,
    TenderState,
    accepts_bids,
    award_tender,
    cancel_tender,
    open_tender,
    propose_need,
    record_compatibility_result,
    record_quality_score,
    register_interest,
    revise_draft,
    shortfall,
    start_evaluation,
    submit_bid,
)

TODAY = date(2026, 11, 25)


# --- needs and interest ---------------------------------------------------------------


def test_need_coerces_vocabularies_and_rejects_unknown_values() -> None:
    n = need()
    assert n.required_devices == {Device.IOS, Device.ANDROID}
    assert n.required_library_systems == {LibrarySystem.KOHA}
    with pytest.raises(InvalidValue) as caught:
        type(n)(
            id="n",
            proposed_by="FI-Hki",
            material_type="vinyl",
            description="x",
            accepted_licence_models=["annual-fee"],
        )
    assert caught.value.field == "material_type"
    with pytest.raises(InvalidValue, match="accepted_licence_models"):
        type(n)(
            id="n",
            proposed_by="FI-Hki",
            material_type="e-book",
            description="x",
            accepted_licence_models=[],
        )


def test_only_active_members_propose_needs() -> None:
    assert propose_need(need(), member("FI-Hki"), TODAY) == need()
    with pytest.raises(NotPermitted):
        propose_need(need(), None, TODAY)
    with pytest.raises(NotPermitted):
        propose_need(need(), member("FI-Hki", left_on=date(2026, 1, 1)), TODAY)


def test_interest_is_once_per_need_and_library_with_optional_non_negative_budget() -> None:
    n = need()
    first = register_interest(n, member("FI-Hki"), [], Interest(n.id, "FI-Hki", 500_00), TODAY)
    register_interest(n, member("FI-Vantaa"), [first], Interest(n.id, "FI-Vantaa"), TODAY)
    with pytest.raises(DuplicateEntry) as caught:
        register_interest(n, member("FI-Hki"), [first], Interest(n.id, "FI-Hki"), TODAY)
    assert caught.value.field == "isil"
    with pytest.raises(InvalidValue, match="indicative_budget_cents"):
        Interest(n.id, "FI-Hki", -1)
    with pytest.raises(NotPermitted):
        register_interest(n, None, [], Interest(n.id, "FI-Hki"), TODAY)
    with pytest.raises(InvalidValue, match="ISIL"):
        Interest(n.id, "not an isil")


# --- tenders ---------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [(50, 30, 30), (101, 0, -1), (33, 33, 33)])
def test_criteria_weights_sum_to_100(weights: tuple[int, int, int]) -> None:
    with pytest.raises(InvalidValue) as caught:
        Criteria(*weights)
    assert caught.value.field.startswith("criteria")


def test_tender_needs_at_least_one_need_and_an_aware_deadline() -> None:
    with pytest.raises(InvalidValue, match="need_ids"):
        tender(need_ids=())
    with pytest.raises(InvalidValue, match="deadline"):
        tender(deadline=datetime(2027, 3, 1))


def test_happy_path_and_timing_rules() -> None:
    t = tender()
    with pytest.raises(NotPermitted, match="deadline"):
        open_tender(t, AFTER_DEADLINE)
    opened = open_tender(t, BEFORE_DEADLINE)
    assert opened.state is TenderState.OPEN
    assert accepts_bids(opened, BEFORE_DEADLINE) and not accepts_bids(opened, DEADLINE)
    with pytest.raises(NotPermitted, match="before the deadline"):
        start_evaluation(opened, BEFORE_DEADLINE)
    evaluating = start_evaluation(opened, DEADLINE)
    assert evaluating.state is TenderState.EVALUATION


def test_only_drafts_can_be_revised() -> None:
    t = tender()
    revised = revise_draft(t, criteria=Criteria(40, 40, 20))
    assert revised.criteria.price_weight == 40
    with pytest.raises(InvalidValue):
        revise_draft(t, criteria=Criteria(40, 40, 20), state="open")
    with pytest.raises(IllegalTransition):
        revise_draft(open_tender(t, BEFORE_DEADLINE), title="New")


def test_bids_only_while_open_before_deadline_in_the_tender_price_model() -> None:
    t = tender()
    with pytest.raises(IllegalTransition):
        submit_bid(t, bid("b-1", 100))
    opened = open_tender(t, BEFORE_DEADLINE)
    b1 = submit_bid(opened, bid("b-1", 100))
    with pytest.raises(DuplicateEntry):
        submit_bid(opened, bid("b-1", 200), [b1])
    with pytest.raises(NotPermitted, match="deadline"):
        submit_bid(opened, bid("b-2", 100, submitted_at=DEADLINE))
    per_loan = bid("b-3", 100)
    per_loan = type(per_loan)(**{**_fields(per_loan), "price_model": "per-loan"})
    with pytest.raises(NotPermitted) as caught:
        submit_bid(opened, per_loan)
    assert caught.value.field == "price_model"
    with pytest.raises(InvalidValue):
        submit_bid(opened, bid("b-4", 100, tender_id="other"))
    with pytest.raises(InvalidValue, match="price_cents"):
        bid("b-5", 0)
    with pytest.raises(IllegalTransition):
        submit_bid(start_evaluation(opened, AFTER_DEADLINE), bid("b-6", 100))


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}  # type: ignore[attr-defined]  # present at run time; the declared type is wider


def test_shortfall_against_needs() -> None:
    b = bid("b-1", 100)
    assert shortfall(b, [need()]).is_empty
    n = type(need())(
        id="n2",
        proposed_by="FI-Hki",
        material_type="e-book",
        description="x",
        accepted_licence_models=["per-loan"],
        required_devices=["e-reader"],
        required_library_systems=["sierra"],
    )
    gap = shortfall(b, [need(), n])
    assert gap.missing_devices == {Device.E_READER}
    assert gap.missing_library_systems == {LibrarySystem.SIERRA}
    assert gap.needs_not_accepting_model == ("n2",)


def test_tests_and_quality_only_during_evaluation_and_re_recording_replaces() -> None:
    bids = [bid("b-1", 100), bid("b-2", 200)]
    t = in_evaluation(tender(), bids)
    results = record_compatibility_result(t, bids, (), CompatibilityResult("b-1", "ios", False))
    results = record_compatibility_result(
        t, bids, results, CompatibilityResult("b-1", "koha", True)
    )
    results = record_compatibility_result(
        t, bids, results, CompatibilityResult("b-1", Device.IOS, True, "fixed in 2.1")
    )
    assert len(results) == 2 and all(r.passed for r in results)
    with pytest.raises(InvalidValue, match="bid_id"):
        record_compatibility_result(t, bids, results, CompatibilityResult("b-9", "ios", True))
    with pytest.raises(InvalidValue, match="target"):
        CompatibilityResult("b-1", "toaster", True)

    scores = record_quality_score(t, bids, (), QualityScore("b-1", 70))
    scores = record_quality_score(t, bids, scores, QualityScore("b-1", 80))
    assert scores == (QualityScore("b-1", 80),)
    with pytest.raises(InvalidValue):
        QualityScore("b-1", 101)

    opened = open_tender(tender(), BEFORE_DEADLINE)
    with pytest.raises(IllegalTransition):
        record_compatibility_result(opened, bids, (), CompatibilityResult("b-1", "ios", True))
    with pytest.raises(IllegalTransition):
        record_quality_score(opened, bids, (), QualityScore("b-1", 1))


def test_cancel_needs_a_reason_and_is_final() -> None:
    with pytest.raises(InvalidValue, match="reason"):
        cancel_tender(tender(), " ")
    cancelled = cancel_tender(tender(), "No budget")
    assert cancelled.cancellation_reason == "No budget"
    with pytest.raises(IllegalTransition) as caught:
        open_tender(cancelled, BEFORE_DEADLINE)
    assert "cannot open a tender that is cancelled" in str(caught.value)
    assert caught.value.http_status == 409


# --- the state machine, explored ----------------------------------------------------------

# Cancelling is final, so it is drawn rarely; otherwise most runs would stop early and
# never reach an award.
ACTIONS = ("open", "evaluate", "award", "bid", "test") * 4 + ("cancel",)


class TenderMachine(RuleBasedStateMachine):
    """Random sequences of commands: the tender only ever moves along TENDER_TRANSITIONS,
    a refused command changes nothing, and every refusal is a domain error."""

    def __init__(self) -> None:
        super().__init__()
        self.tender = tender()
        self.bids: list = []
        self.results: tuple = ()
        self.quality: tuple = ()
        self.history: list[TenderState] = [self.tender.state]

    def _attempt(self, action: str, now: datetime) -> None:
        before = self.tender
        try:
            match action:
                case "open":
                    self.tender = open_tender(self.tender, now)
                case "evaluate":
                    self.tender = start_evaluation(self.tender, now)
                case "award":
                    self.tender, award = award_tender(
                        self.tender, self.bids, self.results, self.quality, now, needs=[need()]
                    )
                    assert award.bid_id == award.scores[0].bid_id and not award.overridden
                case "cancel":
                    self.tender = cancel_tender(self.tender, "changed plans")
                case "bid":
                    b = bid(f"b-{len(self.bids)}", 100 + len(self.bids), submitted_at=now)
                    self.bids.append(submit_bid(self.tender, b, self.bids))
                case "test":
                    for b in self.bids:
                        self.results = record_compatibility_result(
                            self.tender,
                            self.bids,
                            self.results,
                            CompatibilityResult(b.id, "ios", True),
                        )
                        self.quality = record_quality_score(
                            self.tender, self.bids, self.quality, QualityScore(b.id, 50)
                        )
        except ProcurementRuleViolated:
            assert self.tender is before
        if self.tender.state is not before.state:
            assert self.tender.state in TENDER_TRANSITIONS[before.state]
            self.history.append(self.tender.state)

    @rule(
        action=st.sampled_from(ACTIONS),
        # Mostly at the time the action is meant for, sometimes at the wrong side of the
        # deadline, so that the timing refusals are exercised too.
        punctual=st.sampled_from((True, True, True, False)),
        days=st.integers(min_value=1, max_value=3),
    )
    def command(self, action: str, punctual: bool, days: int) -> None:
        before_deadline = action in ("open", "bid")
        sign = -1 if before_deadline == punctual else 1
        self._attempt(action, DEADLINE + sign * timedelta(days=days) - timedelta(seconds=1))

    @precondition(lambda self: self.tender.state is TenderState.OPEN)
    @rule()
    def bids_after_deadline_are_refused(self) -> None:
        with pytest.raises(NotPermitted):
            submit_bid(self.tender, bid("late", 100, submitted_at=AFTER_DEADLINE), self.bids)

    @invariant()
    def terminal_states_are_final(self) -> None:
        # Cancelled is only ever the last state reached; a decided (awarded) procurement
        # can only be discontinued after it.
        for state, after in zip(self.history, self.history[1:], strict=False):
            assert state is not TenderState.CANCELLED
            if state is TenderState.AWARDED:
                assert after is TenderState.CANCELLED

    @invariant()
    def bids_exist_only_if_the_tender_was_opened(self) -> None:
        if self.bids:
            assert TenderState.OPEN in self.history

    @invariant()
    def awarded_means_a_bid_was_chosen(self) -> None:
        if self.tender.state is TenderState.AWARDED:
            assert self.tender.awarded_bid_id is not None
        if TenderState.AWARDED not in self.history:
            assert self.tender.awarded_bid_id is None


TestTenderMachine = TenderMachine.TestCase
TestTenderMachine.settings = settings(max_examples=100, stateful_step_count=25, deadline=None)
