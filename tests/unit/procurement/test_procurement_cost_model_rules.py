"""Cost models as municipalities pay them: per resident (a rate in euros per resident a year),
population bands, base plus per capita, equal. Shares are whole cents that sum exactly to the
cost (largest remainder); a model that does not fit the price model is refused naming both."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import member

from services.procurement.domain import (
    BillingPeriod,
    CostShareModel,
    CostSharePolicy,
    InvalidValue,
    NotPermitted,
    Participant,
    Participation,
    PopulationBand,
    check_cost_model_fits,
    compute_cost_shares,
    period_cost_cents,
    prorated_shares,
)

BANDS = (PopulationBand(5_000, 1), PopulationBand(50_000, 3), PopulationBand(None, 8))
YEAR = BillingPeriod(date(2027, 1, 1), date(2027, 12, 31))

populations = st.lists(st.integers(0, 700_000), min_size=1, max_size=15)
rates = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2, allow_nan=False)


def _people(pops: list[int]) -> list[Participant]:
    return [Participant(f"FI-M{n:03d}", f"Municipality {n}", p) for n, p in enumerate(pops)]


@given(pops=populations, rate=rates)
def test_per_resident_charges_the_rate_times_residents_to_the_cent(
    pops: list[int], rate: Decimal
) -> None:
    policy = CostSharePolicy(CostShareModel.PER_RESIDENT, rate_per_resident_cents=rate)
    shares = compute_cost_shares(0, _people(pops), policy)
    exact = {s.isil: Fraction(rate) * s.population for s in shares}
    total = sum(exact.values(), Fraction(0))
    # The total is what the rate charges, rounded half up; each share is within a cent.
    assert abs(sum(s.share_cents for s in shares) - total) <= Fraction(1, 2)
    assert all(abs(s.share_cents - exact[s.isil]) < 1 for s in shares)
    assert all(s.share_cents >= 0 for s in shares)


def test_per_resident_worked_example() -> None:
    # 0.35 € per resident a year: Kemi's 20,000 residents pay 7,000.00 €.
    policy = CostSharePolicy(CostShareModel.PER_RESIDENT, rate_per_resident_cents=Decimal(35))
    (share,) = compute_cost_shares(0, [Participant("FI-Kemi", "Kemi", 20_000)], policy)
    assert share.share_cents == 700_000


@given(pops=populations, total=st.integers(0, 10**10))
def test_population_bands_divide_the_cost_exactly_by_band_points(
    pops: list[int], total: int
) -> None:
    policy = CostSharePolicy(CostShareModel.POPULATION_BANDS, bands=BANDS)
    shares = compute_cost_shares(total, _people(pops), policy)
    assert sum(s.share_cents for s in shares) == total
    for a in shares:
        for b in shares:
            points_a, points_b = policy.band_points(a.population), policy.band_points(b.population)
            if points_a == points_b:
                assert abs(a.share_cents - b.share_cents) <= 1  # the same band pays the same
            elif points_a > points_b:
                assert a.share_cents >= b.share_cents  # a higher band never pays less


def test_population_bands_worked_example() -> None:
    # Points 1, 3 and 8 for up to 5,000, up to 50,000 and more residents: 12 points share
    # 1,200.00 €, so 100.00 €, 300.00 € and 800.00 €.
    policy = CostSharePolicy(CostShareModel.POPULATION_BANDS, bands=BANDS)
    people = [
        Participant("FI-A", "Small", 4_000),
        Participant("FI-B", "Middle", 20_000),
        Participant("FI-C", "Large", 650_000),
    ]
    shares = compute_cost_shares(120_000, people, policy)
    assert [s.share_cents for s in shares] == [10_000, 30_000, 80_000]


@given(
    model=st.sampled_from(
        [
            CostShareModel.PER_CAPITA,
            CostShareModel.EQUAL,
            CostShareModel.POPULATION_BANDS,
            CostShareModel.BASE_PLUS_PER_CAPITA,
        ]
    ),
    pops=populations,
    total=st.integers(0, 10**10),
)
def test_every_dividing_model_sums_exactly_to_the_cost(
    model: CostShareModel, pops: list[int], total: int
) -> None:
    policy = CostSharePolicy(
        model,
        base_fee_cents=total // (4 * len(pops))
        if model is CostShareModel.BASE_PLUS_PER_CAPITA
        else 0,
        bands=BANDS if model is CostShareModel.POPULATION_BANDS else (),
    )
    shares = compute_cost_shares(total, _people(pops), policy)
    assert sum(s.share_cents for s in shares) == total
    assert all(s.share_cents >= 0 for s in shares)


@given(
    pops=st.lists(st.integers(0, 700_000), min_size=1, max_size=10),
    joined_day=st.lists(st.integers(0, 364), min_size=10, max_size=10),
    rate=rates,
)
def test_a_per_resident_billing_period_sums_to_what_the_rate_charges(
    pops: list[int], joined_day: list[int], rate: Decimal
) -> None:
    policy = CostSharePolicy(CostShareModel.PER_RESIDENT, rate_per_resident_cents=rate)
    members, parts = {}, []
    for n, population in enumerate(pops):
        isil = f"FI-M{n:03d}"
        members[isil] = member(isil, population=population)
        start = date.fromordinal(YEAR.start.toordinal() + joined_day[n])
        parts.append(Participation("a-1", isil, start))
    cost = period_cost_cents(YEAR, 0, parts, members, policy)
    shares = prorated_shares(YEAR, cost, parts, members, policy)
    assert sum(s.share_cents for s in shares) == cost
    for s in shares:
        exact = Fraction(rate) * s.population * s.days / YEAR.year_days()
        assert abs(s.share_cents - exact) < 1


def test_a_full_year_per_resident_is_the_annual_rate() -> None:
    policy = CostSharePolicy(CostShareModel.PER_RESIDENT, rate_per_resident_cents=Decimal(35))
    members = {"FI-Kemi": member("FI-Kemi", population=20_000)}
    parts = [Participation("a-1", "FI-Kemi", date(2026, 6, 1))]
    cost = period_cost_cents(YEAR, 123, parts, members, policy)
    assert cost == 700_000  # the agreement's annual cost plays no part
    (share,) = prorated_shares(YEAR, cost, parts, members, policy)
    assert share.share_cents == 700_000


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"model": "per-resident"}, "cost_share.rate_per_resident_cents", "required"),
        (
            {"model": "per-resident", "rate_per_resident_cents": Decimal("0.125")},
            "cost_share.rate_per_resident_cents",
            "two decimals",
        ),
        (
            {"model": "per-resident", "rate_per_resident_cents": Decimal(0)},
            "cost_share.rate_per_resident_cents",
            "more than 0",
        ),
        (
            {"model": "per-capita", "rate_per_resident_cents": Decimal(5)},
            "cost_share.rate_per_resident_cents",
            "only applies to per-resident",
        ),
        ({"model": "population-bands"}, "cost_share.bands", "1 to 20 bands"),
        ({"model": "equal", "bands": BANDS}, "cost_share.bands", "only applies"),
        (
            {"model": "population-bands", "bands": (PopulationBand(5_000, 1),)},
            "cost_share.bands",
            "every band but the last",
        ),
        (
            {
                "model": "population-bands",
                "bands": (PopulationBand(50_000, 1), PopulationBand(5_000, 2), BANDS[2]),
            },
            "cost_share.bands",
            "ascend",
        ),
        (
            {"model": "population-bands", "bands": (PopulationBand(None, 0),)},
            "cost_share.bands",
            "needs points",
        ),
    ],
)
def test_a_policy_takes_exactly_the_parameters_of_its_model(
    kwargs: dict, field: str, words: str
) -> None:
    with pytest.raises(InvalidValue, match=words) as caught:
        CostSharePolicy(**kwargs)
    assert caught.value.field == field


def test_a_rate_per_resident_does_not_fit_a_fixed_annual_fee() -> None:
    with pytest.raises(NotPermitted) as caught:
        check_cost_model_fits("per-resident", "annual-fee")
    assert caught.value.http_status == 409
    assert caught.value.field == "cost_share.model"
    assert "per-resident" in caught.value.problem and "annual-fee" in caught.value.problem
    check_cost_model_fits("per-resident", "per-title")
    check_cost_model_fits("population-bands", "annual-fee")
