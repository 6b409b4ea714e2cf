"""The public endpoints (live stream, Atom feed) have a per-client rate (429 with Retry-After)
and the stream a connection cap (503 with Retry-After). The apps are built without their
lifespan: a refused request is answered before any database work."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kit.ratelimit import PublicLimits
from kit.settings import Settings
from services.dashboard.app import build as build_dashboard
from services.outreach.app import build as build_outreach

CLIENT = "127.0.0.1"  # httpx's ASGI transport's peer address


def app_of(build: Any, service: str, **overrides: Any) -> Any:
    return build(
        Settings(service=service, database_url="postgresql://nobody@127.0.0.1:1/none", **overrides)
    )


async def get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get(path)


def exhaust(limits: PublicLimits, scope: str) -> None:
    for _ in range(limits.rate.amount):
        assert limits.limiter.hit(limits.rate, scope, CLIENT)


@pytest.mark.parametrize(
    ("build", "service", "path", "scope"),
    [
        (build_dashboard, "dashboard", "/api/stream", "the live stream"),
        (build_outreach, "outreach", "/feed.atom", "the Atom feed"),
    ],
)
async def test_a_client_over_the_rate_gets_429_with_retry_after(
    build: Any, service: str, path: str, scope: str
) -> None:
    app = app_of(build, service, public_rate_per_minute=5)
    exhaust(app.state.public_limits, scope)
    answer = await get(app, path)
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert "at most 5 a minute" in answer.json()["detail"]
    # another client is not affected
    assert app.state.public_limits.limiter.test(app.state.public_limits.rate, scope, "10.0.0.9")


async def test_the_stream_has_a_connection_cap() -> None:
    app = app_of(build_dashboard, "dashboard", stream_max_connections=3)
    limits: PublicLimits = app.state.public_limits
    with limits.stream(), limits.stream(), limits.stream():
        answer = await get(app, "/api/stream")
        assert answer.status_code == 503
        assert answer.headers["retry-after"]
    assert limits.open_connections == 0
