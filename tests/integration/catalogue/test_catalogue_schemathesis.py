"""Schemathesis against the catalogue's own OpenAPI document: no generated request, valid or
not, gets a 5xx.

The service runs for real (uvicorn on loopback, its own database, its Melinda adapter pointed
at the session's stand-in) in a thread with its own event loop, because schemathesis calls it
synchronously; no consumer, no jobs, no broker (its events stay in its outbox). It is seeded
with a collection a library takes part in, a finished batch and its records; generated ids are
swapped for seeded ones in part of the cases, so the checks reach past the 404s.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
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
from kit.settings import KafkaSettings
from konsortio.stack import free_port
from services.catalogue import commands
from services.catalogue.app import make_spec
from services.catalogue.settings import CatalogueSettings
from tests.conftest import Infra
from tests.integration.catalogue.conftest import (
    TODAY,
    base_number,
    joined_event,
    marc_file,
    marc_records,
    signed_event,
    unique,
    unique_isil,
)
from tests.integration.catalogue.melinda_standin import RunningStandIn

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = int(os.environ.get("KONSORTIO_TEST_SCHEMATHESIS_EXAMPLES", "10"))


@dataclasses.dataclass
class Seeded:
    url: str
    tokens: dict[str, str]
    ids: dict[str, list[str]]


def _serve(infra: Infra, melinda: RunningStandIn) -> Iterator[tuple[str, Any, Any]]:
    loop = asyncio.new_event_loop()
    dsn = loop.run_until_complete(infra.new_database("catalogue_st"))
    catalogue_settings = CatalogueSettings(
        catalogue_spool_dir=str(infra.tmp / "catalogue-st-spool"),
        catalogue_upload_max_bytes=1024 * 1024,
        melinda_url=melinda.url,
        melinda_username=melinda.standin.username,
        melinda_password=melinda.standin.password,
        melinda_poll_interval_s=0.05,
    )
    spec = dataclasses.replace(make_spec(catalogue_settings), reactions=None, jobs=())
    offline = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    app = create_app(spec, infra.settings("catalogue", dsn, kafka=offline))
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


async def _agreement(app: Any, agreement: str, isil: str) -> None:
    async with app.state.runtime.pool.acquire() as conn, conn.transaction():
        await commands.agreement_signed(conn, signed_event(agreement))
        await commands.agreement_joined(conn, joined_event(agreement, isil), TODAY)


@pytest.fixture(scope="module")
def seeded(infra: Infra, melinda: RunningStandIn) -> Iterator[Seeded]:
    for url, app, loop in _serve(infra, melinda):
        agreement, isil = unique("agr"), unique_isil("FI-Z")
        asyncio.run_coroutine_threadsafe(_agreement(app, agreement, isil), loop).result(30)
        tokens = {
            "coordinator": infra.token(Role.COORDINATOR),
            "cataloguer": infra.token(Role.CATALOGUER),
            "library": infra.token(Role.LIBRARY, isil),
        }
        cataloguer = {"Authorization": f"Bearer {tokens['cataloguer']}"}
        with httpx.Client(base_url=url, timeout=60) as http:
            start = base_number()
            batch = http.post(
                "/batches",
                params={"collection": agreement, "wait": "true"},
                content=marc_file(marc_records(range(start, start + 3))),
                headers={**cataloguer, "Content-Type": "application/marc"},
            ).json()
            records = http.get("/records", params={"collection": agreement}, headers=cataloguer)
            record_ids = [str(r["id"]) for r in records.json()["items"]]
        yield Seeded(
            url=url,
            tokens=tokens,
            ids={
                "collection_id": [agreement],
                "batch_id": [batch["id"]],
                "record_id": record_ids,
                "isil": [isil],
                "match_key": [str(base_number())],
            },
        )


def _role_for(method: str) -> str:
    return "coordinator" if method == "GET" else "cataloguer"


def _use_seeded_ids(case: Any, seeded: Seeded, rng: random.Random) -> None:
    params = case.path_parameters or {}
    for name, values in seeded.ids.items():
        if name in params and rng.random() < 0.7:
            params[name] = rng.choice(values)
    query = case.query or {}
    if "collection" in query and rng.random() < 0.7:
        query["collection"] = rng.choice(seeded.ids["collection_id"])


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
            role = _role_for(case.method)
            if rng.random() < 0.25:
                role = rng.choice(list(seeded.tokens))
            response = case.call(
                base_url=seeded.url,
                headers={"Authorization": f"Bearer {seeded.tokens[role]}"},
                timeout=60,
            )
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} as {role} -> {response.status_code}; "
                    f"query={case.query!r} body={case.body!r:.300}: {response.text[:300]}"
                )

        check()
    assert operations >= 20
    assert statuses[200] and statuses[404] and statuses[422], statuses
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert not server_errors, "\n".join(server_errors[:20])
