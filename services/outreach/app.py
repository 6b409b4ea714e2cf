"""Outreach composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from kit.app import PeriodicJob, Runtime, ServiceSpec, create_app
from kit.settings import Settings
from services.outreach import mailer
from services.outreach.api import router
from services.outreach.handlers import OutreachDeps, reactions
from services.outreach.settings import OutreachSettings
from services.outreach.templates import Templates


def _wire(outreach_settings: OutreachSettings):  # type: ignore[no-untyped-def]
    async def on_startup(runtime: Runtime) -> None:
        runtime.extras["outreach_settings"] = outreach_settings
        sender = outreach_settings.smtp_sender
        mail_domain = sender.rsplit("@", 1)[-1].rstrip(">") or "konsortio.localhost"
        runtime.extras["deps"] = OutreachDeps(renderer=Templates(), mail_domain=mail_domain)

    async def send_mail(runtime: Runtime) -> None:
        assert runtime.pool is not None
        while await mailer.send_due(runtime.pool, outreach_settings):
            pass  # keep going while there is a backlog

    return on_startup, send_mail


def build(settings: Settings, outreach_settings: OutreachSettings | None = None) -> FastAPI:
    outreach_settings = outreach_settings or OutreachSettings()
    on_startup, send_mail = _wire(outreach_settings)
    spec = ServiceSpec(
        name="outreach",
        title="Konsortio outreach",
        description="Joint communication and marketing: audience, messages, kits, campaigns.",
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        reactions=reactions,
        jobs=[PeriodicJob("send-mail", send_mail, interval_s=outreach_settings.mail_interval_s)],
        on_startup=[on_startup],
    )
    return create_app(spec, settings)
