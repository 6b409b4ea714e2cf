"""What the suite knows about one service: the stories it can drive, who may call each
endpoint (the authorization spec), the effects it must show for the events it consumes, and
the business rule a consumer enforces. Each service has a module in this package; a service
without one is still covered by everything generic (faults, lag, poison, schemathesis, the
bad-token half of the authorization matrix) and its endpoints are reported as undeclared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from reliability.kafka import TopicRecord
from reliability.ledger import Command, Ledger
from reliability.load import StoryFactory
from reliability.stack import Stack


class Subject:
    """Who calls. Valid tokens first, then every way a token can be wrong."""

    COORDINATOR = "coordinator"
    LIBRARY_OWN = "library (own ISIL)"
    LIBRARY_OTHER = "library (other ISIL)"
    PROCUREMENT = "procurement"
    CATALOGUER = "cataloguer"
    OPERATOR = "operator"
    NO_TOKEN = "no token"
    EXPIRED = "expired token"
    TAMPERED = "tampered token"
    WRONG_KEY = "token signed with another key"
    ALG_NONE = "unsigned token (alg none)"
    # A coordinator's token the coordinator revoked at membership (token-revoked): every
    # service must refuse it once the event has reached it.
    REVOKED = "revoked token"

    VALID: tuple[str, ...] = (
        COORDINATOR,
        LIBRARY_OWN,
        LIBRARY_OTHER,
        PROCUREMENT,
        CATALOGUER,
        OPERATOR,
    )
    INVALID: tuple[str, ...] = (NO_TOKEN, EXPIRED, TAMPERED, WRONG_KEY, ALG_NONE, REVOKED)
    ALL: tuple[str, ...] = VALID + INVALID


PUBLIC = frozenset(Subject.ALL)
ANY_VALID = frozenset(Subject.VALID)
STAFF = frozenset({Subject.COORDINATOR, Subject.OPERATOR})
COORDINATOR_ONLY = frozenset({Subject.COORDINATOR})
LIBRARY_ITSELF_OR_COORDINATOR = frozenset({Subject.COORDINATOR, Subject.LIBRARY_OWN})
OPERATIONS = (
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
)


@dataclass(frozen=True)
class RequestSpec:
    """A concrete, valid request: only the caller's identity decides its fate."""

    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    files: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    # A form field that carries the caller's token (a sign-in form) instead of the header.
    form_token: str | None = None


@dataclass
class AuthzContext:
    """Fixtures the authorization matrix acts on: a library that is a member (``own``) and
    another registered library whose token must not reach ``own``'s resources."""

    stack: Stack
    client: httpx.AsyncClient
    own_isil: str
    other_isil: str
    run_tag: str
    today: dt.date
    counter: int = 0
    facts: dict[str, Any] = field(default_factory=dict)  # ids other probes prepare

    def unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.run_tag}{self.counter:04d}"


RequestFactory = Callable[[AuthzContext], RequestSpec]


@dataclass(frozen=True)
class Endpoint:
    """One row of the authorization spec."""

    method: str
    path: str
    allowed: frozenset[str]
    request: RequestFactory | None = None


@dataclass
class EffectReport:
    """Effects a consumer shows for the events the ledger's commands caused."""

    expected: int = 0
    observed: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # read models that disagree
    # (cause's wall-clock time, effect's wall-clock time) for catch-up measurements.
    timings: list[tuple[float, float]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class EffectContext:
    stack: Stack
    client: httpx.AsyncClient
    ledger: Ledger
    # Events the ledger's commands caused, by correlation id (each id once).
    events: Mapping[str, Sequence[TopicRecord]]


@dataclass
class Probe:
    name: str
    stories: Sequence[StoryFactory] = ()
    endpoints: Sequence[Endpoint] = ()
    prepare_authz: Callable[[AuthzContext], Awaitable[None]] | None = None
    # Whether a command of unknown outcome (lost answer, 5xx) took effect, from the state.
    resolve: Callable[[Command, Stack, httpx.AsyncClient], Awaitable[bool]] | None = None
    effects: Callable[[EffectContext], Awaitable[EffectReport]] | None = None
    # Work the service has accepted but not finished (queued mail ...): 0 when caught up.
    pending_work: Callable[[Stack, httpx.AsyncClient], Awaitable[int]] | None = None
    # Upload endpoints that ignore the client's file name (so a hostile name is harmless
    # and may be accepted); every other upload endpoint must refuse such a name with a 4xx.
    uploads_ignoring_filename: frozenset[str] = frozenset()
    # Valid sample values for path parameters of this service's endpoints.
    path_samples: Mapping[str, Callable[[AuthzContext], str]] = field(default_factory=dict)
    # Query parameters an upload endpoint needs to reach its file checks (a collection id).
    upload_query: Mapping[str, Callable[[AuthzContext], dict[str, str]]] = field(
        default_factory=dict
    )


NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"


def fill_path(
    path: str, ctx: AuthzContext, samples: Mapping[str, Callable[[AuthzContext], str]]
) -> str:
    """A concrete path for a template: the probe's sample for each parameter, the fixture
    library's ISIL for an ``isil``, and a well-formed id that names nothing otherwise."""
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name in samples:
                part = samples[name](ctx)
            elif "isil" in name:
                part = ctx.own_isil
            else:
                part = NO_SUCH_ID
        parts.append(part)
    return "/".join(parts)
