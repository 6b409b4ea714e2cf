"""The verifier remembers tokens it has checked: a remembered token is still refused once
revoked, and once its expiry (plus the leeway) has passed; refusals are never remembered."""

from __future__ import annotations

import datetime as dt

import pytest

import kit.auth
from kit.auth import CLOCK_LEEWAY, Role, TokenVerifier, generate_keypair, issue_token
from kit.errors import ApiError

PRIVATE, PUBLIC = generate_keypair()


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(ApiError) as error:
        verifier.verify(token)
    assert error.value.status == 401
    return str(error.value)


def test_a_remembered_token_is_refused_once_revoked() -> None:
    verifier = TokenVerifier(PUBLIC, audience="membership")
    token = issue_token(PRIVATE, role=Role.COORDINATOR)
    first = verifier.verify(token)
    assert verifier.verify(token) == first  # remembered
    assert first.token_id is not None
    verifier.revoke(first.token_id)
    assert "revoked" in refused(verifier, token)
    # The deny list replaced whole (kit.revocation.refresh) is seen as well.
    other = issue_token(PRIVATE, role=Role.COORDINATOR)
    jti = verifier.verify(other).token_id
    assert jti is not None
    verifier.revoked = {jti}
    assert "revoked" in refused(verifier, other)


def test_a_remembered_token_is_refused_after_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(PUBLIC, audience="membership")
    now = dt.datetime.now(dt.UTC)
    token = issue_token(PRIVATE, role=Role.OPERATOR, now=now, ttl=dt.timedelta(minutes=5))
    verifier.verify(token)
    later = (now + dt.timedelta(minutes=5) + CLOCK_LEEWAY).timestamp() + 1
    monkeypatch.setattr(kit.auth.time, "time", lambda: later)
    # PyJWT reads the clock through datetime: the full check must refuse it too.
    monkeypatch.setattr(
        verifier, "_check", lambda _token: (_ for _ in ()).throw(ApiError(401, "expired"))
    )
    assert "expired" in refused(verifier, token)


def test_refusals_are_not_remembered() -> None:
    membership = TokenVerifier(PUBLIC, audience="membership")
    token = issue_token(PRIVATE, role=Role.COORDINATOR, audience="procurement")
    refused(membership, token)
    refused(membership, token)
    assert not membership._verified  # noqa: SLF001 - the cache itself is what is checked
