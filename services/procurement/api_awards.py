"""Scores, rejections and the procurement decision on the published criteria."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from kit.app import pool_of
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.api_common import (
    AnyCaller,
    Evaluator,
    IdPath,
    Moment,
    Procurement,
    Text,
    now,
    run,
    tender_or_404,
)
from services.procurement.domain import (
    TenderState,
)

router = APIRouter(tags=["procurement"])


class ScoreOut(BaseModel):
    bid_id: str
    lot_id: str
    rank: int = Field(description="Within the bid's lot")
    supplier: str
    product: str
    price_cents: int
    price_points: float
    quality_points: float
    compatibility_points: float
    total: float
    tests_passed: int
    tests_recorded: int
    quality_missing: bool


class RejectionOut(BaseModel):
    bid_id: str
    kind: domain.RejectionKind
    ground: str
    automatic: bool = Field(description="Found by the minimum-requirement check")


class LotWinnerOut(BaseModel):
    lot_id: str
    bid_id: str


class DiscontinuedLotOut(BaseModel):
    lot_id: str
    ground: str


class AwardOut(BaseModel):
    """The procurement decision of one lot (an undivided tender's one lot is '1')."""

    tender_id: str
    lot_id: str
    revision: int = Field(
        description="1: the first decision; 2 and on: the correction in force, which replaced "
        "every earlier revision"
    )
    bid_id: str
    recommended_bid_id: str = Field(description="Always the chosen bid: no override exists")
    overridden: bool = Field(description="Always false; kept for older readers")
    justification: str | None = Field(description="Always null; kept for older readers")
    awarded_at: dt.datetime = Field(description="When the decision was made")
    awarded_by: str
    served_at: dt.datetime | None = Field(description="When it was served to every bidder")
    standstill_ends_on: dt.date | None = Field(
        description="First day the agreement may be signed; null: no standstill applies"
    )
    rejections: list[RejectionOut]
    scores: list[dict[str, Any]] = Field(
        description="The ranking of the lot's conforming bids the decision was made on"
    )
    lots: list[LotWinnerOut] = Field(
        description="The chosen bid of every lot of the decision, in the tender's lot order"
    )
    discontinued_lots: list[DiscontinuedLotOut] = Field(
        default_factory=list,
        description="Lots discontinued in the same decision for want of a conforming bid",
    )


class LotScoresOut(BaseModel):
    lot_id: str
    title: str
    criteria: dict[str, int]
    recommended_bid_id: str | None
    items: list[ScoreOut]


class ScoresOut(BaseModel):
    tender_id: str
    state: TenderState
    criteria: dict[str, int]
    recommended_bid_id: str | None = Field(description="The first lot's best conforming bid")
    items: list[ScoreOut] = Field(description="Every lot's ranking, lot after lot")
    award: AwardOut | None = Field(description="The first lot's award")
    lots: list[LotScoresOut] = Field(description="Each lot's criteria and ranking")


def _in_lot_order(
    tender: domain.Tender, records: list[store.AwardRecord]
) -> list[store.AwardRecord]:
    order = {lot.id: n for n, lot in enumerate(domain.lots_of(tender))}
    return sorted(records, key=lambda r: order.get(r.award.lot_id, len(order)))


def _award_out(
    record: store.AwardRecord,
    every_lot: list[store.AwardRecord],
    discontinued: list[domain.DiscontinuedLot] | None = None,
) -> AwardOut:
    award = record.award
    return AwardOut(
        lots=[LotWinnerOut(lot_id=r.award.lot_id, bid_id=r.award.bid_id) for r in every_lot],
        discontinued_lots=[
            DiscontinuedLotOut(lot_id=d.lot_id, ground=d.ground) for d in discontinued or []
        ],
        tender_id=award.tender_id,
        lot_id=award.lot_id,
        revision=award.revision,
        bid_id=award.bid_id,
        recommended_bid_id=award.recommended_bid_id,
        overridden=award.overridden,
        justification=award.justification,
        awarded_at=award.awarded_at,
        awarded_by=record.awarded_by,
        served_at=award.served_at,
        standstill_ends_on=award.standstill_ends_on,
        rejections=[
            RejectionOut(bid_id=r.bid_id, kind=r.kind, ground=r.ground, automatic=r.automatic)
            for r in award.rejections
        ],
        scores=record.scores,
    )


@router.get(
    "/tenders/{tender_id}/scores",
    response_model=ScoresOut,
    summary="Points per criterion and the ranking, computed from bids, tests and quality",
)
async def scores(tender_id: IdPath, request: Request, _: Evaluator) -> ScoresOut:
    tender = await tender_or_404(request, tender_id)
    pool = pool_of(request)
    bids = await store.bids_of(pool, tender_id)
    rankings = await run(lambda: _rank(tender, bids, pool))
    by_id = {b.id: b for b in bids}
    awards = _in_lot_order(tender, await store.awards_of(pool, tender_id))

    def rows(ranking: domain.LotRanking) -> list[ScoreOut]:
        return [
            ScoreOut(
                **row,
                lot_id=ranking.lot.id,
                supplier=by_id[str(row["bid_id"])].supplier.name,
                product=by_id[str(row["bid_id"])].product,
                price_cents=by_id[str(row["bid_id"])].price_cents,
            )
            for row in commands.score_rows(ranking.scores)
        ]

    lots = [
        LotScoresOut(
            lot_id=r.lot.id,
            title=r.lot.title,
            criteria=commands.criteria_dict(r.lot.criteria),
            recommended_bid_id=r.scores[0].bid_id if r.scores else None,
            items=rows(r),
        )
        for r in rankings
    ]
    return ScoresOut(
        tender_id=tender_id,
        state=tender.state,
        criteria=commands.criteria_dict(tender.criteria),
        recommended_bid_id=lots[0].recommended_bid_id,
        items=[item for lot in lots for item in lot.items],
        award=(
            _award_out(awards[0], awards, await store.discontinued_lots_of(pool, tender_id))
            if awards
            else None
        ),
        lots=lots,
    )


async def _rank(
    tender: domain.Tender, bids: list[domain.Bid], pool: Any
) -> tuple[domain.LotRanking, ...]:
    """Each lot's ranking of its bids that are not rejected, against the lot's test matrix."""
    return domain.rank_lots(
        tender,
        bids,
        [r.result for r in await store.compatibility_results(pool, tender.id)],
        await store.quality_scores(pool, tender.id),
        needs=await store.needs_by_ids(pool, tender.need_ids),
        rejections=await store.rejections_of(pool, tender.id),
    )


class AwardIn(BaseModel):
    """The decision follows the published criteria: there is no bid to choose."""

    model_config = ConfigDict(extra="forbid")

    served_at: Moment | None = Field(
        None,
        description="When the decision was served to every bidder; default now. May lie in "
        "the past (a decision served earlier, recorded now), never in the future.",
    )
    decision_id: Annotated[Text, Field(min_length=1, max_length=100)] | None = Field(
        None, description="The recorded decision (the register's) that approved this one"
    )


class RejectionIn(BaseModel):
    bid_id: Annotated[Text, Field(min_length=1, max_length=100)]
    kind: domain.RejectionKind = Field(
        description="rejected: the bid does not meet the requirements; excluded: a ground "
        "for excluding the tenderer (Act 1397/2016 sections 80-81)"
    )
    ground: Annotated[Text, Field(min_length=1, max_length=10_000)]


@router.post(
    "/tenders/{tender_id}/rejections",
    status_code=201,
    response_model=RejectionOut,
    summary="Reject a bid or exclude a tenderer, with the ground, before the decision",
)
async def reject_bid(
    tender_id: IdPath, body: RejectionIn, request: Request, caller: Procurement
) -> RejectionOut:
    await tender_or_404(request, tender_id)

    async def reject() -> domain.Rejection:
        return await commands.reject_bid(
            pool_of(request),
            tender_id,
            domain.Rejection(body.bid_id, body.kind, body.ground),
            caller.subject,
        )

    r = await run(reject)
    return RejectionOut(bid_id=r.bid_id, kind=r.kind, ground=r.ground, automatic=False)


@router.post(
    "/tenders/{tender_id}/award",
    response_model=AwardOut,
    summary="Make the procurement decision on the published criteria (tender-awarded v2)",
)
async def award(
    tender_id: IdPath, body: AwardIn, request: Request, caller: Procurement
) -> AwardOut:
    await tender_or_404(request, tender_id)
    await run(
        lambda: commands.award_tender(
            pool_of(request),
            tender_id,
            now=now(),
            awarded_by=caller.subject,
            served_at=body.served_at,
            decision_id=body.decision_id,
        )
    )
    return (await _awards(request, tender_id))[0]


async def _awards(request: Request, tender_id: str) -> list[AwardOut]:
    """Every lot's award, in the tender's lot order; 404 before the decision."""
    tender = await tender_or_404(request, tender_id)
    records = _in_lot_order(tender, await store.awards_of(pool_of(request), tender_id))
    if not records:
        raise ApiError(404, f"tender {tender_id} has not been awarded", field="tender_id")
    discontinued = await store.discontinued_lots_of(pool_of(request), tender_id)
    return [_award_out(r, records, discontinued) for r in records]


@router.get(
    "/tenders/{tender_id}/award",
    response_model=AwardOut,
    summary="The award (of a tender divided into lots: the first lot's, with every lot's winner)",
)
async def get_award(tender_id: IdPath, request: Request, _: AnyCaller) -> AwardOut:
    return (await _awards(request, tender_id))[0]


@router.get(
    "/tenders/{tender_id}/awards",
    response_model=list[AwardOut],
    summary="The decision lot by lot: each lot's award, in the tender's lot order",
)
async def list_awards(tender_id: IdPath, request: Request, _: AnyCaller) -> list[AwardOut]:
    return await _awards(request, tender_id)


@router.get(
    "/tenders/{tender_id}/lots/{lot_id}/award",
    response_model=AwardOut,
    summary="One lot's award",
)
async def get_lot_award(
    tender_id: IdPath,
    lot_id: Annotated[Text, Path(max_length=20)],
    request: Request,
    _: AnyCaller,
) -> AwardOut:
    for award in await _awards(request, tender_id):
        if award.lot_id == lot_id:
            return award
    raise ApiError(404, f"tender {tender_id} has no lot {lot_id}", field="lot_id")


class CorrectedQualityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bid_id: Annotated[Text, Field(min_length=1, max_length=100)]
    score: int = Field(ge=0, le=domain.QUALITY_SCALE, description="0..100, scaled by the weight")
    rationale: Annotated[Text, Field(max_length=10_000)] = Field(
        "", description="Why the score is revised"
    )


class CorrectionIn(BaseModel):
    """A correction of the procurement decision (hankintaoikaisu, Act 1397/2016 sections
    132-135): the decision is made again on the evaluation as it now stands, with the
    rejections this correction adds or withdraws, and replaces the decision in force."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Text, Field(min_length=1, max_length=10_000)] = Field(
        description="Why the decision is corrected (an error found, the Market Court's ruling)"
    )
    served_at: Moment | None = Field(
        None,
        description="When the corrected decision was served to every bidder; default now; "
        "never before the decision it corrects was served",
    )
    decision_id: Annotated[Text, Field(min_length=1, max_length=100)] | None = Field(
        None, description="The recorded decision (the register's) that approved the correction"
    )
    rejections: list[RejectionIn] = Field(
        default_factory=list, max_length=200, description="Rejections the correction adds"
    )
    reinstated_bid_ids: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        max_length=200,
        description="Bids whose rejection recorded by a person the correction withdraws",
    )
    quality_scores: list[CorrectedQualityIn] = Field(
        default_factory=list,
        max_length=200,
        description="Quality scores the correction revises; the replaced decision keeps the "
        "ranking it was made on",
    )


class CorrectionOut(BaseModel):
    tender_id: str
    revision: int
    reason: str
    corrected_at: dt.datetime
    corrected_by: str
    decision_id: str | None
    superseded: dict[str, Any] = Field(description="The replaced decision, as it was")


def _correction_out(record: store.CorrectionRecord) -> CorrectionOut:
    return CorrectionOut(
        tender_id=record.tender_id,
        revision=record.revision,
        reason=record.reason,
        corrected_at=record.corrected_at,
        corrected_by=record.corrected_by,
        decision_id=record.decision_id,
        superseded=record.superseded,
    )


@router.post(
    "/tenders/{tender_id}/decision-corrections",
    response_model=list[AwardOut],
    summary="Correct the procurement decision before signing; the corrected decision is "
    "served anew and replaces the earlier one (decision-corrected)",
)
async def correct_decision(
    tender_id: IdPath, body: CorrectionIn, request: Request, caller: Evaluator
) -> list[AwardOut]:
    await tender_or_404(request, tender_id)

    async def correct() -> domain.Decision:
        return await commands.correct_decision(
            pool_of(request),
            tender_id,
            commands.CorrectionIn(
                reason=body.reason,
                served_at=body.served_at,
                decision_id=body.decision_id,
                rejections=tuple(
                    domain.Rejection(r.bid_id, r.kind, r.ground) for r in body.rejections
                ),
                reinstated_bid_ids=tuple(body.reinstated_bid_ids),
                quality_scores=tuple(
                    domain.QualityScore(q.bid_id, q.score, q.rationale) for q in body.quality_scores
                ),
            ),
            now=now(),
            corrected_by=caller.subject,
        )

    await run(correct)
    return await _awards(request, tender_id)


@router.get(
    "/tenders/{tender_id}/decision-corrections",
    response_model=list[CorrectionOut],
    summary="The corrections of the decision, oldest first, each with the decision it replaced",
)
async def list_corrections(
    tender_id: IdPath, request: Request, _: Evaluator
) -> list[CorrectionOut]:
    await tender_or_404(request, tender_id)
    return [_correction_out(r) for r in await store.corrections_of(pool_of(request), tender_id)]
