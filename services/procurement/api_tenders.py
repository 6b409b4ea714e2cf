"""Tenders: drafts, revision, opening for bids, evaluation and cancellation; the
procurement role runs them, every caller may read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kit.app import pool_of
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.api_common import (
    MAX_CENTS,
    AnyCaller,
    IdPath,
    Moment,
    Page,
    Paged,
    Procurement,
    Text,
    now,
    run,
    tender_or_404,
    today,
)
from services.procurement.domain import (
    LicenceModel,
    TenderState,
)

router = APIRouter(tags=["procurement"])


class CriteriaIn(BaseModel):
    """Weights in points; they must sum to 100."""

    price: int = Field(ge=0, le=100)
    quality: int = Field(ge=0, le=100)
    compatibility: int = Field(ge=0, le=100)

    def to_domain(self) -> domain.Criteria:
        return domain.Criteria(self.price, self.quality, self.compatibility)


Target = Annotated[Text, Field(max_length=20, description="A device or library system")]


class PurchasingBodyIn(BaseModel):
    name: Annotated[Text, Field(min_length=1, max_length=500)] = Field(examples=["Hansel Oy"])
    business_id: Annotated[Text | None, Field(min_length=1, max_length=20)] = Field(
        None, examples=["0988084-1"]
    )

    def to_domain(self) -> domain.PurchasingBody:
        return domain.PurchasingBody(self.name, self.business_id)


class LotIn(BaseModel):
    """A lot: awarded on its own, from its own needs, on its own criteria and price model."""

    id: Annotated[Text, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")] = Field(
        examples=["1", "2"]
    )
    title: Annotated[Text, Field(min_length=1, max_length=500)]
    need_ids: list[Annotated[Text, Field(max_length=100)]] = Field(
        min_length=1, max_length=50, description="Needs of the tender this lot answers"
    )
    criteria: CriteriaIn | None = Field(None, description="Default: the tender's criteria")
    price_model: LicenceModel | None = Field(
        None, description="The model every bid for the lot prices; default: the tender's"
    )


def _lots(
    lots: list[LotIn], criteria: domain.Criteria, price_model: LicenceModel
) -> tuple[domain.Lot, ...]:
    """The domain's lots; a lot without its own criteria or price model takes the tender's."""
    return tuple(
        domain.Lot(
            lot.id,
            lot.title,
            tuple(lot.need_ids),
            lot.criteria.to_domain() if lot.criteria else criteria,
            lot.price_model or price_model,
        )
        for lot in lots
    )


class TenderIn(BaseModel):
    title: Annotated[Text, Field(min_length=1, max_length=500)]
    kl_reference: Annotated[Text, Field(min_length=1, max_length=100)] = Field(
        description="The purchasing body's reference of the procurement",
        examples=["KL-2027-014"],
    )
    need_ids: list[Annotated[Text, Field(max_length=100)]] = Field(min_length=1, max_length=50)
    deadline: Moment = Field(description="Bids are accepted strictly before this")
    criteria: CriteriaIn
    price_model: LicenceModel = Field(description="The model every bid must price")
    procedure: domain.Procedure = Field(domain.Procedure.OPEN, description="Procedure of the Act")
    estimated_value_cents: int = Field(
        ge=0,
        le=MAX_CENTS,
        description="Estimated total value, extension options included, VAT excluded; the "
        "threshold class follows from it and the table in force today",
    )
    purchasing_body: PurchasingBodyIn | None = Field(
        None, description="The central purchasing body or unit running the tender"
    )
    optional_targets: list[Target] = Field(
        default_factory=list,
        max_length=20,
        description="Devices and library systems tested although no need requires them",
    )
    lots: list[LotIn] = Field(
        default_factory=list,
        max_length=domain.MAX_LOTS,
        description="The lots, in order; each need in at least one. Empty: not divided (one "
        "lot '1' of the tender's needs, criteria and price model)",
    )


class TenderPatch(BaseModel):
    """Changes to a draft; an open tender's conditions are frozen."""

    title: Annotated[Text | None, Field(min_length=1, max_length=500)] = None
    kl_reference: Annotated[Text | None, Field(min_length=1, max_length=100)] = None
    need_ids: list[Annotated[Text, Field(max_length=100)]] | None = Field(
        None, min_length=1, max_length=50
    )
    deadline: Moment | None = None
    criteria: CriteriaIn | None = None
    price_model: LicenceModel | None = None
    procedure: domain.Procedure | None = None
    estimated_value_cents: int | None = Field(None, ge=0, le=MAX_CENTS)
    purchasing_body: PurchasingBodyIn | None = None
    optional_targets: list[Target] | None = Field(None, max_length=20)
    lots: list[LotIn] | None = Field(
        None, max_length=domain.MAX_LOTS, description="Replaces the lots; [] undivides"
    )


class OpenIn(BaseModel):
    decision_id: Annotated[Text, Field(min_length=1, max_length=100)] | None = Field(
        None, description="The recorded decision that approved publishing this tender"
    )


class CancelIn(BaseModel):
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class LotOut(BaseModel):
    id: str
    title: str
    need_ids: list[str]
    criteria: dict[str, int]
    price_model: LicenceModel


class TenderOut(BaseModel):
    id: str
    title: str
    kl_reference: str
    need_ids: list[str]
    deadline: dt.datetime
    criteria: dict[str, int]
    price_model: LicenceModel
    state: TenderState
    accepts_bids: bool
    cancellation_reason: str | None
    awarded_bid_id: str | None
    procedure: domain.Procedure
    estimated_value_cents: int
    threshold_class: domain.ThresholdClass
    purchasing_body: dict[str, str | None] | None
    optional_targets: list[str]
    tie_break: str = Field(description="The published rule for equal totals")
    divided: bool = Field(description="Divided into lots; otherwise its one lot is '1'")
    lots: list[LotOut] = Field(description="The lots bids answer and decisions are made on")


class TenderPage(Page):
    items: list[TenderOut]


def _tender_out(tender: domain.Tender) -> TenderOut:
    return TenderOut(
        id=tender.id,
        title=tender.title,
        kl_reference=tender.kl_reference,
        need_ids=list(tender.need_ids),
        deadline=tender.deadline,
        criteria=commands.criteria_dict(tender.criteria),
        price_model=tender.price_model,
        state=tender.state,
        accepts_bids=domain.accepts_bids(tender, now()),
        cancellation_reason=tender.cancellation_reason,
        awarded_bid_id=tender.awarded_bid_id,
        procedure=tender.procedure,
        estimated_value_cents=tender.estimated_value_cents,
        threshold_class=tender.threshold_class,
        purchasing_body={
            "name": tender.purchasing_body.name,
            "business_id": tender.purchasing_body.business_id,
        }
        if tender.purchasing_body
        else None,
        optional_targets=sorted(t.value for t in tender.optional_targets),
        tie_break=domain.TIE_BREAK_RULE,
        divided=bool(tender.lots),
        lots=[
            LotOut(
                id=lot.id,
                title=lot.title,
                need_ids=list(lot.need_ids),
                criteria=commands.criteria_dict(lot.criteria),
                price_model=lot.price_model,
            )
            for lot in domain.lots_of(tender)
        ],
    )


@router.post("/tenders", status_code=201, response_model=TenderOut, summary="Create a draft")
async def create_tender(body: TenderIn, request: Request, _: Procurement) -> TenderOut:
    async def create() -> domain.Tender:
        criteria = body.criteria.to_domain()
        return await commands.create_tender(
            pool_of(request),
            title=body.title,
            kl_reference=body.kl_reference,
            need_ids=body.need_ids,
            deadline=body.deadline,
            criteria=criteria,
            price_model=body.price_model,
            lots=_lots(body.lots, criteria, body.price_model),
            today=today(),
            procedure=body.procedure,
            estimated_value_cents=body.estimated_value_cents,
            purchasing_body=body.purchasing_body.to_domain() if body.purchasing_body else None,
            optional_targets=body.optional_targets,
        )

    return _tender_out(await run(create))


@router.get("/tenders", response_model=TenderPage, summary="List and filter tenders")
async def list_tenders(
    request: Request,
    _: AnyCaller,
    paging: Paged,
    state: TenderState | None = None,
    need_id: Annotated[Text | None, Query(max_length=100)] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Title or reference")] = None,
) -> TenderPage:
    tenders, total = await store.list_tenders(
        pool_of(request),
        store.TenderFilter(state.value if state else None, need_id, q),
        limit=paging.limit,
        offset=paging.offset,
    )
    return paging.page(TenderPage, [_tender_out(t) for t in tenders], total)


@router.get("/tenders/{tender_id}", response_model=TenderOut, summary="One tender")
async def get_tender(tender_id: IdPath, request: Request, _: AnyCaller) -> TenderOut:
    return _tender_out(await tender_or_404(request, tender_id))


@router.patch("/tenders/{tender_id}", response_model=TenderOut, summary="Revise a draft")
async def revise_tender(
    tender_id: IdPath, body: TenderPatch, request: Request, _: Procurement
) -> TenderOut:
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None:
            raise ApiError(422, f"{name} cannot be null", field=name)
        if name == "criteria":
            value = None  # built inside _run, so bad weights are a 422 too
        elif name == "need_ids":
            value = tuple(value)
        elif name == "purchasing_body":
            value = domain.PurchasingBody(value.name, value.business_id)
        elif name == "optional_targets":
            value = frozenset(value)
        elif name == "lots":
            value = None  # built inside run, from the criteria and price model in force
        changes[name] = value

    async def revise() -> domain.Tender:
        if "criteria" in changes:
            assert body.criteria is not None
            changes["criteria"] = body.criteria.to_domain()
        if "lots" in changes:
            assert body.lots is not None
            current = await tender_or_404(request, tender_id)
            changes["lots"] = _lots(
                body.lots,
                changes.get("criteria", current.criteria),
                changes.get("price_model", current.price_model),
            )
        return await commands.revise_tender(pool_of(request), tender_id, today(), **changes)

    return _tender_out(await run(revise))


@router.post(
    "/tenders/{tender_id}/open", response_model=TenderOut, summary="Open for bids (tender-opened)"
)
async def open_tender(
    tender_id: IdPath, request: Request, _: Procurement, body: OpenIn | None = None
) -> TenderOut:
    decision_id = body.decision_id if body is not None else None
    return _tender_out(
        await run(lambda: commands.open_tender(pool_of(request), tender_id, now(), decision_id))
    )


@router.post(
    "/tenders/{tender_id}/evaluation",
    response_model=TenderOut,
    summary="Close bidding and start evaluation (only after the deadline)",
)
async def start_evaluation(tender_id: IdPath, request: Request, _: Procurement) -> TenderOut:
    return _tender_out(
        await run(lambda: commands.start_evaluation(pool_of(request), tender_id, now()))
    )


@router.post(
    "/tenders/{tender_id}/cancel", response_model=TenderOut, summary="Cancel (tender-cancelled)"
)
async def cancel_tender(
    tender_id: IdPath, body: CancelIn, request: Request, _: Procurement
) -> TenderOut:
    return _tender_out(
        await run(lambda: commands.cancel_tender(pool_of(request), tender_id, body.reason))
    )
