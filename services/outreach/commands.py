"""What people ask outreach to do: load → rule → store → events, each in one transaction.

Kit files are the exception that touches the disk: the upload is checked and moved into the
content-addressed storage first, and the metadata row is written afterwards; if the row
cannot be written, a file this upload created is removed again, so nothing is half-written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from contracts.outreach import AnnouncementPublished
from kit.outbox import record_event
from services.outreach import store, uploads
from services.outreach.domain import (
    AudienceFilter,
    OutreachRuleViolated,
    check_cancellable,
    check_editable,
    check_schedulable,
    check_sendable,
)
from services.outreach.storage import KitStorage

# --- kits --------------------------------------------------------------------------------------


def _check_stored(filename: str, path: Path) -> uploads.FileType:
    with path.open("rb") as stream:
        return uploads.check_content(filename, stream)


async def upload_kit_file(
    pool: asyncpg.Pool,
    storage: KitStorage,
    *,
    kit_id: uuid.UUID,
    raw_filename: str | None,
    read: Callable[[int], Awaitable[bytes]],
    language: str,
    category: str,
    max_bytes: int,
    uploaded_by: str,
) -> dict[str, Any]:
    """Check, store and register one kit file. Raises OutreachRuleViolated (bad name or
    type), storage.TooLarge, or LookupError (no such kit)."""
    filename = uploads.check_filename(raw_filename)
    if await store.kits.get_kit(pool, kit_id) is None:
        raise LookupError(f"no kit {kit_id}")
    async with storage.receive(read, max_bytes) as received:
        # Reading a file of tens of megabytes is blocking work: off the event loop.
        file_type = await asyncio.to_thread(_check_stored, filename, received.path)
        created = storage.commit(received)
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await store.kits.add_file(
                conn,
                kit_id=kit_id,
                language=language,
                category=category,
                filename=filename,
                content_type=file_type.content_type,
                size=received.size,
                sha256=received.sha256,
                uploaded_by=uploaded_by,
            )
    except BaseException:
        if created and not await store.kits.sha256_in_use(pool, received.sha256):
            storage.discard(received.sha256)
        raise


# --- announcements (the public feed) -----------------------------------------------------------


async def publish_announcement(
    conn: asyncpg.Connection,
    *,
    cause_id: str,
    versions: dict[str, tuple[str, str]],
    link: str | None,
    published_at: dt.datetime,
) -> list[dict[str, Any]]:
    """Add an announcement to the feed in each language given ({lang: (title, summary)}),
    with announcement-published per language version, in the caller's transaction. A cause
    already announced adds nothing."""
    added = []
    for language, (title, summary) in versions.items():
        row = await store.announcements.add_announcement(
            conn,
            cause_id=cause_id,
            language=language,
            title=title,
            summary=summary,
            link=link,
            published_at=published_at,
        )
        if row is None:
            continue
        await record_event(
            conn,
            AnnouncementPublished(
                announcement_id=str(row["id"]),
                title=title,
                language=language,
                published_at=row["published_at"],
            ),
        )
        added.append(row)
    return added


# --- campaigns ---------------------------------------------------------------------------------


async def _kit_exists(conn: asyncpg.Connection, kit_id: uuid.UUID | None) -> None:
    if kit_id is not None and await store.kits.get_kit(conn, kit_id) is None:
        raise OutreachRuleViolated(f"no kit {kit_id}", field="kit_id")


async def create_campaign(
    pool: asyncpg.Pool,
    *,
    title: str,
    audience: AudienceFilter,
    subject: dict[str, str],
    body: dict[str, str],
    kit_id: uuid.UUID | None,
    created_by: str,
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        await _kit_exists(conn, kit_id)
        created = await store.campaigns.create(
            conn,
            campaign_id=uuid.uuid4(),
            title=title,
            audience=audience.model_dump(),
            audience_text=audience.describe(),
            subject=subject,
            body=body,
            kit_id=kit_id,
            origin="coordinator",
            agreement_id=None,
            created_by=created_by,
        )
    assert created is not None  # a fresh uuid
    return created


async def _locked(conn: asyncpg.Connection, campaign_id: uuid.UUID) -> dict[str, Any]:
    campaign = await store.campaigns.get(conn, campaign_id, for_update=True)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    return campaign


async def update_campaign(
    pool: asyncpg.Pool, campaign_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        campaign = await _locked(conn, campaign_id)
        check_editable(campaign["status"])
        audience = changes.get("audience") or AudienceFilter.model_validate(campaign["audience"])
        kit_id = changes["kit_id"] if "kit_id" in changes else campaign["kit_id"]
        await _kit_exists(conn, kit_id)
        return await store.campaigns.update_content(
            conn,
            campaign_id,
            title=changes.get("title") or campaign["title"],
            audience=audience.model_dump(),
            audience_text=audience.describe(),
            subject={**campaign["subject"], **changes.get("subject", {})},
            body={**campaign["body"], **changes.get("body", {})},
            kit_id=kit_id,
        )


async def schedule_campaign(
    pool: asyncpg.Pool, campaign_id: uuid.UUID, send_at: dt.datetime, now: dt.datetime
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        campaign = await _locked(conn, campaign_id)
        check_schedulable(campaign["status"], send_at, now)
        return await store.campaigns.set_status(conn, campaign_id, "scheduled", send_at)


async def send_campaign_now(
    pool: asyncpg.Pool, campaign_id: uuid.UUID, now: dt.datetime
) -> dict[str, Any]:
    """Due at once: the campaign job starts it in its next round, in the background."""
    async with pool.acquire() as conn, conn.transaction():
        campaign = await _locked(conn, campaign_id)
        check_sendable(campaign["status"])
        return await store.campaigns.set_status(conn, campaign_id, "scheduled", now)


async def cancel_campaign(pool: asyncpg.Pool, campaign_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        campaign = await _locked(conn, campaign_id)
        check_cancellable(campaign["status"])
        return await store.campaigns.set_status(conn, campaign_id, "cancelled", campaign["send_at"])
