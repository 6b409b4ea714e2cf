"""What the dashboard's routes need, owned by the running service (``runtime.extras``), and the
operator check shared by the JSON API and the HTML view."""

from __future__ import annotations

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
# link, so a token pasted once is kept in an HttpOnly cookie for that view.
OPERATOR_COOKIE = "konsortio_operator_token"


@dataclass
class Dashboard:
    settings: DashboardSettings
    broadcaster: Broadcaster
    probe: LagProbe
    http: httpx.AsyncClient
    pages: jinja2.Environment


def dashboard_of(request: Request) -> Dashboard:
    return runtime_of(request).extras["dashboard"]


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


def operator_caller(request: Request) -> Caller:
    """Dependency: a bearer token, or the operator view's cookie, of an operator or coordinator."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return verify_operator(request, credentials.strip())
    cookie = request.cookies.get(OPERATOR_COOKIE)
    if cookie:
        return verify_operator(request, cookie)
    raise ApiError(401, "a bearer token is required", field="authorization")
