"""Outreach SQL, with parameters only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from contracts.membership import Library
from services.outreach.domain import Mail, Recipient, message_id

# A claimed message whose sender died is retried after this lease.
SENDING_LEASE = dt.timedelta(seconds=60)


async def upsert_library(
    conn: asyncpg.Connection,
    library: Library,
    *,
    is_member: bool,
    member_since: dt.date | None = None,
    left_on: dt.date | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO audience_libraries
            (isil, names, municipalities, population, library_system, is_member,
             member_since, left_on)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (isil) DO UPDATE SET
            names = EXCLUDED.names, municipalities = EXCLUDED.municipalities,
            population = EXCLUDED.population, library_system = EXCLUDED.library_system,
            is_member = EXCLUDED.is_member,
            member_since = COALESCE(EXCLUDED.member_since, audience_libraries.member_since),
            left_on = EXCLUDED.left_on, updated_at = now()
        """,
        library.isil,
        library.names.model_dump(),
        library.municipalities,
        library.population,
        library.library_system,
        is_member,
        member_since,
        left_on,
    )
    await conn.execute("DELETE FROM audience_contacts WHERE isil = $1", library.isil)
    await conn.executemany(
        """
        INSERT INTO audience_contacts (isil, position, name, email, role, language)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        [
            (library.isil, i, c.name, c.email, c.role, c.language)
            for i, c in enumerate(library.contacts)
        ],
    )


async def queue(conn: asyncpg.Connection, cause_id: str, mails: list[Mail], domain: str) -> int:
    """Queue mails; one per (cause, recipient, kind) however often this runs."""
    if not mails:
        return 0
    result = await conn.fetch(
        """
        INSERT INTO deliveries (cause_id, kind, isil, recipient, language, subject,
                                text_body, html_body, message_id)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::text[], $9::text[])
        ON CONFLICT (cause_id, recipient, kind) DO NOTHING
        RETURNING id
        """,
        [cause_id] * len(mails),
        [m.kind for m in mails],
        [m.recipient.isil for m in mails],
        [m.recipient.email for m in mails],
        [m.recipient.language for m in mails],
        [m.subject for m in mails],
        [m.text for m in mails],
        [m.html for m in mails],
        [message_id(cause_id, m.recipient.email, m.kind, domain) for m in mails],
    )
    return len(result)


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        UPDATE deliveries SET status = 'sending', attempts = attempts + 1,
               next_attempt_at = now() + $2::interval
        WHERE id IN (
            SELECT id FROM deliveries
            WHERE status IN ('queued', 'sending') AND next_attempt_at <= now()
            ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *
        """,
        limit,
        SENDING_LEASE,
    )


async def mark_sent(conn: asyncpg.Connection | asyncpg.Pool, delivery_id: int) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'sent', sent_at = now(), last_error = NULL WHERE id = $1",
        delivery_id,
    )


async def mark_retry(
    conn: asyncpg.Connection | asyncpg.Pool, delivery_id: int, error: str, delay_s: float
) -> None:
    await conn.execute(
        """
        UPDATE deliveries SET status = 'queued', last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3)
        WHERE id = $1
        """,
        delivery_id,
        error[:1000],
        delay_s,
    )


async def mark_failed(
    conn: asyncpg.Connection | asyncpg.Pool, delivery_id: int, error: str
) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', last_error = $2 WHERE id = $1",
        delivery_id,
        error[:1000],
    )


async def member_recipients(conn: asyncpg.Connection | asyncpg.Pool) -> list[Recipient]:
    rows = await conn.fetch(
        """
        SELECT c.isil, c.email, c.name, c.language FROM audience_contacts c
        JOIN audience_libraries l USING (isil)
        WHERE l.is_member ORDER BY c.isil, c.position
        """
    )
    return [Recipient(r["isil"], r["email"], r["name"], r["language"]) for r in rows]


async def list_deliveries(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    status: str | None,
    kind: str | None,
    isil: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    # Fixed condition texts with parameters; a NULL parameter switches its condition off.
    where = """
        WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
          AND ($3::text IS NULL OR isil = $3)
    """
    total = await conn.fetchval(f"SELECT count(*) FROM deliveries {where}", status, kind, isil)  # noqa: S608
    rows = await conn.fetch(
        f"""
        SELECT id, cause_id, kind, isil, recipient, language, subject, status, attempts,
               last_error, created_at, sent_at
        FROM deliveries {where} ORDER BY id LIMIT $4 OFFSET $5
        """,  # noqa: S608
        status,
        kind,
        isil,
        limit,
        offset,
    )
    return [dict(r) for r in rows], total


async def delivery_counts(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def list_audience(
    conn: asyncpg.Connection | asyncpg.Pool, *, members_only: bool, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    total = await conn.fetchval(
        "SELECT count(*) FROM audience_libraries WHERE is_member OR NOT $1", members_only
    )
    rows = await conn.fetch(
        """
        SELECT l.isil, l.names, l.municipalities, l.library_system, l.is_member,
               l.member_since, l.left_on,
               (SELECT count(*) FROM audience_contacts c WHERE c.isil = l.isil) AS contacts
        FROM audience_libraries l WHERE l.is_member OR NOT $1
        ORDER BY l.isil LIMIT $2 OFFSET $3
        """,
        members_only,
        limit,
        offset,
    )
    return [dict(r) for r in rows], total
