"""Billing periods: an agreement's cost for a stretch of days, divided among the libraries
that took part in it, pro-rated by the days each took part, and the invoice lines that
municipalities pay.

- **Period cost.** The agreement's annual cost × the period's days / the days of the year
  that starts on the period's first day (365 or 366), rounded half up to the cent.
  Under per-resident the period's cost is what the rate charges instead: rate × residents ×
  days taken part / days of that year, summed, rounded half up to the cent.
- **Pro-rating.** A participant's weight (population, band points, or 1 for equal) is
  multiplied by its days in the period: a library that took part on 31 of 365 days is
  charged 31/365 of what a full-period participant of the same weight is. Under
  base-plus-per-capita the base fee is pro-rated the same way and what is left is divided by
  population × days.
- **Exact cents.** The exact quotas are rounded by the largest-remainder method (ties by
  ISIL), so the shares add up to the period's cost to the cent.
- **Usage.** Under the usage model the period's cost is divided by each participant's use
  in the period's months (:mod:`.usage`), not by days: use already says how long and how
  much a library took part. A library that took part without using the agreement pays
  nothing.
- **Cost model and price model.** Per-loan pricing is paid by the loans each library makes;
  only the usage model can split it; the others are refused (409) naming the models.
- **Invoice lines** go to the paying organisation (the municipality or joint authority,
  with its business ID and e-invoice address) when membership's events carry it, else to
  the library itself. Their CSV neutralises spreadsheet formulas in every cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from ._checks import require_date, require_int, require_text
from .cost_shares import (
    CostShareModel,
    CostSharePolicy,
    largest_remainder,
    neutralise,
    rate_quotas,
    round_half_up,
    round_quotas,
)
from .errors import InvalidValue, NotPermitted
from .members import Member
from .participation import Participation

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    start: date
    #: Last day billed (inclusive).
    end: date

    def __post_init__(self) -> None:
        require_date("start", self.start)
        require_date("end", self.end)
        if self.end < self.start:
            raise InvalidValue("end", "must not be before the start")
        if self.days > 366:
            raise InvalidValue("end", "a billing period is at most a year")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def year_days(self) -> int:
        """Days of the year that starts on the period's first day."""
        start = self.start
        try:
            next_year = start.replace(year=start.year + 1)
        except ValueError:  # 29 February
            next_year = date(start.year + 1, 3, 1)
        return (next_year - start).days

    def cost_cents(self, annual_cost_cents: int) -> int:
        require_int("annual_cost_cents", annual_cost_cents, minimum=0)
        return round_half_up(
            Fraction(annual_cost_cents * min(self.days, self.year_days()), self.year_days())
        )


def days_in(participations: Iterable[Participation], isil: str, period: BillingPeriod) -> int:
    """Days in ``period`` on which ``isil`` took part (several participations add up)."""
    total = 0
    for p in participations:
        if p.isil != isil:
            continue
        first = max(p.joined_on, period.start)
        last = period.end if p.left_on is None else min(period.end, p.left_on - ONE_DAY)
        if last >= first:
            total += (last - first).days + 1
    return total


@dataclass(frozen=True, slots=True)
class Payer:
    """Who pays a library's share: its organisation when known, else the library."""

    id: str
    name: str
    business_id: str | None = None
    e_invoice_address: str | None = None


@dataclass(frozen=True, slots=True)
class PeriodShare:
    isil: str
    name: str
    population: int
    days: int
    share_cents: int


def _participation_days(
    period: BillingPeriod, participations: Iterable[Participation]
) -> dict[str, int]:
    participations = tuple(participations)
    return {
        isil: d
        for isil in sorted({p.isil for p in participations})
        if (d := days_in(participations, isil, period)) > 0
    }


def _resident_quotas(
    period: BillingPeriod,
    days: Mapping[str, int],
    members: Mapping[str, Member],
    policy: CostSharePolicy,
) -> dict[str, Fraction]:
    year = period.year_days()
    return rate_quotas(
        policy,
        {isil: Fraction(members[isil].population * min(d, year), year) for isil, d in days.items()},
    )


def period_cost_cents(
    period: BillingPeriod,
    annual_cost_cents: int,
    participations: Iterable[Participation],
    members: Mapping[str, Member],
    policy: CostSharePolicy,
) -> int:
    """The period's cost: the annual cost pro-rated to the period's days, or under
    per-resident what the rate charges the participants for their days."""
    if policy.model is not CostShareModel.PER_RESIDENT:
        return period.cost_cents(annual_cost_cents)
    days = _participation_days(period, participations)
    missing = sorted(set(days) - set(members))
    if missing:
        raise InvalidValue("members", f"no member record for participant {missing[0]}")
    quotas = _resident_quotas(period, days, members, policy)
    return round_half_up(sum(quotas.values(), Fraction(0)))


def prorated_shares(
    period: BillingPeriod,
    period_cost_cents: int,
    participations: Iterable[Participation],
    members: Mapping[str, Member],
    policy: CostSharePolicy,
    uses: Mapping[str, int] | None = None,
) -> tuple[PeriodShare, ...]:
    """Each participant's share of the period's cost, by ISIL. Shares sum to the cost
    exactly; with nobody taking part the table is empty. ``uses``: each participant's use in
    the period, which the usage model divides by (required for it)."""
    require_int("period_cost_cents", period_cost_cents, minimum=0)
    days = _participation_days(period, participations)
    if not days:
        return ()
    for isil in days:
        if isil not in members:
            raise InvalidValue("members", f"no member record for participant {isil}")
    span = period.days
    if policy.model is CostShareModel.PER_RESIDENT:
        quotas = _resident_quotas(period, days, members, policy)
        charged = round_quotas(period_cost_cents, quotas)
        return tuple(
            PeriodShare(isil, members[isil].name, members[isil].population, d, charged[isil])
            for isil, d in days.items()
        )
    if policy.model is CostShareModel.USAGE:
        if uses is None:
            raise InvalidValue("usage", "the usage model needs each participant's use")
        used = {isil: uses.get(isil, 0) for isil in days}
        if not any(used.values()):
            raise NotPermitted("usage", "no participant used the agreement in the period")
        by_use = largest_remainder(period_cost_cents, used)
        return tuple(
            PeriodShare(isil, members[isil].name, members[isil].population, d, by_use[isil])
            for isil, d in days.items()
        )
    base: dict[str, Fraction] = dict.fromkeys(days, Fraction(0))
    weights = {isil: policy.weight(members[isil].population) * d for isil, d in days.items()}
    if policy.model is CostShareModel.BASE_PLUS_PER_CAPITA:
        base = {isil: Fraction(policy.base_fee_cents * d, span) for isil, d in days.items()}
        if sum(base.values()) > period_cost_cents:
            raise InvalidValue(
                "cost_share.base_fee_cents",
                f"the pro-rated base fees exceed the period's cost {period_cost_cents}",
            )
    if sum(weights.values()) == 0:
        weights = dict(days)
    rest = period_cost_cents - sum(base.values())
    whole = sum(weights.values())
    quotas = {isil: base[isil] + rest * Fraction(w, whole) for isil, w in weights.items()}
    cents = round_quotas(period_cost_cents, quotas)
    return tuple(
        PeriodShare(isil, members[isil].name, members[isil].population, d, cents[isil])
        for isil, d in days.items()
    )


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    payer: Payer
    isil: str
    description: str
    days: int
    amount_cents: int


def invoice_lines(
    agreement_title: str,
    period: BillingPeriod,
    shares: Iterable[PeriodShare],
    payers: Mapping[str, Payer],
) -> tuple[InvoiceLine, ...]:
    """One line per participating library, addressed to its payer, ordered by payer then
    ISIL so that one organisation's lines stay together."""
    require_text("agreement_title", agreement_title, max_length=500)
    lines = [
        InvoiceLine(
            payer=payers.get(s.isil) or Payer(s.isil, s.name),
            isil=s.isil,
            description=(
                f"{agreement_title}, {period.start.isoformat()}–{period.end.isoformat()}, "
                f"{s.days}/{period.days} days"
            ),
            days=s.days,
            amount_cents=s.share_cents,
        )
        for s in shares
    ]
    return tuple(sorted(lines, key=lambda line: (line.payer.id, line.isil)))


INVOICE_CSV_HEADER = (
    "payer_id",
    "payer_name",
    "business_id",
    "e_invoice_address",
    "isil",
    "description",
    "days",
    "amount_cents",
    "amount_eur",
)


def render_invoice_csv(lines: Iterable[InvoiceLine]) -> str:
    """RFC 4180 CSV (CRLF), header first, every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(INVOICE_CSV_HEADER)
    for line in lines:
        row = (
            line.payer.id,
            line.payer.name,
            line.payer.business_id,
            line.payer.e_invoice_address,
            line.isil,
            line.description,
            line.days,
            line.amount_cents,
            f"{line.amount_cents // 100}.{line.amount_cents % 100:02d}",
        )
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()
