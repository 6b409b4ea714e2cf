"""Schemathesis against usage's own OpenAPI document: no generated request, valid or not,
gets a 5xx. The service runs for real (uvicorn on loopback, its own database, no broker: what
it records stays in the outbox) with a provider and some usage seeded, and generated agreement
ids are swapped for the seeded one in half of the cases so the checks reach past the 404s."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
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
from services.usage.app import spec
from tests.conftest import Infra
from tests.integration.usage.conftest import usage_settings
from tests.integration.usage.test_usage_uploads_and_costs import tabular, tr_row

pytestmark = pytest.mark.integration
AGREEMENT = "AG-schemathesis"
ISIL = "FI-Sch"


@pytest.fixture(scope="module")
def served(infra: Infra) -> Iterator[tuple[str, dict[str, str]]]:
    loop = asyncio.new_event_loop()
    dsn = loop.run_until_complete(infra.new_database("usage_st"))
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    app = create_app(
        dataclasses.replace(spec(usage_settings()), reactions=None, jobs=()),
        infra.settings("usage", dsn, kafka=kafka),
    )
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
    url = f"http://127.0.0.1:{port}"
    tokens = {
        "coordinator": infra.token(Role.COORDINATOR),
        "procurement": infra.token(Role.PROCUREMENT),
        "library": infra.token(Role.LIBRARY, ISIL),
    }
    coordinator = {"Authorization": f"Bearer {tokens['coordinator']}"}
    with httpx.Client(base_url=url, headers=coordinator) as client:
        client.put(
            f"/agreements/{AGREEMENT}/provider",
            json={"platform": "p", "base_url": "http://127.0.0.1:9", "requestor_id": "r",
                  "customers": {ISIL: "c"}},
        ).raise_for_status()  # fmt: skip
        client.post(
            f"/agreements/{AGREEMENT}/uploads/counter",
            params={"isil": ISIL},
            files={"file": ("tr.tsv", tabular([tr_row("K", "978952", "Total_Item_Requests",
                                                       "1", "2")]))},
        ).raise_for_status()  # fmt: skip
        client.put(
            "/suppliers/S/mapping",
            json={"isbn": "ISBN", "title": "T", "month": "M", "loans": "L"},
        ).raise_for_status()
    try:
        yield url, tokens
    finally:
        server.should_exit = True
        thread.join(30)
        loop.close()


def test_no_request_gets_a_server_error(served: tuple[str, dict[str, str]]) -> None:
    url, tokens = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    server_errors: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/health", "/metrics")):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            rng = random.Random(repr((case.path_parameters, case.query, case.body)))
            if case.path_parameters and "agreement_id" in case.path_parameters:
                if rng.random() < 0.5:
                    case.path_parameters["agreement_id"] = AGREEMENT
            role = rng.choice(["coordinator", "coordinator", "procurement", "library"])
            response = case.call(base_url=url, headers={"Authorization": f"Bearer {tokens[role]}"})
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} as {role} -> {response.status_code}; "
                    f"query={case.query!r} body={case.body!r:.300}"
                )

        check()
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert statuses[200] and statuses[422], statuses
    assert not server_errors, "\n".join(server_errors[:20])
