"""Campaign SQL: the campaign rows, their materialisation cursor and their statistics."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from services.outreach.store.connection import Conn


async def create(
    conn: Conn,
    *,
    campaign_id: uuid.UUID,
    title: str,
    audience: dict[str, Any],
    audience_text: str,
    subject: dict[str, str],
    body: dict[str, str],
    kit_id: uuid.UUID | None,
    origin: str,
    agreement_id: str | None,
    created_by: str,
) -> dict[str, Any] | None:
    """None when a campaign with this id exists already (a repeated event)."""
    row = await conn.fetchrow(
        """
        INSERT INTO campaigns (id, title, audience, audience_text, subject, body, kit_id,
                               origin, agreement_id, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (id) DO NOTHING RETURNING *
        """,
        campaign_id,
        title,
        audience,
        audience_text,
        subject,
        body,
        kit_id,
        origin,
        agreement_id,
        created_by,
    )
    return dict(row) if row else None


async def get(
    conn: Conn, campaign_id: uuid.UUID, *, for_update: bool = False
) -> dict[str, Any] | None:
    statement = "SELECT * FROM campaigns WHERE id = $1"
    if for_update:
        statement += " FOR UPDATE"
    row = await conn.fetchrow(statement, campaign_id)
    return dict(row) if row else None


async def update_content(
    conn: Conn,
    campaign_id: uuid.UUID,
    *,
    title: str,
    audience: dict[str, Any],
    audience_text: str,
    subject: dict[str, str],
    body: dict[str, str],
    kit_id: uuid.UUID | None,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        UPDATE campaigns SET title = $2, audience = $3, audience_text = $4, subject = $5,
               body = $6, kit_id = $7, updated_at = now()
        WHERE id = $1 RETURNING *
        """,
        campaign_id,
        title,
        audience,
        audience_text,
        subject,
        body,
        kit_id,
    )
    return dict(row)


async def set_status(
    conn: Conn, campaign_id: uuid.UUID, status: str, send_at: dt.datetime | None
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        UPDATE campaigns SET status = $2, send_at = $3, updated_at = now()
        WHERE id = $1 RETURNING *
        """,
        campaign_id,
        status,
        send_at,
    )
    return dict(row)


async def list_campaigns(
    conn: Conn, *, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    total = await conn.fetchval(
        "SELECT count(*) FROM campaigns WHERE ($1::text IS NULL OR status = $1)", status
    )
    rows = await conn.fetch(
        """
        SELECT * FROM campaigns WHERE ($1::text IS NULL OR status = $1)
        ORDER BY created_at DESC, id LIMIT $2 OFFSET $3
        """,
        status,
        limit,
        offset,
    )
    return [dict(r) for r in rows], total


async def drafts_for_agreement(conn: Conn, agreement_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM campaigns WHERE agreement_id = $1 ORDER BY created_at", agreement_id
    )
    return [dict(r) for r in rows]


# --- sending -----------------------------------------------------------------------------------


async def due_to_start(conn: asyncpg.Connection, now: dt.datetime) -> list[dict[str, Any]]:
    """Scheduled campaigns whose time has come, locked so one replica starts each."""
    rows = await conn.fetch(
        """
        SELECT * FROM campaigns WHERE status = 'scheduled' AND send_at <= $1
        ORDER BY send_at, id FOR UPDATE SKIP LOCKED
        """,
        now,
    )
    return [dict(r) for r in rows]


async def start(conn: asyncpg.Connection, campaign_id: uuid.UUID, planned: int) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET status = 'sending', started_at = now(), recipients_planned = $2,
               updated_at = now()
        WHERE id = $1
        """,
        campaign_id,
        planned,
    )


async def materialising(conn: Conn) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """
        SELECT id FROM campaigns WHERE status = 'sending' AND materialised_at IS NULL
        ORDER BY started_at, id
        """
    )
    return [r["id"] for r in rows]


async def lock_for_batch(conn: asyncpg.Connection, campaign_id: uuid.UUID) -> dict[str, Any] | None:
    """The campaign, locked for one batch, if it still needs materialising and no other
    replica holds it right now."""
    row = await conn.fetchrow(
        """
        SELECT * FROM campaigns
        WHERE id = $1 AND status = 'sending' AND materialised_at IS NULL
        FOR UPDATE SKIP LOCKED
        """,
        campaign_id,
    )
    return dict(row) if row else None


async def advance(
    conn: asyncpg.Connection, campaign_id: uuid.UUID, cursor: tuple[str, int], queued: int
) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET cursor_isil = $2, cursor_position = $3,
               materialised = materialised + $4, batches = batches + 1, updated_at = now()
        WHERE id = $1
        """,
        campaign_id,
        cursor[0],
        cursor[1],
        queued,
    )


async def materialised_all(conn: asyncpg.Connection, campaign_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE campaigns SET materialised_at = now(), updated_at = now() WHERE id = $1",
        campaign_id,
    )


async def finished_sending(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Campaigns whose every message is sent or failed for good, locked for finishing."""
    rows = await conn.fetch(
        """
        SELECT c.* FROM campaigns c
        WHERE c.status = 'sending' AND c.materialised_at IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM deliveries d
              WHERE d.cause_id = c.id::text AND d.kind = 'campaign'
                AND d.status IN ('queued', 'sending'))
        FOR UPDATE OF c SKIP LOCKED
        """
    )
    return [dict(r) for r in rows]


async def finish(conn: asyncpg.Connection, campaign_id: uuid.UUID) -> dt.datetime:
    return await conn.fetchval(
        """
        UPDATE campaigns SET status = 'sent', finished_at = now(), updated_at = now()
        WHERE id = $1 RETURNING finished_at
        """,
        campaign_id,
    )
