"""Cost shares among an agreement's participants and closed billing periods with
their invoice lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from kit.app import pool_of
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.api_agreements import cost_share_out
from services.procurement.api_common import (
    AnyCaller,
    Coordinator,
    Day,
    DayQuery,
    IdPath,
    Limit,
    Offset,
    Page,
    Paging,
    agreement_or_404,
    download,
    run,
    today,
)
from services.procurement.domain import (
    CostShareModel,
)

router = APIRouter(tags=["procurement"])


class CostShareOut(BaseModel):
    isil: str
    name: str
    population: int
    share_cents: int
    share_eur: str


class CostSharesOut(Page):
    agreement_id: str
    title: str
    on: dt.date
    model: CostShareModel
    base_fee_cents: int
    cost_share: dict[str, Any] = Field(description="The model and the parameters it takes")
    annual_cost_cents: int
    participants: int
    total_cents: int = Field(
        description="Sum of all shares: the annual cost, or 0 if none; under per-resident what "
        "the rate charges the participants a year"
    )
    items: list[CostShareOut]


async def _shares(
    request: Request, agreement_id: str, on: dt.date | None
) -> tuple[store.AgreementRecord, dt.date, tuple[domain.CostShare, ...]]:
    record = await agreement_or_404(request, agreement_id)
    day = on or today()
    # A policy the participants' data cannot serve (say, a missing population) conflicts
    # with the agreement's state rather than with this request's values: always a 409.
    shares = await run(lambda: commands.cost_shares(pool_of(request), record, day), rule_status=409)
    return record, day, shares


@router.get(
    "/agreements/{agreement_id}/cost-shares",
    response_model=CostSharesOut,
    summary="The annual cost divided among the participants on a day (integer cents)",
)
async def cost_shares(
    agreement_id: IdPath,
    request: Request,
    _: AnyCaller,
    on: DayQuery = None,
    limit: Limit = 500,
    offset: Offset = 0,
) -> CostSharesOut:
    record, day, shares = await _shares(request, agreement_id, on)
    agreement = record.agreement
    paging = Paging(limit, offset)
    return paging.page(
        CostSharesOut,
        [
            CostShareOut(
                isil=s.isil,
                name=s.name,
                population=s.population,
                share_cents=s.share_cents,
                share_eur=domain.format_euros(s.share_cents),
            )
            for s in paging.window(shares)
        ],
        len(shares),
        agreement_id=agreement.id,
        title=record.title,
        on=day,
        model=agreement.cost_share.model,
        base_fee_cents=agreement.cost_share.base_fee_cents,
        cost_share=cost_share_out(agreement.cost_share),
        annual_cost_cents=agreement.annual_cost_cents,
        participants=len(shares),
        total_cents=sum(s.share_cents for s in shares),
    )


@router.get(
    "/agreements/{agreement_id}/cost-shares.csv",
    response_class=Response,
    summary="The cost-share table as CSV",
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, header first"}},
)
async def cost_shares_csv(
    agreement_id: IdPath, request: Request, _: AnyCaller, on: DayQuery = None
) -> Response:
    record, day, shares = await _shares(request, agreement_id, on)
    return download(
        domain.render_cost_shares_csv(shares),
        "text/csv; charset=utf-8",
        f"cost-shares-{record.agreement.id}-{day}.csv",
    )


# --- billing periods and invoice lines ------------------------------------------------------


class BillingPeriodIn(BaseModel):
    start: Day
    end: Day = Field(description="Last day billed; the period must have ended")


class InvoiceLineOut(BaseModel):
    payer: dict[str, str | None] = Field(
        description="The paying organisation (business ID, e-invoice address), else the library"
    )
    isil: str
    description: str
    days: int
    amount_cents: int
    amount_eur: str


class BillingPeriodOut(BaseModel):
    agreement_id: str
    start: dt.date
    end: dt.date
    days: int
    cost_cents: int = Field(description="Annual cost × days / days of the year; lines sum to it")
    lines: list[InvoiceLineOut]
    closed_by: str
    closed_at: dt.datetime


def _billing_out(record: store.BillingRecord) -> BillingPeriodOut:
    return BillingPeriodOut(
        agreement_id=record.agreement_id,
        start=record.period.start,
        end=record.period.end,
        days=record.period.days,
        cost_cents=record.cost_cents,
        lines=[
            InvoiceLineOut(
                payer={
                    "id": line.payer.id,
                    "name": line.payer.name,
                    "business_id": line.payer.business_id,
                    "e_invoice_address": line.payer.e_invoice_address,
                },
                isil=line.isil,
                description=line.description,
                days=line.days,
                amount_cents=line.amount_cents,
                amount_eur=domain.format_euros(line.amount_cents),
            )
            for line in record.lines
        ],
        closed_by=record.closed_by,
        closed_at=record.closed_at,
    )


@router.post(
    "/agreements/{agreement_id}/billing-periods",
    status_code=201,
    response_model=BillingPeriodOut,
    summary="Close a billing period: pro-rated shares as invoice lines (invoice-lines-issued)",
)
async def close_billing_period(
    agreement_id: IdPath, body: BillingPeriodIn, request: Request, caller: Coordinator
) -> BillingPeriodOut:
    await agreement_or_404(request, agreement_id)

    async def close() -> store.BillingRecord:
        return await commands.close_billing_period(
            pool_of(request),
            agreement_id,
            domain.BillingPeriod(body.start, body.end),
            today=today(),
            closed_by=caller.subject,
        )

    return _billing_out(await run(close))


@router.get(
    "/agreements/{agreement_id}/billing-periods",
    response_model=list[BillingPeriodOut],
    summary="Closed billing periods and their invoice lines",
)
async def billing_periods(
    agreement_id: IdPath, request: Request, _: Coordinator
) -> list[BillingPeriodOut]:
    await agreement_or_404(request, agreement_id)
    return [_billing_out(r) for r in await store.billing_periods_of(pool_of(request), agreement_id)]


@router.get(
    "/agreements/{agreement_id}/billing-periods/{start}/invoice-lines.csv",
    response_class=Response,
    summary="A closed period's invoice lines as CSV, every cell formula-safe",
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, header first"}},
)
async def invoice_lines_csv(
    agreement_id: IdPath, start: dt.date, request: Request, _: Coordinator
) -> Response:
    await agreement_or_404(request, agreement_id)
    found = [
        r
        for r in await store.billing_periods_of(pool_of(request), agreement_id)
        if r.period.start == start
    ]
    if not found:
        raise ApiError(404, f"no closed billing period starting {start}", field="start")
    return download(
        domain.render_invoice_csv(found[0].lines),
        "text/csv; charset=utf-8",
        f"invoice-lines-{agreement_id}-{start}.csv",
    )
