"""Appeals to the Market Court against a procurement decision; the coordinator
records them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from kit.app import pool_of
from services.procurement import commands, domain, store
from services.procurement.api_common import (
    AnyCaller,
    Coordinator,
    Day,
    IdPath,
    Text,
    run,
    tender_or_404,
)

router = APIRouter(tags=["procurement"])


class AppealIn(BaseModel):
    case_number: Annotated[Text, Field(min_length=1, max_length=100)] = Field(
        description="The Market Court's case number", examples=["MAO:123/2027"]
    )
    lodged_on: Day
    suspends: bool = Field(description="The decision may not be carried out meanwhile")


class AppealResolutionIn(BaseModel):
    case_number: Annotated[Text, Field(min_length=1, max_length=100)] = Field(
        description="The Market Court's case number (it may hold a slash, so not in the path)"
    )
    outcome: Literal["dismissed", "upheld", "withdrawn"]
    resolved_on: Day
    note: Annotated[Text, Field(max_length=10_000)] = ""


class AppealOut(BaseModel):
    tender_id: str
    case_number: str
    lodged_on: dt.date
    suspends: bool
    status: domain.AppealStatus
    resolved_on: dt.date | None
    note: str
    blocks_signing: bool = Field(
        description="Blocks signing the decision in force: pending and suspending, or upheld "
        "and not yet answered by a correction of the decision"
    )


def _appeal_out(appeal: domain.Appeal, corrected_on: dt.date | None = None) -> AppealOut:
    return AppealOut(
        tender_id=appeal.tender_id,
        case_number=appeal.case_number,
        lodged_on=appeal.lodged_on,
        suspends=appeal.suspends,
        status=appeal.status,
        resolved_on=appeal.resolved_on,
        note=appeal.note,
        blocks_signing=appeal.blocks(corrected_on),
    )


@router.post(
    "/tenders/{tender_id}/appeals",
    status_code=201,
    response_model=AppealOut,
    summary="Record an appeal to the Market Court against the decision (appeal-lodged)",
)
async def lodge_appeal(
    tender_id: IdPath, body: AppealIn, request: Request, _: Coordinator
) -> AppealOut:
    await tender_or_404(request, tender_id)

    async def lodge() -> domain.Appeal:
        return await commands.lodge_appeal(
            pool_of(request),
            domain.Appeal(tender_id, body.case_number, body.lodged_on, body.suspends),
        )

    return _appeal_out(await run(lodge))


@router.post(
    "/tenders/{tender_id}/appeals/resolutions",
    response_model=AppealOut,
    summary="Record the Market Court's resolution of an appeal (appeal-resolved)",
)
async def resolve_appeal(
    tender_id: IdPath,
    body: AppealResolutionIn,
    request: Request,
    _: Coordinator,
) -> AppealOut:
    await tender_or_404(request, tender_id)

    async def resolve() -> domain.Appeal:
        return await commands.resolve_appeal(
            pool_of(request),
            tender_id,
            body.case_number,
            body.outcome,
            body.resolved_on,
            body.note,
        )

    return _appeal_out(await run(resolve))


@router.get("/tenders/{tender_id}/appeals", response_model=list[AppealOut], summary="Appeals")
async def list_appeals(tender_id: IdPath, request: Request, _: AnyCaller) -> list[AppealOut]:
    await tender_or_404(request, tender_id)
    pool = pool_of(request)
    award = await store.get_award(pool, tender_id)
    corrected_on = award.award.corrected_on if award else None
    return [_appeal_out(a, corrected_on) for a in await store.appeals_of(pool, tender_id)]
