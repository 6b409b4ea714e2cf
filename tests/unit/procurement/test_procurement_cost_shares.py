from __future__ import annotations

import csv
import io
from fractions import Fraction
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.procurement.domain import (
    CSV_HEADER,
    CostShare,
    CostShareModel,
    CostSharePolicy,
    DuplicateEntry,
    InvalidValue,
    Participant,
    compute_cost_shares,
    format_euros,
    largest_remainder,
    render_cost_shares_csv,
)

PER_CAPITA = CostSharePolicy(CostShareModel.PER_CAPITA)
EQUAL = CostSharePolicy(CostShareModel.EQUAL)


def _p(isil: str, population: int) -> Participant:
    return Participant(isil, f"Library {isil}", population)


def test_per_capita_with_largest_remainder() -> None:
    # 100 cents over populations 1:1:1 → quotas 33.33 each; the cent goes by ISIL.
    shares = compute_cost_shares(100, [_p("FI-C", 1), _p("FI-A", 1), _p("FI-B", 1)], PER_CAPITA)
    assert [(s.isil, s.share_cents) for s in shares] == [("FI-A", 34), ("FI-B", 33), ("FI-C", 33)]


def test_largest_remainder_beats_smaller_remainders() -> None:
    # quotas: 1000 × 5/10 = 500, × 3/10 = 300, × 2/10 = 200 → exact.
    assert largest_remainder(1000, {"a": 5, "b": 3, "c": 2}) == {"a": 500, "b": 300, "c": 200}
    # quotas 10 × (6, 3, 1)/10... with total 7: 4.2, 2.1, 0.7 → floors 4, 2, 0; one left → c.
    assert largest_remainder(7, {"a": 6, "b": 3, "c": 1}) == {"a": 4, "b": 2, "c": 1}


def test_base_fee_plus_per_capita() -> None:
    policy = CostSharePolicy(CostShareModel.BASE_PLUS_PER_CAPITA, base_fee_cents=1000)
    shares = compute_cost_shares(10_000, [_p("FI-A", 3), _p("FI-B", 1)], policy)
    # 2 × 1000 base, 8000 left: 6000 / 2000.
    assert [s.share_cents for s in shares] == [7000, 3000]
    with pytest.raises(InvalidValue) as caught:
        compute_cost_shares(1999, [_p("FI-A", 3), _p("FI-B", 1)], policy)
    assert caught.value.field == "cost_share.base_fee_cents"


def test_equal_shares_ignore_population() -> None:
    shares = compute_cost_shares(1001, [_p("FI-A", 10), _p("FI-B", 1_000_000)], EQUAL)
    assert [s.share_cents for s in shares] == [501, 500]


def test_edge_cases() -> None:
    assert compute_cost_shares(1000, [], PER_CAPITA) == ()
    # All populations zero: equal shares rather than a division by zero.
    assert [
        s.share_cents for s in compute_cost_shares(10, [_p("FI-A", 0), _p("FI-B", 0)], PER_CAPITA)
    ] == [5, 5]
    with pytest.raises(DuplicateEntry):
        compute_cost_shares(10, [_p("FI-A", 1), _p("FI-A", 2)], PER_CAPITA)
    with pytest.raises(InvalidValue):
        compute_cost_shares(-1, [_p("FI-A", 1)], PER_CAPITA)
    with pytest.raises(InvalidValue):
        CostSharePolicy(CostShareModel.EQUAL, base_fee_cents=100)
    with pytest.raises(InvalidValue):
        CostSharePolicy("per-head")  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time
    with pytest.raises(InvalidValue, match="population"):
        _p("FI-A", -5)


def test_csv_rendering() -> None:
    shares = (
        CostShare("FI-Hki", "Helsinki, Helmet", 674_500, 123_456_78),
        CostShare("FI-Ah", "Ahvenanmaa", 30_000, 5),
    )
    text = render_cost_shares_csv(shares)
    assert text.splitlines()[0] == ",".join(CSV_HEADER)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["FI-Hki", "Helsinki, Helmet", "674500", "12345678", "123456.78"]
    assert rows[2] == ["FI-Ah", "Ahvenanmaa", "30000", "5", "0.05"]
    assert text.endswith("\r\n")
    assert render_cost_shares_csv(()) == "isil,name,population,share_cents,share_eur\r\n"
    assert format_euros(0) == "0.00" and format_euros(100) == "1.00"


# --- properties -----------------------------------------------------------------------

populations = st.lists(st.integers(0, 2_000_000), min_size=1, max_size=30)
totals = st.integers(0, 10**11)


def _participants(pops: list[int]) -> list[Participant]:
    return [_p(f"FI-L{i:03d}", pop) for i, pop in enumerate(pops)]


def _policies(n: int, total: int) -> st.SearchStrategy[CostSharePolicy]:
    return st.one_of(
        st.just(PER_CAPITA),
        st.just(EQUAL),
        st.integers(0, total // n).map(
            lambda fee: CostSharePolicy(CostShareModel.BASE_PLUS_PER_CAPITA, fee)
        ),
    )


@given(data=st.data(), pops=populations, total=totals)
def test_shares_sum_to_total_and_are_never_negative(
    data: st.DataObject, pops: list[int], total: int
) -> None:
    policy = data.draw(_policies(len(pops), total))
    shares = compute_cost_shares(total, _participants(pops), policy)
    assert sum(s.share_cents for s in shares) == total
    assert all(isinstance(s.share_cents, int) and s.share_cents >= 0 for s in shares)
    assert len(shares) == len(pops)


@given(data=st.data(), pops=populations, total=totals)
def test_larger_population_never_pays_less(
    data: st.DataObject, pops: list[int], total: int
) -> None:
    policy = data.draw(
        st.one_of(
            st.just(PER_CAPITA),
            st.integers(0, total // len(pops)).map(
                lambda fee: CostSharePolicy(CostShareModel.BASE_PLUS_PER_CAPITA, fee)
            ),
        )
    )
    shares = compute_cost_shares(total, _participants(pops), policy)
    for a in shares:
        for b in shares:
            if a.population > b.population:
                assert a.share_cents >= b.share_cents
            if a.population == b.population:
                assert abs(a.share_cents - b.share_cents) <= 1


@given(pops=populations, total=totals)
def test_shares_stay_within_a_cent_of_the_exact_quota(pops: list[int], total: int) -> None:
    shares = compute_cost_shares(total, _participants(pops), PER_CAPITA)
    whole = sum(pops)
    for s in shares:
        exact = Fraction(total * (s.population if whole else 1), whole or len(pops))
        assert abs(s.share_cents - exact) < 1


@given(pops=populations, total=totals, seed=st.randoms())
def test_order_of_participants_does_not_matter(pops: list[int], total: int, seed: Random) -> None:
    people = _participants(pops)
    shuffled = list(people)
    seed.shuffle(shuffled)
    assert compute_cost_shares(total, people, PER_CAPITA) == compute_cost_shares(
        total, shuffled, PER_CAPITA
    )


@given(pops=populations, total=totals)
def test_equal_shares_differ_by_at_most_one_cent(pops: list[int], total: int) -> None:
    cents = [s.share_cents for s in compute_cost_shares(total, _participants(pops), EQUAL)]
    assert max(cents) - min(cents) <= 1
