"""The kit's deny list of revoked tokens on a real database: a recorded jti is loaded into the
service's verifier (401), a repeat records nothing new, and a revocation whose token has
expired is forgotten."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest

from contracts.membership import TokenRevoked
from kit.auth import Role, TokenVerifier, generate_keypair, issue_token
from kit.db import apply_migrations, create_pool
from kit.errors import ApiError
from kit.revocation import record_revocation, refresh, revoked_jtis
from tests.conftest import Infra

pytestmark = pytest.mark.integration


async def test_recorded_revocations_reach_the_verifier_until_expiry(
    infra: Infra, tmp_path: object
) -> None:
    dsn = await infra.new_database("revocation")
    pool = await create_pool(dsn)
    try:
        await apply_migrations(pool, tmp_path)  # type: ignore[arg-type]  # kit tables only
        private, public = generate_keypair()
        now = dt.datetime.now(dt.UTC)
        token = issue_token(private, role=Role.COORDINATOR, audience="usage")

        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        live = TokenRevoked(
            jti=jti, expires_at=now + dt.timedelta(hours=1), reason="leaked", revoked_at=now
        )
        expired = TokenRevoked(
            jti="old", expires_at=now - dt.timedelta(days=1), reason="old", revoked_at=now
        )
        async with pool.acquire() as conn:
            assert await record_revocation(conn, live)
            assert not await record_revocation(conn, live)
            assert await record_revocation(conn, expired)

        verifier = TokenVerifier(public, audience="usage")
        verifier.verify(token)
        await refresh(pool, verifier)
        with pytest.raises(ApiError) as refused:
            verifier.verify(token)
        assert refused.value.status == 401
        assert "revoked" in str(refused.value)
        assert await revoked_jtis(pool) == {jti}
        assert await pool.fetchval("SELECT count(*) FROM revoked_tokens") == 1
    finally:
        await pool.close()
