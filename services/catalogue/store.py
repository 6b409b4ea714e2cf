"""Catalogue SQL, with parameters only: collections, participations, per-library record sets,
records and batches. The OAI-PMH repository is in ``oai/store.py``, the Melinda job state in
``melinda/store.py``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from services.catalogue.domain import Participation

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
# Set-based statements over a whole collection may take longer than the pool's default.
LONG_S = 600.0


# --- collections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    id: str
    agreement_id: str | None
    title: str
    supplier: str | None
    product: str | None
    material_types: list[str]
    signed_on: dt.date | None
    ended_on: dt.date | None
    ended_kind: str | None
    created_by: str
    created_at: dt.datetime


def _collection(row: asyncpg.Record) -> Collection:
    return Collection(
        id=row["id"],
        agreement_id=row["agreement_id"],
        title=row["title"],
        supplier=row["supplier"],
        product=row["product"],
        material_types=list(row["material_types"]),
        signed_on=row["signed_on"],
        ended_on=row["ended_on"],
        ended_kind=row["ended_kind"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


async def insert_collection(
    conn: Conn,
    *,
    collection_id: str,
    agreement_id: str | None,
    title: str,
    supplier: str | None,
    product: str | None,
    material_types: Sequence[str],
    signed_on: dt.date | None,
    created_by: str,
) -> bool:
    """Create the collection unless it exists; True when this call created it."""
    status = await conn.execute(
        """
        INSERT INTO collections (id, agreement_id, title, supplier, product, material_types,
                                 signed_on, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT DO NOTHING
        """,
        collection_id,
        agreement_id,
        title,
        supplier,
        product,
        list(material_types),
        signed_on,
        created_by,
    )
    return status.endswith(" 1")


async def complete_collection(
    conn: Conn,
    collection_id: str,
    *,
    title: str,
    supplier: str | None,
    product: str | None,
    material_types: Sequence[str],
    signed_on: dt.date | None,
) -> None:
    """agreement-signed after a participation event made a placeholder: fill in the facts."""
    await conn.execute(
        """
        UPDATE collections SET title = $2, supplier = $3, product = $4, material_types = $5,
               signed_on = coalesce($6, signed_on)
        WHERE id = $1
        """,
        collection_id,
        title,
        supplier,
        product,
        list(material_types),
        signed_on,
    )


async def get_collection(
    conn: Conn, collection_id: str, *, lock: bool = False
) -> Collection | None:
    query = "SELECT * FROM collections WHERE id = $1"
    if lock:
        query += " FOR UPDATE"
    row = await conn.fetchrow(query, collection_id)
    return _collection(row) if row else None


async def collection_of_agreement(conn: Conn, agreement_id: str) -> Collection | None:
    row = await conn.fetchrow("SELECT * FROM collections WHERE agreement_id = $1", agreement_id)
    return _collection(row) if row else None


async def end_collection(conn: Conn, collection_id: str, ended_on: dt.date, kind: str) -> None:
    await conn.execute(
        """
        UPDATE collections SET ended_on = least(coalesce(ended_on, $2), $2), ended_kind = $3
        WHERE id = $1
        """,
        collection_id,
        ended_on,
        kind,
    )


async def list_collections(
    conn: Conn,
    *,
    agreement_id: str | None,
    isil: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Collections with their record counts; ``isil`` keeps those in a library's set."""
    where = """
        ($1::text IS NULL OR c.agreement_id = $1)
        AND ($2::text IS NULL OR EXISTS (
            SELECT 1 FROM record_sets rs WHERE rs.collection_id = c.id AND rs.isil = $2))
    """
    total = await conn.fetchval(
        f"SELECT count(*) FROM collections c WHERE {where}",  # noqa: S608
        agreement_id,
        isil,
    )
    rows = await conn.fetch(
        f"""
        SELECT c.*,
               (SELECT count(*) FROM records r WHERE r.collection_id = c.id AND NOT r.deleted)
                   AS records,
               (SELECT count(*) FROM records r WHERE r.collection_id = c.id AND r.deleted)
                   AS withdrawn,
               (SELECT count(*) FROM record_sets rs WHERE rs.collection_id = c.id
                   AND rs.available) AS libraries
        FROM collections c WHERE {where}
        ORDER BY c.created_at DESC, c.id
        LIMIT $3 OFFSET $4
        """,  # noqa: S608
        agreement_id,
        isil,
        limit,
        offset,
    )
    return [dict(row) for row in rows], total


async def collection_counts(conn: Conn, collection_id: str) -> dict[str, int]:
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE NOT deleted) AS records,
               count(*) FILTER (WHERE deleted) AS withdrawn
        FROM records WHERE collection_id = $1
        """,
        collection_id,
    )
    libraries = await conn.fetchval(
        "SELECT count(*) FROM record_sets WHERE collection_id = $1 AND available",
        collection_id,
    )
    return {"records": row["records"], "withdrawn": row["withdrawn"], "libraries": libraries}


async def active_record_count(conn: Conn, collection_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM records WHERE collection_id = $1 AND NOT deleted", collection_id
    )


# --- participations ---------------------------------------------------------------------------


def _participation(row: asyncpg.Record) -> Participation:
    return Participation(
        joined_on=row["joined_on"], left_on=row["left_on"], leave_reason=row["leave_reason"]
    )


async def insert_participation(
    conn: Conn, agreement_id: str, isil: str, joined_on: dt.date
) -> None:
    await conn.execute(
        """
        INSERT INTO participations (agreement_id, isil, joined_on) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        """,
        agreement_id,
        isil,
        joined_on,
    )


async def participations(
    conn: Conn, agreement_id: str, isil: str
) -> list[tuple[int, Participation]]:
    rows = await conn.fetch(
        """
        SELECT id, joined_on, left_on, leave_reason FROM participations
        WHERE agreement_id = $1 AND isil = $2 ORDER BY joined_on
        """,
        agreement_id,
        isil,
    )
    return [(row["id"], _participation(row)) for row in rows]


async def set_left(conn: Conn, participation_id: int, left_on: dt.date, reason: str) -> None:
    await conn.execute(
        "UPDATE participations SET left_on = $2, leave_reason = $3 WHERE id = $1",
        participation_id,
        left_on,
        reason,
    )


async def end_open_participations(
    conn: Conn,
    *,
    left_on: dt.date,
    reason: str,
    agreement_id: str | None = None,
    isil: str | None = None,
) -> list[tuple[str, str]]:
    """End every participation still open on ``left_on`` (of one agreement, or of one library);
    return the (agreement id, ISIL) pairs touched. One that only begins after that day (a
    re-join) is left alone."""
    rows = await conn.fetch(
        """
        UPDATE participations
        SET left_on = greatest($1::date, joined_on), leave_reason = $2
        WHERE ($3::text IS NULL OR agreement_id = $3)
          AND ($4::text IS NULL OR isil = $4)
          AND joined_on <= $1
          AND (left_on IS NULL OR left_on > $1)
        RETURNING agreement_id, isil
        """,
        left_on,
        reason,
        agreement_id,
        isil,
    )
    return sorted({(row["agreement_id"], row["isil"]) for row in rows})


async def participation_pairs(
    conn: Conn, *, collection_id: str | None = None, isil: str | None = None
) -> list[tuple[str, str]]:
    """(ISIL, collection id) pairs that have a participation or an applied record set."""
    rows = await conn.fetch(
        """
        SELECT p.isil, c.id AS collection_id
        FROM participations p JOIN collections c ON c.agreement_id = p.agreement_id
        WHERE ($1::text IS NULL OR c.id = $1) AND ($2::text IS NULL OR p.isil = $2)
        UNION
        SELECT isil, collection_id FROM record_sets
        WHERE ($1::text IS NULL OR collection_id = $1) AND ($2::text IS NULL OR isil = $2)
        ORDER BY 1, 2
        """,
        collection_id,
        isil,
    )
    return [(row["isil"], row["collection_id"]) for row in rows]


async def collection_participations(
    conn: Conn, collection_id: str, isil: str
) -> list[Participation]:
    rows = await conn.fetch(
        """
        SELECT p.joined_on, p.left_on, p.leave_reason
        FROM participations p JOIN collections c ON c.agreement_id = p.agreement_id
        WHERE c.id = $1 AND p.isil = $2
        """,
        collection_id,
        isil,
    )
    return [_participation(row) for row in rows]


# --- per-library record sets ------------------------------------------------------------------


async def lock_record_set(conn: asyncpg.Connection, isil: str, collection_id: str) -> bool:
    """Lock a library's set of one collection (creating its row) and say whether it holds
    the records now."""
    await conn.execute(
        """
        INSERT INTO record_sets (isil, collection_id, available) VALUES ($1, $2, false)
        ON CONFLICT DO NOTHING
        """,
        isil,
        collection_id,
    )
    return await conn.fetchval(
        "SELECT available FROM record_sets WHERE isil = $1 AND collection_id = $2 FOR UPDATE",
        isil,
        collection_id,
    )


async def make_available(conn: asyncpg.Connection, isil: str, collection_id: str) -> int:
    """Give a library every current record of a collection; return how many it gained.
    Records it had before and lost come back with a new datestamp."""
    count = await conn.fetchval(
        """
        WITH gained AS (
            INSERT INTO library_records (isil, record_id, collection_id, deleted, datestamp)
            SELECT $1, r.id, r.collection_id, false, clock_timestamp()
            FROM records r WHERE r.collection_id = $2 AND NOT r.deleted
            ON CONFLICT (isil, record_id) DO UPDATE
                SET deleted = false, datestamp = excluded.datestamp
                WHERE library_records.deleted
            RETURNING 1
        )
        SELECT count(*) FROM gained
        """,
        isil,
        collection_id,
        timeout=LONG_S,
    )
    await conn.execute(
        """
        UPDATE record_sets SET available = true, changed_at = clock_timestamp()
        WHERE isil = $1 AND collection_id = $2
        """,
        isil,
        collection_id,
    )
    return count


async def withdraw(conn: asyncpg.Connection, isil: str, collection_id: str) -> int:
    """Take a collection's records out of a library's set: they stay, marked deleted."""
    count = await conn.fetchval(
        """
        WITH lost AS (
            UPDATE library_records SET deleted = true, datestamp = clock_timestamp()
            WHERE isil = $1 AND collection_id = $2 AND NOT deleted
            RETURNING 1
        )
        SELECT count(*) FROM lost
        """,
        isil,
        collection_id,
        timeout=LONG_S,
    )
    await conn.execute(
        """
        UPDATE record_sets SET available = false, changed_at = clock_timestamp()
        WHERE isil = $1 AND collection_id = $2
        """,
        isil,
        collection_id,
    )
    return count


async def library_sets(conn: Conn, isil: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT rs.collection_id, c.title, c.agreement_id, rs.available, rs.changed_at,
               count(lr.record_id) FILTER (WHERE NOT lr.deleted) AS records,
               count(lr.record_id) FILTER (WHERE lr.deleted) AS deleted
        FROM record_sets rs
        JOIN collections c ON c.id = rs.collection_id
        LEFT JOIN library_records lr
               ON lr.isil = rs.isil AND lr.collection_id = rs.collection_id
        WHERE rs.isil = $1
        GROUP BY rs.collection_id, c.title, c.agreement_id, rs.available, rs.changed_at
        ORDER BY rs.collection_id
        """,
        isil,
    )
    return [dict(row) for row in rows]


async def collection_libraries(conn: Conn, collection_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT isil, available, changed_at FROM record_sets
        WHERE collection_id = $1 ORDER BY isil
        """,
        collection_id,
    )
    return [dict(row) for row in rows]


async def library_has_sets(conn: Conn, isil: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM record_sets WHERE isil = $1 LIMIT 1", isil))


# --- batches ----------------------------------------------------------------------------------

BATCH_COLUMNS = """
    b.id, b.collection_id, b.format, b.mode, b.filename, b.size_bytes, b.sha256, b.language,
    b.url_template, b.status, b.error, b.processed, b.counts, b.report, b.created_by,
    b.created_at, b.finished_at, b.force, b.owner
"""


async def insert_batch(
    conn: Conn,
    *,
    batch_id: str,
    collection_id: str,
    fmt: str,
    mode: str,
    filename: str | None,
    size_bytes: int,
    sha256: str,
    language: str | None,
    url_template: str | None,
    created_by: str,
    force: bool = False,
) -> None:
    await conn.execute(
        """
        INSERT INTO batches (id, collection_id, format, mode, filename, size_bytes, sha256,
                             language, url_template, status, created_by, force)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'processing', $10, $11)
        """,
        batch_id,
        collection_id,
        fmt,
        mode,
        filename,
        size_bytes,
        sha256,
        language,
        url_template,
        created_by,
        force,
    )


async def batch_in_progress(conn: Conn, collection_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT id FROM batches WHERE collection_id = $1 AND status = 'processing'",
        collection_id,
    )


async def record_progress(conn: Conn, batch_id: str, processed: int) -> None:
    await conn.execute(
        """
        UPDATE batches SET processed = $2, heartbeat_at = now()
        WHERE id = $1 AND status = 'processing'
        """,
        batch_id,
        processed,
    )


async def finish_batch(
    conn: Conn, batch_id: str, processed: int, counts: dict[str, int], report: dict[str, Any]
) -> None:
    await conn.execute(
        """
        UPDATE batches SET status = 'done', processed = $2, counts = $3, report = $4,
               finished_at = clock_timestamp(), heartbeat_at = clock_timestamp()
        WHERE id = $1
        """,
        batch_id,
        processed,
        counts,
        report,
    )


async def fail_batch(
    conn: Conn,
    batch_id: str,
    error: str,
    *,
    counts: dict[str, int] | None = None,
    report: dict[str, Any] | None = None,
    finding: tuple[str, str] | None = None,
) -> None:
    """Mark a batch failed, with what was counted before it stopped and, optionally, one
    batch-level finding (code, field; the message is ``error``) saying why."""
    await conn.execute(
        """
        WITH failed AS (
            UPDATE batches SET status = 'failed', error = $2, finished_at = clock_timestamp(),
                   counts = coalesce($3, counts), report = coalesce($4, report)
            WHERE id = $1 AND status = 'processing'
            RETURNING id
        )
        INSERT INTO batch_findings (batch_id, position, reference, severity, code, field, message)
        SELECT id, 0, NULL, 'error', $5, $6, $2 FROM failed WHERE $5::text IS NOT NULL
        """,
        batch_id,
        error[:2000],
        counts,
        report,
        finding[0] if finding else None,
        finding[1] if finding else None,
    )


async def claim_batch(conn: asyncpg.Connection, batch_id: str, owner: str) -> None:
    """Record that this database session (and the named process) runs the batch."""
    await conn.execute(
        """
        UPDATE batches SET owner = $2, owner_pid = pg_backend_pid(),
               owner_since = (SELECT backend_start FROM pg_stat_activity
                              WHERE pid = pg_backend_pid())
        WHERE id = $1
        """,
        batch_id,
        owner[:200],
    )


ORPHANED = (
    "interrupted: the process running the batch stopped before it finished (a crash or a "
    "restart); nothing of it was stored, upload the file again"
)


async def fail_orphaned_batches(
    conn: Conn, unclaimed_after: dt.timedelta, collection_id: str | None = None
) -> list[str]:
    """Fail the batches that no process runs any more: their owner's database session is gone
    (its transaction rolled back with it), or no process claimed them within
    ``unclaimed_after`` of their creation. Returns their ids."""
    rows = await conn.fetch(
        """
        WITH orphaned AS (
            UPDATE batches b SET status = 'failed', finished_at = clock_timestamp(), error = $1
            WHERE b.status = 'processing'
              AND ($3::text IS NULL OR b.collection_id = $3)
              AND CASE WHEN b.owner_pid IS NULL THEN b.created_at < now() - $2::interval
                       ELSE NOT EXISTS (
                           SELECT 1 FROM pg_stat_activity a
                           WHERE a.pid = b.owner_pid AND a.backend_start = b.owner_since)
                  END
            RETURNING b.id, b.owner
        ), noted AS (
            INSERT INTO batch_findings (batch_id, position, reference, severity, code, field,
                                        message)
            SELECT id, 0, NULL, 'error', 'batch-interrupted', 'batch',
                   $1 || ' (owner: ' || coalesce(owner, 'none') || ')'
            FROM orphaned
        )
        SELECT id FROM orphaned ORDER BY id
        """,
        ORPHANED,
        unclaimed_after,
        collection_id,
    )
    return [row["id"] for row in rows]


async def get_batch(conn: Conn, batch_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {BATCH_COLUMNS} FROM batches b WHERE b.id = $1",  # noqa: S608
        batch_id,
    )
    return dict(row) if row else None


async def list_batches(
    conn: Conn,
    *,
    collection_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where = "($1::text IS NULL OR b.collection_id = $1) AND ($2::text IS NULL OR b.status = $2)"
    total = await conn.fetchval(
        f"SELECT count(*) FROM batches b WHERE {where}",  # noqa: S608
        collection_id,
        status,
    )
    rows = await conn.fetch(
        f"""
        SELECT {BATCH_COLUMNS} FROM batches b WHERE {where}
        ORDER BY b.created_at DESC, b.id LIMIT $3 OFFSET $4
        """,  # noqa: S608
        collection_id,
        status,
        limit,
        offset,
    )
    return [dict(row) for row in rows], total


FINDING_COLUMNS = ("batch_id", "position", "reference", "severity", "code", "field", "message")


async def insert_findings(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        await conn.copy_records_to_table("batch_findings", records=rows, columns=FINDING_COLUMNS)


def findings_cursor(conn: asyncpg.Connection, batch_id: str) -> Any:
    return conn.cursor(
        """
        SELECT position, reference, severity, code, field, message FROM batch_findings
        WHERE batch_id = $1 ORDER BY position, severity, code
        """,
        batch_id,
        prefetch=1000,
    )


# --- records (the ingest's statements) ----------------------------------------------------------


async def lock_for_ingest(conn: asyncpg.Connection, collection_id: str) -> bool:
    """One batch at a time per collection, for the rest of the transaction; False when
    another holds it."""
    return await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
        "konsortio-catalogue-ingest:" + collection_id,
    )


@dataclass(frozen=True)
class StoredRecord:
    id: int
    match_key: str
    content_hash: str
    marc: bytes
    deleted: bool
    seen_batch: str
    base_batch: str | None = None  # the batch the description came from (see dedup.merge)


async def records_by_keys(
    conn: asyncpg.Connection, collection_id: str, keys: Sequence[str]
) -> dict[str, StoredRecord]:
    rows = await conn.fetch(
        """
        SELECT id, match_key, content_hash, marc, deleted, seen_batch, base_batch FROM records
        WHERE collection_id = $1 AND match_key = ANY($2::text[])
        """,
        collection_id,
        list(keys),
    )
    return {
        row["match_key"]: StoredRecord(
            row["id"],
            row["match_key"],
            row["content_hash"],
            row["marc"],
            row["deleted"],
            row["seen_batch"],
            row["base_batch"],
        )
        for row in rows
    }


@dataclass(frozen=True)
class NewRecord:
    match_key: str
    content_hash: str
    marc: bytes
    title: str
    reference: str | None


async def insert_records(
    conn: asyncpg.Connection, collection_id: str, batch_id: str, rows: Sequence[NewRecord]
) -> dict[str, int]:
    """Insert new records in one statement; return their ids by match key."""
    if not rows:
        return {}
    inserted = await conn.fetch(
        """
        INSERT INTO records (collection_id, match_key, content_hash, marc, title, reference,
                             created_batch, changed_batch, seen_batch, base_batch, datestamp)
        SELECT $1, key, hash, marc, title, reference, $2, $2, $2, $2, clock_timestamp()
        FROM unnest($3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[])
            AS incoming (key, hash, marc, title, reference)
        RETURNING id, match_key
        """,
        collection_id,
        batch_id,
        [r.match_key for r in rows],
        [r.content_hash for r in rows],
        [r.marc for r in rows],
        [r.title for r in rows],
        [r.reference for r in rows],
    )
    return {row["match_key"]: row["id"] for row in inserted}


@dataclass(frozen=True)
class ChangedRecord:
    id: int
    content_hash: str
    marc: bytes
    title: str
    reference: str | None
    described: bool = True  # its description comes from this batch (see dedup.merge)


async def update_records(
    conn: asyncpg.Connection, batch_id: str, rows: Sequence[ChangedRecord]
) -> None:
    """New content for existing records (a record withdrawn before comes back too)."""
    if not rows:
        return
    await conn.execute(
        """
        UPDATE records r
        SET content_hash = incoming.hash, marc = incoming.marc, title = incoming.title,
            reference = coalesce(incoming.reference, r.reference), deleted = false,
            changed_batch = $1, seen_batch = $1, datestamp = clock_timestamp(),
            base_batch = CASE WHEN incoming.described THEN $1 ELSE r.base_batch END,
            -- the state before this batch first changed the record (see revert_unchanged)
            before_hash = CASE WHEN r.changed_batch = $1 THEN r.before_hash
                               ELSE r.content_hash END,
            before_datestamp = CASE WHEN r.changed_batch = $1 THEN r.before_datestamp
                                    ELSE r.datestamp END,
            before_changed_batch = CASE WHEN r.changed_batch = $1 THEN r.before_changed_batch
                                        ELSE r.changed_batch END,
            before_reference = CASE WHEN r.changed_batch = $1 THEN r.before_reference
                                    ELSE r.reference END,
            before_deleted = CASE WHEN r.changed_batch = $1 THEN r.before_deleted
                                  ELSE r.deleted END
        FROM unnest($2::bigint[], $3::text[], $4::bytea[], $5::text[], $6::text[],
                    $7::boolean[])
            AS incoming (id, hash, marc, title, reference, described)
        WHERE r.id = incoming.id
        """,
        batch_id,
        [r.id for r in rows],
        [r.content_hash for r in rows],
        [r.marc for r in rows],
        [r.title for r in rows],
        [r.reference for r in rows],
        [r.described for r in rows],
    )


async def revert_unchanged(conn: asyncpg.Connection, collection_id: str, batch_id: str) -> int:
    """Records this batch changed and then changed back (its own duplicates of one title,
    merged in turn) have not changed: restore their datestamp, last-changing batch and
    reference, and take them off the batch's changes. Returns how many."""
    return await conn.fetchval(
        """
        WITH reverted AS (
            UPDATE records SET datestamp = before_datestamp,
                               changed_batch = before_changed_batch,
                               reference = before_reference
            WHERE collection_id = $1 AND changed_batch = $2 AND created_batch <> $2
              AND NOT deleted AND NOT before_deleted AND content_hash = before_hash
            RETURNING id
        ), dropped AS (
            DELETE FROM batch_records
            WHERE batch_id = $2 AND record_id IN (SELECT id FROM reverted)
        )
        SELECT count(*) FROM reverted
        """,
        collection_id,
        batch_id,
    )


async def mark_seen(
    conn: asyncpg.Connection, batch_id: str, ids: Iterable[int], described: Iterable[int] = ()
) -> None:
    """Titles still on the list, unchanged: full loads must not withdraw them. ``described``
    are those whose (unchanged) description this batch delivered again."""
    ids = list(ids)
    if ids:
        await conn.execute(
            """
            UPDATE records
            SET seen_batch = $1,
                base_batch = CASE WHEN id = ANY($3::bigint[]) THEN $1 ELSE base_batch END
            WHERE id = ANY($2::bigint[])
            """,
            batch_id,
            ids,
            list(described),
        )


async def batch_change_counts(conn: asyncpg.Connection, batch_id: str) -> tuple[int, int]:
    """How many titles the batch added (new or back from withdrawal) and changed."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE change = 'new') AS added,
               count(*) FILTER (WHERE change = 'changed') AS changed
        FROM batch_records WHERE batch_id = $1
        """,
        batch_id,
    )
    return int(row["added"]), int(row["changed"])


async def insert_batch_records(
    conn: asyncpg.Connection, batch_id: str, changes: Sequence[tuple[int, str]]
) -> None:
    if changes:
        await conn.execute(
            """
            INSERT INTO batch_records (batch_id, record_id, change)
            SELECT $1, id, change FROM unnest($2::bigint[], $3::text[]) AS c (id, change)
            ON CONFLICT DO NOTHING
            """,
            batch_id,
            [c[0] for c in changes],
            [c[1] for c in changes],
        )


async def titles_missing_from(
    conn: asyncpg.Connection, collection_id: str, batch_id: str
) -> tuple[int, int]:
    """The collection's active titles from before the batch, and how many of them the batch's
    list lacks (what a full load would withdraw)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS active, count(*) FILTER (WHERE seen_batch <> $2) AS missing
        FROM records WHERE collection_id = $1 AND NOT deleted AND created_batch <> $2
        """,
        collection_id,
        batch_id,
    )
    return int(row["active"]), int(row["missing"])


async def withdraw_missing(conn: asyncpg.Connection, collection_id: str, batch_id: str) -> int:
    """Full loads: titles of the collection that the new list no longer has are withdrawn
    (kept, marked deleted)."""
    return await conn.fetchval(
        """
        WITH gone AS (
            UPDATE records SET deleted = true, changed_batch = $2, datestamp = clock_timestamp()
            WHERE collection_id = $1 AND NOT deleted AND seen_batch <> $2
            RETURNING 1
        )
        SELECT count(*) FROM gone
        """,
        collection_id,
        batch_id,
        timeout=LONG_S,
    )


async def distribute_batch(
    conn: asyncpg.Connection, collection_id: str, batch_id: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Carry a batch's changes into the record sets of the libraries that hold the collection:
    changed records get a new datestamp there, new ones are added, withdrawn ones are marked
    deleted. Returns (records gained, records lost) per ISIL."""
    await conn.execute(
        """
        UPDATE library_records lr SET datestamp = clock_timestamp()
        FROM records r
        WHERE r.collection_id = $1 AND r.changed_batch = $2 AND NOT r.deleted
          AND lr.record_id = r.id AND NOT lr.deleted
        """,
        collection_id,
        batch_id,
        timeout=LONG_S,
    )
    gained = await conn.fetch(
        """
        WITH gained AS (
            INSERT INTO library_records (isil, record_id, collection_id, deleted, datestamp)
            SELECT rs.isil, r.id, r.collection_id, false, clock_timestamp()
            FROM records r
            JOIN record_sets rs ON rs.collection_id = r.collection_id AND rs.available
            WHERE r.collection_id = $1 AND r.changed_batch = $2 AND NOT r.deleted
            ON CONFLICT (isil, record_id) DO UPDATE
                SET deleted = false, datestamp = excluded.datestamp
                WHERE library_records.deleted
            RETURNING isil
        )
        SELECT isil, count(*) AS n FROM gained GROUP BY isil
        """,
        collection_id,
        batch_id,
        timeout=LONG_S,
    )
    lost = await conn.fetch(
        """
        WITH lost AS (
            UPDATE library_records lr SET deleted = true, datestamp = clock_timestamp()
            FROM records r
            WHERE r.collection_id = $1 AND r.changed_batch = $2 AND r.deleted
              AND lr.record_id = r.id AND NOT lr.deleted
            RETURNING lr.isil
        )
        SELECT isil, count(*) AS n FROM lost GROUP BY isil
        """,
        collection_id,
        batch_id,
        timeout=LONG_S,
    )
    return {r["isil"]: r["n"] for r in gained}, {r["isil"]: r["n"] for r in lost}


# --- records (reading) ------------------------------------------------------------------------

RECORD_COLUMNS = """
    r.id, r.collection_id, r.match_key, r.title, r.reference, r.deleted, r.datestamp,
    r.created_at, r.created_batch, r.changed_batch
"""


async def list_records(
    conn: Conn,
    *,
    collection_id: str | None,
    match_key: str | None,
    title: str | None,
    include_deleted: bool,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where = """
        ($1::text IS NULL OR r.collection_id = $1)
        AND ($2::text IS NULL OR r.match_key = $2)
        AND ($3::text IS NULL OR r.title ILIKE '%' || $3 || '%')
        AND ($4 OR NOT r.deleted)
    """
    args = (collection_id, match_key, title, include_deleted)
    total = await conn.fetchval(f"SELECT count(*) FROM records r WHERE {where}", *args)  # noqa: S608
    rows = await conn.fetch(
        f"""
        SELECT {RECORD_COLUMNS} FROM records r WHERE {where}
        ORDER BY r.collection_id, r.id LIMIT $5 OFFSET $6
        """,  # noqa: S608
        *args,
        limit,
        offset,
    )
    return [dict(row) for row in rows], total


async def get_record(conn: Conn, record_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {RECORD_COLUMNS}, r.marc FROM records r WHERE r.id = $1",  # noqa: S608
        record_id,
    )
    return dict(row) if row else None


async def linked_records(conn: Conn, record_id: int) -> list[dict[str, Any]]:
    """The same work in other collections: records sharing the match key."""
    rows = await conn.fetch(
        f"""
        SELECT {RECORD_COLUMNS} FROM records r
        JOIN records me ON me.match_key = r.match_key AND me.id = $1
        WHERE r.id <> me.id ORDER BY r.collection_id, r.id
        """,  # noqa: S608
        record_id,
    )
    return [dict(row) for row in rows]


async def library_holds(conn: Conn, isil: str, record_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM library_records WHERE isil = $1 AND record_id = $2", isil, record_id
        )
    )


def collection_export_cursor(
    conn: asyncpg.Connection, collection_id: str, since: dt.datetime | None
) -> Any:
    """A collection's records in datestamp order: all current ones, or every change since."""
    return conn.cursor(
        """
        SELECT r.id, r.marc, r.deleted, r.datestamp FROM records r
        WHERE r.collection_id = $1
          AND (CASE WHEN $2::timestamptz IS NULL THEN NOT r.deleted ELSE r.datestamp >= $2 END)
        ORDER BY r.datestamp, r.id
        """,
        collection_id,
        since,
        prefetch=500,
    )


def library_export_cursor(conn: asyncpg.Connection, isil: str, since: dt.datetime | None) -> Any:
    """A library's record set: what it holds now, or every change to the set since."""
    return conn.cursor(
        """
        SELECT r.id, r.marc, lr.deleted, lr.datestamp
        FROM library_records lr JOIN records r ON r.id = lr.record_id
        WHERE lr.isil = $1
          AND (CASE WHEN $2::timestamptz IS NULL THEN NOT lr.deleted
                    ELSE lr.datestamp >= $2 END)
        ORDER BY lr.datestamp, lr.record_id
        """,
        isil,
        since,
        prefetch=500,
    )


def batch_changes_cursor(conn: asyncpg.Connection, batch_id: str) -> Any:
    """A batch's new and changed records (still current), for the Melinda export."""
    return conn.cursor(
        """
        SELECT r.id, r.marc, br.change FROM batch_records br
        JOIN records r ON r.id = br.record_id
        WHERE br.batch_id = $1 AND NOT r.deleted
        ORDER BY r.id
        """,
        batch_id,
        prefetch=500,
    )


async def pair_states(
    conn: Conn,
) -> dict[tuple[str, str], tuple[list[Participation], dt.date | None, bool]]:
    """Per (ISIL, collection id): participations, the agreement's end and whether the set
    holds the records now, for the scheduler's quick look (no locks)."""
    rows = await conn.fetch(
        """
        SELECT p.isil, c.id AS collection_id, c.ended_on, p.joined_on, p.left_on,
               p.leave_reason, coalesce(rs.available, false) AS available
        FROM participations p
        JOIN collections c ON c.agreement_id = p.agreement_id
        LEFT JOIN record_sets rs ON rs.isil = p.isil AND rs.collection_id = c.id
        """
    )
    states: dict[tuple[str, str], tuple[list[Participation], dt.date | None, bool]] = {}
    for row in rows:
        key = (row["isil"], row["collection_id"])
        entry = states.setdefault(key, ([], row["ended_on"], row["available"]))
        entry[0].append(_participation(row))
    return states


# --- records that could not be rendered ---------------------------------------------------------


async def note_unrenderable(
    conn: Conn, problems: Sequence[tuple[int, str, str]], code: str = "unrenderable-record"
) -> None:
    """Record (record id, context, message) for records an export or OAI-PMH left out."""
    if not problems:
        return
    await conn.execute(
        """
        INSERT INTO record_findings (record_id, context, code, message)
        SELECT p.record_id, p.context, $4, p.message
        FROM unnest($1::bigint[], $2::text[], $3::text[]) AS p (record_id, context, message)
        WHERE EXISTS (SELECT 1 FROM records r WHERE r.id = p.record_id)
        ON CONFLICT (record_id, context, code) DO UPDATE
        SET message = excluded.message, occurrences = record_findings.occurrences + 1,
            last_seen = now()
        """,
        [p[0] for p in problems],
        [p[1] for p in problems],
        [p[2][:500] for p in problems],
        code,
    )


async def record_findings(conn: Conn, record_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT context, code, message, occurrences, first_seen, last_seen FROM record_findings
        WHERE record_id = $1 ORDER BY context, code
        """,
        record_id,
    )
    return [dict(row) for row in rows]
