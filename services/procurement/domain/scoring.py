"""Scoring bids against a tender's weighted criteria.

With weights summing to 100, each bid's points are:

- price: lowest price among the bids / this bid's price × price weight, so the cheapest
  bid gets the full price weight;
- quality: the hand-entered score on 0..100 (:data:`QUALITY_SCALE`) / 100 × quality weight;
  a bid without a score gets 0 and is flagged ``quality_missing`` (an award refuses it);
- compatibility: passed tests / size of the tender's test matrix × compatibility weight.
  The matrix is the same for every bid (every target the needs require plus the tender's
  optional targets), so a bid that passed 1 test of 1 recorded does not beat one that
  passed 4 of 5: an untested target counts as not passed, and results for targets outside
  the matrix are ignored. Compatibility that nobody has shown is not assumed.

Points are exact fractions, so equal scores are really equal and ties are found reliably.
Ranking is by total, highest first; ties go to the lower price, then the earlier
submission, then the smaller bid id, so the order never depends on input order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from .bids import Bid
from .errors import InvalidValue, NotPermitted
from .evaluation import QUALITY_SCALE, CompatibilityResult, QualityScore, Target
from .tenders import Criteria


@dataclass(frozen=True, slots=True)
class BidScore:
    bid_id: str
    rank: int
    price_points: Fraction
    quality_points: Fraction
    compatibility_points: Fraction
    tests_passed: int
    #: The size of the tender's test matrix: the same for every bid.
    tests_recorded: int
    quality_missing: bool

    @property
    def total(self) -> Fraction:
        return self.price_points + self.quality_points + self.compatibility_points

    def rounded(self) -> dict[str, Decimal]:
        """Points to two decimals for display; decisions use the exact fractions."""
        return {
            "price": to_decimal(self.price_points),
            "quality": to_decimal(self.quality_points),
            "compatibility": to_decimal(self.compatibility_points),
            "total": to_decimal(self.total),
        }


def to_decimal(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def score_bids(
    criteria: Criteria,
    bids: Iterable[Bid],
    results: Iterable[CompatibilityResult] = (),
    quality_scores: Iterable[QualityScore] = (),
    *,
    test_matrix: Iterable[Target],
) -> tuple[BidScore, ...]:
    """Score and rank the bids, best first. Results and scores for other bids are ignored.

    ``test_matrix`` is the tender's fixed set of targets; its size is every bid's
    denominator. An empty matrix gives every bid 0 compatibility points."""
    matrix = frozenset(test_matrix)
    bids = tuple(bids)
    if not bids:
        return ()
    if len({b.id for b in bids}) != len(bids):
        raise InvalidValue("bids", "the same bid id appears twice")
    if len({b.price_model for b in bids}) > 1:
        raise NotPermitted("price_model", "bids priced on different models cannot be compared")
    lowest = min(b.price_cents for b in bids)
    quality = {q.bid_id: q.score for q in quality_scores}
    results = tuple(results)

    unranked: list[tuple[tuple[Fraction, int, object, str], BidScore]] = []
    for bid in bids:
        mine = {r.target: r for r in results if r.bid_id == bid.id and r.target in matrix}
        passed = sum(1 for r in mine.values() if r.passed)
        compat_ratio = Fraction(passed, len(matrix)) if matrix else Fraction(0)
        score = BidScore(
            bid_id=bid.id,
            rank=0,
            price_points=Fraction(lowest, bid.price_cents) * criteria.price_weight,
            quality_points=Fraction(quality.get(bid.id, 0), QUALITY_SCALE)
            * criteria.quality_weight,
            compatibility_points=compat_ratio * criteria.compatibility_weight,
            tests_passed=passed,
            tests_recorded=len(matrix),
            quality_missing=bid.id not in quality,
        )
        key = (-score.total, bid.price_cents, bid.submitted_at, bid.id)
        unranked.append((key, score))
    unranked.sort(key=lambda pair: pair[0])
    return tuple(replace(score, rank=i) for i, (_, score) in enumerate(unranked, 1))


def _fields(score: BidScore) -> dict[str, object]:
    return {name: getattr(score, name) for name in BidScore.__dataclass_fields__}
