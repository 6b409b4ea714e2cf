"""Awarding a tender: to the top-ranked bid, or to another with a written justification."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ._checks import require_aware_datetime
from .bids import Bid
from .errors import InvalidValue, NotPermitted
from .evaluation import CompatibilityResult, QualityScore
from .scoring import BidScore, score_bids
from .tenders import Tender, TenderState, _move


@dataclass(frozen=True, slots=True)
class Award:
    tender_id: str
    bid_id: str
    #: The top-ranked bid at the time of the award.
    recommended_bid_id: str
    #: Present exactly when the award overrides the ranking.
    justification: str | None
    #: The ranking the decision was made on, kept as evidence.
    scores: tuple[BidScore, ...]
    awarded_at: datetime

    @property
    def overridden(self) -> bool:
        return self.bid_id != self.recommended_bid_id


def award_tender(
    tender: Tender,
    bids: Iterable[Bid],
    results: Iterable[CompatibilityResult],
    quality_scores: Iterable[QualityScore],
    now: datetime,
    chosen_bid_id: str | None = None,
    justification: str | None = None,
) -> tuple[Tender, Award]:
    """Award the tender. Without ``chosen_bid_id`` the top-ranked bid wins.

    Choosing another bid needs a non-empty justification; a justification for choosing the
    top bid anyway is refused, so the record never suggests an override that did not happen.
    """
    require_aware_datetime("now", now)
    if tender.state is not TenderState.EVALUATION:
        # Let the state machine word the refusal.
        _move(tender, TenderState.AWARDED, "award")
    bids = tuple(b for b in bids if b.tender_id == tender.id)
    if not bids:
        raise NotPermitted("bids", "a tender without bids cannot be awarded; cancel it instead")
    scores = score_bids(tender.criteria, bids, results, quality_scores)
    if tender.criteria.quality_weight > 0:
        missing = [s.bid_id for s in scores if s.quality_missing]
        if missing:
            raise NotPermitted("quality_score", f"missing for bids: {', '.join(missing)}")
    recommended = scores[0].bid_id
    chosen = recommended if chosen_bid_id is None else chosen_bid_id
    if chosen not in {b.id for b in bids}:
        raise InvalidValue("bid_id", f"{chosen} is not a bid of tender {tender.id}")
    if chosen != recommended:
        if justification is None or not justification.strip():
            raise NotPermitted(
                "justification",
                f"overriding the top-ranked bid {recommended} requires a written justification",
            )
    elif justification is not None and justification.strip():
        raise InvalidValue("justification", "only an override of the ranking is justified")
    awarded = _move(tender, TenderState.AWARDED, "award", awarded_bid_id=chosen)
    award = Award(
        tender_id=tender.id,
        bid_id=chosen,
        recommended_bid_id=recommended,
        justification=justification if chosen != recommended else None,
        scores=scores,
        awarded_at=now,
    )
    return awarded, award
