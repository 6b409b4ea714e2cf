"""Bids, compatibility tests and quality scores: procurement records them; bids stay
with procurement and the coordinator (they are confidential until the decision)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, Field

from kit.app import pool_of
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.api_common import (
    MAX_CENTS,
    Evaluator,
    IdPath,
    Page,
    Paged,
    Procurement,
    TermOut,
    Text,
    clean,
    now,
    run,
    tender_or_404,
    terms_out,
)
from services.procurement.domain import (
    TERM_CATALOGUE,
    Device,
    LibrarySystem,
    LicenceModel,
)

router = APIRouter(tags=["procurement"])


class SupplierIn(BaseModel):
    name: Annotated[Text, Field(min_length=1, max_length=500)]
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


def _clean_terms(raw: dict[str, Any]) -> dict[str, Any]:
    """Terms are checked by the domain's catalogue (which names the term in its refusal);
    here only text that could never be stored is refused, wherever it is nested."""

    def walk(value: Any) -> None:
        if isinstance(value, str):
            clean(value)
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
    lot_id: Annotated[Text | None, Field(min_length=1, max_length=20)] = Field(
        None, description="The lot the bid answers; required when the tender is divided"
    )


class ShortfallOut(BaseModel):
    missing_devices: list[Device]
    missing_library_systems: list[LibrarySystem]
    needs_not_accepting_model: list[str]


class BidOut(BaseModel):
    id: str
    tender_id: str
    lot_id: str = Field(description="The lot the bid answers ('1': the undivided tender)")
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


def _bid_out(bid: domain.Bid, tender: domain.Tender, needs: list[domain.Need]) -> BidOut:
    """The bid with what it lacks against the needs of its lot."""
    lot_needs = next((lot.need_ids for lot in domain.lots_of(tender) if lot.id == bid.lot_id), ())
    gap = domain.shortfall(bid, [n for n in needs if n.id in lot_needs])
    return BidOut(
        id=bid.id,
        tender_id=bid.tender_id,
        lot_id=bid.lot_id,
        supplier={"name": bid.supplier.name, "country": bid.supplier.country},
        product=bid.product,
        price_model=bid.price_model,
        price_cents=bid.price_cents,
        submitted_at=bid.submitted_at,
        supported_devices=sorted(bid.supported_devices),
        supported_library_systems=sorted(bid.supported_library_systems),
        terms=terms_out(bid.terms),
        shortfall=ShortfallOut(
            missing_devices=sorted(gap.missing_devices),
            missing_library_systems=sorted(gap.missing_library_systems),
            needs_not_accepting_model=list(gap.needs_not_accepting_model),
        ),
    )


async def _bid(request: Request, tender_id: str, bid_id: str) -> domain.Bid:
    await tender_or_404(request, tender_id)
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
    tender = await tender_or_404(request, tender_id)
    terms = body.terms
    bid = await run(
        lambda: commands.submit_bid(
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
                lot_id=body.lot_id,
            ),
            now(),
        )
    )
    return _bid_out(bid, tender, await store.needs_by_ids(pool_of(request), tender.need_ids))


@router.get("/tenders/{tender_id}/bids", response_model=BidPage, summary="A tender's bids")
async def list_bids(
    tender_id: IdPath,
    request: Request,
    _: Evaluator,
    paging: Paged,
    supplier: Annotated[Text | None, Query(max_length=100, description="Name contains")] = None,
) -> BidPage:
    tender = await tender_or_404(request, tender_id)
    bids = await store.bids_of(pool_of(request), tender_id)
    if supplier:
        bids = [b for b in bids if supplier.lower() in b.supplier.name.lower()]
    needs = await store.needs_by_ids(pool_of(request), tender.need_ids)
    return paging.page(
        BidPage,
        [_bid_out(b, tender, needs) for b in paging.window(bids)],
        len(bids),
    )


@router.get("/tenders/{tender_id}/bids/{bid_id}", response_model=BidOut, summary="One bid")
async def get_bid(tender_id: IdPath, bid_id: IdPath, request: Request, _: Evaluator) -> BidOut:
    bid = await _bid(request, tender_id, bid_id)
    tender = await tender_or_404(request, tender_id)
    return _bid_out(bid, tender, await store.needs_by_ids(pool_of(request), tender.need_ids))


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
    result = await run(
        lambda: commands.record_compatibility_result(
            pool_of(request),
            tender_id,
            domain.CompatibilityResult(bid_id, body.target, body.passed, body.notes),
        )
    )
    return _test_out(result, None)


@router.get("/tenders/{tender_id}/tests", response_model=TestPage, summary="Compatibility tests")
async def list_tests(
    tender_id: IdPath,
    request: Request,
    _: Evaluator,
    paging: Paged,
    bid_id: Annotated[Text | None, Query(max_length=100)] = None,
    target: Device | LibrarySystem | None = None,
    passed: bool | None = None,
) -> TestPage:
    await tender_or_404(request, tender_id)
    records = await store.compatibility_results(
        pool_of(request),
        tender_id,
        bid_id=bid_id,
        target=target.value if target else None,
        passed=passed,
    )
    return paging.page(
        TestPage,
        [_test_out(r.result, r.tested_at) for r in paging.window(records)],
        len(records),
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

    score = await run(record)
    return QualityOut(bid_id=score.bid_id, score=score.score, rationale=score.rationale)
