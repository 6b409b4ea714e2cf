"""Membership rules, including a hypothesis state machine of the lifecycle."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.membership import domain
from services.membership.domain import MembershipRuleViolated, Period, Status

D = dt.date


@pytest.mark.parametrize("isil", ["FI-Tro", "FI-Ah", "FI-HelKa", "SE-L", "DE-101", "FI-Ke1234"])
def test_valid_isils(isil: str) -> None:
    assert domain.check_isil(isil) == isil


@pytest.mark.parametrize(
    "isil", ["", "FI", "FI-", "fi-Tro", "FI Tro", "FI-Tro!", "FI-ABCDEFGHIJKL", "-Tro", "FI-Tro Ah"]
)
def test_invalid_isils_name_the_field(isil: str) -> None:
    with pytest.raises(MembershipRuleViolated) as error:
        domain.check_isil(isil)
    assert error.value.field == "isil"


def test_municipalities_are_three_digit_codes_without_duplicates() -> None:
    assert domain.check_municipalities(["853", "091"]) == ["091", "853"]
    for bad in ([], ["91"], ["0911"], ["abc"], ["091", "091"]):
        with pytest.raises(MembershipRuleViolated):
            domain.check_municipalities(bad)


def test_join_leave_and_rejoin_keep_the_history() -> None:
    first = domain.join([], signed_on=D(2024, 1, 1), signatory="Johtaja")
    assert first.number == 1
    with pytest.raises(MembershipRuleViolated, match="already a member"):
        domain.join([first], signed_on=D(2024, 2, 1), signatory="X")
    noticed = domain.give_notice([first], effective_date=D(2025, 1, 1), given_on=D(2024, 6, 1))
    assert domain.status([noticed], D(2024, 7, 1)) is Status.LEAVING
    with pytest.raises(MembershipRuleViolated, match="notice takes effect"):
        domain.join([noticed], signed_on=D(2025, 2, 1), signatory="X")
    left = Period(**{**noticed.__dict__, "left": True})
    with pytest.raises(MembershipRuleViolated, match="before the previous period ended"):
        domain.join([left], signed_on=D(2024, 12, 1), signatory="X")
    second = domain.join([left], signed_on=D(2025, 3, 1), signatory="X")
    assert second.number == 2
    assert domain.is_member_on([left, second], D(2024, 12, 31))
    assert not domain.is_member_on([left, second], D(2025, 2, 1))
    assert domain.is_member_on([left, second], D(2025, 3, 1))


def test_notice_rules() -> None:
    with pytest.raises(MembershipRuleViolated, match="not a member"):
        domain.give_notice([], effective_date=D(2025, 1, 1), given_on=D(2024, 1, 1))
    period = domain.join([], signed_on=D(2024, 1, 1), signatory="J")
    with pytest.raises(MembershipRuleViolated, match="after the joining date"):
        domain.give_notice([period], effective_date=D(2024, 1, 1), given_on=D(2024, 1, 1))
    with pytest.raises(MembershipRuleViolated, match="before the day notice"):
        domain.give_notice([period], effective_date=D(2024, 2, 1), given_on=D(2024, 3, 1))
    noticed = domain.give_notice([period], effective_date=D(2024, 5, 1), given_on=D(2024, 3, 1))
    with pytest.raises(MembershipRuleViolated, match="already given"):
        domain.give_notice([noticed], effective_date=D(2024, 6, 1), given_on=D(2024, 3, 2))
    assert not domain.leave_is_due(noticed, D(2024, 4, 30))
    assert domain.leave_is_due(noticed, D(2024, 5, 1))


def test_coverage_counts_each_municipality_once() -> None:
    # A city library and a joint library that also serves the city: the city counts once.
    official = {"179": 150_000, "182": 20_000}
    totals = domain.coverage(
        [domain.Served(["179", "182"], 170_000), domain.Served(["179"], 150_000)], official
    )
    assert totals.active_members == 2
    assert totals.population == 170_000
    assert totals.by_municipality == {"179": (2, 150_000), "182": (1, 20_000)}
    assert 0 < totals.share_of_finland < 1


def test_coverage_of_exceptions_takes_the_largest_share_not_the_sum() -> None:
    # Two libraries with documented exceptions for parts of one municipality, none official.
    totals = domain.coverage(
        [
            domain.Served(["091"], 400_000, exception=True),
            domain.Served(["091"], 300_000, exception=True),
            domain.Served([], 5_000),
        ],
        {"091": 680_000},
    )
    assert totals.population == 405_000
    assert totals.by_municipality == {"091": (2, 400_000)}


def test_coverage_never_exceeds_the_official_total_when_members_share_municipalities() -> None:
    official = {f"{n:03d}": 10_000 + n for n in range(1, 40)}
    members = [
        domain.Served(list(official)[i : i + 5], sum(list(official.values())[i : i + 5]))
        for i in range(0, 35, 2)
    ]
    totals = domain.coverage(members, official)
    covered = {code for m in members for code in m.municipalities}
    assert totals.population == sum(official[code] for code in covered)


days = st.integers(min_value=0, max_value=3000).map(lambda n: D(2020, 1, 1) + dt.timedelta(n))


class Lifecycle(RuleBasedStateMachine):
    """Random sequences of join, notice and time passing never break the invariants: at most
    one open period, periods never overlap, and a refused command changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.periods: list[Period] = []
        self.today = D(2020, 1, 1)

    @rule(days_ahead=st.integers(min_value=0, max_value=400))
    def time_passes(self, days_ahead: int) -> None:
        self.today += dt.timedelta(days=days_ahead)
        if self.periods and domain.leave_is_due(self.periods[-1], self.today):
            self.periods[-1] = Period(**{**self.periods[-1].__dict__, "left": True})

    @rule(back=st.integers(min_value=0, max_value=30))
    def join(self, back: int) -> None:
        before = list(self.periods)
        try:
            period = domain.join(
                self.periods, signed_on=self.today - dt.timedelta(days=back), signatory="J"
            )
        except MembershipRuleViolated:
            assert self.periods == before
            return
        assert domain.status(self.periods, self.today) in (Status.REGISTERED, Status.FORMER)
        self.periods.append(period)

    @precondition(lambda self: bool(self.periods))
    @rule(ahead=st.integers(min_value=0, max_value=500))
    def notice(self, ahead: int) -> None:
        before = list(self.periods)
        try:
            period = domain.give_notice(
                self.periods,
                effective_date=self.today + dt.timedelta(days=ahead),
                given_on=self.today,
            )
        except MembershipRuleViolated:
            assert self.periods == before
            return
        self.periods[-1] = period
        if domain.leave_is_due(period, self.today):
            self.periods[-1] = Period(**{**period.__dict__, "left": True})

    @invariant()
    def at_most_one_open_period(self) -> None:
        assert sum(1 for p in self.periods if not p.left) <= 1

    @invariant()
    def periods_do_not_overlap(self) -> None:
        for earlier, later in zip(self.periods, self.periods[1:], strict=False):
            assert earlier.leaves_on is not None and earlier.leaves_on <= later.joined_on
            assert later.number == earlier.number + 1

    @invariant()
    def member_status_matches_dates(self) -> None:
        status = domain.status(self.periods, self.today)
        if status in (Status.MEMBER, Status.LEAVING):
            assert domain.is_member_on(self.periods, self.today)


TestLifecycle = Lifecycle.TestCase


@given(day=days)
def test_registered_library_is_member_on_no_day(day: D) -> None:
    assume(day.year > 2000)
    assert not domain.is_member_on([], day)
