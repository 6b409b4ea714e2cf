"""Usage on the dashboard: the read model of the usage service's events and the figures and
charts built from it.

- ``usage-reported`` gives a library's figures for one agreement, month and report; the row
  with the highest ``revision`` per (agreement, library, month, report) counts.
- A report's *uses* is its ``Unique_Title_Requests`` (COUNTER's measure for cost per use, and
  the usage service's default), else a supplier's ``loans``, else ``Total_Item_Requests``.
- A library's uses in a month is the largest of its reports' uses, never their sum: TR, TR_B1
  and PR count the same requests at different levels, so adding them would count a request two
  or three times.
- Cost per use is computed here, from what the dashboard already knows: an agreement's annual
  cost (``agreement-signed``) divided by all participants' uses in that calendar year. No event
  carries the usage service's own per-library figure (which needs the cost-share model), so
  the dashboard shows the consortium-wide figure per agreement and year.
- ``usage-harvest-failed`` and ``invoice-discrepancy-found`` are counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeAlias

import asyncpg

from services.dashboard import charts
from services.dashboard.domain import get, integer, text

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
USE_METRICS = ("Unique_Title_Requests", "loans", "Total_Item_Requests")
# Months drawn per agreement: the latest twelve with any report.
CHART_MONTHS = 12


def uses_of(totals: Any) -> int:
    """The report's uses: the first of USE_METRICS it has (see the module's docstring)."""
    if not isinstance(totals, Mapping):
        return 0
    for metric in USE_METRICS:
        if metric in totals:
            return max(integer(totals[metric]), 0)
    return 0


def month_of(value: Any) -> dt.date | None:
    raw = text(value, 7)
    if not raw or len(raw) != 7 or raw[4] != "-":
        return None
    try:
        return dt.date(int(raw[:4]), int(raw[5:]), 1)
    except ValueError:
        return None


@dataclass(frozen=True)
class UsageFacts:
    agreement_id: str
    isil: str
    period: dt.date
    report: str
    revision: int
    source: str | None
    uses: int
    titles: int


def usage_facts(data: Mapping[str, Any]) -> UsageFacts | None:
    """What a ``usage-reported`` payload contributes; None when its key fields are missing."""
    agreement_id, isil = text(get(data, "agreement_id"), 100), text(get(data, "isil"), 16)
    period, report = month_of(get(data, "period")), text(get(data, "report"), 20)
    if not (agreement_id and isil and period and report):
        return None
    return UsageFacts(
        agreement_id=agreement_id,
        isil=isil,
        period=period,
        report=report,
        revision=max(integer(get(data, "revision")), 1),
        source=text(get(data, "source"), 30),
        uses=uses_of(get(data, "totals")),
        titles=max(integer(get(data, "titles")), 0),
    )


# --- the read model ------------------------------------------------------------------------------


async def record_usage(conn: asyncpg.Connection, facts: UsageFacts) -> None:
    await conn.execute(
        """
        INSERT INTO usage_reports (agreement_id, isil, period, report, revision, source, uses,
                                   titles)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (agreement_id, isil, period, report) DO UPDATE SET
            revision = EXCLUDED.revision, source = EXCLUDED.source, uses = EXCLUDED.uses,
            titles = EXCLUDED.titles
        WHERE usage_reports.revision < EXCLUDED.revision
        """,
        facts.agreement_id,
        facts.isil,
        facts.period,
        facts.report,
        facts.revision,
        facts.source,
        facts.uses,
        facts.titles,
    )


async def record_issue(
    conn: asyncpg.Connection, event_id: str, kind: str, agreement_id: str | None
) -> None:
    await conn.execute(
        """
        INSERT INTO usage_issues (event_id, kind, agreement_id) VALUES ($1, $2, $3)
        ON CONFLICT (event_id) DO NOTHING
        """,
        event_id,
        kind,
        agreement_id,
    )


async def monthly_uses(conn: Conn) -> list[Mapping[str, Any]]:
    """(agreement, library, month) → uses: the largest of the month's reports."""
    rows = await conn.fetch(
        """
        SELECT agreement_id, isil, period, max(uses) AS uses
        FROM usage_reports GROUP BY agreement_id, isil, period
        ORDER BY agreement_id, period, isil
        """
    )
    return [dict(row) for row in rows]


async def issue_counts(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT kind, count(*) AS n FROM usage_issues GROUP BY kind")
    return {row["kind"]: row["n"] for row in rows}


async def agreement_costs(conn: Conn) -> dict[str, tuple[str | None, int | None]]:
    rows = await conn.fetch("SELECT agreement_id, title, annual_cost_cents FROM agreements")
    return {row["agreement_id"]: (row["title"], row["annual_cost_cents"]) for row in rows}


# --- figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryMonth:
    period: dt.date
    isil: str
    uses: int


@dataclass(frozen=True)
class YearCost:
    year: int
    uses: int
    annual_cost_cents: int | None
    cost_per_use_cents: int | None  # None: no cost known, or no use


@dataclass
class AgreementUsage:
    agreement_id: str
    title: str | None
    months: list[tuple[dt.date, int]]  # every library's uses per month, oldest first
    by_library: list[LibraryMonth]
    years: list[YearCost] = field(default_factory=list)


@dataclass
class UsageFigures:
    agreements: list[AgreementUsage]
    total_uses: int
    harvest_failures: int
    invoice_discrepancies: int


def cost_per_use_cents(annual_cost_cents: int | None, uses: int) -> int | None:
    """Whole cents, halves rounded up; None without a cost or without use."""
    if annual_cost_cents is None or uses <= 0:
        return None
    return int((Decimal(annual_cost_cents) / Decimal(uses)).quantize(Decimal(1), ROUND_HALF_UP))


def build_figures(
    rows: Sequence[Mapping[str, Any]],
    costs: Mapping[str, tuple[str | None, int | None]],
    issues: Mapping[str, int],
) -> UsageFigures:
    by_agreement: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_agreement.setdefault(row["agreement_id"], []).append(row)
    agreements = []
    for agreement_id, items in sorted(by_agreement.items()):
        title, cost = costs.get(agreement_id, (None, None))
        per_month: dict[dt.date, int] = {}
        per_year: dict[int, int] = {}
        for row in items:
            per_month[row["period"]] = per_month.get(row["period"], 0) + row["uses"]
            per_year[row["period"].year] = per_year.get(row["period"].year, 0) + row["uses"]
        agreements.append(
            AgreementUsage(
                agreement_id=agreement_id,
                title=title,
                months=sorted(per_month.items()),
                by_library=[LibraryMonth(r["period"], r["isil"], r["uses"]) for r in items],
                years=[
                    YearCost(year, uses, cost, cost_per_use_cents(cost, uses))
                    for year, uses in sorted(per_year.items())
                ],
            )
        )
    return UsageFigures(
        agreements=agreements,
        total_uses=sum(row["uses"] for row in rows),
        harvest_failures=issues.get("harvest-failed", 0),
        invoice_discrepancies=issues.get("invoice-discrepancy", 0),
    )


async def usage_figures(conn: Conn) -> UsageFigures:
    return build_figures(
        await monthly_uses(conn), await agreement_costs(conn), await issue_counts(conn)
    )


def month_label(month: dt.date) -> str:
    """Months as COUNTER writes them (2026-03): the same in every language."""
    return f"{month.year:04d}-{month.month:02d}"


def chart_of(item: AgreementUsage) -> charts.BarChart | None:
    return charts.bar_chart([(month_label(m), uses) for m, uses in item.months[-CHART_MONTHS:]])
