"""Membership rules, with no I/O.

A library is registered once (its ISIL is permanent). Membership is a sequence of periods:
signing the consortium agreement opens one, notice closes it on an effective date, and a
re-join opens the next. History is never rewritten.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fi import ytunnus

from contracts.membership import FINLAND_POPULATION, is_isil
from kit.rules import Conflict

MUNICIPALITY_CODE = re.compile(r"^\d{3}$")
LIBRARY_SYSTEMS = ("Koha", "Aurora", "Sierra", "Quria", "Alma", "Finna", "other")


class MembershipRuleViolated(Conflict, ValueError):
    """A command that breaks a membership rule about the current state (409). ``field`` names
    what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)


class InvalidValue(MembershipRuleViolated):
    """A value that is wrong in itself (a bad check digit, an unknown code): a 422, where a
    rule about the current state is a 409."""

    status = 422


def check_isil(value: str) -> str:
    value = value.strip()
    if not is_isil(value):
        raise MembershipRuleViolated(
            f"{value!r} is not an ISIL (ISO 15511, e.g. FI-Tro: a country code, a hyphen and up "
            "to 11 characters of A-Z a-z 0-9 - / :)",
            field="isil",
        )
    return value


def check_municipalities(codes: list[str]) -> list[str]:
    if not codes:
        raise MembershipRuleViolated("at least one municipality is served", "municipalities")
    for code in codes:
        if not MUNICIPALITY_CODE.match(code):
            raise MembershipRuleViolated(
                f"{code!r} is not a 3-digit Statistics Finland municipality code",
                "municipalities",
            )
    if len(set(codes)) != len(codes):
        raise MembershipRuleViolated("a municipality is listed twice", "municipalities")
    return sorted(codes)


class Status(StrEnum):
    REGISTERED = "registered"  # never a member
    MEMBER = "member"
    LEAVING = "leaving"  # notice given, effective date still ahead
    FORMER = "former"


@dataclass(frozen=True)
class Period:
    number: int
    joined_on: dt.date
    signatory: str
    notice_given_on: dt.date | None = None
    leaves_on: dt.date | None = None  # first day the library is no longer a member
    left: bool = False  # the leave took effect and member-left was emitted

    def covers(self, day: dt.date) -> bool:
        return self.joined_on <= day and (self.leaves_on is None or day < self.leaves_on)


def status(periods: list[Period], today: dt.date) -> Status:
    if not periods:
        return Status.REGISTERED
    last = periods[-1]
    if last.left or (last.leaves_on is not None and last.leaves_on <= today):
        return Status.FORMER
    if last.leaves_on is not None:
        return Status.LEAVING
    return Status.MEMBER


def is_member_on(periods: list[Period], day: dt.date) -> bool:
    return any(period.covers(day) for period in periods)


def join(periods: list[Period], *, signed_on: dt.date, signatory: str) -> Period:
    """Open a new period. A library cannot join while a period is open, and a new period
    cannot start before the previous one ended."""
    if not signatory.strip():
        raise MembershipRuleViolated("the signatory is required", "signatory")
    if periods:
        last = periods[-1]
        if not last.left and last.leaves_on is None:
            raise MembershipRuleViolated(
                f"the library is already a member since {last.joined_on}", "signed_on"
            )
        if not last.left:
            raise MembershipRuleViolated(
                f"the library's notice takes effect on {last.leaves_on}; it can re-join after",
                "signed_on",
            )
        assert last.leaves_on is not None
        if signed_on < last.leaves_on:
            raise MembershipRuleViolated(
                f"signed_on {signed_on} is before the previous period ended ({last.leaves_on})",
                "signed_on",
            )
    return Period(number=len(periods) + 1, joined_on=signed_on, signatory=signatory.strip())


def give_notice(periods: list[Period], *, effective_date: dt.date, given_on: dt.date) -> Period:
    """Record notice on the open period. The leave takes effect on ``effective_date``."""
    if not periods or periods[-1].left:
        raise MembershipRuleViolated("the library is not a member", "effective_date")
    current = periods[-1]
    if current.leaves_on is not None:
        raise MembershipRuleViolated(
            f"notice was already given, effective {current.leaves_on}", "effective_date"
        )
    if effective_date <= current.joined_on:
        raise MembershipRuleViolated(
            f"effective_date must be after the joining date {current.joined_on}",
            "effective_date",
        )
    if given_on < current.joined_on:
        raise MembershipRuleViolated("notice cannot be given before joining", "given_on")
    if effective_date < given_on:
        raise MembershipRuleViolated(
            "effective_date cannot be before the day notice is given", "effective_date"
        )
    return replace(current, notice_given_on=given_on, leaves_on=effective_date)


def leave_is_due(period: Period, today: dt.date) -> bool:
    return not period.left and period.leaves_on is not None and period.leaves_on <= today


@dataclass(frozen=True)
class CoverageTotals:
    active_members: int
    population: int
    share_of_finland: float
    by_municipality: dict[str, tuple[int, int]]  # code -> (libraries, population)


@dataclass(frozen=True)
class Served:
    """What one active member serves: its municipality codes, its population figure, and
    whether that figure is a documented exception (part of a municipality, say)."""

    municipalities: list[str]
    population: int
    exception: bool = False


def coverage(members: list[Served], official: Mapping[str, int] | None = None) -> CoverageTotals:
    """Totals over the active members, counting each municipality once: several libraries
    (a city's own and a joint authority's, or a kimppa's members) often serve the same one.

    A municipality served by a member whose figure is official counts its official figure.
    One served only by exception figures counts the largest share any of those members
    states for it (its figure spread evenly over its municipalities). A member with no
    municipalities counts its own figure."""
    official = official or {}
    libraries: dict[str, int] = {}
    officially_served: set[str] = set()
    largest_share: dict[str, int] = {}
    unplaced = 0
    for member in members:
        if not member.municipalities:
            unplaced += member.population
            continue
        share = member.population // len(member.municipalities)
        for code in member.municipalities:
            libraries[code] = libraries.get(code, 0) + 1
            if not member.exception and code in official:
                officially_served.add(code)
            largest_share[code] = max(largest_share.get(code, 0), share)
    counted = {
        code: official[code] if code in officially_served else largest_share[code]
        for code in libraries
    }
    population = sum(counted.values()) + unplaced
    return CoverageTotals(
        active_members=len(members),
        population=population,
        share_of_finland=round(population / FINLAND_POPULATION, 4),
        by_municipality={code: (libraries[code], counted[code]) for code in sorted(counted)},
    )


# --- organisations, kimppas and who may change what -------------------------------------------

ORGANISATION_KINDS = ("municipality", "joint-authority")
# Fields only the coordinator changes: they move cost shares (population) or say which legal
# party and shared catalogue a library belongs to.
COORDINATOR_FIELDS = frozenset(
    {"municipalities", "population", "population_exception", "organisation", "kimppa"}
)
# Fields a library edits on its own record.
LIBRARY_FIELDS = frozenset({"names", "contacts", "library_system", "library_type", "kirkanta_id"})


def check_business_id(value: str) -> str:
    """A Finnish business ID (Y-tunnus) with a valid check digit, in its standard form."""
    try:
        return ytunnus.format(ytunnus.validate(value))
    except StdnumError as error:
        raise InvalidValue(
            f"{value!r} is not a valid Finnish business ID (Y-tunnus, e.g. 0201256-6): "
            f"{error.message}",  # type: ignore[attr-defined]  # stdnum's subclasses define message
            "business_id",
        ) from error


def forbidden_for_library(changed: set[str]) -> list[str]:
    """The fields of a change that a library's own token may not make, sorted."""
    return sorted(changed - LIBRARY_FIELDS)


def sees_contacts(role: str, caller_isil: str | None, isil: str) -> bool:
    """Contact persons are personal data: only the coordinator and the library itself see
    them (outreach gets them through the events)."""
    return role == "coordinator" or (role == "library" and caller_isil == isil)
