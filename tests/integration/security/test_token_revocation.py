"""Token revocation end to end: the coordinator revokes a token's jti at membership, which
refuses it at once and publishes token-revoked; outreach (another service, its own database)
refuses the same token once the event has arrived, and keeps refusing it after a restart."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
import pytest

from kit.auth import Role
from kit.revocation import revoked_jtis
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service, auth

pytestmark = pytest.mark.integration


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def revocation(token: str, reason: str = "the laptop holding it was stolen") -> dict[str, str]:
    claims = claims_of(token)
    expires_at = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
    return {"jti": claims["jti"], "expires_at": expires_at.isoformat(), "reason": reason}


async def test_a_token_revoked_at_membership_is_refused_by_outreach(
    infra: Infra, membership: Service, outreach: Service
) -> None:
    leaked = infra.token(Role.COORDINATOR)
    other = infra.token(Role.COORDINATOR)
    assert (await outreach.client.get("/deliveries", headers=auth(leaked))).status_code == 200
    assert (await membership.client.get("/libraries", headers=auth(leaked))).status_code == 200

    answer = await membership.client.post(
        "/tokens/revoked", json=revocation(leaked), headers=auth(other)
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["revoked"] is True

    # Membership refuses it at once; outreach once the token-revoked event has arrived.
    refused = await membership.client.get("/libraries", headers=auth(leaked))
    assert refused.status_code == 401
    assert "revoked" in refused.text

    async def outreach_refuses() -> bool:
        answer = await outreach.client.get("/deliveries", headers=auth(leaked))
        return answer.status_code == 401 and "revoked" in answer.text

    await wait_for(outreach_refuses)
    # Outreach recorded it in its own table (it survives a restart), and other tokens pass.
    assert claims_of(leaked)["jti"] in await revoked_jtis(outreach.pool)
    assert (await outreach.client.get("/deliveries", headers=auth(other))).status_code == 200


async def test_a_revocation_is_recorded_once_and_published_once(
    infra: Infra, membership: Service
) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    body = revocation(infra.token(Role.LIBRARY, isil="FI-Tro"))
    first = await membership.client.post("/tokens/revoked", json=body, headers=coordinator)
    again = await membership.client.post("/tokens/revoked", json=body, headers=coordinator)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["revoked"] is False
    events = await membership.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = $1 AND key = $2",
        "fi.konsortio.membership.token-revoked.v1",
        body["jti"],
    )
    assert events == 1


async def test_only_the_coordinator_revokes_and_bad_input_is_named(
    infra: Infra, membership: Service
) -> None:
    body = revocation(infra.token(Role.OPERATOR))
    for role, isil in ((Role.LIBRARY, "FI-Tro"), (Role.OPERATOR, None), (Role.PROCUREMENT, None)):
        answer = await membership.client.post(
            "/tokens/revoked", json=body, headers=auth(infra.token(role, isil))
        )
        assert answer.status_code == 403, role
    assert (await membership.client.post("/tokens/revoked", json=body)).status_code == 401
    assert body["jti"] not in await revoked_jtis(membership.pool)

    coordinator = auth(infra.token(Role.COORDINATOR))
    past = {**body, "expires_at": "2020-01-01T00:00:00+00:00"}
    naive = {**body, "expires_at": "2030-01-01T00:00:00"}
    for bad, field in ((past, "expires_at"), (naive, "expires_at"), ({**body, "jti": ""}, "jti")):
        answer = await membership.client.post("/tokens/revoked", json=bad, headers=coordinator)
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    assert body["jti"] not in await revoked_jtis(membership.pool)
