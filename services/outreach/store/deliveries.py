"""The delivery log: every message queued, claimed by a sender, sent, retried or failed, and
the erasure of a contact's address from it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg

from services.outreach.domain import BULK_KINDS, Mail, message_id
from services.outreach.store.connection import Conn

# A claimed message whose sender died is retried after this lease.
SENDING_LEASE = dt.timedelta(seconds=60)


async def queue(
    conn: asyncpg.Connection,
    cause_id: str,
    mails: list[Mail],
    domain: str,
    *,
    correlation_id: str | None = None,
) -> int:
    """Queue mails; one per (cause, recipient, kind) however often this runs."""
    if not mails:
        return 0
    result = await conn.fetch(
        """
        INSERT INTO deliveries (cause_id, kind, isil, recipient, language, subject,
                                text_body, html_body, message_id, attachments, correlation_id)
        SELECT cause, kind, isil, recipient, language, subject, text_body, html_body,
               message_id, attachments::jsonb, $11
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
            AS m (cause, kind, isil, recipient, language, subject, text_body, html_body,
                  message_id, attachments)
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
        [_attachments_json(m) for m in mails],
        correlation_id,
    )
    return len(result)


def _attachments_json(mail: Mail) -> str:
    return json.dumps(
        [
            {
                "file_id": f.id,
                "kit_id": f.kit_id,
                "filename": f.filename,
                "content_type": f.content_type,
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in mail.attachments
        ]
    )


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Up to ``limit`` due messages, claimed for a lease: those to one library first, then
    bulk ones (``BULK_KINDS``), each in queueing order."""
    return await conn.fetch(
        """
        UPDATE deliveries SET status = 'sending', attempts = attempts + 1,
               next_attempt_at = now() + $2::interval
        WHERE id IN (
            SELECT id FROM deliveries
            WHERE status IN ('queued', 'sending') AND next_attempt_at <= now()
            ORDER BY kind = ANY($3::text[]), id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *
        """,
        limit,
        SENDING_LEASE,
        list(BULK_KINDS),
    )


async def mark_sent(conn: asyncpg.Connection, delivery_id: int, attempts: int) -> bool:
    """True when this claim was still the message's current one (a sender whose lease ran
    out and was overtaken by another records nothing)."""
    return bool(
        await conn.fetchval(
            """
            UPDATE deliveries SET status = 'sent', sent_at = now(), last_error = NULL
            WHERE id = $1 AND status = 'sending' AND attempts = $2 RETURNING true
            """,
            delivery_id,
            attempts,
        )
    )


async def mark_failed(
    conn: asyncpg.Connection, delivery_id: int, attempts: int, error: str
) -> bool:
    return bool(
        await conn.fetchval(
            """
            UPDATE deliveries SET status = 'failed', last_error = $3
            WHERE id = $1 AND status = 'sending' AND attempts = $2 RETURNING true
            """,
            delivery_id,
            attempts,
            error[:1000],
        )
    )


async def mark_retry(conn: Conn, delivery_id: int, error: str, delay_s: float) -> None:
    await conn.execute(
        """
        UPDATE deliveries SET status = 'queued', last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3)
        WHERE id = $1 AND status = 'sending'
        """,
        delivery_id,
        error[:1000],
        delay_s,
    )


async def release(conn: Conn, delivery_ids: list[int]) -> None:
    """Give claimed but unattempted messages back at once (a graceful stop), instead of
    leaving them to wait out the lease. The claim's attempt did not happen: uncount it."""
    if delivery_ids:
        await conn.execute(
            """
            UPDATE deliveries SET status = 'queued', next_attempt_at = now(),
                   attempts = greatest(attempts - 1, 0)
            WHERE id = ANY($1::bigint[]) AND status = 'sending'
            """,
            delivery_ids,
        )


async def list_deliveries(
    conn: Conn,
    *,
    status: str | None,
    kind: str | None,
    isil: str | None,
    cause_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    # Fixed condition texts with parameters; a NULL parameter switches its condition off.
    where = """
        WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
          AND ($3::text IS NULL OR isil = $3) AND ($4::text IS NULL OR cause_id = $4)
    """
    total = await conn.fetchval(
        f"SELECT count(*) FROM deliveries {where}",  # noqa: S608
        status,
        kind,
        isil,
        cause_id,
    )
    rows = await conn.fetch(
        f"""
        SELECT id, cause_id, kind, isil, recipient, language, subject, status, attempts,
               last_error, created_at, sent_at, attachments
        FROM deliveries {where} ORDER BY id LIMIT $5 OFFSET $6
        """,  # noqa: S608
        status,
        kind,
        isil,
        cause_id,
        limit,
        offset,
    )
    return [dict(r) for r in rows], total


async def delivery_counts(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def cause_counts(conn: Conn, cause_id: str, kind: str) -> dict[str, int]:
    rows = await conn.fetch(
        """
        SELECT status, count(*) AS n FROM deliveries
        WHERE cause_id = $1 AND kind = $2 GROUP BY status
        """,
        cause_id,
        kind,
    )
    return {r["status"]: r["n"] for r in rows}


async def forget_contact(conn: asyncpg.Connection, isil: str, email_sha256: str) -> int:
    """A contact erased on request (contact-erased carries the address's SHA-256 only): off the
    audience, unsent messages to it dropped, and the delivery log keeps only the hash in
    place of the address and no message body. Returns the delivery rows changed."""
    digest = "encode(sha256(convert_to(lower(trim({})), 'UTF8')), 'hex')"
    await conn.execute(
        f"DELETE FROM audience_contacts WHERE isil = $1 AND {digest.format('email')} = $2",  # noqa: S608
        isil,
        email_sha256,
    )
    await conn.execute(
        f"""
        DELETE FROM deliveries WHERE status = 'queued' AND {digest.format("recipient")} = $1
        """,  # noqa: S608 - a constant expression, no input
        email_sha256,
    )
    status = await conn.execute(
        f"""
        UPDATE deliveries SET recipient = 'erased:' || $1, text_body = '', html_body = ''
        WHERE {digest.format("recipient")} = $1
        """,  # noqa: S608 - a constant expression, no input
        email_sha256,
    )
    return int(status.split()[-1])
