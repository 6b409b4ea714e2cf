"""What the dashboard's routes need, owned by the running service (its dependencies,
``runtime.deps``), and the operator check shared by the JSON API and the HTML view."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import httpx
import jinja2
import jwt
from fastapi import Request

from kit.app import Runtime, runtime_of
from kit.auth import Caller, Role, TokenVerifier
from kit.errors import ApiError
from services.dashboard.live import Broadcaster
from services.dashboard.operator import LagProbe
from services.dashboard.settings import DashboardSettings

OPERATOR_ROLES = (Role.OPERATOR, Role.COORDINATOR)
# The operator view is a page, and a browser sends no Authorization header when it follows a
# link. A token pasted once is exchanged for a session: the cookie holds no bearer token (it
# would work at every service the token names, for all of its lifetime), only a short-lived,
# read-only session of this dashboard, signed with HMAC-SHA256 by a key the dashboard keeps.
OPERATOR_COOKIE = "konsortio_operator_session"
SESSION_TTL_S = 15 * 60
SESSION_SCOPE = "dashboard:read"
# Without KONSORTIO_SESSION_SECRET each process makes its own key: sessions then do not
# survive a restart nor move between replicas, which costs only a new sign-in.
_PROCESS_SECRET = secrets.token_bytes(32)


@dataclass
class Dashboard:
    settings: DashboardSettings
    broadcaster: Broadcaster
    probe: LagProbe
    http: httpx.AsyncClient
    pages: jinja2.Environment


def dashboard_of(request: Request) -> Dashboard:
    return runtime_of(request).deps_as(Dashboard)


def runtime(request: Request) -> Runtime:
    return runtime_of(request)


def verify_operator(request: Request, token: str) -> Caller:
    verifier: TokenVerifier = request.app.state.token_verifier
    caller = verifier.verify(token)
    if caller.role not in OPERATOR_ROLES:
        raise ApiError(
            403,
            f"role {caller.role.value} may not see the operator view (needs operator or "
            "coordinator)",
            field="authorization",
        )
    return caller


def sign_in_problem(error: ApiError) -> str:
    """The translation key of why a token did not open the operator view. The page says it in
    the reader's language; the library's own text (PyJWT's "Not enough segments") is English
    and means nothing to a coordinator."""
    if error.status == 403:
        return "token_wrong_role"
    if isinstance(error.__cause__, jwt.ExpiredSignatureError):
        return "token_expired"
    verifier_failed = error.__cause__ is not None
    if not verifier_failed and "no token key" in error.detail:
        return "token_unchecked"
    if not verifier_failed and "required" in error.detail:
        return "token_required"
    return "token_invalid"


def _session_key(request: Request) -> bytes:
    deps = runtime_of(request).deps
    dashboard = deps if isinstance(deps, Dashboard) else None
    configured = dashboard.settings.session_secret if dashboard is not None else ""
    return configured.encode() if configured else _PROCESS_SECRET


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def issue_session(request: Request, caller: Caller, now: float | None = None) -> str:
    """The cookie value of a read-only operator session for ``caller``."""
    claims = {
        "sub": caller.subject,
        "role": caller.role.value,
        "scope": SESSION_SCOPE,
        "jti": caller.token_id,
        "exp": int((now if now is not None else time.time()) + SESSION_TTL_S),
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(_session_key(request), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def session_caller(request: Request, value: str) -> Caller:
    """The caller of a session cookie; 401 when it is forged, expired or not a session."""
    payload, _, mac = value.partition(".")
    expected = _b64(hmac.new(_session_key(request), payload.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac, expected):
        raise ApiError(401, "the session is not valid; sign in again", field="authorization")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if claims.get("scope") != SESSION_SCOPE or claims.get("exp", 0) < time.time():
        raise ApiError(401, "the session has expired; sign in again", field="authorization")
    verifier: TokenVerifier = request.app.state.token_verifier
    if claims.get("jti") in verifier.revoked:
        # The token it was made from has been revoked: the session ends with it.
        raise ApiError(401, "the token has been revoked; sign in again", field="authorization")
    caller = Caller(subject=str(claims["sub"]), role=Role(claims["role"]))
    if caller.role not in OPERATOR_ROLES:
        raise ApiError(403, "this session may not see the operator view", field="authorization")
    return caller


def operator_caller(request: Request) -> Caller:
    """Dependency of the read-only operator view and report: a bearer token of an operator or
    coordinator, or the session cookie that such a token was exchanged for."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return verify_operator(request, credentials.strip())
    cookie = request.cookies.get(OPERATOR_COOKIE)
    if cookie:
        return session_caller(request, cookie)
    raise ApiError(401, "a bearer token is required", field="authorization")
