"""Rules a JSON Schema cannot say, carried by the contracts (``Event.broken_rule``): what the
producers never publish, so every consumer may refuse it."""

from __future__ import annotations

import datetime as dt

import pytest

from contracts import ALL_EVENTS
from contracts.base import Event
from contracts.catalogue import RecordsAvailable
from contracts.membership import Library, LibraryNames, MemberLeft
from contracts.outreach import CampaignSent
from contracts.procurement import AgreementPeriod, AgreementSigned, AgreementSignedV2, Supplier
from contracts.usage import InvoiceDiscrepancyFound

D = dt.date
LIBRARY = Library(
    isil="FI-Rule",
    names=LibraryNames(fi="Sääntö"),
    municipalities=["091"],
    population=1,
    library_system="Koha",
)


def left(effective: dt.date, joined: dt.date | None) -> MemberLeft:
    return MemberLeft(library=LIBRARY, effective_date=effective, period=1, joined_on=joined)


def signed(periods: list[AgreementPeriod]) -> AgreementSigned:
    return AgreementSigned(
        agreement_id="a",
        tender_id="t",
        title="T",
        supplier=Supplier(name="S", country="FI"),
        product="P",
        material_types=["e-book"],
        licence_terms={},
        periods=periods,
        extension_options=0,
        annual_cost_cents=0,
        cost_share_model="equal",
        signed_on=D(2026, 1, 1),
    )


def test_a_membership_cannot_end_before_it_began() -> None:
    assert left(D(2026, 1, 1), D(2026, 1, 1)).broken_rule() is None  # a one-day-or-less period
    assert left(D(2025, 1, 1), None).broken_rule() is None  # older producers omit joined_on
    assert "before joined_on 2026-01-01" in (
        left(D(2025, 12, 31), D(2026, 1, 1)).broken_rule() or ""
    )


def test_an_agreement_needs_a_period_that_does_not_end_before_it_begins() -> None:
    assert signed([AgreementPeriod(start=D(2026, 1, 1), end=D(2026, 12, 31))]).broken_rule() is None
    assert "periods is empty" in (signed([]).broken_rule() or "")
    bad = [
        AgreementPeriod(start=D(2026, 1, 1), end=D(2026, 12, 31)),
        AgreementPeriod(start=D(2027, 1, 1), end=D(2026, 12, 31)),
    ]
    assert (signed(bad).broken_rule() or "").startswith("periods[1]: end 2026-12-31")


@pytest.mark.parametrize(
    ("reason", "count", "broken"),
    [("titles-added", 0, True), ("titles-added", 3, False), ("agreement-joined", 0, False)],
)
def test_new_titles_make_at_least_one_record_available(
    reason: str, count: int, broken: bool
) -> None:
    event = RecordsAvailable(
        isil="FI-Rule", collection_id="c", agreement_id=None, title="T", count=count, reason=reason
    )
    assert (event.broken_rule() is not None) is broken


@pytest.mark.parametrize(("sent", "failed", "broken"), [(2, 1, False), (3, 0, False), (3, 1, True)])
def test_a_campaign_cannot_deliver_to_more_addresses_than_it_has(
    sent: int, failed: int, broken: bool
) -> None:
    event = CampaignSent(
        campaign_id="c",
        title="T",
        audience="all",
        recipients=3,
        sent=sent,
        failed=failed,
        finished_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    assert (event.broken_rule() is not None) is broken


def test_only_the_events_with_a_rule_override_the_check() -> None:
    ruled = {MemberLeft, AgreementSigned, AgreementSignedV2, RecordsAvailable, CampaignSent}
    ruled |= {InvoiceDiscrepancyFound}
    assert {m for m in ALL_EVENTS if m.broken_rule is not Event.broken_rule} == ruled
