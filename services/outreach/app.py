"""Outreach composition root: settings, kit storage, templates, the mail sender and the
campaign job, the routes, and what it reacts to."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from contracts import outreach as events
from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.clock import Clock
from kit.revocation import react_to_revocations
from kit.settings import Settings
from services.outreach import campaigns, mailer, usage_digest
from services.outreach.api import ROUTERS
from services.outreach.deps import AfterBatch, OutreachDeps
from services.outreach.handlers import reactions
from services.outreach.settings import OutreachSettings
from services.outreach.storage import KitStorage
from services.outreach.templates import Templates

# Multipart framing around a kit file: the body limit must leave room for it.
MULTIPART_SLACK = 64 * 1024


def base_url_of(settings: Settings) -> str:
    """Absolute URL for links in mails and the feed."""
    return (settings.public_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")


def _deps_of(runtime: Runtime) -> OutreachDeps:
    return runtime.deps_as(OutreachDeps)


async def send_mail(runtime: Runtime) -> None:
    assert runtime.pool is not None
    pool, deps = runtime.pool, _deps_of(runtime)
    storage = deps.storage
    assert storage is not None

    async def drain() -> None:
        while await mailer.send_due(pool, deps.settings, storage):
            pass  # keep going while there is a backlog

    # Each connection claims its own batch (SKIP LOCKED), so they never share a message; SMTP
    # and database round trips overlap instead of queueing behind each other. A task group,
    # so that a failing or stopped sender stops its siblings too and none is left running
    # unowned.
    async with asyncio.TaskGroup() as senders:
        for _ in range(deps.settings.mail_connections):
            senders.create_task(drain())


async def run_campaigns(runtime: Runtime) -> None:
    assert runtime.pool is not None
    deps = _deps_of(runtime)
    await campaigns.run_round(runtime.pool, deps, batch_size=deps.settings.campaign_batch_size)


async def send_usage_digests(runtime: Runtime) -> None:
    """The monthly usage digest of every month that has closed (usage_digest.py)."""
    assert runtime.pool is not None
    deps = _deps_of(runtime)
    await usage_digest.run_round(runtime.pool, deps, deps.clock.today())


def build(
    settings: Settings,
    outreach_settings: OutreachSettings | None = None,
    *,
    clock: Clock | None = None,
    after_campaign_batch: AfterBatch | None = None,
) -> FastAPI:
    """The outreach app. ``after_campaign_batch`` is a test's seam between two batches of a
    campaign send (to crash it midway); production passes none."""
    outreach_settings = outreach_settings or OutreachSettings()

    async def deps(runtime: Runtime) -> OutreachDeps:
        sender = outreach_settings.smtp_sender
        return OutreachDeps(
            renderer=Templates(),
            mail_domain=sender.rsplit("@", 1)[-1].rstrip(">") or "konsortio.localhost",
            settings=outreach_settings,
            storage=KitStorage(Path(outreach_settings.kit_storage_dir)),
            clock=runtime.clock,
            base_url=base_url_of(settings),
            after_campaign_batch=after_campaign_batch,
        )

    spec = ServiceSpec(
        name="outreach",
        title="Konsortio outreach",
        description="Joint communication and marketing: audience, messages, kits, campaigns.",
        migrations=Path(__file__).parent / "migrations",
        routers=ROUTERS,
        reactions=react_to_revocations(reactions),
        publishes=events.EVENTS,
        deps=deps,
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
        upload_paths=["/kits/"],
        upload_max_bytes=outreach_settings.kit_max_file_bytes + MULTIPART_SLACK,
    )
    return create_app(spec, settings, clock=clock)
