"""The procurement decision: minimum requirements, scoring on the published criteria, and
the standstill that follows service of the decision.

Under the Act on Public Procurement (1397/2016) the decision follows the published award
criteria; the coordinator cannot choose another bid. What the law leaves to the contracting
authority is recorded elsewhere with a ground: rejecting a non-conforming bid or excluding
a tenderer (:class:`Rejection`), discontinuing the procurement (``cancel_tender``).

- **Minimum requirements.** Every device and library system a need requires is a minimum
  requirement, and so is a licence model the need accepts. A bid lacking any of them is
  rejected with the ground recorded and is never scored.
- **Scoring.** Only conforming bids are scored, against the tender's fixed test matrix
  (:func:`compatibility_matrix`), and the best total wins; ties follow :data:`TIE_BREAK_RULE`.
- **Lots.** Each lot is decided on its own: its bids, its needs' minimum requirements, its
  criteria and its test matrix; the best-scoring conforming bid of each lot is chosen
  (:func:`decide_lots`). Every lot needs a conforming bid, else the decision is refused.
- **Service and standstill.** The decision is served to every bidder at ``served_at``; the
  agreement may be signed from ``standstill_ends_on`` (``served_at``'s day plus the
  standstill days of the threshold class; none below the national threshold or for a
  call-off under a framework).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from ._checks import coerce_enum, require_aware_datetime, require_text
from .bids import Bid, shortfall
from .errors import InvalidValue, NotPermitted
from .evaluation import CompatibilityResult, QualityScore, Target
from .needs import Need
from .scoring import BidScore, score_bids
from .tenders import WHOLE_TENDER_LOT, Lot, Tender, TenderState, _move, lots_of
from .thresholds import ThresholdTable, default_table


class RejectionKind(StrEnum):
    #: The bid does not meet the tender's requirements (Act 1397/2016 section 74).
    REJECTED = "rejected"
    #: The tenderer is excluded on a ground of sections 80-81.
    EXCLUDED = "excluded"


@dataclass(frozen=True, slots=True)
class Rejection:
    bid_id: str
    kind: RejectionKind
    ground: str
    #: True when found by the minimum-requirement check, false when recorded by a person.
    automatic: bool = False

    def __post_init__(self) -> None:
        require_text("bid_id", self.bid_id, max_length=100)
        object.__setattr__(self, "kind", coerce_enum("kind", RejectionKind, self.kind))
        require_text("ground", self.ground, max_length=10_000)


def compatibility_matrix(tender: Tender, needs: Iterable[Need]) -> frozenset[Target]:
    """Every target a need of the tender (or of one lot) requires, plus the tender's optional
    targets."""
    targets: set[Target] = set(tender.optional_targets)
    for need in needs:
        targets |= need.required_devices
        targets |= need.required_library_systems
    return frozenset(targets)


def minimum_requirement_rejections(
    bids: Iterable[Bid], needs: Iterable[Need]
) -> tuple[Rejection, ...]:
    """A rejection for every bid that fails a minimum requirement, naming what it lacks."""
    needs = tuple(needs)
    found: list[Rejection] = []
    for bid in bids:
        lack = shortfall(bid, needs)
        if lack.is_empty:
            continue
        parts: list[str] = []
        if lack.missing_devices:
            parts.append(
                "required devices not supported: " + ", ".join(sorted(lack.missing_devices))
            )
        if lack.missing_library_systems:
            parts.append(
                "required library systems not supported: "
                + ", ".join(sorted(lack.missing_library_systems))
            )
        if lack.needs_not_accepting_model:
            parts.append(
                f"licence model {bid.price_model.value} not accepted by needs: "
                + ", ".join(lack.needs_not_accepting_model)
            )
        found.append(
            Rejection(
                bid.id, RejectionKind.REJECTED, "minimum requirements: " + "; ".join(parts), True
            )
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Award:
    """The procurement decision for a tender (one lot until lots are divided)."""

    tender_id: str
    bid_id: str
    #: The ranking of the conforming bids the decision was made on, kept as evidence.
    scores: tuple[BidScore, ...]
    awarded_at: datetime
    served_at: datetime | None = None
    standstill_ends_on: date | None = None
    rejections: tuple[Rejection, ...] = ()
    lot_id: str = WHOLE_TENDER_LOT

    @property
    def recommended_bid_id(self) -> str:
        """The top-ranked conforming bid: always the chosen one."""
        return self.bid_id

    @property
    def overridden(self) -> bool:
        """The ranking cannot be overridden; kept for readers of the old award record."""
        return False

    @property
    def justification(self) -> None:
        return None

    def standstill_over(self, day: date) -> bool:
        return self.standstill_ends_on is None or day >= self.standstill_ends_on


@dataclass(frozen=True, slots=True)
class LotRanking:
    """One lot's bids judged: the rejected ones with their grounds, the rest ranked."""

    lot: Lot
    bids: tuple[Bid, ...]
    rejections: tuple[Rejection, ...]
    scores: tuple[BidScore, ...]


def rank_lots(
    tender: Tender,
    bids: Iterable[Bid],
    results: Iterable[CompatibilityResult],
    quality_scores: Iterable[QualityScore],
    *,
    needs: Iterable[Need],
    rejections: Iterable[Rejection] = (),
) -> tuple[LotRanking, ...]:
    """Each lot's bids against that lot's needs (minimum requirements and test matrix) and
    criteria, in the tender's lot order. ``rejections`` are those recorded by people."""
    by_need = {n.id: n for n in needs}
    bids = tuple(b for b in bids if b.tender_id == tender.id)
    results = tuple(results)
    quality_scores = tuple(quality_scores)
    recorded = tuple(rejections)
    rankings: list[LotRanking] = []
    for lot in lots_of(tender):
        lot_needs = tuple(by_need[n] for n in lot.need_ids if n in by_need)
        lot_bids = tuple(b for b in bids if b.lot_id == lot.id)
        ids = {b.id for b in lot_bids}
        by_bid: dict[str, Rejection] = {}
        for rejection in (
            *(r for r in recorded if r.bid_id in ids),
            *minimum_requirement_rejections(lot_bids, lot_needs),
        ):
            by_bid.setdefault(rejection.bid_id, rejection)
        conforming = tuple(b for b in lot_bids if b.id not in by_bid)
        scores = score_bids(
            lot.criteria,
            conforming,
            results,
            quality_scores,
            test_matrix=compatibility_matrix(tender, lot_needs),
        )
        rankings.append(
            LotRanking(
                lot, lot_bids, tuple(sorted(by_bid.values(), key=lambda r: r.bid_id)), scores
            )
        )
    return tuple(rankings)


def decide_lots(
    tender: Tender,
    bids: Iterable[Bid],
    results: Iterable[CompatibilityResult],
    quality_scores: Iterable[QualityScore],
    now: datetime,
    *,
    needs: Iterable[Need],
    rejections: Iterable[Rejection] = (),
    served_at: datetime | None = None,
    table: ThresholdTable | None = None,
) -> tuple[Tender, tuple[Award, ...]]:
    """Make the procurement decision: in each lot, reject non-conforming bids, score the rest
    on the lot's published criteria and choose the best. ``rejections`` are those recorded by
    people (exclusions, other non-conformity); ``served_at`` defaults to ``now`` and may lie
    in the past (a decision served earlier and recorded now) but not in the future nor before
    the tender's deadline. One award per lot, in the tender's lot order; the tender's
    ``awarded_bid_id`` is the first lot's."""
    require_aware_datetime("now", now)
    served = now
    if served_at is not None:
        served = require_aware_datetime("served_at", served_at)
        if served > now:
            raise InvalidValue("served_at", "must not be in the future")
        if served < tender.deadline:
            raise InvalidValue("served_at", "must not be before the tender's deadline")
    if tender.state is not TenderState.EVALUATION:
        # Let the state machine word the refusal.
        _move(tender, TenderState.AWARDED, "award")
    bids = tuple(b for b in bids if b.tender_id == tender.id)
    if not bids:
        raise NotPermitted("bids", "a tender without bids cannot be awarded; cancel it instead")
    divided = bool(tender.lots)
    rankings = rank_lots(tender, bids, results, quality_scores, needs=needs, rejections=rejections)
    for ranking in rankings:
        where = f"lot {ranking.lot.id}: " if divided else ""
        if not ranking.bids:
            raise NotPermitted("lots", f"{where}no bids; discontinue the procurement instead")
        if not ranking.scores:
            raise NotPermitted(
                "lots" if divided else "bids",
                f"{where}no bid meets the minimum requirements; "
                "discontinue the procurement instead",
            )
        if ranking.lot.criteria.quality_weight > 0:
            missing = [s.bid_id for s in ranking.scores if s.quality_missing]
            if missing:
                raise NotPermitted(
                    "quality_score", f"{where}missing for bids: {', '.join(missing)}"
                )
    days = (table or default_table()).standstill(tender.threshold_class, tender.procedure)
    awards = tuple(
        Award(
            tender_id=tender.id,
            bid_id=ranking.scores[0].bid_id,
            scores=ranking.scores,
            awarded_at=now,
            served_at=served,
            standstill_ends_on=served.date() + timedelta(days=days) if days else None,
            rejections=ranking.rejections,
            lot_id=ranking.lot.id,
        )
        for ranking in rankings
    )
    awarded = _move(tender, TenderState.AWARDED, "award", awarded_bid_id=awards[0].bid_id)
    return awarded, awards


def award_tender(
    tender: Tender,
    bids: Iterable[Bid],
    results: Iterable[CompatibilityResult],
    quality_scores: Iterable[QualityScore],
    now: datetime,
    *,
    needs: Iterable[Need],
    rejections: Iterable[Rejection] = (),
    served_at: datetime | None = None,
    table: ThresholdTable | None = None,
) -> tuple[Tender, Award]:
    """The decision of a tender that is not divided into lots (see :func:`decide_lots`)."""
    if tender.lots:
        raise InvalidValue("lots", "a tender divided into lots is decided lot by lot")
    awarded, awards = decide_lots(
        tender,
        bids,
        results,
        quality_scores,
        now,
        needs=needs,
        rejections=rejections,
        served_at=served_at,
        table=table,
    )
    return awarded, awards[0]
