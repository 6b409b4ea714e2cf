"""Session-wide running services for integration tests: membership and outreach, in process,
on the real embedded PostgreSQL, the real broker and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kit.auth import Role
from services.membership.app import build as build_membership
from services.outreach.app import build as build_outreach
from services.outreach.settings import OutreachSettings
from tests.conftest import Infra, consumer_ready, running, wait_for

pytestmark = pytest.mark.integration


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    dsn: str

    @property
    def pool(self) -> Any:
        return self.app.state.runtime.pool


@pytest.fixture(scope="session")
async def membership(infra: Infra) -> AsyncIterator[Service]:
    dsn = await infra.new_database("membership")
    app = build_membership(infra.settings("membership", dsn))
    async with running(app) as client:
        await wait_for(lambda: app.state.runtime.kafka_ready)  # readiness checks need it
        yield Service(app, client, dsn)


@pytest.fixture(scope="session")
async def outreach(infra: Infra) -> AsyncIterator[Service]:
    dsn = await infra.new_database("outreach")
    mail = OutreachSettings(
        smtp_host="127.0.0.1",
        smtp_port=infra.smtp.port,
        smtp_sink_dir=str(infra.smtp.directory),
        mail_interval_s=0.2,
    )
    app = build_outreach(infra.settings("outreach", dsn), mail)
    async with running(app) as client:
        await consumer_ready(app)
        yield Service(app, client, dsn)


def unique_isil(prefix: str = "FI-T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def library_body(isil: str, contacts: list[dict[str, str]] | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {
        "isil": isil,
        "names": {"fi": f"Testikirjasto {isil}", "sv": f"Testbibliotek {isil}"},
        "municipalities": ["091"],
        "population": 12_345,
        "library_system": "Koha",
        "contacts": contacts
        if contacts is not None
        else [
            {
                "name": "Aino",
                "email": f"aino.{isil.lower()}@example.org",
                "role": "director",
                "language": "fi",
            },
        ],
    }
    body.update(extra)
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register_and_join(
    membership: Service, infra: Infra, body: dict[str, Any], signed_on: dt.date | None = None
) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    response = await membership.client.post("/libraries", json=body, headers=coordinator)
    assert response.status_code == 201, response.text
    signed = signed_on or dt.date.today() - dt.timedelta(days=30)
    response = await membership.client.post(
        f"/libraries/{body['isil']}/membership",
        json={"signed_on": signed.isoformat(), "signatory": "Johtaja"},
        headers=coordinator,
    )
    assert response.status_code == 201, response.text
