"""Usage rules, no I/O: the COUNTER 5.1 (and 5.0) JSON report models, what a SUSHI exception
means for a harvest, the rows of uploaded reports, cost shares, cost per use and the per-loan
invoice check.

Why not ``pycounter``: it is the one kept Python COUNTER library on PyPI, but it reads
COUNTER 4 tabular reports and COUNTER 5.0 SUSHI ``Performance`` lists only; COUNTER 5.1's
reshaped JSON (``Attribute_Performance`` with metric → month → count), its exceptions as
top-level objects and the 5.1 tabular layout are not supported, and it is synchronous
(``requests``). The SUSHI protocol itself is four GET endpoints, so the client is a thin
httpx wrapper (``sushi.py``) and the reports are parsed with the pydantic models below.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from kit.rules import RuleViolated

COUNTER_METRICS = frozenset(
    {
        "Total_Item_Investigations",
        "Unique_Item_Investigations",
        "Unique_Title_Investigations",
        "Total_Item_Requests",
        "Unique_Item_Requests",
        "Unique_Title_Requests",
        "No_License",
        "Limit_Exceeded",
        "Searches_Platform",
        "Searches_Regular",
        "Searches_Automated",
        "Searches_Federated",
    }
)
SUPPLIER_METRICS = frozenset({"loans", "minutes_listened"})
REPORTS = ("TR", "TR_B1", "PR")
MONTH = re.compile(r"^((?:19|20|21)\d\d)-(0[1-9]|1[0-2])$")


KIMPPA = "kimppa:"
# Who usage is held by: a library (its ISIL) or a kimppa ("kimppa:<id>"), when a provider's
# customer id is the kimppa's.
HOLDER_PATTERN = r"^([A-Za-z]{2}-[A-Za-z0-9:/-]+|kimppa:[A-Za-z0-9_.-]+)$"


def kimppa_holder(kimppa_id: str) -> str:
    return KIMPPA + kimppa_id


class UsageRuleViolated(RuleViolated, ValueError):
    """A value that breaks a usage rule (422); ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


# --- months -----------------------------------------------------------------------------


def parse_month(value: str, field: str = "period") -> dt.date:
    match = MONTH.match(value.strip())
    if not match:
        raise UsageRuleViolated(f"{value!r} is not a month written YYYY-MM", field)
    return dt.date(int(match[1]), int(match[2]), 1)


def month_text(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months(first: dt.date, last: dt.date) -> list[dt.date]:
    if last < first:
        raise UsageRuleViolated("the end month is before the begin month", "end")
    out, day = [], first.replace(day=1)
    while day <= last:
        out.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


# --- COUNTER JSON -----------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SushiException(_Loose):
    code: int = Field(alias="Code")
    message: str = Field("", alias="Message")
    data: str | None = Field(None, alias="Data")


class ReportHeader(_Loose):
    release: str = Field(alias="Release")
    report_id: str = Field(alias="Report_ID")
    institution_name: str = Field("", alias="Institution_Name")
    exceptions: list[SushiException] = Field(default_factory=list, alias="Exceptions")


class Performance51(_Loose):
    data_type: str = Field("Unspecified", alias="Data_Type")
    performance: dict[str, dict[str, NonNegativeInt]] = Field(
        default_factory=dict, alias="Performance"
    )


class Period50(_Loose):
    begin_date: str = Field(alias="Begin_Date")


class Instance50(_Loose):
    metric_type: str = Field(alias="Metric_Type")
    count: int = Field(alias="Count", ge=0)


class Performance50(_Loose):
    period: Period50 = Field(alias="Period")
    instance: list[Instance50] = Field(alias="Instance")


class ReportItem(_Loose):
    title: str = Field("", alias="Title")
    platform: str = Field("", alias="Platform")
    item_id: dict[str, Any] = Field(default_factory=dict, alias="Item_ID")
    data_type: str | None = Field(None, alias="Data_Type")  # 5.0 puts it on the item
    attribute_performance: list[Performance51] = Field(
        default_factory=list, alias="Attribute_Performance"
    )
    performance: list[Performance50] = Field(default_factory=list, alias="Performance")


class CounterReport(_Loose):
    header: ReportHeader = Field(alias="Report_Header")
    items: list[ReportItem] = Field(default_factory=list, alias="Report_Items")


@dataclass(frozen=True, slots=True)
class Fact:
    period: dt.date
    title_id: str
    title: str
    material_type: str
    metric: str
    count: int


def title_identity(item_id: Mapping[str, Any], title: str) -> str:
    for key in ("ISBN", "Online_ISSN", "Print_ISSN", "DOI", "Proprietary"):
        value = item_id.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return str(value).strip()
    return title.strip()


def facts_of(report: CounterReport) -> list[Fact]:
    """Every (month, title, metric) count of a COUNTER report, summed over the attribute
    splits (YOP, access type) a title report may carry."""
    sums: dict[tuple[dt.date, str, str], int] = {}
    names: dict[str, tuple[str, str]] = {}
    for item in report.items:
        tid = title_identity(item.item_id, item.title) or item.platform or "(platform)"
        for ap in item.attribute_performance:
            names.setdefault(tid, (item.title or item.platform, ap.data_type))
            for metric, by_month in ap.performance.items():
                for month, count in by_month.items():
                    key = (parse_month(month, "Performance"), tid, metric)
                    sums[key] = sums.get(key, 0) + count
        for perf in item.performance:
            names.setdefault(tid, (item.title or item.platform, item.data_type or "Unspecified"))
            day = parse_month(perf.period.begin_date[:7], "Begin_Date")
            for instance in perf.instance:
                key = (day, tid, instance.metric_type)
                sums[key] = sums.get(key, 0) + instance.count
    return [
        Fact(period, tid, names[tid][0], names[tid][1], metric, count)
        for (period, tid, metric), count in sorted(sums.items())
    ]


class Outcome(StrEnum):
    REPORT = "report"
    NO_USAGE = "no-usage"  # 3030: a valid, empty month
    RETRY = "retry"  # queued, not ready, busy: ask again later
    FAIL = "fail"  # credentials, bad request: asking again will not help


# The Code of Practice (5.1, appendix F): 1011 "Report Queued for Processing" and 3031 "Usage
# Not Ready for Requested Dates" ask the client to come back later, as do 1000/1010/1020
# (service unavailable, busy, too many requests); 3030 "No Usage Available for Requested
# Dates" is a complete answer of zero use. 3040 "Partial Data Returned" still carries data.
RETRY_CODES = frozenset({1000, 1010, 1011, 1020, 3031})
NO_USAGE_CODES = frozenset({3030})


def classify(exceptions: Sequence[SushiException], has_items: bool) -> tuple[Outcome, int | None]:
    for exc in exceptions:
        if exc.code in RETRY_CODES:
            return Outcome.RETRY, exc.code
    for exc in exceptions:
        if exc.code in NO_USAGE_CODES and not has_items:
            return Outcome.NO_USAGE, exc.code
    for exc in exceptions:
        if 1000 <= exc.code < 3000 or exc.code in (3020,):
            return Outcome.FAIL, exc.code
    return Outcome.REPORT, None


def exceptions_in(body: Any) -> list[SushiException]:
    """SUSHI servers answer an exception as a bare object, a list of them, or inside the
    report header; all three are read."""
    if isinstance(body, dict) and "Code" in body:
        return [SushiException.model_validate(body)]
    if isinstance(body, list):
        return [SushiException.model_validate(e) for e in body if isinstance(e, dict)]
    if isinstance(body, dict) and isinstance(body.get("Report_Header"), dict):
        raw = body["Report_Header"].get("Exceptions") or []
        return [SushiException.model_validate(e) for e in raw if isinstance(e, dict)]
    return []


def totals(facts: Iterable[Fact]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in facts:
        out[f.metric] = out.get(f.metric, 0) + f.count
    return dict(sorted(out.items()))


# --- uploads ----------------------------------------------------------------------------


class RowError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


TABULAR_MONTH = re.compile(r"^([A-Z][a-z]{2})-((?:19|20|21)\d\d)$")
MONTH_ABBR = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def tabular_month(column: str) -> dt.date | None:
    """A month column of a COUNTER tabular report: ``Jan-2025`` (5.0 and 5.1) or
    ``2025-01``."""
    match = TABULAR_MONTH.match(column.strip())
    if match and match[1] in MONTH_ABBR:
        return dt.date(int(match[2]), MONTH_ABBR[match[1]], 1)
    if MONTH.match(column.strip()):
        return parse_month(column)
    return None


@dataclass(frozen=True, slots=True)
class TabularLayout:
    """Where things are in a COUNTER tabular report's body, read from its column headings."""

    title: int
    identity: tuple[int, ...]
    data_type: int | None
    metric: int
    months: tuple[tuple[int, dt.date], ...]

    @classmethod
    def of(cls, headings: Sequence[str]) -> TabularLayout:
        index = {h.strip(): i for i, h in enumerate(headings)}
        if "Metric_Type" not in index:
            raise RowError("Metric_Type", "the column headings have no Metric_Type")
        month_cols = tuple(
            (i, m) for i, h in enumerate(headings) if (m := tabular_month(h)) is not None
        )
        if not month_cols:
            serials = [h for h in headings if excel_serial(h.strip())]
            hint = (
                f"; {serials[0]!r} is an Excel date serial number: format the heading cells as "
                "dates or as text"
                if serials
                else ""
            )
            raise RowError(
                "Reporting_Period", f"the column headings name no month (Jan-2025){hint}"
            )
        ids = tuple(
            index[k]
            for k in ("ISBN", "Online_ISSN", "Print_ISSN", "DOI", "Proprietary_ID")
            if k in index
        )
        title = index.get("Title", index.get("Platform"))
        if title is None:
            raise RowError("Title", "the column headings have neither Title nor Platform")
        return cls(title, ids, index.get("Data_Type"), index["Metric_Type"], month_cols)

    def facts(self, row: Sequence[str]) -> list[Fact]:
        def cell(i: int | None) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        metric = cell(self.metric)
        if metric not in COUNTER_METRICS:
            raise RowError("Metric_Type", f"{metric!r} is not a COUNTER 5.1 metric")
        title = cell(self.title)
        tid = next((cell(i) for i in self.identity if cell(i)), title)
        if not tid:
            raise RowError("Title", "the row has no title and no identifier")
        material = cell(self.data_type) or "Unspecified"
        out = []
        for i, month in self.months:
            raw = cell(i)
            if raw == "":
                continue
            if not raw.isdigit():
                raise RowError(month_text(month), f"{raw!r} is not a whole count")
            out.append(Fact(month, tid, title or tid, material, metric, int(raw)))
        return out


class SupplierMapping(BaseModel):
    """Which column of a supplier's loan report holds what. Column names as the supplier
    writes them (Finnish, usually: ``Nimeke``, ``Lainat``, ...)."""

    model_config = ConfigDict(extra="forbid")

    isbn: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=100)
    month: str = Field(min_length=1, max_length=100, description="YYYY-MM, MM/YYYY or M.YYYY")
    loans: str | None = Field(None, max_length=100)
    minutes_listened: str | None = Field(None, max_length=100)
    material_type: str | None = Field(None, max_length=100)
    delimiter: str = Field(";", min_length=1, max_length=1)


SUPPLIER_MONTH = re.compile(r"^(\d{1,2})[./]((?:19|20|21)\d\d)$")


def supplier_month(value: str) -> dt.date:
    value = value.strip()
    match = SUPPLIER_MONTH.match(value)
    if match and 1 <= int(match[1]) <= 12:
        return dt.date(int(match[2]), int(match[1]), 1)
    if MONTH.match(value):
        return parse_month(value)
    if excel_serial(value):
        raise RowError(
            "month",
            f"{value!r} is an Excel date serial number, not a month; format the column as a "
            "date or as text YYYY-MM",
        )
    raise RowError("month", f"{value!r} is not a month (YYYY-MM, MM/YYYY or M.YYYY)")


def excel_serial(value: str) -> bool:
    """Whether a cell's text is a day number of Excel's calendar between 1950 and 2100 (a date
    whose cell lost its date format)."""
    whole = value.split(".")[0] if value.count(".") == 1 else value
    return whole.isdigit() and 18264 <= int(whole) <= 73051


@dataclass(frozen=True, slots=True)
class SupplierLayout:
    isbn: int
    title: int
    month: int
    metrics: tuple[tuple[int, str], ...]
    material_type: int | None

    @classmethod
    def of(cls, mapping: SupplierMapping, headings: Sequence[str]) -> SupplierLayout:
        index = {h.strip(): i for i, h in enumerate(headings)}

        def col(name: str, what: str) -> int:
            if name not in index:
                raise RowError(what, f"the mapped column {name!r} is not in the file")
            return index[name]

        metrics = tuple(
            (col(name, metric), metric)
            for metric, name in (
                ("loans", mapping.loans),
                ("minutes_listened", mapping.minutes_listened),
            )
            if name
        )
        if not metrics:
            raise RowError("mapping", "the mapping names neither loans nor minutes_listened")
        material = col(mapping.material_type, "material_type") if mapping.material_type else None
        return cls(
            col(mapping.isbn, "isbn"),
            col(mapping.title, "title"),
            col(mapping.month, "month"),
            metrics,
            material,
        )

    def facts(self, row: Sequence[str]) -> list[Fact]:
        def cell(i: int) -> str:
            return row[i].strip() if i < len(row) else ""

        isbn = cell(self.isbn).replace("-", "")
        if not isbn:
            raise RowError("isbn", "empty")
        month = supplier_month(cell(self.month))
        material = cell(self.material_type) if self.material_type is not None else ""
        out = []
        for i, metric in self.metrics:
            raw = cell(i).replace(" ", "")
            if raw == "":
                continue
            if not raw.isdigit():
                raise RowError(metric, f"{raw!r} is not a whole count")
            out.append(
                Fact(
                    month,
                    isbn,
                    cell(self.title) or isbn,
                    material or "Unspecified",
                    metric,
                    int(raw),
                )
            )
        return out


# --- cost -------------------------------------------------------------------------------


def largest_remainder(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Procurement's rule for cost shares, repeated here because services share no code:
    floors of the exact quotas, leftover cents to the largest remainders, ties by ISIL;
    all-zero weights split equally."""
    if not weights:
        return {}
    if sum(weights.values()) == 0:
        weights = dict.fromkeys(weights, 1)
    whole = sum(weights.values())
    floors: dict[str, int] = {}
    remainders: dict[str, int] = {}
    for key, weight in weights.items():
        floors[key], remainders[key] = divmod(total * weight, whole)
    leftover = total - sum(floors.values())
    for key in sorted(weights, key=lambda k: (-remainders[k], k))[:leftover]:
        floors[key] += 1
    return floors


def cost_shares(
    total_cents: int, model: str, base_fee_cents: int, populations: Mapping[str, int]
) -> dict[str, int]:
    """The agreement's annual cost per participant, as procurement's cost-share table."""
    if not populations:
        return {}
    if model == "equal":
        return largest_remainder(total_cents, dict.fromkeys(populations, 1))
    base = base_fee_cents if model == "base-plus-per-capita" else 0
    if base * len(populations) > total_cents:
        raise UsageRuleViolated("base fees exceed the annual cost", "base_fee_cents")
    split = largest_remainder(total_cents - base * len(populations), populations)
    return {isil: base + cents for isil, cents in split.items()}


def cost_per_use_cents(share_cents: int, uses: int) -> Decimal | None:
    """Cost per use to the cent, halves rounded up; none when there was no use."""
    if uses <= 0:
        return None
    return (Decimal(share_cents) / Decimal(uses)).quantize(Decimal("1"), ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class InvoiceCheck:
    loans: int
    price_per_loan_cents: int
    expected_cents: int
    invoiced_cents: int
    tolerance_cents: int

    @property
    def difference_cents(self) -> int:
        return self.invoiced_cents - self.expected_cents

    @property
    def discrepancy(self) -> bool:
        return abs(self.difference_cents) > self.tolerance_cents


def check_invoice(
    loans: int, price_per_loan_cents: int, invoiced_cents: int, tolerance_cents: int
) -> InvoiceCheck:
    return InvoiceCheck(
        loans, price_per_loan_cents, loans * price_per_loan_cents, invoiced_cents, tolerance_cents
    )


# --- CSV out ----------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's
    CSV injection advice); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterable[str]:
    class _Line:
        def __init__(self) -> None:
            self.text = ""

        def write(self, s: str) -> None:
            self.text = s

    line = _Line()
    writer = csv.writer(line, lineterminator="\r\n")
    writer.writerow(header)
    yield line.text
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
        yield line.text
