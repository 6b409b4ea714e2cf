"""The consortium agreement's versions, acceptance and notice, with no I/O.

Each version has a valid-from date, a document, a notice period in months and the point at
which notice can take effect (the end of a month or of a year). A membership records the
version its organisation accepted, with the decision that approved it and the signatory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from services.membership.domain import MembershipRuleViolated


class NoticeTakesEffect(StrEnum):
    END_OF_MONTH = "end-of-month"
    END_OF_YEAR = "end-of-year"


@dataclass(frozen=True)
class Version:
    version: str
    valid_from: dt.date
    notice_months: int
    notice_takes_effect: NoticeTakesEffect


@dataclass(frozen=True)
class Acceptance:
    version: str
    decision_organ: str
    decision_date: dt.date
    decision_section: str
    signatory_name: str
    signatory_title: str


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day when it has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def earliest_effective_date(version: Version, given_on: dt.date) -> dt.date:
    """The first day a library may stop being a member when notice is given on ``given_on``:
    the notice period runs ``notice_months`` from that day, and the membership then ends at
    the next end of a month (or of a year); the effective date is the day after that end."""
    period_ends = add_months(given_on, version.notice_months)
    if version.notice_takes_effect is NoticeTakesEffect.END_OF_YEAR:
        first = dt.date(period_ends.year, 1, 1)
        return first if first >= period_ends else dt.date(period_ends.year + 1, 1, 1)
    first = period_ends.replace(day=1)
    return first if first >= period_ends else add_months(first, 1)


def check_notice(version: Version | None, given_on: dt.date, effective_date: dt.date) -> None:
    """Refuse an effective date earlier than the accepted version's notice period allows.
    A membership with no recorded version (before versions were kept) has no such rule."""
    if version is None:
        return
    earliest = earliest_effective_date(version, given_on)
    if effective_date < earliest:
        raise MembershipRuleViolated(
            f"agreement version {version.version} has a notice period of "
            f"{version.notice_months} months taking effect at the {version.notice_takes_effect}"
            f"; the earliest allowed effective_date for notice given on {given_on} is "
            f"{earliest.isoformat()}",
            "effective_date",
        )


def check_acceptance(version: Version, acceptance: Acceptance, accepted: list[str]) -> None:
    """A library accepts a version once; the acceptance names the organ that decided, the
    decision's section (§) and the signatory. The decision may precede the valid-from date:
    councils decide ahead."""
    if acceptance.version in accepted:
        raise MembershipRuleViolated(
            f"agreement version {acceptance.version} is already accepted", "version"
        )
    for name in ("decision_organ", "decision_section", "signatory_name", "signatory_title"):
        if not getattr(acceptance, name).strip():
            raise MembershipRuleViolated(f"{name} is required", name)


def awaiting(members: list[str], accepted_by: dict[str, set[str]], version: str) -> list[str]:
    """The members (ISILs) that have not accepted ``version``, in order."""
    return sorted(isil for isil in members if version not in accepted_by.get(isil, set()))
