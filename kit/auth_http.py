"""The FastAPI side of ``kit.auth``: the bearer-token dependencies of every service's routes.
Kept apart so that issuing a token (the CLI) never imports FastAPI."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kit.auth import Caller, Role, TokenVerifier
from kit.errors import ApiError

_bearer = HTTPBearer(auto_error=False, description="Ed25519-signed JWT from `konsortio token`")


# Both dependencies are coroutines: FastAPI runs a plain function dependency in a worker
# thread, and the hop there and back cost more than the check itself (the verifier remembers
# the tokens it has checked, so a request's check is a dictionary look-up).
async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "a bearer token is required", field="authorization")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(credentials.credentials)


def require_role(*roles: Role):  # type: ignore[no-untyped-def]  # returns FastAPI's Depends(...) marker, whose type is private
    """Dependency: the caller must hold one of ``roles``."""

    async def check(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise ApiError(403, f"role {caller.role.value} may not do this (needs {allowed})")
        return caller

    return check
