"""Sending campaigns: start the due ones, turn their audience into queued messages batch by
batch, and close them (→ ``campaign-sent``) when every message is sent or failed for good.

A send is resumable. Each batch is one transaction that queues its messages and moves the
campaign's cursor, (isil, contact position) of the last contact queued; a crash loses at most
the batch in flight, whose transaction rolls back, and the next round starts right after the
cursor. The deliveries' unique key (campaign id, recipient, 'campaign') would also make a
repeated batch queue nothing twice. The mailer sends what is queued meanwhile, so the first
messages leave while later batches are still being prepared.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from contracts.outreach import CampaignSent
from kit.logging import bind_trace, get_logger
from kit.outbox import record_event
from services.outreach import store
from services.outreach.deps import AfterBatch, OutreachDeps
from services.outreach.domain import (
    LANGUAGES,
    AudienceFilter,
    KitFile,
    Mail,
    Recipient,
    compose,
    paragraphs,
)

log = get_logger(__name__)

KIND = "campaign"


def _localised(values: dict[str, str], language: str) -> str:
    return values.get(language) or values.get("fi") or next(iter(values.values()), "")


def compose_for(
    deps: OutreachDeps, campaign: dict[str, Any], rows: list[dict[str, Any]], files: list[KitFile]
) -> list[Mail]:
    """One message per contact row, in the contact's language. Kit files are linked, never
    attached: a campaign may go to thousands of addresses."""
    mails: list[Mail] = []
    for row in rows:
        recipient = Recipient(row["isil"], row["email"], row["name"], row["language"])
        context = {
            "campaign": {
                "subject": _localised(campaign["subject"], recipient.language),
                "paragraphs": paragraphs(_localised(campaign["body"], recipient.language)),
            },
            "library": {"isil": row["isil"], "names": row["names"]},
        }
        mails += compose(
            deps.renderer,
            KIND,
            [recipient],
            context,
            files,
            file_url=deps.file_url,
            attachment_max_bytes=0,
        )
    return mails


async def preview(
    conn: asyncpg.Connection | asyncpg.Pool,
    deps: OutreachDeps,
    campaign: dict[str, Any],
    today: dt.date,
) -> dict[str, Any]:
    """The campaign rendered for one real recipient per language, or for a made-up one when
    the audience has nobody in that language."""
    audience = AudienceFilter.model_validate(campaign["audience"])
    samples = await store.audience.audience_samples(conn, audience, today)
    files = await _campaign_files(conn, campaign)
    rendered: dict[str, Any] = {}
    for language in LANGUAGES:
        row = samples.get(language) or {
            "isil": "FI-Esim",
            "position": 0,
            "email": "esimerkki@example.org",
            "name": "Esimerkki" if language == "fi" else "Exempel",
            "language": language,
            "names": {"fi": "Esimerkkikirjasto", "sv": "Exempelbiblioteket", "en": None},
        }
        [mail] = compose_for(deps, campaign, [row], files)
        rendered[language] = {
            "sample": language in samples,
            "recipient": {"isil": row["isil"], "name": row["name"], "email": row["email"]},
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
        }
    return rendered


async def _campaign_files(
    conn: asyncpg.Connection | asyncpg.Pool, campaign: dict[str, Any]
) -> list[KitFile]:
    if campaign.get("kit_id") is None:
        return []
    return await store.kits.kit_files_by_kit(conn, campaign["kit_id"])


async def start_due(pool: asyncpg.Pool, now: dt.datetime, today: dt.date) -> list[uuid.UUID]:
    """Move scheduled campaigns whose time has come to 'sending', noting the audience size
    for the progress bar."""
    started = []
    async with pool.acquire() as conn, conn.transaction():
        for campaign in await store.campaigns.due_to_start(conn, now):
            audience = AudienceFilter.model_validate(campaign["audience"])
            planned = await store.audience.audience_size(conn, audience, today)
            await store.campaigns.start(conn, campaign["id"], planned)
            started.append(campaign["id"])
    for campaign_id in started:
        log.info("campaign started", campaign_id=str(campaign_id))
    return started


async def materialise(
    pool: asyncpg.Pool,
    deps: OutreachDeps,
    campaign_id: uuid.UUID,
    *,
    batch_size: int,
    today: dt.date,
    after_batch: AfterBatch | None = None,
) -> int:
    """Queue the campaign's messages batch by batch until its audience is exhausted; returns
    the number of batches this call committed. Safe to run from two replicas at once: each
    batch locks the campaign row (SKIP LOCKED), and the cursor moves in that transaction."""
    committed = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            campaign = await store.campaigns.lock_for_batch(conn, campaign_id)
            if campaign is None:
                return committed  # done, or another replica holds it this moment
            audience = AudienceFilter.model_validate(campaign["audience"])
            cursor = (campaign["cursor_isil"], campaign["cursor_position"])
            rows = await store.audience.audience_page(
                conn, audience, today, after=cursor, limit=batch_size
            )
            if not rows:
                await store.campaigns.materialised_all(conn, campaign_id)
                log.info(
                    "campaign materialised",
                    campaign_id=str(campaign_id),
                    messages=campaign["materialised"],
                    batches=campaign["batches"],
                )
                return committed
            mails = compose_for(deps, campaign, rows, await _campaign_files(conn, campaign))
            queued = await store.deliveries.queue(
                conn, str(campaign_id), mails, deps.mail_domain, correlation_id=str(campaign_id)
            )
            last = rows[-1]
            await store.campaigns.advance(
                conn, campaign_id, (last["isil"], last["position"]), queued
            )
            batches = campaign["batches"] + 1
        committed += 1
        if after_batch is not None:
            await after_batch(campaign_id, batches)


async def finish_done(pool: asyncpg.Pool) -> list[uuid.UUID]:
    """Close campaigns whose every message has an outcome, with their statistics, and
    record campaign-sent in the same transaction."""
    finished = []
    async with pool.acquire() as conn, conn.transaction():
        for campaign in await store.campaigns.finished_sending(conn):
            counts = await store.deliveries.cause_counts(conn, str(campaign["id"]), KIND)
            finished_at = await store.campaigns.finish(conn, campaign["id"])
            bind_trace(str(campaign["id"]), None)
            await record_event(
                conn,
                CampaignSent(
                    campaign_id=str(campaign["id"]),
                    title=campaign["title"],
                    audience=campaign["audience_text"],
                    recipients=sum(counts.values()),
                    sent=counts.get("sent", 0),
                    failed=counts.get("failed", 0),
                    finished_at=finished_at,
                ),
            )
            finished.append(campaign["id"])
    for campaign_id in finished:
        log.info("campaign sent", campaign_id=str(campaign_id))
    return finished


async def run_round(
    pool: asyncpg.Pool,
    deps: OutreachDeps,
    *,
    batch_size: int,
) -> None:
    """One round of the campaign job: start, materialise, finish."""
    now = deps.clock.now()
    today = deps.clock.today()
    after_batch = deps.after_campaign_batch
    await start_due(pool, now, today)
    for campaign_id in await store.campaigns.materialising(pool):
        await materialise(
            pool, deps, campaign_id, batch_size=batch_size, today=today, after_batch=after_batch
        )
    await finish_done(pool)
