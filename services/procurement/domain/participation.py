"""Libraries opting in to and out of framework agreements.

Membership never obliges a library to opt in; these rules only say when it *may*.

Opt-in: the library is an active consortium member today and on the start date; the start
date is today or later and the agreement is in force on it (inside a period, before any
scheduled termination); and the library does not already participate then.

Opt-out, with an effective date (first day no longer participating), today or later:

- if the agreement's ``annual_opt_out`` term is ``permitted``, on any such date;
- otherwise (prohibited, unmentioned, not stated, and also *permitted under conditions*,
  whose conditions only a person can judge), only at the end of a period: the effective
  date must be the day after a period's last day, and notice must be given no later than
  that period's cancellation deadline. A library with a conditional right asks the
  coordinator, who can terminate or record the exception outside these rules.

Leaving the consortium overrides all of this: the library's participations end on the
membership's effective date whatever the terms say. An agreement that ends ends its
participations on the same effective date.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ._checks import coerce_enum, require_date, require_text
from .agreements import ONE_DAY, Agreement, AgreementState
from .cost_shares import CostShare, Participant, compute_cost_shares
from .errors import DuplicateEntry, IllegalTransition, InvalidValue, NotPermitted
from .licence_terms import PermittedStatus, TermName
from .members import Member
from .vocabulary import check_isil


class LeaveReason(StrEnum):
    OPT_OUT = "opt-out"
    MEMBER_LEFT = "member-left"
    AGREEMENT_ENDED = "agreement-ended"


@dataclass(frozen=True, slots=True)
class Participation:
    agreement_id: str
    isil: str
    #: First day participating.
    joined_on: date
    #: Effective date of leaving: the first day no longer participating. May be in the
    #: future, when an opt-out has been given with notice.
    left_on: date | None = None
    leave_reason: LeaveReason | None = None

    def __post_init__(self) -> None:
        require_text("agreement_id", self.agreement_id, max_length=100)
        check_isil("isil", self.isil)
        require_date("joined_on", self.joined_on)
        if (self.left_on is None) != (self.leave_reason is None):
            raise InvalidValue("leave_reason", "is given exactly when left_on is")
        if self.left_on is not None:
            require_date("left_on", self.left_on)
            if self.left_on < self.joined_on:
                raise InvalidValue("left_on", "must not be before joined_on")
            reason = coerce_enum("leave_reason", LeaveReason, self.leave_reason)
            object.__setattr__(self, "leave_reason", reason)

    def participates_on(self, day: date) -> bool:
        return self.joined_on <= day and (self.left_on is None or day < self.left_on)

    def still_open_on(self, day: date) -> bool:
        """True if the participation has not ended by ``day`` (it may not have begun)."""
        return self.left_on is None or self.left_on > day


def opt_in(
    agreement: Agreement,
    member: Member | None,
    existing: Iterable[Participation],
    isil: str,
    from_date: date,
    today: date,
) -> Participation:
    """Check the opt-in rules and return the new participation (→ ``agreement-joined``).

    ``existing`` is the agreement's participations (others are ignored); ``member`` is
    procurement's copy of the library's membership, or ``None`` if unknown.
    """
    check_isil("isil", isil)
    require_date("from_date", from_date)
    require_date("today", today)
    if agreement.state is not AgreementState.ACTIVE:
        raise IllegalTransition("agreement", agreement.state.value, "opt in to")
    if member is None or member.isil != isil:
        raise NotPermitted("isil", f"{isil} is not a consortium member")
    if not (member.is_active_on(today) and member.is_active_on(from_date)):
        raise NotPermitted("isil", f"{isil} is not an active member on {from_date}")
    if from_date < today:
        raise NotPermitted("from_date", "an opt-in cannot be backdated")
    if not agreement.is_in_force_on(from_date):
        raise NotPermitted("from_date", f"the agreement is not in force on {from_date}")
    for p in existing:
        if p.agreement_id == agreement.id and p.isil == isil and p.still_open_on(from_date):
            raise DuplicateEntry("isil", f"{isil} already participates from {p.joined_on}")
    return Participation(agreement.id, isil, from_date)


def opt_out_dates(agreement: Agreement, today: date) -> tuple[date, ...] | None:
    """Effective dates an opt-out may take when given today: ``None`` means any date from
    today (annual opt-out permitted); otherwise the period ends whose notice is still open."""
    if agreement.terms.permitted_status(TermName.ANNUAL_OPT_OUT) is PermittedStatus.PERMITTED:
        return None
    return tuple(p.end + ONE_DAY for p in agreement.periods if today <= p.cancellation_deadline)


def opt_out(
    agreement: Agreement, participation: Participation, effective_on: date, today: date
) -> Participation:
    """Check the opt-out rules and return the ended participation (→ ``agreement-left``)."""
    require_date("effective_on", effective_on)
    require_date("today", today)
    if participation.agreement_id != agreement.id:
        raise InvalidValue("agreement_id", "participation belongs to another agreement")
    if agreement.state is not AgreementState.ACTIVE:
        raise IllegalTransition("agreement", agreement.state.value, "opt out of")
    if participation.left_on is not None:
        raise IllegalTransition("participation", "already ended", "opt out of")
    if effective_on < today:
        raise NotPermitted("effective_on", "an opt-out cannot be backdated")
    if effective_on < participation.joined_on:
        raise NotPermitted("effective_on", "must not be before the participation starts")
    if effective_on > agreement.expires_on:
        raise NotPermitted("effective_on", f"the agreement expires on {agreement.expires_on}")
    allowed = opt_out_dates(agreement, today)
    if allowed is not None and effective_on not in allowed:
        shown = ", ".join(str(d) for d in allowed) or "none left"
        raise NotPermitted(
            "effective_on",
            "annual opt-out is not permitted; leave only at a period end with notice "
            f"by its cancellation deadline (open dates: {shown})",
        )
    return dataclasses.replace(
        participation, left_on=effective_on, leave_reason=LeaveReason.OPT_OUT
    )


def _end_all(
    participations: Iterable[Participation], effective_on: date, reason: LeaveReason
) -> tuple[Participation, ...]:
    ended = []
    for p in participations:
        if p.still_open_on(effective_on):
            # An opt-in that had not begun by then becomes empty rather than invalid.
            left = max(effective_on, p.joined_on)
            ended.append(dataclasses.replace(p, left_on=left, leave_reason=reason))
    return tuple(sorted(ended, key=lambda p: (p.agreement_id, p.joined_on)))


def leave_on_membership_end(
    participations: Iterable[Participation], isil: str, effective_on: date
) -> tuple[Participation, ...]:
    """The library's participations to end because it leaves the consortium on
    ``effective_on``, regardless of terms. Includes opt-outs scheduled for a later date,
    which are brought forward. Each returned value is the updated participation; emit
    ``agreement-left`` for each."""
    check_isil("isil", isil)
    require_date("effective_on", effective_on)
    mine = (p for p in participations if p.isil == isil)
    return _end_all(mine, effective_on, LeaveReason.MEMBER_LEFT)


def end_participations(
    agreement: Agreement, participations: Iterable[Participation]
) -> tuple[Participation, ...]:
    """The participations that end because the agreement has ended."""
    if agreement.state is not AgreementState.ENDED or agreement.end is None:
        raise IllegalTransition("agreement", agreement.state.value, "end participations of")
    ours = (p for p in participations if p.agreement_id == agreement.id)
    return _end_all(ours, agreement.end.effective_on, LeaveReason.AGREEMENT_ENDED)


def participants_on(
    participations: Iterable[Participation], agreement_id: str, day: date
) -> tuple[Participation, ...]:
    return tuple(
        sorted(
            (
                p
                for p in participations
                if p.agreement_id == agreement_id and p.participates_on(day)
            ),
            key=lambda p: p.isil,
        )
    )


def agreement_cost_shares(
    agreement: Agreement,
    participations: Iterable[Participation],
    members: Mapping[str, Member],
    day: date,
    uses: Mapping[str, int] | None = None,
) -> tuple[CostShare, ...]:
    """The cost-share table of the agreement's participants on ``day``, with populations
    from procurement's member copies (and under the usage model their ``uses``)."""
    people = []
    for p in participants_on(participations, agreement.id, day):
        member = members.get(p.isil)
        if member is None:
            raise InvalidValue("members", f"no member record for participant {p.isil}")
        people.append(Participant(member.isil, member.name, member.population))
    return compute_cost_shares(agreement.annual_cost_cents, people, agreement.cost_share, uses)
