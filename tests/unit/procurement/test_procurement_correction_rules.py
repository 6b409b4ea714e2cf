"""Correcting the procurement decision (hankintaoikaisu, Act 1397/2016 sections 132-135): the
corrected decision is made again on the evaluation as it stands, replaces the earlier one as
a new revision, is served anew with a new standstill, answers an upheld appeal, and is refused
once an agreement has been signed."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import AFTER_DEADLINE, bid, in_evaluation, need, tender

from services.procurement.domain import (
    Appeal,
    AppealStatus,
    CompatibilityResult,
    CostShareModel,
    CostSharePolicy,
    ExtensionOptions,
    IllegalTransition,
    InvalidValue,
    NotPermitted,
    Period,
    QualityScore,
    Rejection,
    RejectionKind,
    ThresholdClass,
    ThresholdRow,
    ThresholdTable,
    correct_decision,
    decide,
    lodge_appeal,
    resolve_appeal,
    sign_agreement,
)

TABLE = ThresholdTable(
    (ThresholdRow(date(2017, 1, 1), 60_000_00, 216_000_00, "test"),),
    {ThresholdClass.BELOW_NATIONAL: 0, ThresholdClass.NATIONAL: 14, ThresholdClass.EU: 14},
    {ThresholdClass.EU: 48},
)
BIDS = [bid("b-1", 90_000_00), bid("b-2", 100_000_00)]
RESULTS = [CompatibilityResult("b-1", "ios", True), CompatibilityResult("b-2", "ios", True)]
QUALITY = [QualityScore("b-1", 80), QualityScore("b-2", 80)]
DECIDED_AT = AFTER_DEADLINE + timedelta(days=30)
LATER = DECIDED_AT + timedelta(days=20)


def _first(threshold_class: ThresholdClass = ThresholdClass.EU):  # type: ignore[no-untyped-def]  # a test helper
    t = in_evaluation(dataclasses.replace(tender(), threshold_class=threshold_class), BIDS)
    return decide(t, BIDS, RESULTS, QUALITY, DECIDED_AT, needs=[need()], table=TABLE)


def _correct(first, now: datetime = LATER, **changes):  # type: ignore[no-untyped-def]  # a test helper
    args = {
        "reason": "b-1 lacks the required Koha integration; it should have been rejected",
        "needs": [need()],
        "rejections": [Rejection("b-1", RejectionKind.REJECTED, "no Koha integration")],
        "table": TABLE,
    }
    return correct_decision(
        first.tender, first.awards, BIDS, RESULTS, QUALITY, now, **{**args, **changes}
    )


def _sign(decision, today: date, appeals=()):  # type: ignore[no-untyped-def]  # a test helper
    award = decision.awards[0]
    return sign_agreement(
        agreement_id="a-1",
        tender=decision.tender,
        award=award,
        bid=next(b for b in BIDS if b.id == award.bid_id),
        needs=[need()],
        first_period=Period(date(2027, 6, 1), date(2028, 5, 31), date(2028, 2, 29)),
        extension_options=ExtensionOptions(1, 12),
        annual_cost_cents=None,
        cost_share=CostSharePolicy(CostShareModel.PER_CAPITA),
        signed_on=today,
        today=today,
        appeals=appeals,
        table=TABLE,
    )


def test_a_correction_is_a_new_revision_served_anew_with_a_new_standstill() -> None:
    first = _first()
    assert first.revision == 1 and first.awards[0].bid_id == "b-1"
    corrected = _correct(first)
    (award,) = corrected.awards
    assert corrected.revision == award.revision == 2
    assert award.bid_id == "b-2"
    assert corrected.tender.awarded_bid_id == "b-2"
    assert [r.bid_id for r in award.rejections] == ["b-1"]
    assert award.served_at == LATER
    assert award.standstill_ends_on == LATER.date() + timedelta(days=14)
    assert first.awards[0].standstill_ends_on is not None
    assert award.standstill_ends_on > first.awards[0].standstill_ends_on


def test_a_correction_below_the_national_threshold_has_no_standstill() -> None:
    corrected = _correct(_first(ThresholdClass.BELOW_NATIONAL))
    assert corrected.awards[0].standstill_ends_on is None


def test_a_further_correction_counts_on() -> None:
    second = _correct(_first())
    third = correct_decision(
        second.tender,
        second.awards,
        BIDS,
        RESULTS,
        QUALITY,
        LATER + timedelta(days=1),
        reason="the rejection of b-1 was wrong after all",
        needs=[need()],
        table=TABLE,
    )
    assert third.revision == 3 and third.awards[0].bid_id == "b-1"


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_needs_a_reason(reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        _correct(_first(), reason=reason)
    assert caught.value.field == "reason"


def test_only_a_decided_tender_is_corrected() -> None:
    undecided = in_evaluation(tender(), BIDS)
    with pytest.raises(IllegalTransition):
        correct_decision(undecided, [], BIDS, RESULTS, QUALITY, LATER, reason="why", needs=[need()])


def test_no_correction_once_the_agreement_is_signed() -> None:
    with pytest.raises(NotPermitted, match="section 132") as caught:
        _correct(_first(), signed_lots=["1"])
    assert caught.value.field == "tender_id"


def test_the_corrected_decision_is_not_served_before_the_one_it_corrects() -> None:
    first = _first()
    with pytest.raises(InvalidValue, match="corrects") as caught:
        _correct(first, served_at=DECIDED_AT - timedelta(days=1))
    assert caught.value.field == "served_at"
    with pytest.raises(InvalidValue, match="future"):
        _correct(first, served_at=LATER + timedelta(days=1))


def test_signing_waits_for_the_corrected_decisions_standstill() -> None:
    first = _first()
    first_ends = first.awards[0].standstill_ends_on
    corrected = _correct(first)
    ends = corrected.awards[0].standstill_ends_on
    assert first_ends is not None and ends is not None
    # The first decision's standstill has run out, the corrected one's has not.
    with pytest.raises(NotPermitted, match="standstill"):
        _sign(corrected, ends - timedelta(days=1))
    assert _sign(corrected, ends).bid_id == "b-2"


def test_an_upheld_appeal_needs_a_correction_made_after_it() -> None:
    first = _first()
    served = first.awards[0].served_at
    assert served is not None
    appeal = lodge_appeal(
        first.tender, served.date(), Appeal("t-1", "MAO:7/2027", served.date(), True)
    )
    upheld = resolve_appeal(appeal, AppealStatus.UPHELD, LATER.date())
    ends = first.awards[0].standstill_ends_on
    assert ends is not None
    with pytest.raises(NotPermitted, match="correct the decision first"):
        _sign(first, LATER.date(), appeals=[upheld])
    # A correction made before the court upheld the appeal does not answer it.
    early = _correct(first, now=LATER - timedelta(days=5))
    early_ends = early.awards[0].standstill_ends_on
    assert early_ends is not None
    with pytest.raises(NotPermitted, match="correct the decision first"):
        _sign(early, early_ends, appeals=[upheld])
    corrected = _correct(first)
    after = corrected.awards[0].standstill_ends_on
    assert after is not None
    assert _sign(corrected, after, appeals=[upheld]).bid_id == "b-2"


def test_a_pending_suspending_appeal_still_blocks_the_corrected_decision() -> None:
    first = _first()
    corrected = _correct(first)
    ends = corrected.awards[0].standstill_ends_on
    assert ends is not None
    pending = Appeal("t-1", "MAO:8/2027", LATER.date(), True)
    with pytest.raises(NotPermitted, match="suspends"):
        _sign(corrected, ends, appeals=[pending])


@given(days_later=st.integers(0, 400), threshold=st.sampled_from(list(ThresholdClass)))
def test_the_new_standstill_always_runs_from_the_new_service(
    days_later: int, threshold: ThresholdClass
) -> None:
    first = _first(threshold)
    now = DECIDED_AT + timedelta(days=days_later)
    corrected = _correct(first, now=now)
    days = TABLE.standstill(threshold, first.tender.procedure)
    for award in corrected.awards:
        assert award.revision == 2
        assert award.served_at == now
        expected = now.date() + timedelta(days=days) if days else None
        assert award.standstill_ends_on == expected


def test_an_appeal_says_whether_it_blocks_the_decision_in_force() -> None:
    lodged = date(2027, 4, 1)
    pending = Appeal("t-1", "MAO:9/2027", lodged, True)
    upheld = resolve_appeal(pending, AppealStatus.UPHELD, date(2027, 5, 1))
    assert pending.blocks(None) and pending.blocks(date(2027, 6, 1))
    assert not dataclasses.replace(pending, suspends=False).blocks(None)
    assert upheld.blocks(None) and upheld.blocks_signing
    assert upheld.blocks(date(2027, 4, 30))  # corrected before the ruling
    assert not upheld.blocks(date(2027, 5, 1)) and upheld.answered_by(date(2027, 5, 1))
    dismissed = resolve_appeal(pending, AppealStatus.DISMISSED, date(2027, 5, 1))
    assert not dismissed.blocks(None)
