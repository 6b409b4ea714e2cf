"""Announcements, which the Atom feed publishes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from services.outreach.store.connection import Conn


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
