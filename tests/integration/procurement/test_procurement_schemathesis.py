"""Schemathesis against procurement's own OpenAPI document: no generated request, valid or
not, gets a 5xx.

The service runs for real (uvicorn on loopback, its own database, the session's broker) in a
thread with its own event loop, because schemathesis calls it synchronously. It is seeded
with a member, a need, tenders in every state and an agreement with a participant; generated
ids are swapped for seeded ones in part of the cases, so the checks reach past the 404s into
the state machines. Each case carries a token of one of the roles, usually the one the
operation is for, so the role checks are passed as well as refused.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import os
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings

from kit.app import create_app
from kit.auth import Role
from konsortio.stack import free_port
from services.procurement import commands
from services.procurement.app import SPEC
from tests.conftest import Infra
from tests.integration.procurement.conftest import (
    agreement_body,
    bid_body,
    library,
    need_body,
    offline_settings,
    tender_body,
    unique_isil,
)

pytestmark = pytest.mark.integration
# More for a longer hunt: KONSORTIO_TEST_SCHEMATHESIS_EXAMPLES=200.
EXAMPLES_PER_OPERATION = int(os.environ.get("KONSORTIO_TEST_SCHEMATHESIS_EXAMPLES", "12"))


@dataclasses.dataclass
class Seeded:
    url: str
    isil: str
    tokens: dict[str, str]
    ids: dict[str, list[str]]
    bids: dict[str, list[str]]


def _serve(infra: Infra) -> Iterator[tuple[str, Any, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    dsn = loop.run_until_complete(infra.new_database("procurement_st"))
    # No consumer and no scheduled jobs: this instance only answers HTTP.
    spec = dataclasses.replace(SPEC, reactions=None, jobs=())
    # Nor a broker: what the generated requests record stays in this database's outbox.
    app = create_app(spec, offline_settings(infra, "procurement", dsn))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),))
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app, loop
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()


@pytest.fixture(scope="module")
def seeded(infra: Infra) -> Iterator[Seeded]:
    for url, app, loop in _serve(infra):
        isil = unique_isil("FI-Z")

        asyncio.run_coroutine_threadsafe(_add_member(app, isil), loop).result(timeout=30)
        tokens = {
            "coordinator": infra.token(Role.COORDINATOR),
            "procurement": infra.token(Role.PROCUREMENT),
            "library": infra.token(Role.LIBRARY, isil),
        }
        yield _seed(url, isil, tokens)


async def _add_member(app: Any, isil: str) -> None:
    async with app.state.runtime.pool.acquire() as conn, conn.transaction():
        await commands.member_joined(conn, library(isil), dt.date.today() - dt.timedelta(days=10))


def _seed(url: str, isil: str, tokens: dict[str, str]) -> Seeded:
    def as_(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    with httpx.Client(base_url=url, timeout=30) as http:

        def post(path: str, role: str, body: Any = None, status: int = 200) -> Any:
            response = http.post(path, json=body, headers=as_(role))
            assert response.status_code == status, response.text
            return response.json()

        need = post("/needs", "library", need_body(), 201)["id"]
        post(f"/needs/{need}/interest", "library", {}, 201)
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
        tenders = {
            state: post("/tenders", "procurement", tender_body([need], **extra), 201)["id"]
            for state, extra in (
                ("draft", {}),
                ("open", {}),
                ("evaluation", {"deadline": soon.isoformat()}),
                ("awarded", {"deadline": soon.isoformat()}),
            )
        }
        bids: dict[str, list[str]] = {}
        for state in ("open", "evaluation", "awarded"):
            post(f"/tenders/{tenders[state]}/open", "procurement")
            bids[tenders[state]] = [
                post(f"/tenders/{tenders[state]}/bids", "procurement", bid_body(s, p), 201)["id"]
                for s, p in (("A", 100_000), ("B", 120_000))
            ]
        time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
        for state in ("evaluation", "awarded"):
            post(f"/tenders/{tenders[state]}/evaluation", "procurement")
        t = tenders["awarded"]
        for bid in bids[t]:
            http.put(
                f"/tenders/{t}/bids/{bid}/quality", json={"score": 80}, headers=as_("procurement")
            )
        post(f"/tenders/{t}/award", "procurement", {})
        agreement = post("/agreements", "coordinator", agreement_body(t), 201)["id"]
        post(f"/agreements/{agreement}/participants", "library", {}, 201)
    return Seeded(
        url=url,
        isil=isil,
        tokens=tokens,
        ids={"need_id": [need], "tender_id": list(tenders.values()), "agreement_id": [agreement]},
        bids=bids,
    )


def _role_for(method: str, path: str) -> str:
    if method == "GET":
        return "coordinator"
    if path.startswith("/agreements") and "participants" not in path:
        return "coordinator"
    if path.startswith("/tenders"):
        return "procurement"
    return "library"


def _use_seeded_ids(case: Any, seeded: Seeded, rng: random.Random) -> None:
    params = case.path_parameters or {}
    for name in ("need_id", "tender_id", "agreement_id"):
        if name in params and rng.random() < 0.7:
            params[name] = rng.choice(seeded.ids[name])
    if "bid_id" in params and rng.random() < 0.7:
        params["bid_id"] = rng.choice(seeded.bids.get(params.get("tender_id", ""), ["bid-none"]))
    if "isil" in params and rng.random() < 0.7:
        params["isil"] = seeded.isil


def test_no_request_gets_a_server_error(seeded: Seeded) -> None:
    schema = schemathesis.openapi.from_url(f"{seeded.url}/openapi.json")
    server_errors: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/health", "/metrics")):
            continue  # the kit's; readiness is rightly 503 here, with no broker
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            rng = random.Random(repr((case.path_parameters, case.query, case.body)))
            _use_seeded_ids(case, seeded, rng)
            role = _role_for(case.method, case.path)
            if rng.random() < 0.25:
                role = rng.choice(list(seeded.tokens))
            response = case.call(
                base_url=seeded.url, headers={"Authorization": f"Bearer {seeded.tokens[role]}"}
            )
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} as {role} -> {response.status_code}; "
                    f"query={case.query!r} body={case.body!r:.300}"
                )

        check()
    assert operations >= 25
    # The seeded ids make the checks reach the domain, not only validation and 404s.
    assert statuses[200] + statuses[201] and statuses[409] and statuses[422], statuses
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert not server_errors, "\n".join(server_errors[:20])
