"""Bearer tokens: Ed25519-signed JWTs, verified by every service on its own.

Only the holder of the private key (the coordinator's tooling, ``konsortio token issue``) can
mint tokens; services hold only the public key, so a compromised service cannot forge one.

This module imports neither FastAPI, nor the HTTP error types, nor PyJWT at load time: the
CLI uses it and must start fast. The request dependencies (``current_caller``,
``require_role``) live in ``kit.auth_http``, which imports this module (never the reverse).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

__all__ = [
    "ALGORITHM",
    "bearer_token",
    "Caller",
    "Role",
    "TokenVerifier",
    "ensure_acts_for",
    "generate_keypair",
    "issue_token",
]

ALGORITHM = "EdDSA"
# Every service that verifies tokens; a token names the ones it is good at (``aud``). A token
# for membership alone is refused by procurement, so a leaked narrow token opens one door.
AUDIENCES = ("membership", "procurement", "catalogue", "outreach", "dashboard", "usage")
# Clocks of the issuing machine and of the services differ a little; a token is accepted this
# long before its ``iat`` and after its ``exp``.
CLOCK_LEEWAY = dt.timedelta(seconds=30)
DEFAULT_MAX_TOKEN_HOURS = 30 * 24


def max_token_hours() -> float:
    """The longest lifetime a token may be issued with: ``KONSORTIO_TOKEN_MAX_HOURS``, else 30
    days. Read from the environment directly (not through ``Settings``) so the CLI stays fast."""
    raw = os.environ.get("KONSORTIO_TOKEN_MAX_HOURS", "")
    try:
        hours = float(raw) if raw.strip() else DEFAULT_MAX_TOKEN_HOURS
    except ValueError as error:
        raise ValueError(f"KONSORTIO_TOKEN_MAX_HOURS={raw!r} is not a number of hours") from error
    if not hours > 0:
        raise ValueError(f"KONSORTIO_TOKEN_MAX_HOURS={raw!r} must be more than 0")
    return hours


def audiences(requested: str | Iterable[str] | None) -> list[str]:
    """The ``aud`` claim for ``requested`` service names; ``None`` or ``"all"`` means every
    service (the dev launcher's coordinator token, the tests' tokens)."""
    if requested is None:
        return list(AUDIENCES)
    names = [requested] if isinstance(requested, str) else list(requested)
    if "all" in names:
        return list(AUDIENCES)
    unknown = sorted(set(names) - set(AUDIENCES))
    if unknown or not names:
        raise ValueError(
            f"unknown audience {', '.join(unknown) or '(none)'}: give one or more of "
            f"{', '.join(AUDIENCES)}, or all"
        )
    return list(dict.fromkeys(names))


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
    # The token's ``jti``: what a session made from the token is tied to (a revoked token's
    # session ends with it).
    token_id: str | None = None

    def acts_for(self, isil: str) -> bool:
        """A library token speaks for its own ISIL only."""
        return self.role is Role.LIBRARY and self.isil == isil


def generate_keypair() -> tuple[str, str]:
    """(private PEM, public PEM) of a new Ed25519 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    audience: str | Iterable[str] | None = None,
    max_ttl: dt.timedelta | None = None,
) -> str:
    role = Role(role)
    if max_ttl is not None and ttl > max_ttl:
        raise ValueError(f"a token may live at most {max_ttl}, not {ttl}")
    if role is Role.LIBRARY and not isil:
        raise ValueError("a library token needs --isil")
    if role is not Role.LIBRARY and isil:
        raise ValueError("only a library token is bound to an ISIL")
    if isil is not None and not isinstance(isil, str):
        raise ValueError("a token is bound to one ISIL, given as a string")
    now = now or dt.datetime.now(dt.UTC)
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject or (f"library:{isil}" if isil else f"{role.value}:{uuid.uuid4().hex[:8]}"),
        "role": role.value,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "aud": audiences(audience),
    }
    if isil:
        claims["isil"] = isil
    import jwt

    return jwt.encode(claims, private_key_pem, algorithm=ALGORITHM)


def default_data_dir() -> Path:
    """The embedded stack's data directory: ``KONSORTIO_DATA_DIR``, else ``./data``."""
    return Path(os.environ.get("KONSORTIO_DATA_DIR", "data"))


def private_key_file(data_dir: Path) -> Path:
    """Where ``konsortio up`` keeps the stack's signing key."""
    return data_dir / "keys" / "jwt_private.pem"


def bearer_token(
    explicit: str | None,
    *,
    role: Role,
    data_dir: Path | None = None,
    subject: str = "cli",
    option: str = "--token",
) -> str:
    """The credentials a command that talks to a running stack sends, found the same way by
    every command: an explicit ``--token``, else ``KONSORTIO_TOKEN``, else a short-lived token
    of ``role`` signed with the data directory's key (the local stack's own key; a deployed
    stack's key is not on an operator's machine, so there the token must be given).
    Raises ``LookupError`` naming the option when none can be found."""
    token = explicit or os.environ.get("KONSORTIO_TOKEN")
    if token:
        return token
    key_file = private_key_file(data_dir or default_data_dir())
    if not key_file.is_file():
        raise LookupError(
            f"no {option}, no KONSORTIO_TOKEN and no stack key at {key_file}: pass {option} "
            f"(konsortio token issue --role {role.value}), set KONSORTIO_TOKEN, or point "
            "--data-dir / KONSORTIO_DATA_DIR at the running stack's data directory"
        )
    return issue_token(
        key_file.read_text(), role=role, subject=subject, ttl=dt.timedelta(minutes=30)
    )


# Tokens whose checks passed are remembered, at most this many: a service sees few distinct
# callers, and each token is long-lived, so nearly every request finds its token here.
VERIFIED_CACHE_SIZE = 4096


@dataclass
class TokenVerifier:
    """Checks a bearer token for one service (``audience``): signature, issuer, lifetime with
    ``leeway``, audience, and that its ``jti`` is not on the deny list. ``audience=None`` skips
    the audience check and is meant for tools only; every service passes its own name.

    A token that passed is remembered, keyed by its SHA-256, until its expiry plus the leeway
    (the moment the full check would refuse it for its age): the signature check is most of an
    HTTP command's CPU otherwise. The deny list is consulted on every call, remembered or not,
    so a revocation takes effect exactly as before. Refusals are never remembered."""

    public_key_pem: str
    issuer: str = "konsortio"
    audience: str | None = None
    leeway: dt.timedelta = CLOCK_LEEWAY
    revoked: set[str] = field(default_factory=set)
    # SHA-256 of the token -> (the caller, time.time() after which it is refused for its age)
    _verified: dict[bytes, tuple[Caller, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def revoke(self, jti: str) -> None:
        """Refuse the token with this ``jti`` from now on (revocation)."""
        self.revoked.add(jti)

    def verify(self, token: str) -> Caller:
        key = hashlib.sha256(token.encode()).digest()
        remembered = self._verified.get(key)
        if remembered is not None:
            caller, refused_after = remembered
            if time.time() < refused_after:
                if caller.token_id in self.revoked:
                    from kit.errors import ApiError

                    raise ApiError(401, "the token has been revoked", field="authorization")
                return caller
            del self._verified[key]
        caller, expires = self._check(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            # The oldest entry goes (dicts keep insertion order).
            del self._verified[next(iter(self._verified))]
        self._verified[key] = (caller, expires + self.leeway.total_seconds())
        return caller

    def _check(self, token: str) -> tuple[Caller, float]:
        """The full check: the caller and the token's ``exp`` (seconds since the epoch)."""
        import jwt

        from kit.errors import ApiError

        if not self.public_key_pem:
            raise ApiError(401, "this service has no token key configured", field="authorization")
        try:
            claims = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={
                    "require": ["exp", "iat", "iss", "sub", "role", "jti", "aud"],
                    "verify_aud": self.audience is not None,
                },
            )
            role = Role(claims["role"])
        except jwt.ExpiredSignatureError as error:
            raise ApiError(401, "the token has expired", field="authorization") from error
        except jwt.InvalidAudienceError as error:
            raise ApiError(
                401, f"the token is not issued for {self.audience}", field="authorization"
            ) from error
        except (jwt.InvalidTokenError, ValueError) as error:
            raise ApiError(401, f"invalid token: {error}", field="authorization") from error
        if claims["jti"] in self.revoked:
            raise ApiError(401, "the token has been revoked", field="authorization")
        isil = claims.get("isil")
        if isil is not None and not isinstance(isil, str):
            raise ApiError(
                401, "the isil claim must be one ISIL as a string", field="authorization"
            )
        if role is Role.LIBRARY and not isil:
            raise ApiError(401, "a library token must carry an isil claim", field="authorization")
        caller = Caller(
            subject=str(claims["sub"]), role=role, isil=isil, token_id=str(claims["jti"])
        )
        return caller, float(claims["exp"])


def ensure_acts_for(caller: Caller, isil: str, *, also: tuple[Role, ...] = ()) -> None:
    """Allow the library itself, or any role in ``also``; deny everyone else with 403."""
    from kit.errors import ApiError

    if caller.role in also or caller.acts_for(isil):
        return
    raise ApiError(403, f"this token may not act for library {isil}")
