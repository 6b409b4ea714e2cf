"""The operator view's cookie: a read-only dashboard session, Secure when the public URL is
https, HttpOnly and SameSite=Strict; never the bearer token. Built without lifespan: signing in
needs only the token key."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from starlette.requests import Request

from kit.auth import Role, generate_keypair, issue_token
from kit.errors import ApiError
from kit.settings import Settings
from services.dashboard.app import build
from services.dashboard.deps import issue_session, session_caller

PRIVATE, PUBLIC = generate_keypair()


async def sign_in(public_url: str) -> httpx.Response:
    app: Any = build(
        Settings(
            service="dashboard",
            database_url="postgresql://nobody@127.0.0.1:1/none",
            jwt_public_key=PUBLIC,
            public_url=public_url,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
        token = issue_token(PRIVATE, role=Role.OPERATOR)
        answer = await client.post("/operator/session", data={"token": token, "lang": "en"})
        assert token not in answer.headers.get("set-cookie", "")
        return answer


@pytest.mark.parametrize(("public_url", "secure"), [("https://dash.example", True), ("", False)])
async def test_the_session_cookie_flags(public_url: str, secure: bool) -> None:
    answer = await sign_in(public_url)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("konsortio_operator_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert ("Secure" in cookie) is secure
    assert "Max-Age=900" in cookie


def test_a_session_ends_when_its_token_is_revoked() -> None:
    app: Any = build(
        Settings(
            service="dashboard",
            database_url="postgresql://nobody@127.0.0.1:1/none",
            jwt_public_key=PUBLIC,
        )
    )
    request = Request({"type": "http", "app": app, "headers": []})
    token = issue_token(PRIVATE, role=Role.OPERATOR)
    cookie = issue_session(request, app.state.token_verifier.verify(token))
    assert session_caller(request, cookie).role is Role.OPERATOR
    app.state.token_verifier.revoke(jwt.decode(token, options={"verify_signature": False})["jti"])
    with pytest.raises(ApiError) as refused:
        session_caller(request, cookie)
    assert refused.value.status == 401
    assert "revoked" in refused.value.detail
