from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import AFTER_DEADLINE, BEFORE_DEADLINE, bid, in_evaluation, tender

from services.procurement.domain import (
    CompatibilityResult,
    Criteria,
    IllegalTransition,
    InvalidValue,
    NotPermitted,
    QualityScore,
    TenderState,
    award_tender,
    score_bids,
)

CRITERIA = Criteria(price_weight=50, quality_weight=30, compatibility_weight=20)


def test_worked_example() -> None:
    cheap, dear = bid("b-1", 80_000_00), bid("b-2", 100_000_00)
    results = [
        CompatibilityResult("b-1", "ios", True),
        CompatibilityResult("b-1", "android", False),
        CompatibilityResult("b-1", "koha", True),
        CompatibilityResult("b-1", "aurora", True),
        CompatibilityResult("b-2", "ios", True),
        CompatibilityResult("b-2", "koha", True),
    ]
    quality = [QualityScore("b-1", 60), QualityScore("b-2", 90)]
    first, second = score_bids(CRITERIA, [dear, cheap], results, quality)

    # b-1: price 50, quality 60% of 30 = 18, compatibility 3/4 of 20 = 15 → 83
    # b-2: price 80000/100000 × 50 = 40, quality 27, compatibility 20 → 87
    assert first.bid_id == "b-2" and first.rank == 1
    assert (first.price_points, first.quality_points, first.compatibility_points) == (40, 27, 20)
    assert first.total == 87
    assert second.bid_id == "b-1" and second.rank == 2
    assert second.total == 83
    assert (second.tests_passed, second.tests_recorded) == (3, 4)
    assert second.rounded() == {
        "price": Decimal("50.00"),
        "quality": Decimal("18.00"),
        "compatibility": Decimal("15.00"),
        "total": Decimal("83.00"),
    }


def test_scores_are_exact_fractions_and_round_for_display() -> None:
    scores = score_bids(Criteria(100, 0, 0), [bid("b-1", 100), bid("b-2", 300)])
    assert scores[1].price_points == Fraction(100, 3)
    assert scores[1].rounded()["total"] == Decimal("33.33")


def test_no_tests_scores_zero_compatibility_and_missing_quality_is_flagged() -> None:
    (only,) = score_bids(CRITERIA, [bid("b-1", 100)])
    assert only.compatibility_points == 0 and only.tests_recorded == 0
    assert only.quality_points == 0 and only.quality_missing


def test_ties_go_to_lower_price_then_earlier_submission_then_id() -> None:
    # Only quality counts, and both get the same quality: a tie on total.
    criteria = Criteria(0, 100, 0)
    q = [QualityScore("b-1", 70), QualityScore("b-2", 70), QualityScore("b-3", 70)]
    early = BEFORE_DEADLINE - timedelta(days=1)
    bids = [bid("b-1", 200), bid("b-2", 100), bid("b-3", 200, submitted_at=early)]
    assert [s.bid_id for s in score_bids(criteria, bids, (), q)] == ["b-2", "b-3", "b-1"]
    same_time = [bid("b-2", 200), bid("b-1", 200)]
    assert [s.bid_id for s in score_bids(criteria, same_time, (), q)] == ["b-1", "b-2"]


def test_results_for_unknown_bids_are_ignored_and_duplicates_refused() -> None:
    (only,) = score_bids(CRITERIA, [bid("b-1", 100)], [CompatibilityResult("b-9", "ios", False)])
    assert only.tests_recorded == 0
    with pytest.raises(InvalidValue):
        score_bids(CRITERIA, [bid("b-1", 100), bid("b-1", 200)])
    assert score_bids(CRITERIA, []) == ()


weights = st.tuples(st.integers(0, 100), st.integers(0, 100)).filter(lambda w: sum(w) <= 100)


@given(
    w=weights,
    prices=st.lists(st.integers(1, 10**9), min_size=1, max_size=8),
    qualities=st.lists(st.integers(0, 100), min_size=8, max_size=8),
    passes=st.lists(st.lists(st.booleans(), max_size=6), min_size=8, max_size=8),
)
def test_score_properties(
    w: tuple[int, int], prices: list[int], qualities: list[int], passes: list[list[bool]]
) -> None:
    criteria = Criteria(w[0], w[1], 100 - sum(w))
    bids = [bid(f"b-{i}", p) for i, p in enumerate(prices)]
    targets = ["ios", "android", "web", "e-reader", "koha", "aurora"]
    results = [
        CompatibilityResult(f"b-{i}", targets[j], ok)
        for i in range(len(bids))
        for j, ok in enumerate(passes[i])
    ]
    quality = [QualityScore(f"b-{i}", qualities[i]) for i in range(len(bids))]
    scores = score_bids(criteria, bids, results, quality)

    assert [s.rank for s in scores] == list(range(1, len(bids) + 1))
    assert sorted(s.bid_id for s in scores) == sorted(b.id for b in bids)
    totals = [s.total for s in scores]
    assert totals == sorted(totals, reverse=True)
    for s in scores:
        assert 0 <= s.price_points <= criteria.price_weight
        assert 0 <= s.quality_points <= criteria.quality_weight
        assert 0 <= s.compatibility_points <= criteria.compatibility_weight
        assert 0 <= s.total <= 100
    # The cheapest bid always gets the full price weight.
    cheapest = min(prices)
    assert all(
        s.price_points == criteria.price_weight
        for s, b in ((s, next(b for b in bids if b.id == s.bid_id)) for s in scores)
        if b.price_cents == cheapest
    )
    # Input order never changes the ranking.
    assert score_bids(criteria, list(reversed(bids)), results, quality) == scores


# --- awards ----------------------------------------------------------------------------


def _evaluated() -> tuple:
    bids = [bid("b-1", 80_000_00), bid("b-2", 100_000_00)]
    t = in_evaluation(tender(), bids)
    results = [CompatibilityResult("b-1", "ios", True), CompatibilityResult("b-2", "ios", True)]
    quality = [QualityScore("b-1", 60), QualityScore("b-2", 60)]
    return t, bids, results, quality


def test_award_goes_to_the_top_score() -> None:
    t, bids, results, quality = _evaluated()
    awarded, award = award_tender(t, bids, results, quality, AFTER_DEADLINE)
    assert awarded.state is TenderState.AWARDED and awarded.awarded_bid_id == "b-1"
    assert award.bid_id == award.recommended_bid_id == "b-1"
    assert not award.overridden and award.justification is None
    assert [s.bid_id for s in award.scores] == ["b-1", "b-2"]
    with pytest.raises(IllegalTransition):
        award_tender(awarded, bids, results, quality, AFTER_DEADLINE)


def test_override_needs_a_written_justification_which_is_recorded() -> None:
    t, bids, results, quality = _evaluated()
    for missing in (None, "", "   "):
        with pytest.raises(NotPermitted) as caught:
            award_tender(t, bids, results, quality, AFTER_DEADLINE, "b-2", missing)
        assert caught.value.field == "justification"
    why = "b-1 failed the accessibility audit of the reader app"
    awarded, award = award_tender(t, bids, results, quality, AFTER_DEADLINE, "b-2", why)
    assert awarded.awarded_bid_id == "b-2"
    assert award.overridden and award.justification == why
    assert award.recommended_bid_id == "b-1"


def test_award_refusals() -> None:
    t, bids, results, quality = _evaluated()
    with pytest.raises(InvalidValue, match="bid_id"):
        award_tender(t, bids, results, quality, AFTER_DEADLINE, "b-9", "because")
    with pytest.raises(InvalidValue, match="justification"):
        award_tender(t, bids, results, quality, AFTER_DEADLINE, "b-1", "no override here")
    with pytest.raises(NotPermitted, match="quality_score"):
        award_tender(t, bids, results, quality[:1], AFTER_DEADLINE)
    with pytest.raises(NotPermitted, match="bids"):
        award_tender(in_evaluation(tender(), []), [], [], [], AFTER_DEADLINE)
    with pytest.raises(IllegalTransition):
        award_tender(tender(), bids, results, quality, AFTER_DEADLINE)
