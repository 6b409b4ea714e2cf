"""Usage SQL: copies of agreements, participations and libraries; providers; harvest jobs;
usage revisions and facts; invoice checks. Parameters only."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Any

import asyncpg

from services.usage.domain import Fact

# --- copies from events -----------------------------------------------------------------


async def upsert_agreement(
    conn: asyncpg.Connection,
    agreement_id: str,
    title: str,
    annual_cost_cents: int,
    model: str,
    base_fee_cents: int,
    price_model: str | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO agreements (agreement_id, title, annual_cost_cents, cost_share_model,
                                base_fee_cents, price_model)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (agreement_id) DO UPDATE
           SET title = EXCLUDED.title, annual_cost_cents = EXCLUDED.annual_cost_cents,
               cost_share_model = EXCLUDED.cost_share_model,
               base_fee_cents = EXCLUDED.base_fee_cents, price_model = EXCLUDED.price_model
        """,
        agreement_id,
        title,
        annual_cost_cents,
        model,
        base_fee_cents,
        price_model,
    )


async def get_agreement(conn: asyncpg.Connection, agreement_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM agreements WHERE agreement_id = $1", agreement_id)


async def join(conn: asyncpg.Connection, agreement_id: str, isil: str, on: dt.date) -> None:
    await conn.execute(
        """
        INSERT INTO participations (agreement_id, isil, joined_on) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        """,
        agreement_id,
        isil,
        on,
    )


async def leave(conn: asyncpg.Connection, agreement_id: str, isil: str, on: dt.date) -> None:
    await conn.execute(
        """
        UPDATE participations SET left_on = $3
         WHERE agreement_id = $1 AND isil = $2 AND left_on IS NULL AND joined_on < $3
        """,
        agreement_id,
        isil,
        on,
    )


async def upsert_library(conn: asyncpg.Connection, isil: str, name: str, population: int) -> None:
    await conn.execute(
        """
        INSERT INTO libraries (isil, name, population) VALUES ($1, $2, $3)
        ON CONFLICT (isil) DO UPDATE SET name = EXCLUDED.name, population = EXCLUDED.population
        """,
        isil,
        name,
        population,
    )


async def participants_on(
    conn: asyncpg.Connection, agreement_id: str, day: dt.date
) -> list[asyncpg.Record]:
    """Participants on ``day`` with their population (null when no member event came)."""
    return await conn.fetch(
        """
        SELECT DISTINCT p.isil, l.population
          FROM participations p LEFT JOIN libraries l USING (isil)
         WHERE p.agreement_id = $1 AND p.joined_on <= $2
           AND (p.left_on IS NULL OR p.left_on > $2)
         ORDER BY p.isil
        """,
        agreement_id,
        day,
    )


# --- providers and mappings --------------------------------------------------------------


async def put_provider(conn: asyncpg.Connection, agreement_id: str, p: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO providers (agreement_id, platform, release, base_url, requestor_id,
                               api_key_ref, reports, customers, price_per_loan_cents)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (agreement_id) DO UPDATE
           SET platform = EXCLUDED.platform, release = EXCLUDED.release,
               base_url = EXCLUDED.base_url, requestor_id = EXCLUDED.requestor_id,
               api_key_ref = EXCLUDED.api_key_ref, reports = EXCLUDED.reports,
               customers = EXCLUDED.customers,
               price_per_loan_cents = EXCLUDED.price_per_loan_cents, updated_at = now()
        """,
        agreement_id,
        p["platform"],
        p["release"],
        p["base_url"],
        p["requestor_id"],
        p["api_key_ref"],
        p["reports"],
        p["customers"],
        p["price_per_loan_cents"],
    )


async def get_provider(conn: asyncpg.Connection, agreement_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM providers WHERE agreement_id = $1", agreement_id)
    if row is None:
        return None
    return dict(row)


async def put_mapping(conn: asyncpg.Connection, supplier: str, mapping: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO supplier_mappings (supplier, mapping) VALUES ($1, $2)
        ON CONFLICT (supplier) DO UPDATE SET mapping = EXCLUDED.mapping
        """,
        supplier,
        mapping,
    )


async def get_mapping(conn: asyncpg.Connection, supplier: str) -> dict[str, Any] | None:
    return await conn.fetchval(
        "SELECT mapping FROM supplier_mappings WHERE supplier = $1", supplier
    )


# --- harvest jobs -----------------------------------------------------------------------


async def enqueue(
    conn: asyncpg.Connection,
    agreement_id: str,
    isils: Sequence[str],
    report: str,
    periods: Sequence[dt.date],
) -> int:
    """Queue one job per library and month; a month harvested before is queued again (a
    re-harvest), a month queued or running already is left alone."""
    rows = [(agreement_id, isil, report, period) for isil in isils for period in periods]
    result = await conn.executemany(
        """
        INSERT INTO harvest_jobs (agreement_id, isil, report, period) VALUES ($1, $2, $3, $4)
        ON CONFLICT (agreement_id, isil, report, period) DO UPDATE
           SET state = 'queued', attempts = 0, reason = NULL, sushi_code = NULL,
               not_before = now(), updated_at = now()
         WHERE harvest_jobs.state IN ('done', 'failed')
        """,
        rows,
    )
    del result
    return len(rows)


async def claim_jobs(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Claim due jobs; a job left ``running`` by a replica that died is due again when its
    lease runs out, so a restart resumes it."""
    return await conn.fetch(
        """
        UPDATE harvest_jobs j
           SET state = 'running', attempts = j.attempts + 1, updated_at = now(),
               not_before = now() + make_interval(secs => $2)
         WHERE j.id IN (SELECT id FROM harvest_jobs
                         WHERE state IN ('queued', 'running') AND not_before <= now()
                         ORDER BY not_before, id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING j.*
        """,
        limit,
        lease_s,
    )


async def job_done(conn: asyncpg.Connection, job_id: int, code: int | None) -> None:
    await conn.execute(
        """
        UPDATE harvest_jobs SET state = 'done', reason = NULL, sushi_code = $2,
                                updated_at = now()
         WHERE id = $1
        """,
        job_id,
        code,
    )


async def job_later(
    conn: asyncpg.Connection, job_id: int, delay_s: float, reason: str, code: int | None
) -> None:
    await conn.execute(
        """
        UPDATE harvest_jobs SET state = 'queued', reason = $3, sushi_code = $4,
               not_before = now() + make_interval(secs => $2), updated_at = now()
         WHERE id = $1
        """,
        job_id,
        delay_s,
        reason,
        code,
    )


async def job_failed(conn: asyncpg.Connection, job_id: int, reason: str, code: int | None) -> None:
    await conn.execute(
        """
        UPDATE harvest_jobs SET state = 'failed', reason = $2, sushi_code = $3, updated_at = now()
         WHERE id = $1
        """,
        job_id,
        reason,
        code,
    )


async def retry_failed(conn: asyncpg.Connection, agreement_id: str) -> int:
    result = await conn.execute(
        """
        UPDATE harvest_jobs SET state = 'queued', attempts = 0, not_before = now(),
                                updated_at = now()
         WHERE agreement_id = $1 AND state = 'failed'
        """,
        agreement_id,
    )
    return int(result.split()[-1])


async def jobs(
    conn: asyncpg.Connection, agreement_id: str, state: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int, dict[str, int]]:
    rows = await conn.fetch(
        """
        SELECT id, isil, report, to_char(period, 'YYYY-MM') AS period, state, attempts,
               reason, sushi_code, updated_at
          FROM harvest_jobs WHERE agreement_id = $1 AND ($2::text IS NULL OR state = $2)
         ORDER BY period, isil, report LIMIT $3 OFFSET $4
        """,
        agreement_id,
        state,
        limit,
        offset,
    )
    counts = await conn.fetch(
        "SELECT state, count(*) AS n FROM harvest_jobs WHERE agreement_id = $1 GROUP BY state",
        agreement_id,
    )
    by_state = {r["state"]: r["n"] for r in counts}
    total = by_state.get(state, 0) if state else sum(by_state.values())
    return rows, total, by_state


# --- facts ------------------------------------------------------------------------------

STAGING_COLUMNS = ("period", "title_id", "title", "material_type", "metric", "count")
# A million-row upload streams for longer than the pool's 30 s command timeout, and so do the
# statements that aggregate it; the request itself bounds how long an upload may take.
BULK_TIMEOUT_S = 3600.0


async def create_staging(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        CREATE TEMP TABLE staging (
            period date, title_id text, title text, material_type text, metric text,
            count bigint
        ) ON COMMIT DROP
        """
    )


async def stage(conn: asyncpg.Connection, facts: Iterable[Fact] | AsyncIterable[Any]) -> None:
    records = (
        ((f.period, f.title_id, f.title, f.material_type, f.metric, f.count) for f in facts)
        if isinstance(facts, Iterable)
        else facts
    )
    await conn.copy_records_to_table(
        "staging", records=records, columns=STAGING_COLUMNS, timeout=BULK_TIMEOUT_S
    )


async def staged_periods(conn: asyncpg.Connection) -> list[dt.date]:
    rows = await conn.fetch("SELECT DISTINCT period FROM staging", timeout=BULK_TIMEOUT_S)
    return [r["period"] for r in rows]


async def staged_month(conn: asyncpg.Connection, period: dt.date) -> asyncpg.Record:
    """The digest and totals of one staged month, summed per title and metric."""
    return await conn.fetchrow(
        """
        WITH agg AS (SELECT title_id, metric, sum(count) AS c FROM staging
                      WHERE period = $1 GROUP BY title_id, metric)
        SELECT encode(sha256(convert_to(coalesce(string_agg(
                   title_id || E'\t' || metric || E'\t' || c, E'\n'
                   ORDER BY title_id, metric), ''), 'UTF8')), 'hex') AS digest,
               coalesce((SELECT jsonb_object_agg(metric, t) FROM
                   (SELECT metric, sum(c) AS t FROM agg GROUP BY metric) m), '{}') AS totals,
               count(DISTINCT title_id) FILTER (WHERE c > 0) AS titles
          FROM agg
        """,
        period,
        timeout=BULK_TIMEOUT_S,
    )


async def latest_revision(
    conn: asyncpg.Connection, agreement_id: str, isil: str, period: dt.date, report: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT revision, digest FROM usage_revisions
         WHERE agreement_id = $1 AND isil = $2 AND period = $3 AND report = $4
         ORDER BY revision DESC LIMIT 1 FOR UPDATE
        """,
        agreement_id,
        isil,
        period,
        report,
    )


async def insert_revision(
    conn: asyncpg.Connection,
    key: tuple[str, str, dt.date, str],
    revision: int,
    source: str,
    digest: str,
    totals: dict[str, int],
) -> None:
    await conn.execute(
        """
        INSERT INTO usage_revisions (agreement_id, isil, period, report, revision, source,
                                     digest, totals)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        *key,
        revision,
        source,
        digest,
        totals,
    )
    await conn.execute(
        """
        INSERT INTO usage_facts (agreement_id, isil, period, report, revision, title_id, title,
                                 material_type, metric, count)
        SELECT $1, $2, $3, $4, $5, title_id, max(title), max(material_type), metric, sum(count)
          FROM staging WHERE period = $3 GROUP BY title_id, metric
        """,
        *key,
        revision,
        timeout=BULK_TIMEOUT_S,
    )


# Latest revision of every month and report: the figures reports read.
CURRENT = """
    WITH cur AS (
        SELECT DISTINCT ON (agreement_id, isil, period, report)
               agreement_id, isil, period, report, revision
          FROM usage_revisions
         ORDER BY agreement_id, isil, period, report, revision DESC)
    SELECT f.* FROM usage_facts f JOIN cur USING (agreement_id, isil, period, report, revision)
"""


async def usage(
    conn: asyncpg.Connection,
    *,
    group: str,
    agreement_id: str | None,
    isil: str | None,
    first: dt.date,
    last: dt.date,
    metric: str | None,
) -> list[asyncpg.Record]:
    dims = {
        "month": "to_char(period, 'YYYY-MM') AS month",
        "title": "title_id, max(title) AS title",
        "material_type": "material_type",
        "library": "isil",
        "agreement": "agreement_id",
    }[group]
    key = {
        "month": "1",
        "title": "title_id",
        "material_type": "material_type",
        "library": "isil",
        "agreement": "agreement_id",
    }[group]
    order = "total DESC, " + key if group == "title" else key
    sql = f"""
        SELECT {dims}, report, metric, sum(count)::bigint AS total
          FROM ({CURRENT}) x
         WHERE ($1::text IS NULL OR agreement_id = $1) AND ($2::text IS NULL OR isil = $2)
           AND period BETWEEN $3 AND $4 AND ($5::text IS NULL OR metric = $5)
         GROUP BY {key}, report, metric
         ORDER BY {order}, report, metric
    """  # noqa: S608 - the grouping comes from the fixed table above, never from input
    return await conn.fetch(sql, agreement_id, isil, first, last, metric)


async def unused_titles(
    conn: asyncpg.Connection, agreement_id: str, isil: str | None, first: dt.date, last: dt.date
) -> list[asyncpg.Record]:
    """Titles the agreement's reports have named (for any library, any month) with no use in
    the selection."""
    return await conn.fetch(
        f"""
        WITH cur AS ({CURRENT}),
        known AS (SELECT title_id, max(title) AS title FROM cur
                   WHERE agreement_id = $1 GROUP BY title_id),
        used AS (SELECT DISTINCT title_id FROM cur
                  WHERE agreement_id = $1 AND ($2::text IS NULL OR isil = $2)
                    AND period BETWEEN $3 AND $4 AND count > 0)
        SELECT k.title_id, k.title FROM known k
         WHERE NOT EXISTS (SELECT 1 FROM used u WHERE u.title_id = k.title_id)
         ORDER BY k.title_id LIMIT 500
        """,  # noqa: S608 - a constant
        agreement_id,
        isil,
        first,
        last,
    )


async def uses(
    conn: asyncpg.Connection,
    agreement_id: str,
    first: dt.date,
    last: dt.date,
    metric: str,
) -> dict[str, int]:
    rows = await conn.fetch(
        f"""
        SELECT isil, sum(count) AS n FROM ({CURRENT}) x
         WHERE agreement_id = $1 AND period BETWEEN $2 AND $3 AND metric = $4
         GROUP BY isil
        """,  # noqa: S608 - a constant
        agreement_id,
        first,
        last,
        metric,
    )
    return {r["isil"]: int(r["n"]) for r in rows}


async def insert_invoice_check(conn: asyncpg.Connection, values: Sequence[Any]) -> int:
    return await conn.fetchval(
        """
        INSERT INTO invoice_checks (agreement_id, isil, period_from, period_to, loans,
               price_per_loan_cents, expected_cents, invoiced_cents, tolerance_cents,
               discrepancy)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id
        """,
        *values,
    )


# --- kimppas ----------------------------------------------------------------------------


async def upsert_kimppa(
    conn: asyncpg.Connection, kimppa_id: str, name: str, library_system: str
) -> None:
    await conn.execute(
        """
        INSERT INTO kimppas (kimppa_id, name, library_system) VALUES ($1, $2, $3)
        ON CONFLICT (kimppa_id) DO UPDATE
           SET name = EXCLUDED.name, library_system = EXCLUDED.library_system
        """,
        kimppa_id,
        name,
        library_system,
    )


async def set_library_kimppa(conn: asyncpg.Connection, isil: str, kimppa_id: str | None) -> None:
    """The kimppa a library belongs to now (none: it left its kimppa)."""
    if kimppa_id is None:
        await conn.execute("DELETE FROM kimppa_members WHERE isil = $1", isil)
        return
    await conn.execute(
        """
        INSERT INTO kimppa_members (isil, kimppa_id) VALUES ($1, $2)
        ON CONFLICT (isil) DO UPDATE SET kimppa_id = EXCLUDED.kimppa_id
        """,
        isil,
        kimppa_id,
    )


async def set_kimppa_libraries(
    conn: asyncpg.Connection, kimppa_id: str, libraries: Sequence[str]
) -> None:
    """A kimppa's libraries now: those no longer listed leave it, the listed ones join it."""
    await conn.execute(
        "DELETE FROM kimppa_members WHERE kimppa_id = $1 AND NOT (isil = ANY($2::text[]))",
        kimppa_id,
        list(libraries),
    )
    await conn.executemany(
        """
        INSERT INTO kimppa_members (isil, kimppa_id) VALUES ($1, $2)
        ON CONFLICT (isil) DO UPDATE SET kimppa_id = EXCLUDED.kimppa_id
        """,
        [(isil, kimppa_id) for isil in libraries],
    )


async def get_kimppa(conn: asyncpg.Connection, kimppa_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT kimppa_id, name, library_system FROM kimppas WHERE kimppa_id = $1", kimppa_id
    )


async def kimppa_of(conn: asyncpg.Connection, isil: str) -> str | None:
    return await conn.fetchval("SELECT kimppa_id FROM kimppa_members WHERE isil = $1", isil)


async def kimppa_libraries(conn: asyncpg.Connection, kimppa_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT isil FROM kimppa_members WHERE kimppa_id = $1 ORDER BY isil", kimppa_id
    )
    return [r["isil"] for r in rows]
