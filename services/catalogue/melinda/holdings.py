"""Holdings in Melinda follow the record sets: when a record becomes available to a kimppa
(or to a library outside any kimppa) its Melinda record gets a LOW field with the kimppa's
Melinda holding code (the library's ISIL outside a kimppa); when the last of them loses it,
the LOW field goes. Only records linked to Melinda (sent by a Melinda job) have holdings.

``plan`` compares what the sets say with ``melinda_holdings`` and marks the differences
unsent; ``send`` reads each such record from Melinda, changes its LOW fields
(``adapter.with_holdings``) and updates it through the adapter's client. Each record's rows
are locked while it is sent (SKIP LOCKED: replicas share the work); Melinda unavailable
leaves them unsent for the next run; a refusal is recorded on the rows and retried later."""

from __future__ import annotations

import asyncpg

from kit.logging import get_logger
from services.catalogue.melinda import adapter
from services.catalogue.melinda.client import MelindaRefused, MelindaUnavailable
from services.catalogue.melinda.jobs import MelindaDeps
from services.catalogue.store import LONG_S

log = get_logger(__name__)
MAX_ATTEMPTS = 5


async def plan(conn: asyncpg.Connection) -> int:
    """Mark the holdings that the sets no longer agree with; returns how many changed."""
    return await conn.fetchval(
        """
        WITH desired AS (
            SELECT kr.record_id, k.melinda_code AS code
            FROM kimppa_records kr JOIN kimppas k ON k.id = kr.kimppa_id
            WHERE NOT kr.deleted AND k.melinda_code IS NOT NULL
            UNION
            SELECT lr.record_id, lr.isil
            FROM library_records lr LEFT JOIN libraries l ON l.isil = lr.isil
            WHERE NOT lr.deleted AND l.kimppa_id IS NULL
        ),
        linked AS (
            SELECT d.record_id, d.code FROM desired d
            JOIN melinda_links ml ON ml.record_id = d.record_id
        ),
        added AS (
            INSERT INTO melinda_holdings (record_id, code, wanted)
            SELECT record_id, code, true FROM linked
            ON CONFLICT (record_id, code) DO UPDATE
                SET wanted = true, sent = false, attempts = 0, last_error = NULL,
                    changed_at = now()
                WHERE NOT melinda_holdings.wanted
            RETURNING 1
        ),
        dropped AS (
            UPDATE melinda_holdings h
            SET wanted = false, sent = false, attempts = 0, last_error = NULL, changed_at = now()
            WHERE h.wanted
              AND NOT EXISTS (SELECT 1 FROM linked l
                              WHERE l.record_id = h.record_id AND l.code = h.code)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM added) + (SELECT count(*) FROM dropped)
        """,
        timeout=LONG_S,
    )


async def send(pool: asyncpg.Pool, deps: MelindaDeps, limit: int = 100) -> int:
    """Tell Melinda the unsent holdings, record by record; returns records updated."""
    if deps.client is None:
        return 0
    record_ids = [
        row["record_id"]
        for row in await pool.fetch(
            """
            SELECT DISTINCT record_id FROM melinda_holdings
            WHERE NOT sent AND attempts < $1 ORDER BY record_id LIMIT $2
            """,
            MAX_ATTEMPTS,
            limit,
        )
    ]
    client = deps.client()
    updated = 0
    try:
        for record_id in record_ids:
            async with pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    """
                    SELECT h.code, h.wanted, ml.melinda_id
                    FROM melinda_holdings h JOIN melinda_links ml ON ml.record_id = h.record_id
                    WHERE h.record_id = $1 AND NOT h.sent AND h.attempts < $2
                    FOR UPDATE OF h SKIP LOCKED
                    """,
                    record_id,
                    MAX_ATTEMPTS,
                )
                if not rows:
                    continue
                melinda_id = rows[0]["melinda_id"]
                add = [r["code"] for r in rows if r["wanted"]]
                remove = [r["code"] for r in rows if not r["wanted"]]
                error: str | None = None
                try:
                    current = await client.read(melinda_id)
                    if current is None:
                        error = f"Melinda has no record {melinda_id}"
                    else:
                        outcome = await client.update(
                            melinda_id, adapter.with_holdings(current, add=add, remove=remove)
                        )
                        if outcome.status not in ("updated", "skipped"):
                            error = f"{outcome.status}: {outcome.message or ''}".strip()
                except MelindaRefused as refused:
                    error = str(refused)
                codes = [r["code"] for r in rows]
                if error is None:
                    await conn.execute(
                        """
                        UPDATE melinda_holdings SET sent = true, last_error = NULL
                        WHERE record_id = $1 AND code = ANY($2::text[])
                        """,
                        record_id,
                        codes,
                    )
                    updated += 1
                else:
                    log.warning("melinda refused holdings", record_id=record_id, error=error)
                    await conn.execute(
                        """
                        UPDATE melinda_holdings SET attempts = attempts + 1, last_error = $3
                        WHERE record_id = $1 AND code = ANY($2::text[])
                        """,
                        record_id,
                        codes,
                        error,
                    )
    except MelindaUnavailable as error:
        log.warning("melinda unavailable; holdings wait", error=str(error))
    finally:
        await client.aclose()
    return updated


async def sync(pool: asyncpg.Pool, deps: MelindaDeps) -> int:
    """Plan, then send: the periodic melinda-holdings job."""
    async with pool.acquire() as conn, conn.transaction():
        await plan(conn)
    return await send(pool, deps)
