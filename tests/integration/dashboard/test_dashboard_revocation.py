"""The dashboard, fed token-revoked through the real broker: the kit's handler records the jti
(the operator API then refuses the token with 401) and the dashboard's own handler still puts
the event in the live feed, in the same transaction."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest

from contracts.membership import TokenRevoked
from tests.conftest import Infra, wait_for
from tests.integration.dashboard.support import DashboardUnderTest, publish

pytestmark = pytest.mark.integration


async def test_token_revoked_is_recorded_and_reaches_the_feed(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    token = infra.token("operator")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await dashboard.client.get("/api/operator", headers=headers)).status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    now = dt.datetime.now(dt.UTC)
    event = TokenRevoked(
        jti=claims["jti"],
        expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
        reason="left the consortium office",
        revoked_at=now,
    )
    [event_id] = await publish(infra, [event], source="/konsortio/membership")

    async def refused() -> bool:
        answer = await dashboard.client.get("/api/operator", headers=headers)
        return answer.status_code == 401 and "revoked" in answer.text

    await wait_for(refused)
    feed = await dashboard.client.get("/api/events", params={"limit": 500})
    item = next(i for i in feed.json()["items"] if i["event_id"] == event_id)
    assert item["name"] == "token-revoked" and item["key"] == claims["jti"]
