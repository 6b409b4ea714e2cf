"""The usage cost model: procurement keeps each library's use of an agreement from
usage-reported (the latest revision replaces earlier figures) and divides a period's cost by
each participant's share of use in the period, to the cent, by largest remainder."""

from __future__ import annotations

from datetime import date

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
    NoUsageFigures,
    Participant,
    Participation,
    UsageFigure,
    check_cost_model_fits,
    compute_cost_shares,
    months_covering,
    months_of,
    prorated_shares,
    usage_weights,
    uses_in,
    uses_of,
)

USAGE = CostSharePolicy(CostShareModel.USAGE)
Q1 = BillingPeriod(date(2027, 1, 1), date(2027, 3, 31))
MONTHS = ("2027-01", "2027-02", "2027-03")


def fig(
    isil: str, month: str, uses: int, revision: int = 1, report: str = "SUPPLIER"
) -> UsageFigure:
    return UsageFigure("a-1", isil, month, report, revision, uses)


def joined(isil: str, on: date = date(2026, 1, 1), left_on: date | None = None) -> Participation:
    return Participation("a-1", isil, on, left_on, LeaveReason.OPT_OUT if left_on else None)


def test_usage_is_the_only_model_for_per_loan_prices_and_fits_the_others() -> None:
    check_cost_model_fits(CostShareModel.USAGE, "per-loan")
    check_cost_model_fits(CostShareModel.USAGE, "annual-fee")
    check_cost_model_fits(CostShareModel.USAGE, "per-title")
    with pytest.raises(NotPermitted, match="only usage fits"):
        check_cost_model_fits(CostShareModel.PER_CAPITA, "per-loan")


def test_a_report_uses_loans_first_then_counter_requests() -> None:
    assert uses_of({"loans": 5, "Unique_Title_Requests": 9}) == 5
    assert uses_of({"Total_Item_Requests": 7, "Unique_Title_Requests": 3}) == 3
    assert uses_of({"Total_Item_Requests": 7}) == 7
    assert uses_of({"minutes_listened": 700}) == 0


def test_a_correction_replaces_the_earlier_figures_and_a_late_older_revision_does_not() -> None:
    figures = [fig("FI-A", "2027-01", 100), fig("FI-A", "2027-01", 40, revision=3)]
    figures.append(fig("FI-A", "2027-01", 999, revision=2))  # arrived after revision 3
    assert uses_in(figures, "a-1", MONTHS) == {"FI-A": 40}


def test_reports_of_one_month_are_not_added_up_but_months_are() -> None:
    figures = [
        fig("FI-A", "2027-01", 30, report="TR"),
        fig("FI-A", "2027-01", 25, report="PR"),
        fig("FI-A", "2027-02", 10, report="TR"),
        fig("FI-A", "2026-12", 500),  # outside the period
    ]
    assert uses_in(figures, "a-1", MONTHS) == {"FI-A": 40}


def test_a_usage_period_is_whole_months() -> None:
    assert months_of(Q1.start, Q1.end) == MONTHS
    assert months_of(date(2026, 12, 1), date(2027, 1, 31)) == ("2026-12", "2027-01")
    with pytest.raises(InvalidValue) as caught:
        months_of(date(2027, 1, 2), date(2027, 3, 31))
    assert caught.value.field == "start"
    with pytest.raises(InvalidValue) as caught:
        months_of(date(2027, 1, 1), date(2027, 3, 30))
    assert caught.value.field == "end"
    assert months_covering(date(2027, 1, 15), date(2027, 2, 3)) == ("2027-01", "2027-02")


def test_no_figures_for_the_period_is_a_conflict_naming_agreement_and_period() -> None:
    with pytest.raises(NoUsageFigures) as caught:
        usage_weights("a-1", MONTHS, ["FI-A"], [fig("FI-A", "2026-12", 10)])
    assert caught.value.http_status == 409
    assert "a-1" in caught.value.problem and "2027-01–2027-03" in caught.value.problem
    with pytest.raises(NoUsageFigures, match="no participant used it"):
        usage_weights("a-1", MONTHS, ["FI-A"], [fig("FI-B", "2027-01", 10)])
    # A participant without figures used nothing; a non-participant's figures are not used.
    weights = usage_weights("a-1", MONTHS, ["FI-A", "FI-C"], [fig("FI-A", "2027-02", 3)])
    assert weights == {"FI-A": 3, "FI-C": 0}


def test_a_period_is_divided_by_use_not_by_days_or_population() -> None:
    members = {"FI-A": member("FI-A", population=1_000), "FI-B": member("FI-B", population=9_000)}
    parts = [joined("FI-A"), joined("FI-B", on=date(2027, 3, 1))]
    shares = prorated_shares(Q1, 100_00, parts, members, USAGE, {"FI-A": 300, "FI-B": 100})
    assert {s.isil: s.share_cents for s in shares} == {"FI-A": 75_00, "FI-B": 25_00}
    with pytest.raises(InvalidValue, match="needs each participant's use"):
        prorated_shares(Q1, 100_00, parts, members, USAGE)


def test_the_day_table_divides_the_annual_cost_by_use() -> None:
    people = [Participant("FI-A", "A", 10), Participant("FI-B", "B", 10)]
    shares = compute_cost_shares(1_000, people, USAGE, {"FI-A": 1, "FI-B": 2})
    assert [s.share_cents for s in shares] == [333, 667]
    with pytest.raises(NotPermitted):
        compute_cost_shares(1_000, people, USAGE, {"FI-A": 0})


isils = st.sampled_from([f"FI-L{n:02d}" for n in range(8)])
months = st.sampled_from(["2026-12", *MONTHS, "2027-04"])
figures = st.lists(
    st.builds(
        fig,
        isils,
        months,
        st.integers(0, 100_000),
        revision=st.integers(1, 4),
        report=st.sampled_from(["TR", "PR", "SUPPLIER"]),
    ),
    max_size=40,
    # One revision of a month's report is one set of figures (a redelivery is the same event).
    unique_by=lambda f: (f.isil, f.month, f.report, f.revision),
)


@given(cost=st.integers(0, 10**10), every=figures, order=st.randoms(use_true_random=False))
def test_shares_by_use_sum_exactly_to_the_cost_whatever_order_the_figures_came_in(
    cost: int, every: list[UsageFigure], order
) -> None:  # type: ignore[no-untyped-def]  # hypothesis gives the random
    members = {f"FI-L{n:02d}": member(f"FI-L{n:02d}") for n in range(8)}
    parts = [joined(isil) for isil in members]
    try:
        weights = usage_weights("a-1", MONTHS, sorted(members), every)
    except NoUsageFigures:
        assert not any(f.month in MONTHS for f in every) or not any(
            uses_in(every, "a-1", MONTHS).values()
        )
        return
    shares = prorated_shares(Q1, cost, parts, members, USAGE, weights)
    assert sum(s.share_cents for s in shares) == cost
    assert all(s.share_cents >= 0 for s in shares)
    # More use never pays less; no use pays nothing.
    by_isil = {s.isil: s.share_cents for s in shares}
    for a in by_isil:
        if weights[a] == 0:
            assert by_isil[a] == 0
        for b in by_isil:
            if weights[a] > weights[b]:
                assert by_isil[a] >= by_isil[b]
    # The figures in force do not depend on the order they arrived in.
    shuffled = list(every)
    order.shuffle(shuffled)
    assert uses_in(shuffled, "a-1", MONTHS) == uses_in(every, "a-1", MONTHS)


@given(cost=st.integers(0, 10**9), uses=st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
def test_each_share_is_within_a_cent_of_its_exact_quota(cost: int, uses: list[int]) -> None:
    if not any(uses):
        return
    members = {f"FI-L{n:02d}": member(f"FI-L{n:02d}") for n in range(len(uses))}
    weights = dict(zip(sorted(members), uses, strict=True))
    shares = prorated_shares(Q1, cost, [joined(i) for i in members], members, USAGE, weights)
    whole = sum(uses)
    for s in shares:
        exact = cost * weights[s.isil] / whole
        assert abs(s.share_cents - exact) < 1
