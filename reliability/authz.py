"""Scenario 7: the authorization matrix.

Every subject (each role, a library acting for itself and for another library, no token, and
every way a token can be bad) calls every endpoint of every service's OpenAPI document with an
otherwise valid request. The decision (401/403 = denied, anything else = allowed) is compared
with the declared spec in ``reliability/probes/<service>.py``. Invalid tokens must be answered
401, and a valid token without the right must be answered 403.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any

import httpx

from kit.auth import Role
from reliability.probes.base import AuthzContext, Endpoint, RequestSpec, Subject, fill_path
from reliability.report import ScenarioResult
from reliability.suite import Suite

DENIED = (401, 403)
# How long a revocation may take to reach every service (the event, then each replica's
# reload of its deny list, kit.revocation.REFRESH_S).
REVOCATION_WAIT_S = 60.0
METHODS = ("get", "post", "put", "patch", "delete")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def tokens(ctx: AuthzContext) -> dict[str, str | None]:
    stack = ctx.stack
    now = dt.datetime.now(dt.UTC)
    other = stack.token(Role.LIBRARY, isil=ctx.other_isil)
    # Tampered: another library's real token, its claims rewritten to a coordinator's, the
    # original signature kept.
    header, payload, signature = other.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(role="coordinator")
    claims.pop("isil", None)
    tampered = f"{header}.{_b64(claims)}.{signature}"
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    return {
        Subject.COORDINATOR: stack.token(Role.COORDINATOR),
        Subject.LIBRARY_OWN: stack.token(Role.LIBRARY, isil=ctx.own_isil),
        Subject.LIBRARY_OTHER: other,
        Subject.PROCUREMENT: stack.token(Role.PROCUREMENT),
        Subject.CATALOGUER: stack.token(Role.CATALOGUER),
        Subject.OPERATOR: stack.token(Role.OPERATOR),
        Subject.NO_TOKEN: None,
        Subject.EXPIRED: stack.token(
            Role.COORDINATOR, now=now - dt.timedelta(hours=3), ttl=dt.timedelta(hours=1)
        ),
        Subject.TAMPERED: tampered,
        Subject.WRONG_KEY: stack.token(Role.COORDINATOR, key=stack.foreign_private_key),
        Subject.ALG_NONE: unsigned,
        # One token per run, revoked by ``revoke`` before the matrix runs.
        Subject.REVOKED: ctx.facts.setdefault("revoked_token", stack.token(Role.COORDINATOR)),
    }


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def revoke(suite: Suite, ctx: AuthzContext, token: str) -> list[str]:
    """Revoke ``token`` at membership (POST /tokens/revoked), then wait until every service
    refuses it on one of its coordinator's GET endpoints. Returns the services that still
    accepted it when the wait ended (the matrix then reports their wrong decisions)."""
    stack = suite.stack
    if "membership" not in stack.services:
        return []
    claims = _claims(token)
    body = {
        "jti": claims["jti"],
        "expires_at": dt.datetime.fromtimestamp(claims["exp"], dt.UTC).isoformat(),
        "reason": "the reliability suite's revoked-token subject",
    }
    coordinator = {"Authorization": f"Bearer {stack.token(Role.COORDINATOR)}"}
    answer = await suite.client.post(
        f"{stack.url('membership')}/tokens/revoked", json=body, headers=coordinator, timeout=15
    )
    if answer.status_code not in (200, 201):
        return list(stack.services)
    waiting: dict[str, RequestSpec] = {}
    for service in stack.services:
        probe = suite.probes[service]
        candidates = sorted(
            (
                e
                for e in probe.endpoints
                if e.method == "GET"
                and Subject.COORDINATOR in e.allowed
                and Subject.NO_TOKEN not in e.allowed
            ),
            key=lambda e: "{" in e.path,  # a path without parameters first
        )
        if candidates:
            endpoint = candidates[0]
            waiting[service] = (
                endpoint.request(ctx)
                if endpoint.request is not None
                else RequestSpec(fill_path(endpoint.path, ctx, probe.path_samples))
            )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REVOCATION_WAIT_S
    while waiting and loop.time() < deadline:
        for service, spec in list(waiting.items()):
            if await call(suite.client, stack.url(service), "GET", spec, token) == 401:
                del waiting[service]
        if waiting:
            await asyncio.sleep(0.5)
    return sorted(waiting)


async def call(
    client: httpx.AsyncClient, base: str, method: str, spec: RequestSpec, token: str | None
) -> int:
    """The status only: the body is never read, so an event stream cannot hold the call."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = dict(spec.data or {})
    if spec.form_token:
        # Without a token a sign-in form can only be sent an empty-looking one.
        data[spec.form_token] = token or "-"
    try:
        async with client.stream(
            method,
            base + spec.path,
            json=spec.json,
            params=spec.params,
            files=spec.files,
            data=data or None,
            headers=headers,
            timeout=15,
        ) as response:
            return response.status_code
    except httpx.HTTPError:
        return 0


async def authorization(suite: Suite) -> ScenarioResult:
    stack = suite.stack
    result = ScenarioResult("authorization", "7. Authorization matrix")
    # Libraries made for the matrix alone: the bad-input scenario's schemathesis learns ISILs
    # from responses and may act on the ones it was given (join the never-joined library,
    # give notice), which would change what the matrix must decide.
    ctx = await suite.authz_context(fresh=True)
    subjects = tokens(ctx)
    revoked_token = subjects[Subject.REVOKED]
    assert revoked_token is not None
    still_accepting = await revoke(suite, ctx, revoked_token)
    undeclared, stale, wrong, wrong_status, errors = [], [], [], [], []
    unavailable: list[str] = []
    cases = 0
    matrix: dict[str, dict[str, dict[str, str]]] = {}
    for service in stack.services:
        probe = suite.probes[service]
        document = (await suite.client.get(f"{stack.url(service)}/openapi.json")).json()
        documented = {
            (method.upper(), path)
            for path, item in document.get("paths", {}).items()
            for method in item
            if method in METHODS
        }
        declared = {(e.method, e.path): e for e in probe.endpoints}
        # Routes left out of the OpenAPI document (HTML pages, a sign-in form) are declared
        # and tried all the same; a declared row is stale only if nobody reaches it.
        for method, path in sorted(documented | set(declared), key=lambda op: (op[1], op[0])):
            endpoint = declared.get((method, path))
            if endpoint is None:
                undeclared.append(f"{service}: {method} {path}")
                # Still check that bad tokens are refused; assume it is not public.
                endpoint = Endpoint(method, path, frozenset(Subject.VALID))
            row: dict[str, str] = {}
            # Invalid tokens first, then the roles that must be refused, then the rest, so a
            # state-changing call by an allowed subject happens after every refusal.
            order = sorted(subjects, key=lambda s: (s in Subject.VALID, s in endpoint.allowed))
            statuses: dict[str, int] = {}
            for subject in order:
                spec = (
                    endpoint.request(ctx)
                    if endpoint.request is not None
                    else RequestSpec(fill_path(path, ctx, probe.path_samples))
                )
                statuses[subject] = await call(
                    suite.client, stack.url(service), method, spec, subjects[subject]
                )
                row[subject] = str(statuses[subject])
            cases += len(statuses)
            if (method, path) not in documented and set(statuses.values()) <= {404, 405}:
                stale.append(f"{service}: {method} {path} is declared but not served")
                matrix.setdefault(service, {})[f"{method} {path}"] = row
                continue
            for subject, status in statuses.items():
                want = subject in endpoint.allowed
                label = f"{service}: {method} {path} as {subject}"
                if status == 503 and want:
                    # Past the authorization check, then a dependency the stack does not
                    # configure (Melinda): allowed, and counted apart.
                    unavailable.append(label)
                    continue
                if status == 0 or status >= 500:
                    errors.append(f"{label}: {status or 'no answer'}")
                    wrong.append(f"{label}: error {status}, want {'allowed' if want else 'denied'}")
                    continue
                if (status not in DENIED) != want:
                    wrong.append(f"{label}: {status}, want {'allowed' if want else 'denied'}")
                elif not want:
                    expected = 401 if subject in Subject.INVALID else 403
                    if status != expected:
                        wrong_status.append(f"{label}: {status}, want {expected}")
            matrix.setdefault(service, {})[f"{method} {path}"] = row
    result.zero("endpoints missing from the authorization spec", undeclared, examples=10)
    result.zero("spec rows for endpoints no service serves", stale)
    result.zero("wrong authorization decisions", wrong, examples=10)
    result.zero("denials with the wrong status (401 for bad tokens, 403 for roles)", wrong_status)
    result.zero("5xx or no answer in the matrix", errors)
    result.figures.update(
        {
            "authorization_cases": cases,
            "wrong_decisions": len(wrong),
            "undeclared_endpoints": undeclared,
            "allowed_then_503_dependency_unavailable": unavailable,
            "subjects": list(subjects),
            "revoked_token_still_accepted_after_wait": still_accepting,
            "matrix": matrix,
            "http_5xx": len([e for e in errors if "no answer" not in e]),
            "summary": f"{cases} cases, {len(wrong)} wrong",
        }
    )
    suite.check_crashes(result)
    return result
