"""Procurement HTTP API: needs and interest, tenders, bids, compatibility tests, scores and the
award, framework agreements, participation, cost shares and the licence-term comparison.

Roles: the procurement role runs tenders, bids, tests and the award; the coordinator signs,
renews and terminates agreements; a library proposes needs, registers interest and opts in
or out for itself only (the coordinator may do those for any library). Every authenticated
caller may read, except bids, tests and scores, which stay with procurement and the
coordinator (bids are confidential until the award).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from kit.app import pool_of
from kit.auth import Caller, Role, current_caller, ensure_acts_for, require_role
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.domain import (
    TERM_CATALOGUE,
    CostShareModel,
    Device,
    LibrarySystem,
    LicenceModel,
    MaterialType,
    ProcurementRuleViolated,
    TenderState,
)

router = APIRouter(tags=["procurement"])

AnyCaller = Annotated[Caller, Depends(current_caller)]
Procurement = Annotated[Caller, Depends(require_role(Role.PROCUREMENT))]
Coordinator = Annotated[Caller, Depends(require_role(Role.COORDINATOR))]
Evaluator = Annotated[Caller, Depends(require_role(Role.PROCUREMENT, Role.COORDINATOR))]
LibraryOrCoordinator = Annotated[Caller, Depends(require_role(Role.LIBRARY, Role.COORDINATOR))]
HOLDINGS_READERS = (Role.COORDINATOR, Role.PROCUREMENT, Role.CATALOGUER, Role.OPERATOR)

T = TypeVar("T")


def _clean(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and unpaired surrogates cannot be encoded: refuse both
    # here, so such input is a 422 naming the field and never a database error.
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(_clean)]
IdPath = Annotated[Text, Path(max_length=100)]
IsilPath = Annotated[Text, Path(max_length=16)]
# Dates and times a consortium can mean; far-future values would only overflow date sums.
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
Day = Annotated[dt.date, Field(ge=EARLIEST, le=LATEST)]
DayQuery = Annotated[dt.date | None, Query(ge=EARLIEST, le=LATEST)]


def _in_range(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must lie between {EARLIEST} and {LATEST}")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
MAX_CENTS = 10**12


def today() -> dt.date:
    return dt.date.today()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _run(work: Awaitable[T]) -> T:
    """Map domain refusals to problem responses: bad values 422, state conflicts 409."""
    try:
        return await work
    except commands.NotFound as error:
        raise ApiError(404, str(error), field=error.field) from error
    except ProcurementRuleViolated as error:
        raise ApiError(error.http_status, str(error), field=error.field) from error


class Page(BaseModel):
    total: int
    limit: int
    offset: int


# --- members ----------------------------------------------------------------------------------


class MemberOut(BaseModel):
    isil: str
    name: str
    names: dict[str, str | None]
    population: int
    municipalities: list[str]
    library_system: LibrarySystem
    library_system_text: str = Field(description="As membership recorded it")
    joined_on: dt.date
    left_on: dt.date | None
    active: bool = Field(description="An active consortium member today")


class MemberPage(Page):
    items: list[MemberOut]


@router.get("/members", response_model=MemberPage, summary="Procurement's copy of the members")
async def list_members(
    request: Request,
    _: AnyCaller,
    q: Annotated[Text | None, Query(max_length=100, description="ISIL or name contains")] = None,
    active_on: DayQuery = None,
    library_system: LibrarySystem | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MemberPage:
    records, total = await store.list_members(
        pool_of(request),
        store.MemberFilter(q, active_on, library_system.value if library_system else None),
        limit=limit,
        offset=offset,
    )
    day = today()
    return MemberPage(
        items=[
            MemberOut(
                isil=r.member.isil,
                name=r.member.name,
                names=r.names,
                population=r.member.population,
                municipalities=r.municipalities,
                library_system=LibrarySystem(r.library_system),
                library_system_text=r.library_system_text,
                joined_on=r.member.joined_on,
                left_on=r.member.left_on,
                active=r.member.is_active_on(day),
            )
            for r in records
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


# --- needs and interest -------------------------------------------------------------------


class NeedIn(BaseModel):
    proposed_by: Annotated[Text | None, Field(max_length=16)] = Field(
        None, description="ISIL of the proposing member; a library token defaults to its own"
    )
    material_type: MaterialType
    description: Annotated[Text, Field(min_length=1, max_length=10_000)]
    accepted_licence_models: list[LicenceModel] = Field(min_length=1, max_length=3)
    required_devices: list[Device] = Field(default_factory=list, max_length=4)
    required_library_systems: list[LibrarySystem] = Field(default_factory=list, max_length=6)


class NeedOut(BaseModel):
    id: str
    proposed_by: str
    material_type: MaterialType
    description: str
    accepted_licence_models: list[LicenceModel]
    required_devices: list[Device]
    required_library_systems: list[LibrarySystem]
    proposed_on: dt.date
    interested: int = Field(description="Libraries that registered interest")


class NeedPage(Page):
    items: list[NeedOut]


class InterestIn(BaseModel):
    isil: Annotated[Text | None, Field(max_length=16)] = Field(
        None, description="The interested member; a library token defaults to its own"
    )
    indicative_budget_cents: int | None = Field(None, ge=0, le=MAX_CENTS)


class InterestOut(BaseModel):
    need_id: str
    isil: str
    indicative_budget_cents: int | None
    registered_on: dt.date


class InterestPage(Page):
    items: list[InterestOut]


def _need_out(record: store.NeedRecord) -> NeedOut:
    need = record.need
    return NeedOut(
        id=need.id,
        proposed_by=need.proposed_by,
        material_type=need.material_type,
        description=need.description,
        accepted_licence_models=sorted(need.accepted_licence_models),
        required_devices=sorted(need.required_devices),
        required_library_systems=sorted(need.required_library_systems),
        proposed_on=record.proposed_on,
        interested=record.interested,
    )


def _for_library(caller: Caller, isil: str | None, field: str) -> str:
    """The library a library-owned action is for: a library token acts for itself only."""
    chosen = isil or caller.isil
    if chosen is None:
        raise ApiError(422, f"{field} is required for a {caller.role.value} token", field=field)
    ensure_acts_for(caller, chosen, also=(Role.COORDINATOR,))
    return chosen


async def _need(request: Request, need_id: str) -> store.NeedRecord:
    record = await store.get_need(pool_of(request), need_id)
    if record is None:
        raise ApiError(404, f"no need {need_id}", field="need_id")
    return record


@router.post("/needs", status_code=201, response_model=NeedOut, summary="Propose a need")
async def propose_need(body: NeedIn, request: Request, caller: LibraryOrCoordinator) -> NeedOut:
    isil = _for_library(caller, body.proposed_by, "proposed_by")
    need = await _run(
        commands.propose_need(
            pool_of(request),
            proposed_by=isil,
            material_type=body.material_type,
            description=body.description,
            accepted_licence_models=body.accepted_licence_models,
            required_devices=body.required_devices,
            required_library_systems=body.required_library_systems,
            today=today(),
        )
    )
    return _need_out(await _need(request, need.id))


@router.get("/needs", response_model=NeedPage, summary="List and filter needs")
async def list_needs(
    request: Request,
    _: AnyCaller,
    material_type: MaterialType | None = None,
    proposed_by: Annotated[Text | None, Query(max_length=16)] = None,
    interested: Annotated[
        Text | None, Query(max_length=16, description="ISIL that registered interest")
    ] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Description contains")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> NeedPage:
    records, total = await store.list_needs(
        pool_of(request),
        store.NeedFilter(
            material_type.value if material_type else None, proposed_by, interested, q
        ),
        limit=limit,
        offset=offset,
    )
    return NeedPage(items=[_need_out(r) for r in records], total=total, limit=limit, offset=offset)


@router.get("/needs/{need_id}", response_model=NeedOut, summary="One need")
async def get_need(need_id: IdPath, request: Request, _: AnyCaller) -> NeedOut:
    return _need_out(await _need(request, need_id))


@router.post(
    "/needs/{need_id}/interest",
    status_code=201,
    response_model=InterestOut,
    summary="Register non-binding interest (interest-registered)",
)
async def register_interest(
    need_id: IdPath, body: InterestIn, request: Request, caller: LibraryOrCoordinator
) -> InterestOut:
    isil = _for_library(caller, body.isil, "isil")
    day = today()
    interest = await _run(
        commands.register_interest(
            pool_of(request), need_id, isil, body.indicative_budget_cents, day
        )
    )
    return InterestOut(
        need_id=interest.need_id,
        isil=interest.isil,
        indicative_budget_cents=interest.indicative_budget_cents,
        registered_on=day,
    )


@router.get("/needs/{need_id}/interest", response_model=InterestPage, summary="Interest in a need")
async def list_interest(
    need_id: IdPath, request: Request, _: AnyCaller, limit: Limit = 50, offset: Offset = 0
) -> InterestPage:
    await _need(request, need_id)
    records = await store.interests(pool_of(request), need_id)
    return InterestPage(
        items=[
            InterestOut(
                need_id=r.interest.need_id,
                isil=r.interest.isil,
                indicative_budget_cents=r.interest.indicative_budget_cents,
                registered_on=r.registered_on,
            )
            for r in records[offset : offset + limit]
        ],
        total=len(records),
        limit=limit,
        offset=offset,
    )


# --- tenders ------------------------------------------------------------------------------


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


class CancelIn(BaseModel):
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


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
    )


async def _tender(request: Request, tender_id: str) -> domain.Tender:
    tender = await store.get_tender(pool_of(request), tender_id)
    if tender is None:
        raise ApiError(404, f"no tender {tender_id}", field="tender_id")
    return tender


@router.post("/tenders", status_code=201, response_model=TenderOut, summary="Create a draft")
async def create_tender(body: TenderIn, request: Request, _: Procurement) -> TenderOut:
    async def create() -> domain.Tender:
        return await commands.create_tender(
            pool_of(request),
            title=body.title,
            kl_reference=body.kl_reference,
            need_ids=body.need_ids,
            deadline=body.deadline,
            criteria=body.criteria.to_domain(),
            price_model=body.price_model,
            today=today(),
            procedure=body.procedure,
            estimated_value_cents=body.estimated_value_cents,
            purchasing_body=body.purchasing_body.to_domain() if body.purchasing_body else None,
            optional_targets=body.optional_targets,
        )

    return _tender_out(await _run(create()))


@router.get("/tenders", response_model=TenderPage, summary="List and filter tenders")
async def list_tenders(
    request: Request,
    _: AnyCaller,
    state: TenderState | None = None,
    need_id: Annotated[Text | None, Query(max_length=100)] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Title or reference")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TenderPage:
    tenders, total = await store.list_tenders(
        pool_of(request),
        store.TenderFilter(state.value if state else None, need_id, q),
        limit=limit,
        offset=offset,
    )
    return TenderPage(
        items=[_tender_out(t) for t in tenders], total=total, limit=limit, offset=offset
    )


@router.get("/tenders/{tender_id}", response_model=TenderOut, summary="One tender")
async def get_tender(tender_id: IdPath, request: Request, _: AnyCaller) -> TenderOut:
    return _tender_out(await _tender(request, tender_id))


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
        changes[name] = value

    async def revise() -> domain.Tender:
        if "criteria" in changes:
            assert body.criteria is not None
            changes["criteria"] = body.criteria.to_domain()
        return await commands.revise_tender(pool_of(request), tender_id, today(), **changes)

    return _tender_out(await _run(revise()))


@router.post(
    "/tenders/{tender_id}/open", response_model=TenderOut, summary="Open for bids (tender-opened)"
)
async def open_tender(tender_id: IdPath, request: Request, _: Procurement) -> TenderOut:
    return _tender_out(await _run(commands.open_tender(pool_of(request), tender_id, now())))


@router.post(
    "/tenders/{tender_id}/evaluation",
    response_model=TenderOut,
    summary="Close bidding and start evaluation (only after the deadline)",
)
async def start_evaluation(tender_id: IdPath, request: Request, _: Procurement) -> TenderOut:
    return _tender_out(await _run(commands.start_evaluation(pool_of(request), tender_id, now())))


@router.post(
    "/tenders/{tender_id}/cancel", response_model=TenderOut, summary="Cancel (tender-cancelled)"
)
async def cancel_tender(
    tender_id: IdPath, body: CancelIn, request: Request, _: Procurement
) -> TenderOut:
    return _tender_out(await _run(commands.cancel_tender(pool_of(request), tender_id, body.reason)))


# --- bids ---------------------------------------------------------------------------------


class SupplierIn(BaseModel):
    name: Annotated[Text, Field(min_length=1, max_length=500)]
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


def _clean_terms(raw: dict[str, Any]) -> dict[str, Any]:
    """Terms are checked by the domain's catalogue (which names the term in its refusal);
    here only text that could never be stored is refused, wherever it is nested."""

    def walk(value: Any) -> None:
        if isinstance(value, str):
            _clean(value)
            if len(value) > 10_000:
                raise ValueError("a term's text may be at most 10000 characters")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(raw)
    return raw


TermsIn = Annotated[dict[str, Any], AfterValidator(_clean_terms)]


class BidIn(BaseModel):
    supplier: SupplierIn
    product: Annotated[Text, Field(min_length=1, max_length=500)]
    price_model: LicenceModel
    price_cents: int = Field(ge=1, le=MAX_CENTS, description="Under price_model")
    supported_devices: list[Device] = Field(default_factory=list, max_length=4)
    supported_library_systems: list[LibrarySystem] = Field(default_factory=list, max_length=6)
    terms: TermsIn = Field(
        default_factory=dict,
        max_length=len(TERM_CATALOGUE),
        description="Licence terms by name (see GET /licence-terms): a value, or {value, note}",
        examples=[{"concurrent_users": 1, "annual_opt_out": "permitted", "drm": "readium-lcp"}],
    )


class TermOut(BaseModel):
    type: str
    label: str
    value: int | str
    note: str


class ShortfallOut(BaseModel):
    missing_devices: list[Device]
    missing_library_systems: list[LibrarySystem]
    needs_not_accepting_model: list[str]


class BidOut(BaseModel):
    id: str
    tender_id: str
    supplier: dict[str, str]
    product: str
    price_model: LicenceModel
    price_cents: int
    submitted_at: dt.datetime
    supported_devices: list[Device]
    supported_library_systems: list[LibrarySystem]
    terms: dict[str, TermOut]
    shortfall: ShortfallOut = Field(description="What the bid lacks against the tender's needs")


class BidPage(Page):
    items: list[BidOut]


def _terms_out(terms: domain.LicenceTerms) -> dict[str, TermOut]:
    return {
        name: TermOut(
            type=payload.type, label=payload.label or name, value=payload.value, note=payload.note
        )
        for name, payload in commands.licence_terms_payload(terms).items()
    }


def _bid_out(bid: domain.Bid, needs: list[domain.Need]) -> BidOut:
    gap = domain.shortfall(bid, needs)
    return BidOut(
        id=bid.id,
        tender_id=bid.tender_id,
        supplier={"name": bid.supplier.name, "country": bid.supplier.country},
        product=bid.product,
        price_model=bid.price_model,
        price_cents=bid.price_cents,
        submitted_at=bid.submitted_at,
        supported_devices=sorted(bid.supported_devices),
        supported_library_systems=sorted(bid.supported_library_systems),
        terms=_terms_out(bid.terms),
        shortfall=ShortfallOut(
            missing_devices=sorted(gap.missing_devices),
            missing_library_systems=sorted(gap.missing_library_systems),
            needs_not_accepting_model=list(gap.needs_not_accepting_model),
        ),
    )


async def _bid(request: Request, tender_id: str, bid_id: str) -> domain.Bid:
    await _tender(request, tender_id)
    bid = await store.get_bid(pool_of(request), bid_id)
    if bid is None or bid.tender_id != tender_id:
        raise ApiError(404, f"no bid {bid_id} in tender {tender_id}", field="bid_id")
    return bid


@router.post(
    "/tenders/{tender_id}/bids",
    status_code=201,
    response_model=BidOut,
    summary="Record a bid (only while open and before the deadline)",
)
async def submit_bid(tender_id: IdPath, body: BidIn, request: Request, _: Procurement) -> BidOut:
    tender = await _tender(request, tender_id)
    terms = body.terms
    bid = await _run(
        commands.submit_bid(
            pool_of(request),
            tender_id,
            commands.BidIn(
                supplier_name=body.supplier.name,
                supplier_country=body.supplier.country,
                product=body.product,
                price_model=body.price_model,
                price_cents=body.price_cents,
                supported_devices=body.supported_devices,
                supported_library_systems=body.supported_library_systems,
                terms=terms,
            ),
            now(),
        )
    )
    return _bid_out(bid, await store.needs_by_ids(pool_of(request), tender.need_ids))


@router.get("/tenders/{tender_id}/bids", response_model=BidPage, summary="A tender's bids")
async def list_bids(
    tender_id: IdPath,
    request: Request,
    _: Evaluator,
    supplier: Annotated[Text | None, Query(max_length=100, description="Name contains")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> BidPage:
    tender = await _tender(request, tender_id)
    bids = await store.bids_of(pool_of(request), tender_id)
    if supplier:
        bids = [b for b in bids if supplier.lower() in b.supplier.name.lower()]
    needs = await store.needs_by_ids(pool_of(request), tender.need_ids)
    return BidPage(
        items=[_bid_out(b, needs) for b in bids[offset : offset + limit]],
        total=len(bids),
        limit=limit,
        offset=offset,
    )


@router.get("/tenders/{tender_id}/bids/{bid_id}", response_model=BidOut, summary="One bid")
async def get_bid(tender_id: IdPath, bid_id: IdPath, request: Request, _: Evaluator) -> BidOut:
    bid = await _bid(request, tender_id, bid_id)
    tender = await _tender(request, tender_id)
    return _bid_out(bid, await store.needs_by_ids(pool_of(request), tender.need_ids))


# --- compatibility tests, quality scores, scores, award ------------------------------------


class TestIn(BaseModel):
    target: Device | LibrarySystem = Field(description="A device or a library system")
    passed: bool
    notes: Annotated[Text, Field(max_length=10_000)] = ""


class TestOut(BaseModel):
    bid_id: str
    target: str
    kind: str = Field(description="device or library-system")
    passed: bool
    notes: str
    tested_at: dt.datetime | None = None


class TestPage(Page):
    items: list[TestOut]


def _test_out(result: domain.CompatibilityResult, tested_at: dt.datetime | None) -> TestOut:
    return TestOut(
        bid_id=result.bid_id,
        target=result.target.value,
        kind="device" if isinstance(result.target, Device) else "library-system",
        passed=result.passed,
        notes=result.notes,
        tested_at=tested_at,
    )


@router.post(
    "/tenders/{tender_id}/bids/{bid_id}/tests",
    status_code=201,
    response_model=TestOut,
    summary="Record a compatibility test on a device or library system (a retest replaces)",
)
async def record_test(
    tender_id: IdPath, bid_id: IdPath, body: TestIn, request: Request, _: Procurement
) -> TestOut:
    await _bid(request, tender_id, bid_id)
    result = await _run(
        _recorded_result(request, tender_id, bid_id, body.target, body.passed, body.notes)
    )
    return _test_out(result, None)


async def _recorded_result(
    request: Request, tender_id: str, bid_id: str, target: Any, passed: bool, notes: str
) -> domain.CompatibilityResult:
    return await commands.record_compatibility_result(
        pool_of(request), tender_id, domain.CompatibilityResult(bid_id, target, passed, notes)
    )


@router.get("/tenders/{tender_id}/tests", response_model=TestPage, summary="Compatibility tests")
async def list_tests(
    tender_id: IdPath,
    request: Request,
    _: Evaluator,
    bid_id: Annotated[Text | None, Query(max_length=100)] = None,
    target: Device | LibrarySystem | None = None,
    passed: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TestPage:
    await _tender(request, tender_id)
    records = await store.compatibility_results(
        pool_of(request),
        tender_id,
        bid_id=bid_id,
        target=target.value if target else None,
        passed=passed,
    )
    return TestPage(
        items=[_test_out(r.result, r.tested_at) for r in records[offset : offset + limit]],
        total=len(records),
        limit=limit,
        offset=offset,
    )


class QualityIn(BaseModel):
    score: int = Field(ge=0, le=domain.QUALITY_SCALE, description="0..100, scaled by the weight")
    rationale: Annotated[Text, Field(max_length=10_000)] = ""


class QualityOut(BaseModel):
    bid_id: str
    score: int
    rationale: str


@router.put(
    "/tenders/{tender_id}/bids/{bid_id}/quality",
    response_model=QualityOut,
    summary="Enter the bid's quality score (replaces an earlier one)",
)
async def record_quality(
    tender_id: IdPath, bid_id: IdPath, body: QualityIn, request: Request, _: Procurement
) -> QualityOut:
    await _bid(request, tender_id, bid_id)

    async def record() -> domain.QualityScore:
        return await commands.record_quality_score(
            pool_of(request), tender_id, domain.QualityScore(bid_id, body.score, body.rationale)
        )

    score = await _run(record())
    return QualityOut(bid_id=score.bid_id, score=score.score, rationale=score.rationale)


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
    tender = await _tender(request, tender_id)
    pool = pool_of(request)
    bids = await store.bids_of(pool, tender_id)
    ranking = await _run(
        _score(tender, bids, pool),
    )
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
    await _tender(request, tender_id)

    async def reject() -> domain.Rejection:
        return await commands.reject_bid(
            pool_of(request),
            tender_id,
            domain.Rejection(body.bid_id, body.kind, body.ground),
            caller.subject,
        )

    r = await _run(reject())
    return RejectionOut(bid_id=r.bid_id, kind=r.kind, ground=r.ground, automatic=False)


@router.post(
    "/tenders/{tender_id}/award",
    response_model=AwardOut,
    summary="Make the procurement decision on the published criteria (tender-awarded v2)",
)
async def award(
    tender_id: IdPath, body: AwardIn, request: Request, caller: Procurement
) -> AwardOut:
    await _tender(request, tender_id)
    await _run(
        commands.award_tender(
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
    await _tender(request, tender_id)
    record = await store.get_award(pool_of(request), tender_id)
    if record is None:
        raise ApiError(404, f"tender {tender_id} has not been awarded", field="tender_id")
    return _award_out(record)


# --- documents -------------------------------------------------------------------------------


class DocumentOut(BaseModel):
    tender_id: str
    kind: domain.DocumentKind
    version: int
    sha256: str
    media_type: str
    size: int


def _document_out(d: domain.Document) -> DocumentOut:
    return DocumentOut(
        tender_id=d.tender_id,
        kind=d.kind,
        version=d.version,
        sha256=d.sha256,
        media_type=d.media_type,
        size=d.size,
    )


DOCUMENT_TYPES = ("application/pdf", "text/plain", "text/csv", "application/octet-stream")


@router.put(
    "/tenders/{tender_id}/documents/{kind}",
    response_model=DocumentOut,
    summary="Store a new version of a draft's document (by content hash)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in DOCUMENT_TYPES
            },
        }
    },
)
async def put_document(
    tender_id: IdPath, kind: domain.DocumentKind, request: Request, _: Procurement
) -> DocumentOut:
    await _tender(request, tender_id)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in DOCUMENT_TYPES:
        raise ApiError(415, f"send one of {', '.join(DOCUMENT_TYPES)}", field="body")
    content = await request.body()

    async def add() -> domain.Document:
        return await commands.add_document(pool_of(request), tender_id, kind, content, media)

    return _document_out(await _run(add()))


@router.get(
    "/tenders/{tender_id}/documents",
    response_model=list[DocumentOut],
    summary="Every version of the tender's documents",
)
async def list_documents(tender_id: IdPath, request: Request, _: AnyCaller) -> list[DocumentOut]:
    await _tender(request, tender_id)
    return [_document_out(d) for d in await store.documents_of(pool_of(request), tender_id)]


@router.get(
    "/tenders/{tender_id}/documents/{kind}/{version}",
    response_class=Response,
    summary="One version's content",
)
async def get_document(
    tender_id: IdPath,
    kind: domain.DocumentKind,
    version: Annotated[int, Path(ge=1, le=10_000)],
    request: Request,
    _: AnyCaller,
) -> Response:
    found = await store.document_content(pool_of(request), tender_id, kind.value, version)
    if found is None:
        raise ApiError(404, f"no version {version} of {kind.value}", field="version")
    media_type, content = found
    return Response(content, media_type=media_type)


# --- questions and answers -----------------------------------------------------------------


class QuestionIn(BaseModel):
    asked_by: Annotated[Text, Field(min_length=1, max_length=500)] = Field(
        description="The supplier asking; kept on record, never published"
    )
    question: Annotated[Text, Field(min_length=1, max_length=10_000)]


class AnswerIn(BaseModel):
    answer: Annotated[Text, Field(min_length=1, max_length=20_000)]


class QuestionOut(BaseModel):
    id: str
    tender_id: str
    question: str
    asked_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None


def _question_out(q: domain.Question) -> QuestionOut:
    return QuestionOut(
        id=q.id,
        tender_id=q.tender_id,
        question=q.text,
        asked_at=q.asked_at,
        answer=q.answer,
        answered_at=q.answered_at,
    )


@router.post(
    "/tenders/{tender_id}/questions",
    status_code=201,
    response_model=QuestionOut,
    summary="Record a supplier's question, before the deadline",
)
async def ask_question(
    tender_id: IdPath, body: QuestionIn, request: Request, _: Procurement
) -> QuestionOut:
    await _tender(request, tender_id)

    async def ask() -> domain.Question:
        return await commands.ask_question(
            pool_of(request), tender_id, body.asked_by, body.question, now()
        )

    return _question_out(await _run(ask()))


@router.put(
    "/tenders/{tender_id}/questions/{question_id}/answer",
    response_model=QuestionOut,
    summary="Answer a question; published to every bidder (question-answered)",
)
async def answer_question(
    tender_id: IdPath, question_id: IdPath, body: AnswerIn, request: Request, _: Procurement
) -> QuestionOut:
    await _tender(request, tender_id)

    async def answer() -> domain.Question:
        return await commands.answer_question(
            pool_of(request), tender_id, question_id, body.answer, now()
        )

    return _question_out(await _run(answer()))


@router.get(
    "/tenders/{tender_id}/questions",
    response_model=list[QuestionOut],
    summary="Questions and answers, without who asked",
)
async def list_questions(tender_id: IdPath, request: Request, _: AnyCaller) -> list[QuestionOut]:
    await _tender(request, tender_id)
    return [_question_out(q) for q in await store.questions_of(pool_of(request), tender_id)]


# --- appeals -------------------------------------------------------------------------------


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
    blocks_signing: bool


def _appeal_out(appeal: domain.Appeal) -> AppealOut:
    return AppealOut(
        tender_id=appeal.tender_id,
        case_number=appeal.case_number,
        lodged_on=appeal.lodged_on,
        suspends=appeal.suspends,
        status=appeal.status,
        resolved_on=appeal.resolved_on,
        note=appeal.note,
        blocks_signing=appeal.blocks_signing,
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
    await _tender(request, tender_id)

    async def lodge() -> domain.Appeal:
        return await commands.lodge_appeal(
            pool_of(request),
            domain.Appeal(tender_id, body.case_number, body.lodged_on, body.suspends),
        )

    return _appeal_out(await _run(lodge()))


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
    await _tender(request, tender_id)

    async def resolve() -> domain.Appeal:
        return await commands.resolve_appeal(
            pool_of(request),
            tender_id,
            body.case_number,
            body.outcome,
            body.resolved_on,
            body.note,
        )

    return _appeal_out(await _run(resolve()))


@router.get("/tenders/{tender_id}/appeals", response_model=list[AppealOut], summary="Appeals")
async def list_appeals(tender_id: IdPath, request: Request, _: AnyCaller) -> list[AppealOut]:
    await _tender(request, tender_id)
    return [_appeal_out(a) for a in await store.appeals_of(pool_of(request), tender_id)]


# --- agreements -----------------------------------------------------------------------------


class PeriodIn(BaseModel):
    start: Day
    end: Day = Field(description="Last day in force")
    cancellation_deadline: Day | None = Field(
        None, description="Last day to give notice for this period's end; default 3 months before"
    )

    def to_domain(self) -> domain.Period:
        deadline = self.cancellation_deadline
        if deadline is None:
            deadline = max(self.start, min(self.end, domain.add_months(self.end, -3)))
        return domain.Period(self.start, self.end, deadline)


class ExtensionIn(BaseModel):
    count: int = Field(
        0, ge=0, le=domain.MAX_EXTENSION_OPTIONS, description="How many renewals are possible"
    )
    months: int = Field(
        12, ge=1, le=domain.MAX_EXTENSION_MONTHS, description="Length of each renewal"
    )


class CostShareIn(BaseModel):
    model: CostShareModel
    base_fee_cents: int = Field(0, ge=0, le=MAX_CENTS, description="base-plus-per-capita only")


class AgreementIn(BaseModel):
    tender_id: Annotated[Text, Field(max_length=100)]
    title: Annotated[Text | None, Field(min_length=1, max_length=500)] = Field(
        None, description="Default: the tender's title"
    )
    first_period: PeriodIn
    extension_options: ExtensionIn = Field(default_factory=ExtensionIn)
    annual_cost_cents: int | None = Field(
        None,
        ge=0,
        le=MAX_CENTS,
        description="Default: the awarded bid's annual fee; another amount needs "
        "price_amendment. Required (the budgeted spend) for per-loan and per-title prices.",
    )
    price_amendment: Annotated[Text | None, Field(min_length=1, max_length=10_000)] = Field(
        None, description="Why the annual cost differs from the awarded bid's price"
    )
    framework_justification: Annotated[Text | None, Field(min_length=1, max_length=10_000)] = Field(
        None, description="Why the framework runs longer than its class allows"
    )
    cost_share: CostShareIn
    signed_on: Day | None = Field(
        None,
        description="Default: today; never before the decision, the standstill's end, "
        "nor after today",
    )


class RenewalIn(BaseModel):
    cancellation_deadline: Day | None = Field(
        None, description="Default: the previous period's notice time"
    )
    decision_id: Annotated[Text, Field(max_length=100)] | None = Field(
        None, description="The recorded decision that approved this renewal (required)"
    )


class TerminationIn(BaseModel):
    effective_on: Day = Field(description="First day no longer in force; today ends it now")
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class PeriodOut(BaseModel):
    start: dt.date
    end: dt.date
    cancellation_deadline: dt.date


class EndOut(BaseModel):
    kind: str
    effective_on: dt.date
    reason: str | None
    scheduled: bool = Field(description="Not yet in effect")


class AgreementOut(BaseModel):
    id: str
    tender_id: str
    bid_id: str
    title: str
    supplier: dict[str, str]
    product: str
    material_types: list[MaterialType]
    price_model: LicenceModel
    licence_terms: dict[str, TermOut]
    periods: list[PeriodOut]
    extension_options: dict[str, int]
    annual_cost_cents: int
    price_amendment: str | None = Field(description="Why the cost differs from the bid")
    framework_justification: str | None
    cost_share: dict[str, Any]
    signed_on: dt.date
    state: str
    in_force: bool = Field(description="In force today")
    expires_on: dt.date = Field(description="First day after the last period")
    end: EndOut | None
    participants: int = Field(description="Libraries participating today")
    opt_out_dates: list[dt.date] | None = Field(
        description="Effective dates an opt-out given today may take; null means any date"
    )


class AgreementPage(Page):
    items: list[AgreementOut]


async def _agreement_out(request: Request, record: store.AgreementRecord) -> AgreementOut:
    agreement = record.agreement
    day = today()
    participations = await store.participations_of(pool_of(request), agreement.id)
    dates = domain.opt_out_dates(agreement, day)
    return AgreementOut(
        id=agreement.id,
        tender_id=agreement.tender_id,
        bid_id=agreement.bid_id,
        title=record.title,
        supplier={"name": agreement.supplier.name, "country": agreement.supplier.country},
        product=agreement.product,
        material_types=sorted(agreement.material_types),
        price_model=agreement.price_model,
        licence_terms=_terms_out(agreement.terms),
        periods=[
            PeriodOut(start=p.start, end=p.end, cancellation_deadline=p.cancellation_deadline)
            for p in agreement.periods
        ],
        extension_options={
            "count": agreement.extension_options.count,
            "months": agreement.extension_options.months,
            "renewals_left": agreement.renewals_left,
        },
        annual_cost_cents=agreement.annual_cost_cents,
        price_amendment=agreement.price_amendment,
        framework_justification=agreement.framework_justification,
        cost_share={
            "model": agreement.cost_share.model.value,
            "base_fee_cents": agreement.cost_share.base_fee_cents,
        },
        signed_on=agreement.signed_on,
        state=agreement.state.value,
        in_force=agreement.is_in_force_on(day),
        expires_on=agreement.expires_on,
        end=EndOut(
            kind=agreement.end.kind.value,
            effective_on=agreement.end.effective_on,
            reason=agreement.end.reason,
            scheduled=agreement.state is domain.AgreementState.ACTIVE,
        )
        if agreement.end
        else None,
        participants=sum(1 for p in participations if p.participation.participates_on(day)),
        opt_out_dates=list(dates) if dates is not None else None,
    )


async def _agreement(request: Request, agreement_id: str) -> store.AgreementRecord:
    record = await store.get_agreement(pool_of(request), agreement_id)
    if record is None:
        raise ApiError(404, f"no agreement {agreement_id}", field="agreement_id")
    return record


@router.post(
    "/agreements",
    status_code=201,
    response_model=AgreementOut,
    summary="Sign the framework agreement from the awarded tender (agreement-signed)",
)
async def sign_agreement(body: AgreementIn, request: Request, _: Coordinator) -> AgreementOut:
    async def sign() -> store.AgreementRecord:
        return await commands.sign_agreement(
            pool_of(request),
            tender_id=body.tender_id,
            title=body.title,
            first_period=body.first_period.to_domain(),
            extension_options=domain.ExtensionOptions(
                body.extension_options.count, body.extension_options.months
            ),
            annual_cost_cents=body.annual_cost_cents,
            cost_share=domain.CostSharePolicy(
                body.cost_share.model, body.cost_share.base_fee_cents
            ),
            signed_on=body.signed_on or today(),
            today=today(),
            price_amendment=body.price_amendment,
            framework_justification=body.framework_justification,
        )

    return await _agreement_out(request, await _run(sign()))


@router.get("/agreements", response_model=AgreementPage, summary="List and filter agreements")
async def list_agreements(
    request: Request,
    _: AnyCaller,
    state: domain.AgreementState | None = None,
    material_type: MaterialType | None = None,
    supplier: Annotated[Text | None, Query(max_length=100, description="Name contains")] = None,
    participant: Annotated[
        Text | None, Query(max_length=16, description="ISIL participating today")
    ] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Title or product")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AgreementPage:
    records, total = await store.list_agreements(
        pool_of(request),
        store.AgreementFilter(
            state=state.value if state else None,
            material_type=material_type.value if material_type else None,
            supplier=supplier,
            participant=participant,
            on=today(),
            text=q,
        ),
        limit=limit,
        offset=offset,
    )
    return AgreementPage(
        items=[await _agreement_out(request, r) for r in records],
        total=total,
        limit=limit,
        offset=offset,
    )


class TermRowOut(BaseModel):
    term: str
    label: str
    type: str
    values: dict[str, TermOut | None] = Field(description="Agreement id → term, null if unstated")
    most_favourable: list[str] = Field(description="Agreements with the best value for libraries")


class ComparisonOut(Page):
    agreements: list[dict[str, str]]
    rows: list[TermRowOut]


@router.get(
    "/agreements/compare",
    response_model=ComparisonOut,
    summary="Licence terms side by side across agreements",
)
async def compare_agreements(
    request: Request,
    _: AnyCaller,
    ids: Annotated[
        list[Annotated[Text, Field(max_length=100)]] | None,
        Query(max_length=20, description="Agreements to compare; default: all that match"),
    ] = None,
    state: domain.AgreementState | None = None,
    material_type: MaterialType | None = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 20,
    offset: Offset = 0,
) -> ComparisonOut:
    pool = pool_of(request)
    if ids:
        records = await store.agreements_by_ids(pool, ids)
        missing = sorted(set(ids) - {r.agreement.id for r in records})
        if missing:
            raise ApiError(404, f"no agreement(s) {', '.join(missing)}", field="ids")
        total = len(records)
        records = records[offset : offset + limit]
    else:
        records, total = await store.list_agreements(
            pool,
            store.AgreementFilter(
                state=state.value if state else None,
                material_type=material_type.value if material_type else None,
            ),
            limit=limit,
            offset=offset,
        )
    rows = domain.compare_agreements([r.agreement for r in records])

    def term(value: domain.LicenceTerm | None) -> TermOut | None:
        if value is None:
            return None
        return TermOut(
            type=value.type.value,
            label=TERM_CATALOGUE[value.name].label,
            value=value.value if isinstance(value.value, int) else str(value.value),
            note=value.note,
        )

    return ComparisonOut(
        agreements=[{"id": r.agreement.id, "title": r.title} for r in records],
        rows=[
            TermRowOut(
                term=row.term.value,
                label=row.label,
                type=row.type.value,
                values={sid: term(value) for sid, value in row.values.items()},
                most_favourable=list(row.most_favourable),
            )
            for row in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/agreements/{agreement_id}", response_model=AgreementOut, summary="One agreement")
async def get_agreement(agreement_id: IdPath, request: Request, _: AnyCaller) -> AgreementOut:
    return await _agreement_out(request, await _agreement(request, agreement_id))


@router.post(
    "/agreements/{agreement_id}/renewals",
    response_model=AgreementOut,
    summary="Use an extension option: open the next period",
)
async def renew_agreement(
    agreement_id: IdPath, body: RenewalIn, request: Request, _: Coordinator
) -> AgreementOut:
    record = await _run(
        commands.renew_agreement(
            pool_of(request), agreement_id, today(), body.cancellation_deadline, body.decision_id
        )
    )
    return await _agreement_out(request, record)


@router.post(
    "/agreements/{agreement_id}/termination",
    response_model=AgreementOut,
    summary="Terminate from a date: today ends it now (agreement-ended), later is scheduled",
)
async def terminate_agreement(
    agreement_id: IdPath, body: TerminationIn, request: Request, _: Coordinator
) -> AgreementOut:
    record = await _run(
        commands.terminate_agreement(
            pool_of(request), agreement_id, body.effective_on, body.reason, today()
        )
    )
    return await _agreement_out(request, record)


# --- participation --------------------------------------------------------------------------


class OptInIn(BaseModel):
    isil: Annotated[Text | None, Field(max_length=16)] = Field(
        None, description="The library; a library token defaults to its own"
    )
    from_date: Day | None = Field(None, description="First day participating; default today")


class OptOutIn(BaseModel):
    effective_on: Day = Field(
        description="First day no longer participating; see the agreement's opt_out_dates"
    )


class ParticipationOut(BaseModel):
    agreement_id: str
    isil: str
    joined_on: dt.date
    left_on: dt.date | None
    leave_reason: str | None
    participating_today: bool


class ParticipationPage(Page):
    items: list[ParticipationOut]


def _participation_out(participation: domain.Participation) -> ParticipationOut:
    reason = participation.leave_reason
    return ParticipationOut(
        agreement_id=participation.agreement_id,
        isil=participation.isil,
        joined_on=participation.joined_on,
        left_on=participation.left_on,
        leave_reason=commands.LEAVE_REASONS[reason] if reason else None,
        participating_today=participation.participates_on(today()),
    )


@router.post(
    "/agreements/{agreement_id}/participants",
    status_code=201,
    response_model=ParticipationOut,
    summary="Opt in to the agreement from a date (agreement-joined)",
)
async def opt_in(
    agreement_id: IdPath, body: OptInIn, request: Request, caller: LibraryOrCoordinator
) -> ParticipationOut:
    isil = _for_library(caller, body.isil, "isil")
    day = today()
    participation = await _run(
        commands.opt_in(pool_of(request), agreement_id, isil, body.from_date or day, day)
    )
    return _participation_out(participation)


@router.post(
    "/agreements/{agreement_id}/participants/{isil}/opt-out",
    response_model=ParticipationOut,
    summary="Opt out under the agreement's terms (agreement-left, on the effective date)",
)
async def opt_out(
    agreement_id: IdPath,
    isil: IsilPath,
    body: OptOutIn,
    request: Request,
    caller: LibraryOrCoordinator,
) -> ParticipationOut:
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    participation = await _run(
        commands.opt_out(pool_of(request), agreement_id, isil, body.effective_on, today())
    )
    return _participation_out(participation)


@router.get(
    "/agreements/{agreement_id}/participants",
    response_model=ParticipationPage,
    summary="Participations, current or historical",
)
async def list_participants(
    agreement_id: IdPath,
    request: Request,
    _: AnyCaller,
    on: Annotated[
        dt.date | None,
        Query(ge=EARLIEST, le=LATEST, description="Only those participating on this day"),
    ] = None,
    current: Annotated[
        bool, Query(description="With `on`: those not ended by then, including later starts")
    ] = False,
    isil: Annotated[Text | None, Query(max_length=16)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ParticipationPage:
    await _agreement(request, agreement_id)
    records, total = await store.list_participations(
        pool_of(request),
        agreement_id,
        store.ParticipationFilter(isil=isil, on=on, current=current),
        limit=limit,
        offset=offset,
    )
    return ParticipationPage(
        items=[_participation_out(r.participation) for r in records],
        total=total,
        limit=limit,
        offset=offset,
    )


# --- cost shares ----------------------------------------------------------------------------


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
    annual_cost_cents: int
    participants: int
    total_cents: int = Field(description="Sum of all shares: the annual cost, or 0 if none")
    items: list[CostShareOut]


async def _shares(
    request: Request, agreement_id: str, on: dt.date | None
) -> tuple[store.AgreementRecord, dt.date, tuple[domain.CostShare, ...]]:
    record = await _agreement(request, agreement_id)
    day = on or today()
    try:
        shares = await commands.cost_shares(pool_of(request), record, day)
    except ProcurementRuleViolated as error:
        raise ApiError(409, str(error), field=error.field) from error
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
    return CostSharesOut(
        agreement_id=agreement.id,
        title=record.title,
        on=day,
        model=agreement.cost_share.model,
        base_fee_cents=agreement.cost_share.base_fee_cents,
        annual_cost_cents=agreement.annual_cost_cents,
        participants=len(shares),
        total_cents=sum(s.share_cents for s in shares),
        items=[
            CostShareOut(
                isil=s.isil,
                name=s.name,
                population=s.population,
                share_cents=s.share_cents,
                share_eur=domain.format_euros(s.share_cents),
            )
            for s in shares[offset : offset + limit]
        ],
        total=len(shares),
        limit=limit,
        offset=offset,
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
    return Response(
        domain.render_cost_shares_csv(shares),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="cost-shares-{record.agreement.id}-{day}.csv"'
            )
        },
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
    await _agreement(request, agreement_id)

    async def close() -> store.BillingRecord:
        return await commands.close_billing_period(
            pool_of(request),
            agreement_id,
            domain.BillingPeriod(body.start, body.end),
            today=today(),
            closed_by=caller.subject,
        )

    return _billing_out(await _run(close()))


@router.get(
    "/agreements/{agreement_id}/billing-periods",
    response_model=list[BillingPeriodOut],
    summary="Closed billing periods and their invoice lines",
)
async def billing_periods(
    agreement_id: IdPath, request: Request, _: Coordinator
) -> list[BillingPeriodOut]:
    await _agreement(request, agreement_id)
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
    await _agreement(request, agreement_id)
    found = [
        r
        for r in await store.billing_periods_of(pool_of(request), agreement_id)
        if r.period.start == start
    ]
    if not found:
        raise ApiError(404, f"no closed billing period starting {start}", field="start")
    return Response(
        domain.render_invoice_csv(found[0].lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="invoice-lines-{agreement_id}-{start}.csv"'
            )
        },
    )


# --- entitlements ---------------------------------------------------------------------------


class EntitlementOut(BaseModel):
    holder: str
    agreement_id: str
    isbn: str
    licence_model: domain.TitleLicenceModel
    copies: int | Literal["unlimited"]
    loans_left: int | None
    expires_on: dt.date | None
    acquired_on: dt.date
    order_reference: str
    survives_leaving: bool
    held_today: bool


def _entitlement_out(e: domain.Entitlement) -> EntitlementOut:
    return EntitlementOut(
        holder=e.holder,
        agreement_id=e.agreement_id,
        isbn=e.isbn,
        licence_model=e.model,
        copies="unlimited" if e.copies == domain.UNLIMITED else e.copies,
        loans_left=e.loans_left,
        expires_on=e.expires_on,
        acquired_on=e.acquired_on,
        order_reference=e.order_reference,
        survives_leaving=domain.survives_leaving(e),
        held_today=e.held_on(today()),
    )


Holder = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        description="A library's ISIL, or a kimppa's id prefixed 'kimppa:'",
    ),
]


@router.post(
    "/agreements/{agreement_id}/entitlements",
    status_code=201,
    response_model=list[EntitlementOut],
    summary="Bulk-load a holder's titles from KBART or CSV (entitlements-changed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/tab-separated-values": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def load_entitlements(
    agreement_id: IdPath, holder: Holder, request: Request, _: Coordinator
) -> list[EntitlementOut]:
    await _agreement(request, agreement_id)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("text/tab-separated-values", "text/csv"):
        raise ApiError(
            415, "send KBART as text/tab-separated-values or CSV as text/csv", field="body"
        )
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "the file is not UTF-8", field="body") from None

    async def load() -> list[domain.Entitlement]:
        return await commands.load_entitlements(
            pool_of(request),
            agreement_id,
            holder,
            text,
            today=today(),
            delimiter="," if media == "text/csv" else "\t",
        )

    return [_entitlement_out(e) for e in await _run(load())]


@router.get(
    "/agreements/{agreement_id}/entitlements",
    response_model=list[EntitlementOut],
    summary="Titles held under the agreement, optionally for one holder",
)
async def list_entitlements(
    agreement_id: IdPath,
    request: Request,
    caller: AnyCaller,
    holder: Annotated[str | None, Query(max_length=100)] = None,
) -> list[EntitlementOut]:
    holder = holder or caller.isil  # a library reads its own holdings only (403 otherwise)
    ensure_acts_for(caller, holder or "", also=HOLDINGS_READERS)
    await _agreement(request, agreement_id)
    items = await store.entitlements_of(pool_of(request), holder=holder, agreement_id=agreement_id)
    return [_entitlement_out(e) for e in items]


@router.get(
    "/holdings.kbart",
    response_class=Response,
    summary="A holder's titles under every agreement, as KBART",
    responses={200: {"content": {"text/tab-separated-values": {}}, "description": "KBART"}},
)
async def holdings_kbart(request: Request, holder: Holder, caller: AnyCaller) -> Response:
    ensure_acts_for(caller, holder, also=HOLDINGS_READERS)  # a library: its own only
    items = await store.entitlements_of(pool_of(request), holder=holder)
    held = [e for e in items if e.held_on(today())]
    return Response(
        domain.render_kbart(held),
        media_type="text/tab-separated-values; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="holdings.kbart.txt"'},
    )


# --- the term catalogue ---------------------------------------------------------------------


class TermDefinitionOut(BaseModel):
    name: str
    label: str
    type: str
    minimum: int | None
    choices: list[str] | None


@router.get(
    "/licence-terms",
    response_model=list[TermDefinitionOut],
    summary="The catalogue of licence terms a bid may state",
)
async def licence_terms(_: AnyCaller) -> list[TermDefinitionOut]:
    return [
        TermDefinitionOut(
            name=d.name.value,
            label=d.label,
            type=d.type.value,
            minimum=d.minimum if d.type is domain.TermType.NUMBER else None,
            choices=[str(c.value) for c in d.choices] if d.choices else None,
        )
        for d in TERM_CATALOGUE.values()
    ]
