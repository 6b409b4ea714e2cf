"""Melinda job state, with parameters only. Every step a job takes is committed as soon as it
is taken, so a job interrupted anywhere resumes from its last committed step."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

JOB_COLUMNS = """
    id, batch_id, mode, operation, status, stage, remote_id, remote_state, total, attempts,
    last_error, lease_until, created_by, created_at, updated_at, finished_at
"""


async def batch_plan(conn: Conn, batch_id: str) -> dict[str, int]:
    """How many of a batch's current new and changed records Melinda would get as creates
    and as updates (a record linked to a Melinda record before is an update)."""
    rows = await conn.fetch(
        """
        SELECT CASE WHEN ml.melinda_id IS NULL THEN 'create' ELSE 'update' END AS operation,
               count(*) AS n
        FROM batch_records br
        JOIN records r ON r.id = br.record_id AND NOT r.deleted
        LEFT JOIN melinda_links ml ON ml.record_id = r.id
        WHERE br.batch_id = $1
        GROUP BY 1
        """,
        batch_id,
    )
    return {row["operation"]: row["n"] for row in rows}


async def insert_job(
    conn: asyncpg.Connection,
    *,
    job_id: str,
    batch_id: str,
    mode: str,
    operation: str,
    created_by: str,
) -> None:
    await conn.execute(
        """
        INSERT INTO melinda_jobs (id, batch_id, mode, operation, status, total, created_by)
        VALUES ($1, $2, $3, $4, 'pending', 0, $5)
        """,
        job_id,
        batch_id,
        mode,
        operation,
        created_by,
    )
    await conn.execute(
        """
        WITH chosen AS (
            INSERT INTO melinda_job_records (job_id, record_id, position, melinda_id)
            SELECT $1, r.id, row_number() OVER (ORDER BY r.id), ml.melinda_id
            FROM batch_records br
            JOIN records r ON r.id = br.record_id AND NOT r.deleted
            LEFT JOIN melinda_links ml ON ml.record_id = r.id
            WHERE br.batch_id = $2
              AND (CASE WHEN $3 = 'create' THEN ml.melinda_id IS NULL
                        ELSE ml.melinda_id IS NOT NULL END)
            RETURNING 1
        )
        UPDATE melinda_jobs SET total = (SELECT count(*) FROM chosen) WHERE id = $1
        """,
        job_id,
        batch_id,
        operation,
    )


async def get_job(conn: Conn, job_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM melinda_jobs WHERE id = $1",  # noqa: S608
        job_id,
    )
    return dict(row) if row else None


async def job_counts(conn: Conn, job_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM melinda_job_records WHERE job_id = $1 GROUP BY status",
        job_id,
    )
    return {row["status"]: row["n"] for row in rows}


async def list_jobs(
    conn: Conn, *, batch_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    total = await conn.fetchval(
        "SELECT count(*) FROM melinda_jobs WHERE ($1::text IS NULL OR batch_id = $1)", batch_id
    )
    rows = await conn.fetch(
        f"""
        SELECT {JOB_COLUMNS} FROM melinda_jobs WHERE ($1::text IS NULL OR batch_id = $1)
        ORDER BY created_at DESC, id LIMIT $2 OFFSET $3
        """,  # noqa: S608
        batch_id,
        limit,
        offset,
    )
    return [dict(row) for row in rows], total


async def job_records(
    conn: Conn, job_id: str, *, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where = "job_id = $1 AND ($2::text IS NULL OR status = $2)"
    total = await conn.fetchval(
        f"SELECT count(*) FROM melinda_job_records WHERE {where}",  # noqa: S608
        job_id,
        status,
    )
    rows = await conn.fetch(
        f"""
        SELECT record_id, position, status, melinda_id, message FROM melinda_job_records
        WHERE {where} ORDER BY position LIMIT $3 OFFSET $4
        """,  # noqa: S608
        job_id,
        status,
        limit,
        offset,
    )
    return [dict(row) for row in rows], total


async def claim(conn: Conn, job_id: str, lease: dt.timedelta) -> dict[str, Any] | None:
    """Take the job for ``lease`` unless another process holds it."""
    row = await conn.fetchrow(
        f"""
        UPDATE melinda_jobs
        SET status = 'running', lease_until = now() + $2::interval, attempts = attempts + 1,
            last_error = NULL, updated_at = now()
        WHERE id = $1 AND status IN ('pending', 'running')
          AND (lease_until IS NULL OR lease_until < now())
        RETURNING {JOB_COLUMNS}
        """,  # noqa: S608
        job_id,
        lease,
    )
    return dict(row) if row else None


async def due_jobs(conn: Conn, limit: int = 10) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT id FROM melinda_jobs
        WHERE status IN ('pending', 'running') AND (lease_until IS NULL OR lease_until < now())
        ORDER BY created_at LIMIT $1
        """,
        limit,
    )
    return [row["id"] for row in rows]


async def renew(conn: Conn, job_id: str, lease: dt.timedelta) -> None:
    await conn.execute(
        "UPDATE melinda_jobs SET lease_until = now() + $2::interval, updated_at = now() "
        "WHERE id = $1",
        job_id,
        lease,
    )


async def set_stage(
    conn: Conn,
    job_id: str,
    stage: str,
    *,
    remote_id: str | None = None,
    remote_state: str | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE melinda_jobs SET stage = $2, remote_id = coalesce($3, remote_id),
               remote_state = coalesce($4, remote_state), updated_at = now()
        WHERE id = $1
        """,
        job_id,
        stage,
        remote_id,
        remote_state,
    )


async def postpone(conn: Conn, job_id: str, error: str, retry_in: dt.timedelta) -> None:
    """Melinda is away: keep everything, try again after ``retry_in``."""
    await conn.execute(
        """
        UPDATE melinda_jobs SET last_error = $2, lease_until = now() + $3::interval,
               updated_at = now()
        WHERE id = $1
        """,
        job_id,
        error[:1000],
        retry_in,
    )


async def release_postponed(conn: Conn, job_id: str) -> None:
    """Make a job Melinda's absence postponed due now (one that is being run keeps its
    lease, renewed as it works: its last_error is cleared when it succeeds)."""
    await conn.execute(
        """
        UPDATE melinda_jobs SET lease_until = NULL, updated_at = now()
        WHERE id = $1 AND last_error IS NOT NULL AND status IN ('pending', 'running')
        """,
        job_id,
    )


async def release(conn: Conn, job_id: str) -> None:
    await conn.execute(
        "UPDATE melinda_jobs SET lease_until = NULL, updated_at = now() WHERE id = $1", job_id
    )


async def finish(conn: Conn, job_id: str, status: str = "done", error: str | None = None) -> None:
    await conn.execute(
        """
        UPDATE melinda_jobs SET status = $2, stage = 'finished',
               last_error = coalesce($3, last_error), lease_until = NULL,
               finished_at = now(), updated_at = now()
        WHERE id = $1
        """,
        job_id,
        status,
        error[:1000] if error else None,
    )


@dataclass(frozen=True)
class JobRecord:
    record_id: int
    position: int
    melinda_id: str | None
    marc: bytes


async def records_in_status(conn: Conn, job_id: str, status: str, limit: int) -> list[JobRecord]:
    rows = await conn.fetch(
        """
        SELECT jr.record_id, jr.position, jr.melinda_id, r.marc
        FROM melinda_job_records jr JOIN records r ON r.id = jr.record_id
        WHERE jr.job_id = $1 AND jr.status = $2
        ORDER BY jr.position LIMIT $3
        """,
        job_id,
        status,
        limit,
    )
    return [
        JobRecord(row["record_id"], row["position"], row["melinda_id"], row["marc"]) for row in rows
    ]


async def mark_sent(conn: Conn, job_id: str, record_id: int) -> None:
    await conn.execute(
        "UPDATE melinda_job_records SET status = 'sent' WHERE job_id = $1 AND record_id = $2",
        job_id,
        record_id,
    )


async def set_result(
    conn: asyncpg.Connection,
    job_id: str,
    record_id: int,
    status: str,
    melinda_id: str | None,
    message: str | None,
) -> None:
    """A record's outcome; a created or updated record is linked to its Melinda record so
    that its next change is sent as an update."""
    async with conn.transaction():
        await conn.execute(
            """
            UPDATE melinda_job_records SET status = $3, melinda_id = coalesce($4, melinda_id),
                   message = $5
            WHERE job_id = $1 AND record_id = $2
            """,
            job_id,
            record_id,
            status,
            melinda_id,
            message[:1000] if message else None,
        )
        if status in ("created", "updated") and melinda_id:
            await link(conn, record_id, melinda_id)


async def link(conn: Conn, record_id: int, melinda_id: str) -> None:
    await conn.execute(
        """
        INSERT INTO melinda_links (record_id, melinda_id) VALUES ($1, $2)
        ON CONFLICT (record_id) DO UPDATE SET melinda_id = excluded.melinda_id, linked_at = now()
        """,
        record_id,
        melinda_id,
    )


async def melinda_id_of(conn: Conn, record_id: int) -> str | None:
    return await conn.fetchval(
        "SELECT melinda_id FROM melinda_links WHERE record_id = $1", record_id
    )


async def unreported(conn: Conn, job_id: str) -> int:
    """Records sent in a bulk job that Melinda's report did not mention."""
    status = await conn.execute(
        """
        UPDATE melinda_job_records SET status = 'error',
               message = 'Melinda reported no result for this record'
        WHERE job_id = $1 AND status IN ('sent', 'pending')
        """,
        job_id,
    )
    return int(status.rsplit(" ", 1)[-1])
