"""Each library's use of an agreement, learnt from the usage service's ``usage-reported``
events, and the use in a billing period that the ``usage`` cost model divides by.

- **Figures.** One figure per (agreement, library, month, report): a correction is a new
  ``revision`` that replaces the earlier figures, so only the latest revision counts (an older
  revision arriving late changes nothing).
- **A report's use** is its ``loans`` (what a per-loan price is paid by), else COUNTER's
  ``Unique_Title_Requests``, else ``Total_Item_Requests``.
- **A library's use in a month** is the largest of its reports' uses, never their sum: TR,
  TR_B1 and PR count the same requests at different levels.
- **Use in a period** is the sum of its months. Figures are monthly, so a period divided by
  use is made of whole calendar months.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from ._checks import require_int, require_text
from .errors import InvalidValue, NotPermitted

USE_METRICS = ("loans", "Unique_Title_Requests", "Total_Item_Requests")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def uses_of(totals: Mapping[str, int]) -> int:
    """A report's use: the first of :data:`USE_METRICS` it has (0 when it has none)."""
    for metric in USE_METRICS:
        if metric in totals:
            return max(int(totals[metric]), 0)
    return 0


@dataclass(frozen=True, slots=True)
class UsageFigure:
    agreement_id: str
    isil: str
    #: Calendar month, ``YYYY-MM``.
    month: str
    report: str
    revision: int
    uses: int

    def __post_init__(self) -> None:
        require_text("agreement_id", self.agreement_id, max_length=100)
        require_text("isil", self.isil, max_length=16)
        if not isinstance(self.month, str) or not MONTH.match(self.month):
            raise InvalidValue("period", "must be a month, YYYY-MM")
        require_text("report", self.report, max_length=50)
        require_int("revision", self.revision, minimum=1)
        require_int("uses", self.uses, minimum=0)


def latest(figures: Iterable[UsageFigure]) -> dict[tuple[str, str, str, str], UsageFigure]:
    """The figure in force per (agreement, library, month, report): the highest revision."""
    kept: dict[tuple[str, str, str, str], UsageFigure] = {}
    for f in figures:
        key = (f.agreement_id, f.isil, f.month, f.report)
        if key not in kept or f.revision > kept[key].revision:
            kept[key] = f
    return kept


def months_of(start: date, end: date) -> tuple[str, ...]:
    """The months (``YYYY-MM``) a period of whole calendar months covers; a period that
    starts or ends inside a month is refused, naming the field, since figures are monthly."""
    if start.day != 1:
        raise InvalidValue("start", "under the usage model a period starts on a month's first day")
    if (end + timedelta(days=1)).day != 1:
        raise InvalidValue("end", "under the usage model a period ends on a month's last day")
    months: list[str] = []
    day = start
    while day <= end:
        months.append(f"{day.year:04d}-{day.month:02d}")
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return tuple(months)


def months_covering(start: date, end: date) -> tuple[str, ...]:
    """Every month (``YYYY-MM``) a span of days touches, the partial ones included."""
    return months_of(date(start.year, start.month, 1), _month_end(end))


def _month_end(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1) - timedelta(days=1)


def uses_in(
    figures: Iterable[UsageFigure], agreement_id: str, months: Iterable[str]
) -> dict[str, int]:
    """Each library's use of the agreement in ``months``: per month the largest of its
    reports' (latest revisions), summed over the months. Libraries without figures are absent."""
    wanted = set(months)
    per_month: dict[tuple[str, str], int] = {}
    for f in latest(figures).values():
        if f.agreement_id != agreement_id or f.month not in wanted:
            continue
        key = (f.isil, f.month)
        per_month[key] = max(per_month.get(key, 0), f.uses)
    total: dict[str, int] = {}
    for (isil, _), uses in sorted(per_month.items()):
        total[isil] = total.get(isil, 0) + uses
    return total


class NoUsageFigures(NotPermitted):
    """The usage model cannot divide a period without figures for it (409)."""


def period_name(months: tuple[str, ...]) -> str:
    return months[0] if len(months) == 1 else f"{months[0]}–{months[-1]}"


def usage_weights(
    agreement_id: str,
    months: tuple[str, ...],
    participants: Iterable[str],
    figures: Iterable[UsageFigure],
) -> dict[str, int]:
    """The participants' use in ``months``: the weights of the usage model. A participant
    without figures used nothing. Refused (409) when the agreement has no figures for the
    period at all, or none of its participants used it: the cost cannot be divided by use."""
    figures = tuple(figures)
    every = uses_in(figures, agreement_id, months)
    period = period_name(months)
    if not any(f.agreement_id == agreement_id and f.month in months for f in figures):
        raise NoUsageFigures(
            "usage",
            f"agreement {agreement_id} has no usage figures for {period}; the usage model "
            "divides a period's cost by use, so wait for usage-reported",
        )
    weights = {isil: every.get(isil, 0) for isil in participants}
    if weights and not any(weights.values()):
        raise NoUsageFigures(
            "usage",
            f"agreement {agreement_id}: no participant used it in {period}, so its cost cannot "
            "be divided by use",
        )
    return weights
