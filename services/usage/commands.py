"""Usage commands: record a month's figures (a new revision only when they changed), run a
round of harvest jobs, ingest uploads, check invoices. Every state change records its event
in the same transaction."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from pydantic import ValidationError

from contracts.usage import InvoiceDiscrepancyFound, UsageHarvestFailed, UsageReported
from kit import rules as kit_rules
from kit.logging import get_logger
from kit.outbox import record_event
from services.usage import domain, store, xlsx
from services.usage.sushi import ProviderUnavailable, SushiRequest

log = get_logger(__name__)


class NotFound(kit_rules.NotFound, LookupError):
    def __init__(self, what: str, field: str) -> None:
        super().__init__(what, field=field)


async def record_staged(
    conn: asyncpg.Connection,
    agreement_id: str,
    isil: str,
    report: str,
    source: str,
    periods: Sequence[dt.date],
) -> list[int]:
    """Turn the staged facts of each month into a new revision, unless the latest revision
    has the same figures. Returns the revisions recorded."""
    recorded = []
    for period in sorted(periods):
        month = await store.staged_month(conn, period)
        latest = await store.latest_revision(conn, agreement_id, isil, period, report)
        if latest is not None and latest["digest"] == month["digest"]:
            continue
        revision = 1 if latest is None else latest["revision"] + 1
        totals = {k: int(v) for k, v in (month["totals"] or {}).items()}
        await store.insert_revision(
            conn,
            (agreement_id, isil, period, report),
            revision,
            source,
            month["digest"],
            totals,
        )
        await record_event(
            conn,
            UsageReported(
                agreement_id=agreement_id,
                isil=isil,
                period=domain.month_text(period),
                report=report,
                source=source,
                revision=revision,
                totals=totals,
                titles=month["titles"],
            ),
        )
        recorded.append(revision)
    return recorded


# --- harvest ----------------------------------------------------------------------------


class Fetch(Protocol):
    async def __call__(self, req: SushiRequest) -> Any: ...


@dataclass(frozen=True)
class HarvestPolicy:
    batch: int = 20
    lease_s: float = 120.0
    max_attempts: int = 5
    retry_base_s: float = 30.0
    secrets_dir: Path = field(default_factory=lambda: Path("secrets"))


def resolve_secret(ref: str | None, secrets_dir: Path) -> str | None:
    """``env:NAME`` or ``file:NAME`` (under the secrets directory)."""
    if not ref:
        return None
    kind, _, name = ref.partition(":")
    if kind == "env":
        return os.environ.get(name)
    if kind == "file":
        path = (secrets_dir / name).resolve()
        if secrets_dir.resolve() not in path.parents:
            return None
        return path.read_text().strip() if path.is_file() else None
    return None


async def harvest_round(pool: asyncpg.Pool, fetch: Fetch, policy: HarvestPolicy) -> int:
    """Claim due jobs and run them; returns how many were claimed."""
    async with pool.acquire() as conn, conn.transaction():
        claimed = await store.claim_jobs(conn, policy.batch, policy.lease_s)
    for job in claimed:
        try:
            await _run_job(pool, fetch, policy, job)
        except Exception as error:  # a bug or a database hiccup: counted like an outage
            log.warning("usage harvest job broke", job=job["id"], error=type(error).__name__)
            await _later_or_fail(pool, policy, job, f"internal error: {type(error).__name__}", None)
    return len(claimed)


async def _run_job(
    pool: asyncpg.Pool, fetch: Fetch, policy: HarvestPolicy, job: asyncpg.Record
) -> None:
    async with pool.acquire() as conn:
        provider = await store.get_provider(conn, job["agreement_id"])
    if provider is None or job["isil"] not in provider["customers"]:
        await _fail(pool, job, "no SUSHI provider or customer id for this library", None)
        return
    req = SushiRequest(
        base_url=provider["base_url"],
        report=job["report"],
        customer_id=provider["customers"][job["isil"]],
        requestor_id=provider["requestor_id"],
        api_key=resolve_secret(provider["api_key_ref"], policy.secrets_dir),
        platform=provider["platform"],
        month=job["period"],
    )
    try:
        body = await fetch(req)
    except ProviderUnavailable as error:
        await _later_or_fail(pool, policy, job, f"provider unavailable: {error}", None)
        return
    exceptions = domain.exceptions_in(body)
    report: domain.CounterReport | None = None
    if isinstance(body, dict) and "Report_Header" in body:
        try:
            report = domain.CounterReport.model_validate(body)
        except ValidationError as error:
            await _fail(pool, job, f"not a COUNTER report: {error.errors()[0]['msg']}", None)
            return
    outcome, code = domain.classify(exceptions, bool(report and report.items))
    if outcome is domain.Outcome.RETRY:
        await _later_or_fail(pool, policy, job, f"SUSHI exception {code}", code)
        return
    if outcome is domain.Outcome.FAIL:
        await _fail(pool, job, f"SUSHI exception {code}", code)
        return
    if outcome is domain.Outcome.REPORT and report is None:
        await _fail(pool, job, "the answer is neither a report nor an exception", None)
        return
    try:
        facts = [] if report is None else domain.facts_of(report)
    except domain.UsageRuleViolated as error:
        await _fail(pool, job, f"not a COUNTER report: {error}", None)
        return
    facts = [f for f in facts if f.period == job["period"]]
    async with pool.acquire() as conn, conn.transaction():
        await store.create_staging(conn)
        await store.stage(conn, facts)
        await record_staged(
            conn, job["agreement_id"], job["isil"], job["report"], "sushi", [job["period"]]
        )
        await store.job_done(conn, job["id"], code)


async def _later_or_fail(
    pool: asyncpg.Pool, policy: HarvestPolicy, job: asyncpg.Record, reason: str, code: int | None
) -> None:
    if job["attempts"] >= policy.max_attempts:
        await _fail(pool, job, f"{reason} after {job['attempts']} attempts", code)
        return
    delay = policy.retry_base_s * 2 ** (job["attempts"] - 1)
    async with pool.acquire() as conn:
        await store.job_later(conn, job["id"], delay, reason, code)


async def _fail(pool: asyncpg.Pool, job: asyncpg.Record, reason: str, code: int | None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.job_failed(conn, job["id"], reason, code)
        await record_event(
            conn,
            UsageHarvestFailed(
                agreement_id=job["agreement_id"],
                isil=job["isil"],
                period=domain.month_text(job["period"]),
                report=job["report"],
                job_id=job["id"],
                attempts=max(job["attempts"], 1),
                reason=reason,
                sushi_code=code,
            ),
        )
    log.warning("usage harvest failed", job=job["id"], reason=reason)


# --- uploads ----------------------------------------------------------------------------


@dataclass
class UploadReport:
    rows: int = 0
    facts: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    revisions: dict[str, int] = field(default_factory=dict)

    MAX_LISTED = 1000

    def error(self, row: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < self.MAX_LISTED:
            self.errors.append({"row": row, "column": column, "message": message})


class UploadRejected(Exception):
    def __init__(self, report: UploadReport) -> None:
        super().__init__(f"{report.error_count} rows are broken")
        self.report = report


Rows = Iterator[tuple[int, list[str]]]
# A body row, or the finding that makes it unreadable (a formula with no cached value).
Body = Iterator[tuple[int, list[str] | domain.RowError]]


def _csv(lines: Iterator[str], delimiter: str) -> Rows:
    reader = csv.reader(lines, delimiter=delimiter)
    return ((reader.line_num, r) for r in reader)


def _body(rows: Rows, headings: Sequence[str]) -> Body:
    """The non-blank rows after the headings; a row holding a formula with no cached value
    (only a workbook has those) becomes a finding naming its column."""
    for number, row in rows:
        # By position: an Uncached cell equals every other empty cell.
        i = next((i for i, c in enumerate(row) if isinstance(c, xlsx.Uncached)), None)
        if i is not None:
            uncached = row[i]
            assert isinstance(uncached, xlsx.Uncached)
            column = headings[i].strip() if i < len(headings) and headings[i].strip() else ""
            yield (
                number,
                domain.RowError(
                    column or uncached.letter,
                    f"cell {uncached.letter}{number} holds the formula {uncached.formula[:80]!r} "
                    "with no computed value; save the workbook in a spreadsheet program or "
                    "paste values",
                ),
            )
        elif any(c.strip() for c in row):
            yield number, row


def counter_table(rows: Rows) -> tuple[domain.TabularLayout, Body]:
    """Skip a COUNTER tabular report's header block (up to the row of column headings, which
    starts ``Title`` or ``Platform``) and read its body."""
    for _, row in rows:
        if row and row[0].strip().lstrip("\ufeff") in ("Title", "Platform"):
            layout = domain.TabularLayout.of(row)
            return layout, _body(rows, row)
    raise domain.RowError("Title", "no row of column headings (Title, ..., Metric_Type, ...)")


def counter_rows(lines: Iterator[str], delimiter: str) -> tuple[domain.TabularLayout, Body]:
    return counter_table(_csv(lines, delimiter))


def supplier_table(
    rows: Rows, mapping: domain.SupplierMapping
) -> tuple[domain.SupplierLayout, Body]:
    first = next(rows, None)
    if first is None:
        raise domain.RowError("file", "the file is empty")
    headings = list(first[1])
    if headings:
        headings[0] = headings[0].lstrip("\ufeff")
    layout = domain.SupplierLayout.of(mapping, headings)
    return layout, _body(rows, headings)


def supplier_rows(
    lines: Iterator[str], mapping: domain.SupplierMapping
) -> tuple[domain.SupplierLayout, Body]:
    return supplier_table(_csv(lines, mapping.delimiter), mapping)


async def ingest(
    pool: asyncpg.Pool,
    *,
    agreement_id: str,
    isil: str,
    report_id: str,
    source: str,
    layout: domain.TabularLayout | domain.SupplierLayout,
    rows: Body,
    batch: int = 5000,
) -> UploadReport:
    """Stream rows into a staging table in one transaction; any broken row rolls the whole
    upload back and is reported by its row number."""
    result = UploadReport()

    def chunk() -> tuple[list[tuple[Any, ...]], bool]:
        """Read and check up to ``batch`` rows; (records, whether the file is at its end)."""
        out: list[tuple[Any, ...]] = []
        for _ in range(batch):
            item = next(rows, None)
            if item is None:
                return out, True
            line, row = item
            result.rows += 1
            if isinstance(row, domain.RowError):
                result.error(line, row.column, str(row))
                continue
            try:
                facts = layout.facts(row)
            except (domain.RowError, domain.UsageRuleViolated) as error:
                column = getattr(error, "column", getattr(error, "field", ""))
                result.error(line, column, str(error))
                continue
            result.facts += len(facts)
            out.extend(
                (f.period, f.title_id, f.title, f.material_type, f.metric, f.count) for f in facts
            )
        return out, False

    async def records() -> AsyncIterator[tuple[Any, ...]]:
        # Reading and parsing happen in a worker thread, a chunk at a time, so a large upload
        # never holds the event loop (or more than a chunk in memory).
        while True:
            out, ended = await asyncio.to_thread(chunk)
            for record in out:
                yield record
            if ended:
                return

    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await store.create_staging(conn)
            await store.stage(conn, records())
            if result.error_count:
                raise UploadRejected(result)
            periods = await store.staged_periods(conn)
            revisions = await record_staged(conn, agreement_id, isil, report_id, source, periods)
            del revisions
            for period in sorted(periods):
                latest = await store.latest_revision(conn, agreement_id, isil, period, report_id)
                assert latest is not None
                result.revisions[domain.month_text(period)] = latest["revision"]
        except BaseException:
            await transaction.rollback()
            raise
        await transaction.commit()
    return result


# --- invoices ---------------------------------------------------------------------------


async def check_invoice(
    pool: asyncpg.Pool,
    *,
    agreement_id: str,
    isil: str | None,
    first: dt.date,
    last: dt.date,
    invoiced_cents: int,
    tolerance_cents: int,
    price_per_loan_cents: int | None,
) -> tuple[int, domain.InvoiceCheck]:
    async with pool.acquire() as conn, conn.transaction():
        provider = await store.get_provider(conn, agreement_id)
        price = price_per_loan_cents
        if price is None and provider is not None:
            price = provider["price_per_loan_cents"]
        if price is None:
            raise domain.UsageRuleViolated(
                "no contract price per loan: give price_per_loan_cents or set it on the provider",
                "price_per_loan_cents",
            )
        by_library = await store.uses(conn, agreement_id, first, last, "loans")
        loans = by_library.get(isil, 0) if isil else sum(by_library.values())
        check = domain.check_invoice(loans, price, invoiced_cents, tolerance_cents)
        check_id = await store.insert_invoice_check(
            conn,
            (
                agreement_id,
                isil,
                first,
                last,
                loans,
                price,
                check.expected_cents,
                invoiced_cents,
                tolerance_cents,
                check.discrepancy,
            ),
        )
        if check.discrepancy:
            await record_event(
                conn,
                InvoiceDiscrepancyFound(
                    agreement_id=agreement_id,
                    isil=isil,
                    period_from=domain.month_text(first),
                    period_to=domain.month_text(last),
                    loans=loans,
                    price_per_loan_cents=price,
                    expected_cents=check.expected_cents,
                    invoiced_cents=invoiced_cents,
                    difference_cents=check.difference_cents,
                    tolerance_cents=tolerance_cents,
                ),
            )
    return check_id, check
