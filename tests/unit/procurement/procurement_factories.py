"""Builders for procurement domain tests: valid defaults, override what the test is about."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.procurement.domain import (
    Agreement,
    Bid,
    CostShareModel,
    CostSharePolicy,
    Criteria,
    ExtensionOptions,
    LicenceModel,
    LicenceTerms,
    Member,
    Need,
    Period,
    Supplier,
    Tender,
    open_tender,
    parse_licence_terms,
    start_evaluation,
    submit_bid,
)

DEADLINE = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
BEFORE_DEADLINE = DEADLINE - timedelta(days=10)
AFTER_DEADLINE = DEADLINE + timedelta(hours=1)


def member(
    isil: str = "FI-Hki",
    population: int = 100_000,
    joined_on: date = date(2020, 1, 1),
    left_on: date | None = None,
    name: str | None = None,
) -> Member:
    return Member(isil, name or f"Library {isil}", population, joined_on, left_on)


def need(id: str = "need-1", proposed_by: str = "FI-Hki") -> Need:
    return Need(
        id=id,
        proposed_by=proposed_by,
        material_type="e-audiobook",
        description="Finnish and Swedish e-audiobooks for adults and children",
        accepted_licence_models=["annual-fee"],
        required_devices=["ios", "android"],
        required_library_systems=["koha"],
    )


def tender(
    id: str = "t-1",
    criteria: Criteria | None = None,
    deadline: datetime = DEADLINE,
    need_ids: tuple[str, ...] = ("need-1",),
) -> Tender:
    return Tender(
        id=id,
        title="E-audiobooks 2027",
        kl_reference="KL-2027-001",
        need_ids=need_ids,
        deadline=deadline,
        criteria=criteria or Criteria(50, 30, 20),
        price_model=LicenceModel.ANNUAL_FEE,
    )


def bid(
    id: str,
    price_cents: int,
    tender_id: str = "t-1",
    submitted_at: datetime = BEFORE_DEADLINE,
    terms: LicenceTerms | None = None,
    supplier: str | None = None,
) -> Bid:
    return Bid(
        id=id,
        tender_id=tender_id,
        supplier=Supplier(supplier or f"Supplier {id}", "SE"),
        product=f"Product {id}",
        price_model=LicenceModel.ANNUAL_FEE,
        price_cents=price_cents,
        submitted_at=submitted_at,
        supported_devices=["ios", "android", "web"],
        supported_library_systems=["koha", "aurora"],
        terms=terms or parse_licence_terms({"concurrent_users": 1, "annual_opt_out": "permitted"}),
    )


def in_evaluation(t: Tender, bids: list[Bid]) -> Tender:
    opened = open_tender(t, BEFORE_DEADLINE - timedelta(days=1))
    existing: list[Bid] = []
    for b in bids:
        existing.append(submit_bid(opened, b, existing))
    return start_evaluation(opened, AFTER_DEADLINE)


def agreement(
    id: str = "a-1",
    terms: LicenceTerms | None = None,
    periods: tuple[Period, ...] | None = None,
    extensions: int = 2,
    annual_cost_cents: int = 10_000_000,
    policy: CostSharePolicy | None = None,
) -> Agreement:
    return Agreement(
        id=id,
        tender_id="t-1",
        bid_id="b-1",
        supplier=Supplier("Storytel", "SE"),
        product="Storytel Library",
        material_types=["e-audiobook"],
        price_model="annual-fee",
        terms=terms if terms is not None else LicenceTerms(),
        periods=periods or (Period(date(2027, 1, 1), date(2027, 12, 31), date(2027, 9, 30)),),
        extension_options=ExtensionOptions(extensions, 12),
        annual_cost_cents=annual_cost_cents,
        cost_share=policy or CostSharePolicy(CostShareModel.PER_CAPITA),
        signed_on=date(2026, 12, 1),
    )
