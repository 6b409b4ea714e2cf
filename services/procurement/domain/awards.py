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
  (:func:`decide`). A lot without a bid, or without a conforming one, is discontinued in the
  same decision with that ground (Act 1397/2016 section 125): the other lots are still
  decided. When no lot has a conforming bid there is nothing to decide, and the decision is
  refused: the whole procurement is discontinued instead (``cancel_tender``).
- **Correction (hankintaoikaisu, sections 132-135).** Until an agreement is signed on it,
  the decision can be corrected with a recorded reason (:func:`correct_decision`): it is
  made again on the evaluation as it now stands, with the rejections the correction adds or
  withdraws. The corrected decision, a new ``revision``, replaces the earlier one: it is
  served anew, and a new standstill runs where the threshold class has one.
- **Service and standstill.** The decision is served to every bidder at ``served_at``; the
  agreement may be signed from ``standstill_ends_on`` (``served_at``'s day plus the
  standstill days of the threshold class; none below the national threshold or for a
  call-off under a framework).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from ._checks import coerce_enum, require_aware_datetime, require_text
from .bids import Bid, shortfall
from .errors import IllegalTransition, InvalidValue, NotPermitted
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
    #: 1 for the first decision, +1 for each correction that replaced it.
    revision: int = 1

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

    @property
    def corrected_on(self) -> date | None:
        """The day a correction made this decision; None for the first decision."""
        return self.awarded_at.date() if self.revision > 1 else None

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


@dataclass(frozen=True, slots=True)
class DiscontinuedLot:
    """A lot of a divided tender discontinued in the decision, with its ground."""

    lot_id: str
    ground: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The procurement decision: the awarded tender, one award per lot that had a conforming
    bid (in the tender's lot order) and the lots discontinued for want of one."""

    tender: Tender
    awards: tuple[Award, ...]
    discontinued: tuple[DiscontinuedLot, ...] = ()

    @property
    def revision(self) -> int:
        return self.awards[0].revision


def _served(tender: Tender, now: datetime, served_at: datetime | None) -> datetime:
    require_aware_datetime("now", now)
    if served_at is None:
        return now
    served = require_aware_datetime("served_at", served_at)
    if served > now:
        raise InvalidValue("served_at", "must not be in the future")
    if served < tender.deadline:
        raise InvalidValue("served_at", "must not be before the tender's deadline")
    return served


def _decide(
    tender: Tender,
    bids: tuple[Bid, ...],
    results: Iterable[CompatibilityResult],
    quality_scores: Iterable[QualityScore],
    now: datetime,
    served: datetime,
    *,
    needs: Iterable[Need],
    rejections: Iterable[Rejection],
    table: ThresholdTable | None,
    revision: int,
) -> tuple[tuple[Award, ...], tuple[DiscontinuedLot, ...]]:
    if not bids:
        raise NotPermitted("bids", "a tender without bids cannot be awarded; cancel it instead")
    divided = bool(tender.lots)
    rankings = rank_lots(tender, bids, results, quality_scores, needs=needs, rejections=rejections)
    decided: list[LotRanking] = []
    discontinued: list[DiscontinuedLot] = []
    for ranking in rankings:
        where = f"lot {ranking.lot.id}: " if divided else ""
        if not ranking.bids or not ranking.scores:
            ground = (
                "no bids were received"
                if not ranking.bids
                else "no bid meets the minimum requirements or every bid was rejected"
            )
            if not divided:
                raise NotPermitted("bids", f"{ground}; discontinue the procurement instead")
            discontinued.append(DiscontinuedLot(ranking.lot.id, ground))
            continue
        if ranking.lot.criteria.quality_weight > 0:
            missing = [s.bid_id for s in ranking.scores if s.quality_missing]
            if missing:
                raise NotPermitted(
                    "quality_score", f"{where}missing for bids: {', '.join(missing)}"
                )
        decided.append(ranking)
    if not decided:
        raise NotPermitted(
            "lots",
            "no lot has a conforming bid ("
            + "; ".join(f"lot {d.lot_id}: {d.ground}" for d in discontinued)
            + "); discontinue the procurement instead",
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
            revision=revision,
        )
        for ranking in decided
    )
    return awards, tuple(discontinued)


def decide(
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
) -> Decision:
    """Make the procurement decision: in each lot, reject non-conforming bids, score the rest
    on the lot's published criteria and choose the best; discontinue a lot of a divided
    tender that has no conforming bid. ``rejections`` are those recorded by people
    (exclusions, other non-conformity); ``served_at`` defaults to ``now`` and may lie in the
    past (a decision served earlier and recorded now) but not in the future nor before the
    tender's deadline. The tender's ``awarded_bid_id`` is the first awarded lot's."""
    served = _served(tender, now, served_at)
    if tender.state is not TenderState.EVALUATION:
        # Let the state machine word the refusal.
        _move(tender, TenderState.AWARDED, "award")
    awards, discontinued = _decide(
        tender,
        tuple(b for b in bids if b.tender_id == tender.id),
        results,
        quality_scores,
        now,
        served,
        needs=needs,
        rejections=rejections,
        table=table,
        revision=1,
    )
    awarded = _move(tender, TenderState.AWARDED, "award", awarded_bid_id=awards[0].bid_id)
    return Decision(awarded, awards, discontinued)


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
    """:func:`decide` without the discontinued lots: the awarded tender and its awards."""
    decision = decide(
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
    return decision.tender, decision.awards


#: The longest reason a correction may record.
MAX_REASON = 10_000


def correct_decision(
    tender: Tender,
    current: Iterable[Award],
    bids: Iterable[Bid],
    results: Iterable[CompatibilityResult],
    quality_scores: Iterable[QualityScore],
    now: datetime,
    *,
    reason: str,
    needs: Iterable[Need],
    rejections: Iterable[Rejection] = (),
    signed_lots: Iterable[str] = (),
    served_at: datetime | None = None,
    table: ThresholdTable | None = None,
) -> Decision:
    """Correct the procurement decision (hankintaoikaisu, Act 1397/2016 sections 132-135).

    The decision is made again on the evaluation as it now stands (``rejections`` are those
    recorded by people, the correction's additions included and its withdrawals left out) and
    replaces ``current`` as a new revision: served anew at ``served_at`` (default ``now``,
    never before the decision it corrects was served) with a new standstill where the
    threshold class has one. Refused without a reason, for a tender not decided, and once an
    agreement is signed on the decision (``signed_lots``): the Act allows no correction after
    the procurement contract is made."""
    reason = require_text("reason", reason, max_length=MAX_REASON)
    current = tuple(current)
    if tender.state is not TenderState.AWARDED or not current:
        raise IllegalTransition("tender", tender.state.value, "correct the decision of")
    signed = sorted(set(signed_lots))
    if signed:
        where = f"lot {', '.join(signed)}" if tender.lots else f"tender {tender.id}"
        raise NotPermitted(
            "tender_id",
            f"an agreement is already signed on the decision of {where}; a decision cannot be "
            "corrected once the procurement contract is made (Act 1397/2016 section 132)",
        )
    served = _served(tender, now, served_at)
    previously = max(a.served_at or a.awarded_at for a in current)
    if served < previously:
        raise InvalidValue(
            "served_at", f"must not be before the decision it corrects was served ({previously})"
        )
    revision = max(a.revision for a in current) + 1
    awards, discontinued = _decide(
        tender,
        tuple(b for b in bids if b.tender_id == tender.id),
        results,
        quality_scores,
        now,
        served,
        needs=needs,
        rejections=rejections,
        table=table,
        revision=revision,
    )
    corrected = dataclasses.replace(tender, awarded_bid_id=awards[0].bid_id)
    return Decision(corrected, awards, discontinued)


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
