"""Scores, rejections and the procurement decision on the published criteria."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Request
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
    rank: int
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


class AwardOut(BaseModel):
    """The procurement decision."""

    tender_id: str
    lot_id: str
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
        description="The ranking of the conforming bids the decision was made on"
    )


class ScoresOut(BaseModel):
    tender_id: str
    state: TenderState
    criteria: dict[str, int]
    recommended_bid_id: str | None
    items: list[ScoreOut]
    award: AwardOut | None


def _award_out(record: store.AwardRecord) -> AwardOut:
    award = record.award
    return AwardOut(
        tender_id=award.tender_id,
        lot_id=award.lot_id,
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
    ranking = await run(lambda: _score(tender, bids, pool))
    by_id = {b.id: b for b in bids}
    award = await store.get_award(pool, tender_id)
    return ScoresOut(
        tender_id=tender_id,
        state=tender.state,
        criteria=commands.criteria_dict(tender.criteria),
        recommended_bid_id=ranking[0].bid_id if ranking else None,
        items=[
            ScoreOut(
                **row,
                supplier=by_id[str(row["bid_id"])].supplier.name,
                product=by_id[str(row["bid_id"])].product,
                price_cents=by_id[str(row["bid_id"])].price_cents,
            )
            for row in commands.score_rows(ranking)
        ],
        award=_award_out(award) if award else None,
    )


async def _score(
    tender: domain.Tender, bids: list[domain.Bid], pool: Any
) -> tuple[domain.BidScore, ...]:
    """The ranking of the bids that are not rejected, against the tender's test matrix."""
    needs = await store.needs_by_ids(pool, tender.need_ids)
    rejected = {r.bid_id for r in await store.rejections_of(pool, tender.id)}
    rejected |= {r.bid_id for r in domain.minimum_requirement_rejections(bids, needs)}
    results = [r.result for r in await store.compatibility_results(pool, tender.id)]
    quality = await store.quality_scores(pool, tender.id)
    return domain.score_bids(
        tender.criteria,
        [b for b in bids if b.id not in rejected],
        results,
        quality,
        test_matrix=domain.compatibility_matrix(tender, needs),
    )


class AwardIn(BaseModel):
    """The decision follows the published criteria: there is no bid to choose."""

    model_config = ConfigDict(extra="forbid")

    served_at: Moment | None = Field(
        None,
        description="When the decision was served to every bidder; default now. May lie in "
        "the past (a decision served earlier, recorded now), never in the future.",
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
        )
    )
    record = await store.get_award(pool_of(request), tender_id)
    assert record is not None
    return _award_out(record)


@router.get("/tenders/{tender_id}/award", response_model=AwardOut, summary="The award")
async def get_award(tender_id: IdPath, request: Request, _: AnyCaller) -> AwardOut:
    await tender_or_404(request, tender_id)
    record = await store.get_award(pool_of(request), tender_id)
    if record is None:
        raise ApiError(404, f"tender {tender_id} has not been awarded", field="tender_id")
    return _award_out(record)
