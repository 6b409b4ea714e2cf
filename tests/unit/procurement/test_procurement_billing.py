"""Billing periods: pro-rating by days, exact cents, cost models against price models,
invoice lines and their spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import member

from services.procurement.domain import (
    BillingPeriod,
    CostShareModel,
    CostSharePolicy,
    InvalidValue,
    LeaveReason,
    NotPermitted,
    Participation,
    Payer,
    PopulationBand,
    check_cost_model_fits,
    days_in,
    invoice_lines,
    neutralise,
    period_cost_cents,
    prorated_shares,
    render_invoice_csv,
)

YEAR = BillingPeriod(date(2027, 1, 1), date(2027, 12, 31))


def joined(isil: str, on: date, left_on: date | None = None) -> Participation:
    reason = LeaveReason.OPT_OUT if left_on else None
    return Participation("a-1", isil, on, left_on, reason)


def test_a_library_joining_in_december_pays_31_of_365_days() -> None:
    members = {i: member(i, population=50_000) for i in ("FI-A", "FI-B")}
    parts = [joined("FI-A", date(2026, 1, 1)), joined("FI-B", date(2027, 12, 1))]
    full, late = prorated_shares(
        YEAR, 396_000_00, parts, members, CostSharePolicy(CostShareModel.PER_CAPITA)
    )
    assert (full.days, late.days) == (365, 31)
    # Weights 365 and 31 of 396: the late joiner pays 31/365 of the full one's share.
    assert (full.share_cents, late.share_cents) == (365_000_00, 31_000_00)


def test_period_cost_follows_the_year_it_starts() -> None:
    assert YEAR.cost_cents(365_00) == 365_00
    assert BillingPeriod(date(2027, 1, 1), date(2027, 1, 31)).cost_cents(365_00) == 31_00
    leap = BillingPeriod(date(2028, 1, 1), date(2028, 1, 31))
    assert leap.year_days() == 366 and leap.cost_cents(366_00) == 31_00
    with pytest.raises(InvalidValue):
        BillingPeriod(date(2027, 1, 2), date(2027, 1, 1))


def test_days_in_counts_effective_dates_and_several_spells() -> None:
    parts = [
        joined("FI-A", date(2027, 1, 10), left_on=date(2027, 2, 1)),  # 10..31 Jan: 22 days
        joined("FI-A", date(2027, 12, 25)),  # 25..31 Dec: 7 days
        joined("FI-B", date(2028, 1, 1)),
    ]
    assert days_in(parts, "FI-A", YEAR) == 29
    assert days_in(parts, "FI-B", YEAR) == 0


#: Bands as a municipality pays them: small, middle-sized and large populations.
BANDS = (PopulationBand(5_000, 1), PopulationBand(50_000, 3), PopulationBand(None, 8))


def policy_for(
    model: CostShareModel, base: int = 0, rate: Decimal = Decimal("7.25")
) -> CostSharePolicy:
    """A valid policy of each model, with the parameter the model takes."""
    if model is CostShareModel.BASE_PLUS_PER_CAPITA:
        return CostSharePolicy(model, base)
    if model is CostShareModel.PER_RESIDENT:
        return CostSharePolicy(model, rate_per_resident_cents=rate)
    if model is CostShareModel.POPULATION_BANDS:
        return CostSharePolicy(model, bands=BANDS)
    return CostSharePolicy(model)


spells = st.tuples(
    st.integers(0, 400), st.one_of(st.none(), st.integers(1, 400))
)  # (start offset, length)


@given(
    cost=st.integers(0, 10**10),
    # The usage model divides by use, not by population and days: test_procurement_usage.py.
    model=st.sampled_from([m for m in CostShareModel if m is not CostShareModel.USAGE]),
    base=st.integers(0, 10**6),
    people=st.lists(st.tuples(st.integers(0, 2_000_000), spells), min_size=1, max_size=12),
)
def test_shares_sum_exactly_to_the_period_cost(
    cost: int, model: CostShareModel, base: int, people: list
) -> None:
    policy = policy_for(model, base)
    origin = YEAR.start - timedelta(days=20)
    members, parts = {}, []
    for n, (population, (offset, length)) in enumerate(people):
        isil = f"FI-L{n:03d}"
        members[isil] = member(isil, population=population)
        start = origin + timedelta(days=offset)
        parts.append(joined(isil, start, None if length is None else start + timedelta(length)))
    if model is CostShareModel.PER_RESIDENT:
        # A rate charges its own sum: the period's cost is what it charges.
        cost = period_cost_cents(YEAR, cost, parts, members, policy)
    try:
        shares = prorated_shares(YEAR, cost, parts, members, policy)
    except InvalidValue as refused:
        assert refused.field == "cost_share.base_fee_cents"
        return
    if not shares:
        assert all(days_in(parts, isil, YEAR) == 0 for isil in members)
        return
    assert sum(s.share_cents for s in shares) == cost
    assert all(s.share_cents >= 0 and 0 < s.days <= YEAR.days for s in shares)
    # More days at the same population never pays less under any model.
    for a in shares:
        for b in shares:
            if a.population == b.population and a.days > b.days:
                assert a.share_cents >= b.share_cents


def test_a_cost_model_that_cannot_divide_the_price_model_is_refused() -> None:
    for model in CostShareModel:
        if model is CostShareModel.USAGE:
            # Each library pays for its own loans: only a division by use fits per-loan prices.
            check_cost_model_fits(model, "per-loan")
        else:
            with pytest.raises(NotPermitted) as caught:
                check_cost_model_fits(model, "per-loan")
            assert model.value in caught.value.problem and "per-loan" in caught.value.problem
            assert "only usage fits" in caught.value.problem
            assert caught.value.http_status == 409
        check_cost_model_fits(model, "per-title")
        if model is CostShareModel.PER_RESIDENT:
            # A fixed fee is shared out in full: a rate per resident would charge another sum.
            with pytest.raises(NotPermitted) as caught:
                check_cost_model_fits(model, "annual-fee")
            assert "per-resident" in caught.value.problem and "annual-fee" in caught.value.problem
            assert caught.value.http_status == 409
        else:
            check_cost_model_fits(model, "annual-fee")


def test_invoice_lines_go_to_the_organisation_and_the_csv_is_formula_safe() -> None:
    members = {
        "FI-A": member("FI-A", population=30_000, name='=HYPERLINK("http://x")'),
        "FI-B": member("FI-B", population=10_000),
    }
    parts = [joined("FI-A", date(2026, 1, 1)), joined("FI-B", date(2026, 1, 1))]
    shares = prorated_shares(
        YEAR, 100_00, parts, members, CostSharePolicy(CostShareModel.PER_CAPITA)
    )
    payers = {"FI-A": Payer("0201256-6", "+Helsinki", "0201256-6", "003702012566")}
    lines = invoice_lines("E-audiobooks", YEAR, shares, payers)
    assert [(line.payer.id, line.amount_cents) for line in lines] == [
        ("0201256-6", 75_00),
        ("FI-B", 25_00),
    ]
    rows = list(csv.reader(io.StringIO(render_invoice_csv(lines))))
    assert rows[1][1] == "'+Helsinki" and rows[1][-1] == "75.00"
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    assert neutralise("Helsinki") == "Helsinki" and neutralise(None) == ""
