"""Threshold classes from the dated table, the standstill after service, appeals, and the
rules signing an agreement must pass: the Act on Public Procurement (1397/2016)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import AFTER_DEADLINE, bid, in_evaluation, need, tender

from services.procurement.domain import (
    Appeal,
    AppealStatus,
    CompatibilityResult,
    CostShareModel,
    CostSharePolicy,
    DuplicateEntry,
    ExtensionOptions,
    IllegalTransition,
    InvalidValue,
    NotPermitted,
    Period,
    Procedure,
    QualityScore,
    ThresholdClass,
    ThresholdRow,
    ThresholdTable,
    award_tender,
    default_table,
    lodge_appeal,
    resolve_appeal,
    sign_agreement,
)

# --- threshold classes --------------------------------------------------------------------

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@st.composite
def tables(draw: st.DrawFn) -> ThresholdTable:
    starts = draw(st.lists(days, min_size=1, max_size=6, unique=True))
    rows = []
    for start in starts:
        national = draw(st.integers(1, 10**8))
        eu = draw(st.integers(national, 10**9))
        rows.append(ThresholdRow(start, national, eu, "test source"))
    standstill = {c: draw(st.integers(0, 30)) for c in ThresholdClass}
    return ThresholdTable(tuple(rows), standstill, {ThresholdClass.EU: 48})


@given(table=tables(), value=st.integers(0, 2 * 10**9), day=days)
def test_the_class_follows_the_row_in_force_on_the_day(
    table: ThresholdTable, value: int, day: date
) -> None:
    in_force = [r for r in table.rows if r.valid_from <= day]
    if not in_force:
        with pytest.raises(NotPermitted):
            table.classify(value, day)
        return
    row = max(in_force, key=lambda r: r.valid_from)
    got = table.classify(value, day)
    if value >= row.eu_cents:
        assert got is ThresholdClass.EU
    elif value >= row.national_cents:
        assert got is ThresholdClass.NATIONAL
    else:
        assert got is ThresholdClass.BELOW_NATIONAL


@given(table=tables(), low=st.integers(0, 10**9), high=st.integers(0, 10**9), day=days)
def test_a_higher_value_never_falls_into_a_lower_class(
    table: ThresholdTable, low: int, high: int, day: date
) -> None:
    low, high = sorted((low, high))
    if day < table.rows[0].valid_from:
        return
    order = list(ThresholdClass)
    assert order.index(table.classify(low, day)) <= order.index(table.classify(high, day))


def test_a_new_row_changes_the_class_from_its_day_on() -> None:
    table = ThresholdTable(
        (
            ThresholdRow(date(2024, 1, 1), 60_000_00, 221_000_00, "a"),
            ThresholdRow(date(2026, 1, 1), 60_000_00, 216_000_00, "b"),
        ),
        {},
        {},
    )
    value = 218_000_00
    assert table.classify(value, date(2025, 12, 31)) is ThresholdClass.NATIONAL
    assert table.classify(value, date(2026, 1, 1)) is ThresholdClass.EU


def test_the_shipped_table_is_readable_and_names_its_sources() -> None:
    table = default_table()
    assert all(row.source for row in table.rows)
    assert table.classify(0, date.today()) is ThresholdClass.BELOW_NATIONAL
    assert table.standstill(ThresholdClass.EU, Procedure.CALL_OFF) == 0


# --- the decision's standstill ------------------------------------------------------------

TABLE = ThresholdTable(
    (ThresholdRow(date(2017, 1, 1), 60_000_00, 216_000_00, "test"),),
    {ThresholdClass.BELOW_NATIONAL: 0, ThresholdClass.NATIONAL: 14, ThresholdClass.EU: 14},
    {ThresholdClass.EU: 48},
)


def _decided(
    threshold_class: ThresholdClass = ThresholdClass.EU,
    procedure: Procedure = Procedure.OPEN,
    served_at: datetime | None = None,
):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    bids = [bid("b-1", 90_000_00), bid("b-2", 100_000_00)]
    t = dataclasses.replace(tender(), threshold_class=threshold_class, procedure=procedure)
    t = in_evaluation(t, bids)
    awarded, award = award_tender(
        t,
        bids,
        [CompatibilityResult("b-1", "ios", True)],
        [QualityScore("b-1", 80), QualityScore("b-2", 80)],
        AFTER_DEADLINE + timedelta(days=30),
        needs=[need()],
        served_at=served_at,
        table=TABLE,
    )
    return awarded, award, bids[0]


@pytest.mark.parametrize(
    ("threshold_class", "procedure", "standstill"),
    [
        (ThresholdClass.EU, Procedure.OPEN, 14),
        (ThresholdClass.NATIONAL, Procedure.NATIONAL, 14),
        (ThresholdClass.BELOW_NATIONAL, Procedure.OPEN, None),
        (ThresholdClass.EU, Procedure.CALL_OFF, None),
    ],
)
def test_standstill_ends_fourteen_days_after_service_where_the_class_requires_it(
    threshold_class: ThresholdClass, procedure: Procedure, standstill: int | None
) -> None:
    served = AFTER_DEADLINE + timedelta(days=2)
    _, award, _ = _decided(threshold_class, procedure, served)
    assert award.served_at == served
    if standstill is None:
        assert award.standstill_ends_on is None and award.standstill_over(served.date())
    else:
        assert award.standstill_ends_on == served.date() + timedelta(days=standstill)
        assert not award.standstill_over(award.standstill_ends_on - timedelta(days=1))
        assert award.standstill_over(award.standstill_ends_on)


# --- signing: standstill, appeals, framework length, price --------------------------------


def _sign(awarded, award, b, **changes):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    ends = award.standstill_ends_on or award.served_at.date()
    args = {
        "agreement_id": "a-1",
        "tender": awarded,
        "award": award,
        "bid": b,
        "needs": [need()],
        "first_period": Period(date(2027, 6, 1), date(2028, 5, 31), date(2028, 2, 29)),
        "extension_options": ExtensionOptions(2, 12),
        "annual_cost_cents": None,
        "cost_share": CostSharePolicy(CostShareModel.PER_CAPITA),
        "signed_on": ends,
        "today": ends,
        "table": TABLE,
    }
    return sign_agreement(**{**args, **changes})


def test_signing_waits_for_the_standstill_and_never_precedes_the_decision() -> None:
    awarded, award, b = _decided()
    ends = award.standstill_ends_on
    assert ends is not None
    before = ends - timedelta(days=1)
    with pytest.raises(NotPermitted, match="standstill"):
        _sign(awarded, award, b, signed_on=before, today=before)
    with pytest.raises(NotPermitted, match="standstill"):
        _sign(awarded, award, b, signed_on=before, today=ends)
    with pytest.raises(InvalidValue, match="future"):
        _sign(awarded, award, b, signed_on=ends, today=before)
    assert _sign(awarded, award, b).signed_on == ends

    free, award2, b2 = _decided(ThresholdClass.BELOW_NATIONAL)
    served_on = award2.served_at.date()
    with pytest.raises(NotPermitted, match="decision"):
        _sign(free, award2, b2, signed_on=served_on - timedelta(days=1), today=served_on)


def test_a_suspending_appeal_blocks_signing_until_resolved() -> None:
    awarded, award, b = _decided()
    decided_on = award.served_at.date()
    appeal = lodge_appeal(awarded, decided_on, Appeal("t-1", "MAO:1/2027", decided_on, True))
    with pytest.raises(NotPermitted, match="MAO:1/2027"):
        _sign(awarded, award, b, appeals=[appeal])
    dismissed = resolve_appeal(appeal, "dismissed", decided_on + timedelta(days=60))
    later = decided_on + timedelta(days=60)
    assert _sign(awarded, award, b, appeals=[dismissed], signed_on=later, today=later)
    upheld = resolve_appeal(appeal, AppealStatus.UPHELD, later)
    with pytest.raises(NotPermitted, match="upheld"):
        _sign(awarded, award, b, appeals=[upheld], signed_on=later, today=later)
    not_suspending = Appeal("t-1", "MAO:2/2027", decided_on, False)
    assert _sign(awarded, award, b, appeals=[not_suspending])


def test_appeal_rules() -> None:
    awarded, award, _ = _decided()
    decided_on = award.served_at.date()
    first = Appeal("t-1", "MAO:1/2027", decided_on, True)
    with pytest.raises(IllegalTransition):
        lodge_appeal(tender(), decided_on, first)
    with pytest.raises(InvalidValue, match="lodged_on"):
        lodge_appeal(
            awarded, decided_on, dataclasses.replace(first, lodged_on=decided_on - timedelta(1))
        )
    with pytest.raises(DuplicateEntry):
        lodge_appeal(awarded, decided_on, first, [first])
    resolved = resolve_appeal(first, "withdrawn", decided_on)
    with pytest.raises(IllegalTransition):
        resolve_appeal(resolved, "dismissed", decided_on)
    with pytest.raises(InvalidValue):
        resolve_appeal(first, "pending", decided_on)


def test_an_eu_framework_runs_at_most_four_years_unless_justified() -> None:
    awarded, award, b = _decided()
    too_long = ExtensionOptions(4, 12)  # 1 + 4 years
    with pytest.raises(NotPermitted, match="48 months"):
        _sign(awarded, award, b, extension_options=too_long)
    why = "the licences bought are perpetual and the platform migration takes two years"
    signed = _sign(awarded, award, b, extension_options=too_long, framework_justification=why)
    assert signed.framework_justification == why
    assert _sign(awarded, award, b, extension_options=ExtensionOptions(3, 12))
    national, award2, b2 = _decided(ThresholdClass.NATIONAL, Procedure.NATIONAL)
    assert _sign(national, award2, b2, extension_options=too_long).framework_justification is None
    with pytest.raises(InvalidValue):
        ExtensionOptions(20, 120)


def test_the_price_comes_from_the_awarded_bid_unless_amended() -> None:
    awarded, award, b = _decided()
    assert _sign(awarded, award, b).annual_cost_cents == b.price_cents
    with pytest.raises(NotPermitted, match="price_amendment"):
        _sign(awarded, award, b, annual_cost_cents=b.price_cents + 5_000_00)
    amended = _sign(
        awarded,
        award,
        b,
        annual_cost_cents=b.price_cents + 5_000_00,
        price_amendment="two more libraries joined before signing; option 3 of the price form",
    )
    assert amended.annual_cost_cents == b.price_cents + 5_000_00 and amended.price_amendment
