from __future__ import annotations

from datetime import date

import pytest
from procurement_factories import agreement, member

from services.procurement.domain import (
    CostShareModel,
    CostSharePolicy,
    DuplicateEntry,
    IllegalTransition,
    InvalidValue,
    LeaveReason,
    NotPermitted,
    Participation,
    Period,
    agreement_cost_shares,
    end_agreement,
    end_participations,
    leave_on_membership_end,
    opt_in,
    opt_out,
    opt_out_dates,
    parse_licence_terms,
    participants_on,
    renew_agreement,
    terminate_agreement,
)

TODAY = date(2027, 2, 1)
OPT_OUT_ANY_TIME = parse_licence_terms({"annual_opt_out": "permitted"})
NO_OPT_OUT = parse_licence_terms({"annual_opt_out": "prohibited"})


def test_an_active_member_opts_in_from_a_date_in_force() -> None:
    a = agreement()
    p = opt_in(a, member("FI-Hki"), [], "FI-Hki", date(2027, 3, 1), TODAY)
    assert p == Participation("a-1", "FI-Hki", date(2027, 3, 1))
    assert p.participates_on(date(2027, 3, 1)) and not p.participates_on(date(2027, 2, 28))


@pytest.mark.parametrize(
    ("who", "from_date", "error", "field"),
    [
        (None, date(2027, 3, 1), NotPermitted, "isil"),
        (member("FI-Hki", joined_on=date(2027, 6, 1)), date(2027, 3, 1), NotPermitted, "isil"),
        # Has given notice: not a member any more on the start date.
        (member("FI-Hki", left_on=date(2027, 3, 1)), date(2027, 3, 1), NotPermitted, "isil"),
        (member("FI-Vantaa"), date(2027, 3, 1), NotPermitted, "isil"),  # someone else's record
        (member("FI-Hki"), date(2027, 1, 15), NotPermitted, "from_date"),  # backdated
        (member("FI-Hki"), date(2028, 1, 1), NotPermitted, "from_date"),  # after the periods
    ],
)
def test_opt_in_refusals(who: object, from_date: date, error: type[Exception], field: str) -> None:
    with pytest.raises(error) as caught:
        opt_in(agreement(), who, [], "FI-Hki", from_date, TODAY)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time
    assert caught.value.field == field  # type: ignore[attr-defined]  # present at run time; the declared type is wider


def test_no_double_opt_in_but_rejoining_after_leaving_is_fine() -> None:
    a = agreement(terms=OPT_OUT_ANY_TIME)
    first = opt_in(a, member(), [], "FI-Hki", TODAY, TODAY)
    with pytest.raises(DuplicateEntry):
        opt_in(a, member(), [first], "FI-Hki", date(2027, 5, 1), TODAY)
    left = opt_out(a, first, date(2027, 4, 1), TODAY)
    with pytest.raises(DuplicateEntry):  # still in until 1 April
        opt_in(a, member(), [left], "FI-Hki", date(2027, 3, 1), TODAY)
    again = opt_in(a, member(), [left], "FI-Hki", date(2027, 4, 1), TODAY)
    assert again.joined_on == date(2027, 4, 1)
    # Another agreement's participation does not count.
    other = Participation("a-2", "FI-Hki", TODAY)
    opt_in(a, member(), [other], "FI-Hki", TODAY, TODAY)


def test_no_opt_in_to_ended_agreement_or_after_a_scheduled_termination() -> None:
    a = agreement()
    with pytest.raises(IllegalTransition):
        opt_in(
            end_agreement(a, date(2028, 1, 1)),
            member(),
            [],
            "FI-Hki",
            date(2028, 1, 1),
            date(2028, 1, 1),
        )
    scheduled = terminate_agreement(a, date(2027, 6, 1), "discontinued", TODAY)
    with pytest.raises(NotPermitted, match="from_date"):
        opt_in(scheduled, member(), [], "FI-Hki", date(2027, 6, 1), TODAY)


def test_opt_out_any_time_when_annual_opt_out_is_permitted() -> None:
    a = agreement(terms=OPT_OUT_ANY_TIME)
    p = Participation("a-1", "FI-Hki", date(2027, 1, 1))
    assert opt_out_dates(a, TODAY) is None
    left = opt_out(a, p, date(2027, 2, 17), TODAY)
    assert left.left_on == date(2027, 2, 17) and left.leave_reason is LeaveReason.OPT_OUT
    with pytest.raises(NotPermitted, match="backdated"):
        opt_out(a, p, date(2027, 1, 31), TODAY)
    with pytest.raises(NotPermitted, match="expires"):
        opt_out(a, p, date(2028, 1, 2), TODAY)
    with pytest.raises(IllegalTransition):
        opt_out(a, left, date(2027, 3, 1), TODAY)


@pytest.mark.parametrize(
    "terms",
    [
        NO_OPT_OUT,
        parse_licence_terms({}),
        parse_licence_terms({"annual_opt_out": "unmentioned"}),
        parse_licence_terms({"annual_opt_out": "permitted_under_conditions"}),
    ],
)
def test_otherwise_opt_out_only_at_period_end_with_notice(terms: object) -> None:
    a = renew_agreement(agreement(terms=terms), TODAY)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time
    p = Participation("a-1", "FI-Hki", date(2027, 1, 1))
    assert opt_out_dates(a, TODAY) == (date(2028, 1, 1), date(2029, 1, 1))
    assert opt_out(a, p, date(2028, 1, 1), TODAY).left_on == date(2028, 1, 1)
    with pytest.raises(NotPermitted, match="period end") as caught:
        opt_out(a, p, date(2027, 6, 1), TODAY)
    assert caught.value.field == "effective_on"
    # After the first period's cancellation deadline only the next period end is open.
    late = date(2027, 10, 1)
    assert opt_out_dates(a, late) == (date(2029, 1, 1),)
    with pytest.raises(NotPermitted):
        opt_out(a, p, date(2028, 1, 1), late)
    assert opt_out(a, p, date(2029, 1, 1), late).left_on == date(2029, 1, 1)


def test_opt_out_belongs_to_the_agreement() -> None:
    with pytest.raises(InvalidValue):
        opt_out(agreement(), Participation("a-9", "FI-Hki", TODAY), TODAY, TODAY)


def test_leaving_the_consortium_leaves_every_agreement_regardless_of_terms() -> None:
    participations = [
        Participation("a-1", "FI-Hki", date(2027, 1, 1)),
        Participation("a-2", "FI-Hki", date(2027, 1, 1), date(2027, 12, 1), LeaveReason.OPT_OUT),
        Participation("a-3", "FI-Hki", date(2027, 9, 1)),  # not begun yet
        Participation("a-4", "FI-Hki", date(2027, 1, 1), date(2027, 2, 1), LeaveReason.OPT_OUT),
        Participation("a-1", "FI-Vantaa", date(2027, 1, 1)),
    ]
    ended = leave_on_membership_end(participations, "FI-Hki", date(2027, 6, 1))
    assert [(p.agreement_id, p.left_on, p.leave_reason) for p in ended] == [
        ("a-1", date(2027, 6, 1), LeaveReason.MEMBER_LEFT),
        ("a-2", date(2027, 6, 1), LeaveReason.MEMBER_LEFT),  # scheduled opt-out brought forward
        ("a-3", date(2027, 9, 1), LeaveReason.MEMBER_LEFT),  # future opt-in becomes empty
    ]
    assert not any(p.participates_on(date(2027, 9, 1)) for p in ended)


def test_ended_agreement_ends_its_participations() -> None:
    a = terminate_agreement(agreement(), TODAY, "Supplier bankrupt", TODAY)
    ps = [
        Participation("a-1", "FI-Hki", date(2027, 1, 1)),
        Participation("a-1", "FI-Ah", date(2027, 1, 1), date(2027, 1, 15), LeaveReason.OPT_OUT),
        Participation("a-2", "FI-Hki", date(2027, 1, 1)),
    ]
    (ended,) = end_participations(a, ps)
    assert (ended.isil, ended.left_on, ended.leave_reason) == (
        "FI-Hki",
        TODAY,
        LeaveReason.AGREEMENT_ENDED,
    )
    with pytest.raises(IllegalTransition):
        end_participations(agreement(), ps)


def test_cost_shares_of_the_participants_on_a_day() -> None:
    a = agreement(
        annual_cost_cents=1_000_00,
        policy=CostSharePolicy(CostShareModel.BASE_PLUS_PER_CAPITA, 100_00),
        periods=(Period(date(2027, 1, 1), date(2027, 12, 31), date(2027, 9, 30)),),
    )
    members = {
        "FI-Hki": member("FI-Hki", population=600_000),
        "FI-Ah": member("FI-Ah", population=30_000),
        "FI-Tro": member("FI-Tro", population=170_000),
    }
    ps = [
        Participation("a-1", "FI-Hki", date(2027, 1, 1)),
        Participation("a-1", "FI-Ah", date(2027, 1, 1)),
        Participation("a-1", "FI-Tro", date(2027, 3, 1)),
    ]
    assert [p.isil for p in participants_on(ps, "a-1", TODAY)] == ["FI-Ah", "FI-Hki"]
    shares = agreement_cost_shares(a, ps, members, date(2027, 3, 1))
    assert sum(s.share_cents for s in shares) == 1_000_00
    # 3 × 100 € base; 700 € per capita over 800,000 people.
    assert {s.isil: s.share_cents for s in shares} == {
        "FI-Ah": 100_00 + 26_25,
        "FI-Hki": 100_00 + 525_00,
        "FI-Tro": 100_00 + 148_75,
    }
    with pytest.raises(InvalidValue, match="members"):
        agreement_cost_shares(a, ps, {}, date(2027, 3, 1))
