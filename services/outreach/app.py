"""Outreach composition root: settings, kit storage, templates, the mail sender and the
campaign job, the routes, and what it reacts to."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI

from contracts import outreach as events
from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.revocation import react_to_revocations
from kit.settings import Settings
from services.outreach import campaigns, mailer, usage_digest
from services.outreach.api import ROUTERS
from services.outreach.deps import OutreachDeps
from services.outreach.handlers import reactions
from services.outreach.settings import OutreachSettings
from services.outreach.storage import KitStorage
from services.outreach.templates import Templates

# runtime.extras key of an optional ``campaigns.AfterBatch`` hook: the seam where a test
# injects a crash between two batches of a campaign send.
CAMPAIGN_AFTER_BATCH = "campaign_after_batch"
# Multipart framing around a kit file: the body limit must leave room for it.
MULTIPART_SLACK = 64 * 1024

Job = Callable[[Runtime], Awaitable[None]]


def base_url_of(settings: Settings) -> str:
    """Absolute URL for links in mails and the feed."""
    return (settings.public_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")


async def send_usage_digests(runtime: Runtime) -> None:
    """The monthly usage digest of every month that has closed (usage_digest.py)."""
    assert runtime.pool is not None
    await usage_digest.run_round(runtime.pool, runtime.extras["deps"], dt.date.today())


def _wire(settings: Settings, outreach_settings: OutreachSettings) -> tuple[Job, Job, Job]:
    storage = KitStorage(Path(outreach_settings.kit_storage_dir))

    async def on_startup(runtime: Runtime) -> None:
        runtime.extras["outreach_settings"] = outreach_settings
        runtime.extras["kit_storage"] = storage
        sender = outreach_settings.smtp_sender
        mail_domain = sender.rsplit("@", 1)[-1].rstrip(">") or "konsortio.localhost"
        runtime.extras["deps"] = OutreachDeps(
            renderer=Templates(),
            mail_domain=mail_domain,
            base_url=base_url_of(settings),
            attachment_max_bytes=outreach_settings.mail_attachment_max_bytes,
            coordinator_email=outreach_settings.coordinator_email,
            coordinator_language=outreach_settings.coordinator_language,
            usage_digest_quiet_s=outreach_settings.usage_digest_quiet_s,
        )

    async def send_mail(runtime: Runtime) -> None:
        assert runtime.pool is not None
        pool = runtime.pool

        async def drain() -> None:
            while await mailer.send_due(pool, outreach_settings, storage):
                pass  # keep going while there is a backlog

        # Each connection claims its own batch (SKIP LOCKED), so they never share a message;
        # SMTP and database round trips overlap instead of queueing behind each other. A task
        # group, so that a failing or stopped sender stops its siblings too and none is left
        # running unowned.
        async with asyncio.TaskGroup() as senders:
            for _ in range(outreach_settings.mail_connections):
                senders.create_task(drain())

    async def run_campaigns(runtime: Runtime) -> None:
        assert runtime.pool is not None
        await campaigns.run_round(
            runtime.pool,
            runtime.extras["deps"],
            batch_size=outreach_settings.campaign_batch_size,
            after_batch=runtime.extras.get(CAMPAIGN_AFTER_BATCH),
        )

    return on_startup, send_mail, run_campaigns


def build(settings: Settings, outreach_settings: OutreachSettings | None = None) -> FastAPI:
    outreach_settings = outreach_settings or OutreachSettings()
    on_startup, send_mail, run_campaigns = _wire(settings, outreach_settings)
    spec = ServiceSpec(
        name="outreach",
        title="Konsortio outreach",
        description="Joint communication and marketing: audience, messages, kits, campaigns.",
        migrations=Path(__file__).parent / "migrations",
        routers=ROUTERS,
        reactions=react_to_revocations(reactions),
        publishes=events.EVENTS,
        jobs=[
            PeriodicJob("send-mail", send_mail, interval_s=outreach_settings.mail_interval_s),
            PeriodicJob("campaigns", run_campaigns, interval_s=outreach_settings.mail_interval_s),
            # Cheap when nothing is due (an indexed anti-join): a month's digest goes out
            # within seconds of the first round after the month closes.
            PeriodicJob(
                "usage-digest",
                send_usage_digests,
                interval_s=max(outreach_settings.mail_interval_s, 1.0),
            ),
        ],
        on_startup=[on_startup],
        upload_paths=["/kits/"],
        upload_max_bytes=outreach_settings.kit_max_file_bytes + MULTIPART_SLACK,
    )
    return create_app(spec, settings)
