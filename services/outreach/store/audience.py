"""The audience: libraries and their contacts as membership's events describe them, the
campaign audience filters, and requests parked until a library's member-joined arrives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from contracts.membership import Library
from services.outreach.domain import AudienceFilter, Recipient
from services.outreach.store.connection import Conn

# "In the audience": a member whose leaving date, if any, has not come yet.
ACTIVE = "l.is_member AND (l.left_on IS NULL OR l.left_on > $1::date)"


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
