"""Outreach SQL for the audience, participation, the delivery log and the feed; parameters
only. Kits are in ``kit_store.py``, campaigns in ``campaign_store.py``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, TypeAlias

import asyncpg

from contracts.membership import Library
from services.outreach.domain import BULK_KINDS, AudienceFilter, Mail, Recipient, message_id

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

# A claimed message whose sender died is retried after this lease.
SENDING_LEASE = dt.timedelta(seconds=60)

# "In the audience": a member whose leaving date, if any, has not come yet.
ACTIVE = "l.is_member AND (l.left_on IS NULL OR l.left_on > $1::date)"


# --- audience (from membership events) ---------------------------------------------------------


async def upsert_library(
    conn: asyncpg.Connection,
    library: Library,
    *,
    is_member: bool,
    member_since: dt.date | None = None,
    left_on: dt.date | None = None,
    keep_dates: bool = False,
) -> None:
    """Copy a library's current state. ``keep_dates`` (member-updated) keeps the joining and
    leaving dates known from earlier events; otherwise they are set from this event."""
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
            left_on = CASE WHEN $9 THEN audience_libraries.left_on ELSE EXCLUDED.left_on END,
            updated_at = now()
        """,
        library.isil,
        library.names.model_dump(),
        library.municipalities,
        library.population,
        library.library_system,
        is_member,
        member_since,
        left_on,
        keep_dates,
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


def _recipient(row: asyncpg.Record) -> Recipient:
    return Recipient(row["isil"], row["email"], row["name"], row["language"])


async def active_library(conn: Conn, isil: str, today: dt.date) -> dict[str, Any] | None:
    """A library in the audience today, with its names; None when it is not a member."""
    row = await conn.fetchrow(
        f"""
        SELECT l.isil, l.names, l.municipalities, l.library_system
        FROM audience_libraries l WHERE l.isil = $2 AND {ACTIVE}
        """,  # noqa: S608 - a constant condition, no input
        today,
        isil,
    )
    return dict(row) if row else None


async def library_recipients(conn: Conn, isil: str, today: dt.date) -> list[Recipient]:
    """The contacts of one library, if it is in the audience today (in listing order)."""
    rows = await conn.fetch(
        f"""
        SELECT c.isil, lower(trim(c.email)) AS email, c.name, c.language
        FROM audience_contacts c JOIN audience_libraries l USING (isil)
        WHERE c.isil = $2 AND {ACTIVE} ORDER BY c.position
        """,  # noqa: S608 - a constant condition, no input
        today,
        isil,
    )
    return [_recipient(r) for r in rows]


async def member_recipients(conn: Conn, today: dt.date) -> list[Recipient]:
    """Every contact of every library in the audience today."""
    rows = await conn.fetch(
        f"""
        SELECT c.isil, lower(trim(c.email)) AS email, c.name, c.language
        FROM audience_contacts c JOIN audience_libraries l USING (isil)
        WHERE {ACTIVE} ORDER BY c.isil, c.position
        """,  # noqa: S608 - a constant condition, no input
        today,
    )
    return [_recipient(r) for r in rows]


# The audience of a campaign. Each filter parameter is NULL when it does not apply, which
# switches its condition off; the statement itself never changes.
AUDIENCE_WHERE = f"""
    WHERE {ACTIVE}
      AND ($2::text IS NULL OR EXISTS (
            SELECT 1 FROM participations p
            WHERE p.agreement_id = $2 AND p.isil = l.isil
              AND (p.left_on IS NULL OR p.left_on > $1::date)))
      AND ($3::text[] IS NULL OR lower(l.library_system) = ANY($3::text[]))
      AND ($4::text[] IS NULL OR l.municipalities && $4::text[])
"""  # noqa: S608 - constant fragments only


def _filter_args(audience: AudienceFilter, today: dt.date) -> tuple[Any, ...]:
    return (today, audience.agreement(), audience.systems(), audience.municipality_codes())


async def audience_page(
    conn: Conn,
    audience: AudienceFilter,
    today: dt.date,
    *,
    after: tuple[str, int],
    limit: int,
) -> list[dict[str, Any]]:
    """The next ``limit`` contacts after ``after`` = (isil, position), in that order."""
    rows = await conn.fetch(
        f"""
        SELECT c.isil, c.position, lower(trim(c.email)) AS email, c.name, c.language, l.names
        FROM audience_contacts c JOIN audience_libraries l USING (isil)
        {AUDIENCE_WHERE}
          AND (c.isil, c.position) > ($5::text, $6::integer)
        ORDER BY c.isil, c.position LIMIT $7
        """,  # noqa: S608 - constant SQL fragments, values are parameters
        *_filter_args(audience, today),
        after[0],
        after[1],
        limit,
    )
    return [dict(r) for r in rows]


async def audience_size(conn: Conn, audience: AudienceFilter, today: dt.date) -> int:
    """Distinct addresses a campaign would reach today."""
    return await conn.fetchval(
        f"""
        SELECT count(DISTINCT lower(trim(c.email)))
        FROM audience_contacts c JOIN audience_libraries l USING (isil)
        {AUDIENCE_WHERE}
        """,  # noqa: S608 - constant SQL fragments, values are parameters
        *_filter_args(audience, today),
    )


async def audience_samples(
    conn: Conn, audience: AudienceFilter, today: dt.date
) -> dict[str, dict[str, Any]]:
    """One contact per language from a campaign's audience, for a preview."""
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT ON (c.language)
               c.isil, c.position, lower(trim(c.email)) AS email, c.name, c.language, l.names
        FROM audience_contacts c JOIN audience_libraries l USING (isil)
        {AUDIENCE_WHERE}
        ORDER BY c.language, c.isil, c.position
        """,  # noqa: S608 - constant SQL fragments, values are parameters
        *_filter_args(audience, today),
    )
    return {r["language"]: dict(r) for r in rows}


async def list_audience(
    conn: Conn, *, members_only: bool, limit: int, offset: int, today: dt.date
) -> tuple[list[dict[str, Any]], int]:
    where = f"WHERE ({ACTIVE}) OR NOT $2"
    total = await conn.fetchval(
        f"SELECT count(*) FROM audience_libraries l {where}",  # noqa: S608 - constant
        today,
        members_only,
    )
    rows = await conn.fetch(
        f"""
        SELECT l.isil, l.names, l.municipalities, l.library_system,
               ({ACTIVE}) AS is_member, l.member_since, l.left_on,
               (SELECT count(*) FROM audience_contacts c WHERE c.isil = l.isil) AS contacts
        FROM audience_libraries l {where}
        ORDER BY l.isil LIMIT $3 OFFSET $4
        """,  # noqa: S608 - constant SQL fragments, values are parameters
        today,
        members_only,
        limit,
        offset,
    )
    return [dict(r) for r in rows], total


async def is_active_member(conn: Conn, isil: str, today: dt.date) -> bool:
    return bool(
        await conn.fetchval(
            f"SELECT true FROM audience_libraries l WHERE l.isil = $2 AND {ACTIVE}",  # noqa: S608
            today,
            isil,
        )
    )


async def is_known_library(conn: Conn, isil: str) -> bool:
    """Whether any membership event about the library has arrived (member or not)."""
    return bool(await conn.fetchval("SELECT true FROM audience_libraries WHERE isil = $1", isil))


async def park_request(
    conn: Conn,
    isil: str,
    cause_id: str,
    kind: str,
    event: dict[str, Any],
    correlation_id: str | None,
) -> None:
    """Keep a request to a library not known yet; ``event`` is the cause, as JSON data."""
    await conn.execute(
        """
        INSERT INTO parked_requests (isil, cause_id, kind, event, correlation_id)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
        """,
        isil,
        cause_id,
        kind,
        event,
        correlation_id,
    )


async def take_parked_requests(conn: asyncpg.Connection, isil: str) -> list[asyncpg.Record]:
    """The library's parked requests, removed in the caller's transaction, oldest first."""
    return await conn.fetch(
        """
        DELETE FROM parked_requests WHERE isil = $1
        RETURNING cause_id, kind, event, correlation_id, parked_at
        """,
        isil,
    )


# --- agreements and participation (from procurement events) ------------------------------------


async def upsert_agreement(
    conn: asyncpg.Connection,
    agreement_id: str,
    *,
    title: str,
    product: str,
    supplier: str,
    signed_on: dt.date | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO agreements (agreement_id, title, product, supplier, signed_on)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (agreement_id) DO UPDATE SET
            title = EXCLUDED.title, product = EXCLUDED.product, supplier = EXCLUDED.supplier,
            signed_on = COALESCE(EXCLUDED.signed_on, agreements.signed_on), updated_at = now()
        """,
        agreement_id,
        title,
        product,
        supplier,
        signed_on,
    )


async def end_agreement(conn: asyncpg.Connection, agreement_id: str, effective_on: dt.date) -> None:
    """Every participation still open ends with the agreement."""
    await conn.execute(
        "UPDATE agreements SET ended_on = $2, updated_at = now() WHERE agreement_id = $1",
        agreement_id,
        effective_on,
    )
    await conn.execute(
        """
        UPDATE participations SET left_on = $2
        WHERE agreement_id = $1 AND (left_on IS NULL OR left_on > $2)
        """,
        agreement_id,
        effective_on,
    )


async def join_agreement(
    conn: asyncpg.Connection, agreement_id: str, isil: str, joined_on: dt.date
) -> None:
    # A re-join after an opt-out opens the participation again.
    await conn.execute(
        """
        INSERT INTO participations (agreement_id, isil, joined_on) VALUES ($1, $2, $3)
        ON CONFLICT (agreement_id, isil) DO UPDATE SET joined_on = EXCLUDED.joined_on,
            left_on = NULL
        """,
        agreement_id,
        isil,
        joined_on,
    )


async def leave_agreement(
    conn: asyncpg.Connection, agreement_id: str, isil: str, left_on: dt.date
) -> None:
    await conn.execute(
        """
        INSERT INTO participations (agreement_id, isil, joined_on, left_on)
        VALUES ($1, $2, $3, $3)
        ON CONFLICT (agreement_id, isil) DO UPDATE SET left_on = EXCLUDED.left_on
        """,
        agreement_id,
        isil,
        left_on,
    )


async def participants(conn: Conn, agreement_id: str, today: dt.date) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT isil FROM participations
        WHERE agreement_id = $1 AND (left_on IS NULL OR left_on > $2) ORDER BY isil
        """,
        agreement_id,
        today,
    )
    return [r["isil"] for r in rows]


# --- the delivery log --------------------------------------------------------------------------


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


# --- announcements (the Atom feed) -------------------------------------------------------------


async def add_announcement(
    conn: asyncpg.Connection,
    *,
    cause_id: str,
    language: str,
    title: str,
    summary: str,
    link: str | None,
    published_at: dt.datetime,
) -> dict[str, Any] | None:
    """Add one language version; None when it exists already (a repeated cause)."""
    row = await conn.fetchrow(
        """
        INSERT INTO announcements (id, cause_id, language, title, summary, link, published_at,
                                   updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
        ON CONFLICT (cause_id, language) DO NOTHING
        RETURNING *
        """,
        uuid.uuid4(),
        cause_id,
        language,
        title,
        summary,
        link,
        published_at,
    )
    return dict(row) if row else None


async def recent_announcements(
    conn: Conn, language: str | None, limit: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT * FROM announcements WHERE ($1::text IS NULL OR language = $1)
        ORDER BY published_at DESC, id LIMIT $2
        """,
        language,
        limit,
    )
    return [dict(r) for r in rows]


async def get_announcement(conn: Conn, announcement_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM announcements WHERE id = $1", announcement_id)
    return dict(row) if row else None


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
