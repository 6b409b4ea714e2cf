"""Framework agreements (signing, renewal, termination, the licence-term comparison)
and the libraries' participation in them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kit.app import pool_of
from kit.auth import Role, ensure_acts_for
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.api_common import (
    EARLIEST,
    LATEST,
    MAX_CENTS,
    AnyCaller,
    Coordinator,
    Day,
    IdPath,
    IsilPath,
    LibraryOrCoordinator,
    Offset,
    Page,
    Paged,
    Paging,
    TermOut,
    Text,
    agreement_or_404,
    for_library,
    run,
    terms_out,
    today,
)
from services.procurement.domain import (
    TERM_CATALOGUE,
    CostShareModel,
    LicenceModel,
    MaterialType,
)

router = APIRouter(tags=["procurement"])


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


class BandIn(BaseModel):
    up_to: int | None = Field(
        ge=0, le=100_000_000, description="Largest population in the band; null: the top band"
    )
    points: int = Field(ge=0, le=domain.MAX_BAND_POINTS, description="The band's weight")


class CostShareIn(BaseModel):
    """How the participants pay. per-capita, base-plus-per-capita, equal and
    population-bands divide the agreement's cost; per-resident charges a rate instead and fits
    per-title prices only (a fixed annual fee is divided); usage divides a period's cost by
    each participant's use in it (from usage-reported) and is the only model for per-loan
    prices."""

    model: CostShareModel
    base_fee_cents: int = Field(0, ge=0, le=MAX_CENTS, description="base-plus-per-capita only")
    rate_per_resident_cents: Decimal | None = Field(
        None,
        gt=0,
        le=100_000,
        decimal_places=2,
        description="per-resident only: cents per resident a year (35 = 0.35 €)",
        examples=["35"],
    )
    bands: list[BandIn] = Field(
        default_factory=list,
        max_length=domain.MAX_BANDS,
        description="population-bands only: ascending upper bounds, the last band open",
        examples=[
            [
                {"up_to": 5000, "points": 1},
                {"up_to": 50000, "points": 3},
                {"up_to": None, "points": 8},
            ]
        ],
    )

    def to_domain(self) -> domain.CostSharePolicy:
        return domain.CostSharePolicy(
            self.model,
            self.base_fee_cents,
            self.rate_per_resident_cents,
            tuple(domain.PopulationBand(b.up_to, b.points) for b in self.bands),
        )


def cost_share_out(policy: domain.CostSharePolicy) -> dict[str, Any]:
    """The policy as published: the model and the parameters it takes."""
    out: dict[str, Any] = {"model": policy.model.value, "base_fee_cents": policy.base_fee_cents}
    if policy.rate_per_resident_cents is not None:
        out["rate_per_resident_cents"] = format(policy.rate_per_resident_cents, "f")
    if policy.bands:
        out["bands"] = [{"up_to": b.up_to, "points": b.points} for b in policy.bands]
    return out


class AgreementIn(BaseModel):
    tender_id: Annotated[Text, Field(max_length=100)]
    lot_id: Annotated[Text | None, Field(min_length=1, max_length=20)] = Field(
        None,
        description="The lot whose award the agreement is signed from; required when the "
        "tender is divided into lots (one agreement per lot)",
    )
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
    lot_id: str = Field(description="The tender's lot it was signed for ('1': not divided)")
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
        lot_id=record.lot_id,
        bid_id=agreement.bid_id,
        title=record.title,
        supplier={"name": agreement.supplier.name, "country": agreement.supplier.country},
        product=agreement.product,
        material_types=sorted(agreement.material_types),
        price_model=agreement.price_model,
        licence_terms=terms_out(agreement.terms),
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
        cost_share=cost_share_out(agreement.cost_share),
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
            cost_share=body.cost_share.to_domain(),
            signed_on=body.signed_on or today(),
            today=today(),
            price_amendment=body.price_amendment,
            framework_justification=body.framework_justification,
            lot_id=body.lot_id,
        )

    return await _agreement_out(request, await run(sign))


@router.get("/agreements", response_model=AgreementPage, summary="List and filter agreements")
async def list_agreements(
    request: Request,
    _: AnyCaller,
    paging: Paged,
    state: domain.AgreementState | None = None,
    material_type: MaterialType | None = None,
    supplier: Annotated[Text | None, Query(max_length=100, description="Name contains")] = None,
    participant: Annotated[
        Text | None, Query(max_length=16, description="ISIL participating today")
    ] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Title or product")] = None,
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
        limit=paging.limit,
        offset=paging.offset,
    )
    return paging.page(
        AgreementPage,
        [await _agreement_out(request, r) for r in records],
        total,
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
    paging = Paging(limit, offset)
    pool = pool_of(request)
    if ids:
        records = await store.agreements_by_ids(pool, ids)
        missing = sorted(set(ids) - {r.agreement.id for r in records})
        if missing:
            raise ApiError(404, f"no agreement(s) {', '.join(missing)}", field="ids")
        total = len(records)
        records = paging.window(records)
    else:
        records, total = await store.list_agreements(
            pool,
            store.AgreementFilter(
                state=state.value if state else None,
                material_type=material_type.value if material_type else None,
            ),
            limit=paging.limit,
            offset=paging.offset,
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
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/agreements/{agreement_id}", response_model=AgreementOut, summary="One agreement")
async def get_agreement(agreement_id: IdPath, request: Request, _: AnyCaller) -> AgreementOut:
    return await _agreement_out(request, await agreement_or_404(request, agreement_id))


@router.post(
    "/agreements/{agreement_id}/renewals",
    response_model=AgreementOut,
    summary="Use an extension option: open the next period",
)
async def renew_agreement(
    agreement_id: IdPath, body: RenewalIn, request: Request, _: Coordinator
) -> AgreementOut:
    record = await run(
        lambda: commands.renew_agreement(
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
    record = await run(
        lambda: commands.terminate_agreement(
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
    isil = for_library(caller, body.isil, "isil")
    day = today()
    participation = await run(
        lambda: commands.opt_in(pool_of(request), agreement_id, isil, body.from_date or day, day)
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
    participation = await run(
        lambda: commands.opt_out(pool_of(request), agreement_id, isil, body.effective_on, today())
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
    paging: Paged,
    on: Annotated[
        dt.date | None,
        Query(ge=EARLIEST, le=LATEST, description="Only those participating on this day"),
    ] = None,
    current: Annotated[
        bool, Query(description="With `on`: those not ended by then, including later starts")
    ] = False,
    isil: Annotated[Text | None, Query(max_length=16)] = None,
) -> ParticipationPage:
    await agreement_or_404(request, agreement_id)
    records, total = await store.list_participations(
        pool_of(request),
        agreement_id,
        store.ParticipationFilter(isil=isil, on=on, current=current),
        limit=paging.limit,
        offset=paging.offset,
    )
    return paging.page(
        ParticipationPage,
        [_participation_out(r.participation) for r in records],
        total,
    )
