"""Settings that close the operations endpoints: API docs off, metrics for operators only.

The app is built but its lifespan is not run: these routes need neither database nor broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kit.auth import Role, generate_keypair, issue_token
from kit.settings import Settings
from services.membership.app import build as build_membership

PRIVATE, PUBLIC = generate_keypair()


def settings(**overrides: Any) -> Settings:
    return Settings(
        service="membership",
        database_url="postgresql://nobody@127.0.0.1:1/none",
        jwt_public_key=PUBLIC,
        **overrides,
    )


async def client_for(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = build_membership(settings(**overrides))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        yield client


def bearer(role: Role) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(PRIVATE, role=role)}"}


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_api_docs_can_be_switched_off(path: str) -> None:
    async for client in client_for():
        assert (await client.get(path)).status_code == 200
    async for client in client_for(api_docs=False):
        assert (await client.get(path)).status_code == 404


async def test_metrics_can_require_the_operator_role() -> None:
    async for client in client_for():
        assert (await client.get("/metrics")).status_code == 200
    async for client in client_for(metrics_require_operator=True):
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer(Role.COORDINATOR))).status_code == 403
        answer = await client.get("/metrics", headers=bearer(Role.OPERATOR))
        assert answer.status_code == 200
        assert "konsortio_" in answer.text
