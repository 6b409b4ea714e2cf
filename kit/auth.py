"""Bearer tokens: Ed25519-signed JWTs, verified by every service on its own.

Only the holder of the private key (the coordinator's tooling, ``konsortio token issue``) can
mint tokens; services hold only the public key, so a compromised service cannot forge one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kit.errors import ApiError

ALGORITHM = "EdDSA"


class Role(StrEnum):
    COORDINATOR = "coordinator"
    LIBRARY = "library"
    PROCUREMENT = "procurement"
    CATALOGUER = "cataloguer"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Caller:
    subject: str
    role: Role
    isil: str | None = None

    def acts_for(self, isil: str) -> bool:
        """A library token speaks for its own ISIL only."""
        return self.role is Role.LIBRARY and self.isil == isil


def generate_keypair() -> tuple[str, str]:
    """(private PEM, public PEM) of a new Ed25519 key."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def issue_token(
    private_key_pem: str,
    *,
    role: Role | str,
    isil: str | None = None,
    subject: str | None = None,
    issuer: str = "konsortio",
    ttl: dt.timedelta = dt.timedelta(hours=12),
    now: dt.datetime | None = None,
) -> str:
    role = Role(role)
    if role is Role.LIBRARY and not isil:
        raise ValueError("a library token needs --isil")
    if role is not Role.LIBRARY and isil:
        raise ValueError("only a library token is bound to an ISIL")
    now = now or dt.datetime.now(dt.UTC)
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject or (f"library:{isil}" if isil else f"{role.value}:{uuid.uuid4().hex[:8]}"),
        "role": role.value,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    if isil:
        claims["isil"] = isil
    return jwt.encode(claims, private_key_pem, algorithm=ALGORITHM)


class TokenVerifier:
    def __init__(self, public_key_pem: str, issuer: str = "konsortio") -> None:
        self.public_key_pem = public_key_pem
        self.issuer = issuer

    def verify(self, token: str) -> Caller:
        if not self.public_key_pem:
            raise ApiError(401, "this service has no token key configured", field="authorization")
        try:
            claims = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "iss", "sub", "role"]},
            )
            role = Role(claims["role"])
        except jwt.ExpiredSignatureError as error:
            raise ApiError(401, "the token has expired", field="authorization") from error
        except (jwt.InvalidTokenError, ValueError) as error:
            raise ApiError(401, f"invalid token: {error}", field="authorization") from error
        isil = claims.get("isil")
        if role is Role.LIBRARY and not isil:
            raise ApiError(401, "a library token must carry an isil claim", field="authorization")
        return Caller(subject=str(claims["sub"]), role=role, isil=isil)


_bearer = HTTPBearer(auto_error=False, description="Ed25519-signed JWT from `konsortio token`")


def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "a bearer token is required", field="authorization")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(credentials.credentials)


def require_role(*roles: Role):  # type: ignore[no-untyped-def]
    """Dependency: the caller must hold one of ``roles``."""

    def check(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise ApiError(403, f"role {caller.role.value} may not do this (needs {allowed})")
        return caller

    return check


def ensure_acts_for(caller: Caller, isil: str, *, also: tuple[Role, ...] = ()) -> None:
    """Allow the library itself, or any role in ``also``; deny everyone else with 403."""
    if caller.role in also or caller.acts_for(isil):
        return
    raise ApiError(403, f"this token may not act for library {isil}")
