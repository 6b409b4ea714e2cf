from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import (
    AFTER_DEADLINE,
    BEFORE_DEADLINE,
    bid,
    in_evaluation,
    need,
    tender,
)

from services.procurement.domain import (
    Bid,
    CompatibilityResult,
    Criteria,
    IllegalTransition,
    InvalidValue,
    NotPermitted,
    QualityScore,
    Rejection,
    RejectionKind,
    TenderState,
    award_tender,
    compatibility_matrix,
    minimum_requirement_rejections,
    score_bids,
)

CRITERIA = Criteria(price_weight=50, quality_weight=30, compatibility_weight=20)


#: The test matrix of the factory's tender: what its one need requires.
MATRIX = frozenset({"ios", "android", "koha"})
WIDE = ["ios", "android", "web", "e-reader", "koha", "aurora"]


def test_worked_example() -> None:
    cheap, dear = bid("b-1", 80_000_00), bid("b-2", 100_000_00)
    results = [
        CompatibilityResult("b-1", "ios", True),
        CompatibilityResult("b-1", "android", False),
        CompatibilityResult("b-1", "koha", True),
        CompatibilityResult("b-1", "aurora", True),
        CompatibilityResult("b-2", "ios", True),
        CompatibilityResult("b-2", "koha", True),
        CompatibilityResult("b-2", "android", True),
    ]
    quality = [QualityScore("b-1", 60), QualityScore("b-2", 90)]
    matrix = frozenset({"ios", "android", "koha", "aurora"})
    first, second = score_bids(CRITERIA, [dear, cheap], results, quality, test_matrix=matrix)

    # b-1: price 50, quality 60% of 30 = 18, compatibility 3/4 of 20 = 15 → 83
    # b-2: price 80000/100000 × 50 = 40, quality 27, compatibility 3/4 of 20 = 15 → 82
    #      (aurora is in the matrix and b-2 was not shown to work with it)
    assert first.bid_id == "b-1" and first.rank == 1
    assert (first.price_points, first.quality_points, first.compatibility_points) == (50, 18, 15)
    assert first.total == 83
    assert second.bid_id == "b-2" and second.total == 82
    assert (first.tests_passed, first.tests_recorded) == (3, 4)
    assert (second.tests_passed, second.tests_recorded) == (3, 4)
    assert first.rounded() == {
        "price": Decimal("50.00"),
        "quality": Decimal("18.00"),
        "compatibility": Decimal("15.00"),
        "total": Decimal("83.00"),
    }


def test_one_of_one_does_not_beat_four_of_five() -> None:
    """The denominator is the tender's matrix, never the bid's own number of tests."""
    matrix = frozenset({"ios", "android", "web", "koha", "aurora"})
    few = [CompatibilityResult("b-1", "ios", True)]
    many = [CompatibilityResult("b-2", t, t != "aurora") for t in sorted(matrix)]
    only_compat = Criteria(0, 0, 100)
    first, second = score_bids(
        only_compat, [bid("b-1", 100), bid("b-2", 100)], few + many, test_matrix=matrix
    )
    assert first.bid_id == "b-2" and first.compatibility_points == Fraction(4 * 100, 5)
    assert second.compatibility_points == Fraction(100, 5)
    assert first.tests_recorded == second.tests_recorded == 5


def test_results_outside_the_matrix_do_not_count() -> None:
    (only,) = score_bids(
        Criteria(0, 0, 100),
        [bid("b-1", 100)],
        [CompatibilityResult("b-1", "sierra", True), CompatibilityResult("b-1", "ios", True)],
        test_matrix={"ios", "koha"},
    )
    assert (only.tests_passed, only.tests_recorded) == (1, 2)
    assert only.compatibility_points == 50


def test_the_matrix_is_the_needs_required_targets_plus_optional_ones() -> None:
    assert compatibility_matrix(tender(), [need()]) == MATRIX
    wider = type(tender())(**{**_fields(tender()), "optional_targets": frozenset({"web"})})
    assert compatibility_matrix(wider, [need()]) == MATRIX | {"web"}


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}  # type: ignore[attr-defined]  # present at run time; the declared type is wider


def test_scores_are_exact_fractions_and_round_for_display() -> None:
    scores = score_bids(Criteria(100, 0, 0), [bid("b-1", 100), bid("b-2", 300)], test_matrix=())
    assert scores[1].price_points == Fraction(100, 3)
    assert scores[1].rounded()["total"] == Decimal("33.33")


def test_no_tests_scores_zero_compatibility_and_missing_quality_is_flagged() -> None:
    (only,) = score_bids(CRITERIA, [bid("b-1", 100)], test_matrix=MATRIX)
    assert only.compatibility_points == 0 and only.tests_recorded == 3
    assert only.quality_points == 0 and only.quality_missing


def test_ties_go_to_lower_price_then_earlier_submission_then_id() -> None:
    # Only quality counts, and both get the same quality: a tie on total.
    criteria = Criteria(0, 100, 0)
    q = [QualityScore("b-1", 70), QualityScore("b-2", 70), QualityScore("b-3", 70)]
    early = BEFORE_DEADLINE - timedelta(days=1)
    bids = [bid("b-1", 200), bid("b-2", 100), bid("b-3", 200, submitted_at=early)]
    ranked = score_bids(criteria, bids, (), q, test_matrix=MATRIX)
    assert [s.bid_id for s in ranked] == ["b-2", "b-3", "b-1"]
    same_time = [bid("b-2", 200), bid("b-1", 200)]
    ranked = score_bids(criteria, same_time, (), q, test_matrix=MATRIX)
    assert [s.bid_id for s in ranked] == ["b-1", "b-2"]


def test_results_for_unknown_bids_are_ignored_and_duplicates_refused() -> None:
    (only,) = score_bids(
        CRITERIA,
        [bid("b-1", 100)],
        [CompatibilityResult("b-9", "ios", True)],
        test_matrix=MATRIX,
    )
    assert only.tests_passed == 0
    with pytest.raises(InvalidValue):
        score_bids(CRITERIA, [bid("b-1", 100), bid("b-1", 200)], test_matrix=MATRIX)
    assert score_bids(CRITERIA, [], test_matrix=MATRIX) == ()


weights = st.tuples(st.integers(0, 100), st.integers(0, 100)).filter(lambda w: sum(w) <= 100)


@given(
    w=weights,
    prices=st.lists(st.integers(1, 10**9), min_size=1, max_size=8),
    qualities=st.lists(st.integers(0, 100), min_size=8, max_size=8),
    passes=st.lists(st.lists(st.booleans(), max_size=6), min_size=8, max_size=8),
    matrix=st.sets(st.sampled_from(WIDE)),
)
def test_score_properties(
    w: tuple[int, int],
    prices: list[int],
    qualities: list[int],
    passes: list[list[bool]],
    matrix: set[str],
) -> None:
    criteria = Criteria(w[0], w[1], 100 - sum(w))
    bids = [bid(f"b-{i}", p) for i, p in enumerate(prices)]
    results = [
        CompatibilityResult(f"b-{i}", WIDE[j], ok)
        for i in range(len(bids))
        for j, ok in enumerate(passes[i])
    ]
    quality = [QualityScore(f"b-{i}", qualities[i]) for i in range(len(bids))]
    scores = score_bids(criteria, bids, results, quality, test_matrix=matrix)

    assert [s.rank for s in scores] == list(range(1, len(bids) + 1))
    assert sorted(s.bid_id for s in scores) == sorted(b.id for b in bids)
    totals = [s.total for s in scores]
    assert totals == sorted(totals, reverse=True)
    for s in scores:
        # Every bid is measured against the same matrix.
        assert s.tests_recorded == len(matrix)
        i = int(s.bid_id.removeprefix("b-"))
        expected = sum(1 for j, ok in enumerate(passes[i]) if ok and WIDE[j] in matrix)
        assert s.tests_passed == expected
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
    reordered = score_bids(criteria, list(reversed(bids)), results, quality, test_matrix=matrix)
    assert reordered == scores


# --- minimum requirements and the decision ------------------------------------------------


def _lacking(id: str, price: int, **lacks: list[str]) -> Bid:
    b = bid(id, price)
    return type(b)(**{**_fields(b), **lacks})


def test_a_bid_lacking_a_required_target_is_rejected_with_its_ground() -> None:
    no_android = _lacking("b-1", 100, supported_devices=["ios", "web"])
    no_koha = _lacking("b-2", 100, supported_library_systems=["aurora"])
    fine = bid("b-3", 100)
    found = minimum_requirement_rejections([no_android, no_koha, fine], [need()])
    assert [r.bid_id for r in found] == ["b-1", "b-2"]
    assert all(r.kind is RejectionKind.REJECTED and r.automatic for r in found)
    assert "android" in found[0].ground and "koha" in found[1].ground


def _evaluated(*bids: Bid) -> tuple:
    bids = bids or (bid("b-1", 80_000_00), bid("b-2", 100_000_00))
    t = in_evaluation(tender(), list(bids))
    results = [CompatibilityResult(b.id, "ios", True) for b in bids]
    quality = [QualityScore(b.id, 60) for b in bids]
    return t, list(bids), results, quality


def test_award_goes_to_the_top_score() -> None:
    t, bids, results, quality = _evaluated()
    awarded, award = award_tender(t, bids, results, quality, AFTER_DEADLINE, needs=[need()])
    assert awarded.state is TenderState.AWARDED and awarded.awarded_bid_id == "b-1"
    assert award.bid_id == award.recommended_bid_id == "b-1"
    assert not award.overridden and award.justification is None
    assert [s.bid_id for s in award.scores] == ["b-1", "b-2"]
    assert award.served_at == AFTER_DEADLINE and award.rejections == ()
    with pytest.raises(IllegalTransition):
        award_tender(awarded, bids, results, quality, AFTER_DEADLINE, needs=[need()])


def test_a_cheaper_non_conforming_bid_is_never_scored_and_cannot_win() -> None:
    cheap_but_lacking = _lacking("b-1", 1_00, supported_devices=["web"])
    t, bids, results, quality = _evaluated(cheap_but_lacking, bid("b-2", 100_000_00))
    _, award = award_tender(t, bids, results, quality, AFTER_DEADLINE, needs=[need()])
    assert award.bid_id == "b-2"
    assert [s.bid_id for s in award.scores] == ["b-2"]
    assert [r.bid_id for r in award.rejections] == ["b-1"]


def test_a_recorded_rejection_or_exclusion_keeps_the_bid_out() -> None:
    t, bids, results, quality = _evaluated()
    excluded = Rejection("b-1", RejectionKind.EXCLUDED, "unpaid taxes (section 81)")
    _, award = award_tender(
        t, bids, results, quality, AFTER_DEADLINE, needs=[need()], rejections=[excluded]
    )
    assert award.bid_id == "b-2" and award.rejections == (excluded,)


def test_no_conforming_bid_means_discontinuing() -> None:
    t, bids, results, quality = _evaluated(_lacking("b-1", 100, supported_devices=[]))
    with pytest.raises(NotPermitted, match="discontinue"):
        award_tender(t, bids, results, quality, AFTER_DEADLINE, needs=[need()])


def test_there_is_no_way_to_choose_another_bid() -> None:
    with pytest.raises(TypeError):
        award_tender(*_evaluated(), AFTER_DEADLINE, "b-2", "we prefer it", needs=[need()])  # type: ignore[misc]  # the test calls it wrongly on purpose


def test_award_refusals() -> None:
    t, bids, results, quality = _evaluated()
    with pytest.raises(NotPermitted, match="quality_score"):
        award_tender(t, bids, results, quality[:1], AFTER_DEADLINE, needs=[need()])
    with pytest.raises(NotPermitted, match="bids"):
        award_tender(in_evaluation(tender(), []), [], [], [], AFTER_DEADLINE, needs=[need()])
    with pytest.raises(IllegalTransition):
        award_tender(tender(), bids, results, quality, AFTER_DEADLINE, needs=[need()])
    with pytest.raises(InvalidValue, match="served_at"):
        award_tender(
            t,
            bids,
            results,
            quality,
            AFTER_DEADLINE,
            needs=[need()],
            served_at=AFTER_DEADLINE + timedelta(minutes=1),
        )
    with pytest.raises(InvalidValue, match="served_at"):
        award_tender(
            t,
            bids,
            results,
            quality,
            AFTER_DEADLINE,
            needs=[need()],
            served_at=t.deadline - timedelta(minutes=1),
        )
