"""Schemathesis against membership's own OpenAPI document: no generated request, valid or not,
as any role, gets a 5xx.

The service runs for real (uvicorn on loopback, its own database, no broker: what requests
record stays in the outbox) in a thread with its own event loop, because schemathesis calls
it synchronously. It is seeded with an organisation, a kimppa, member libraries and an
agreement version; generated ids are swapped for seeded ones in part of the cases, so the
checks reach past the 404s into the rules.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings

from kit.auth import Role
from kit.settings import KafkaSettings
from konsortio.stack import free_port
from services.membership.app import build
from tests.conftest import Infra
from tests.integration.conftest import library_body, unique_isil

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = int(os.environ.get("KONSORTIO_TEST_SCHEMATHESIS_EXAMPLES", "10"))


@dataclass
class Seeded:
    url: str
    tokens: dict[str, str]
    ids: dict[str, list[str]]


def _serve(infra: Infra) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    dsn = loop.run_until_complete(infra.new_database("membership_st"))
    offline = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    app = build(infra.settings("membership", dsn, kafka=offline))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),))
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()


@pytest.fixture(scope="module")
def seeded(infra: Infra) -> Iterator[Seeded]:
    for url in _serve(infra):
        isils = [unique_isil("FI-Q"), unique_isil("FI-Q")]
        tokens = {
            "coordinator": infra.token(Role.COORDINATOR),
            "library": infra.token(Role.LIBRARY, isils[0]),
            "cataloguer": infra.token(Role.CATALOGUER),
        }
        headers = {"Authorization": f"Bearer {tokens['coordinator']}"}
        with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
            http.put(
                "/organisations/0201256-6",
                json={
                    "business_id": "0201256-6",
                    "names": {"fi": "Helsingin kaupunki"},
                    "kind": "municipality",
                    "municipalities": ["091"],
                },
            ).raise_for_status()
            http.put(
                "/kimppas/helmet", json={"name": "Helmet", "library_system": "Sierra"}
            ).raise_for_status()
            for isil in isils:
                body = library_body(isil, organisation="0201256-6", kimppa="helmet")
                http.post("/libraries", json=body).raise_for_status()
                http.post(
                    f"/libraries/{isil}/membership",
                    json={"signed_on": "2026-01-01", "signatory": "Johtaja"},
                ).raise_for_status()
            http.post(
                "/agreement-versions",
                files={"file": ("sopimus.pdf", b"%PDF-1.7 x", "application/pdf")},
                data={
                    "version": "2027",
                    "valid_from": "2027-01-01",
                    "notice_months": "6",
                    "notice_takes_effect": "end-of-year",
                },
            ).raise_for_status()
        yield Seeded(
            url=url,
            tokens=tokens,
            ids={
                "isil": isils,
                "business_id": ["0201256-6"],
                "kimppa_id": ["helmet"],
                "version": ["2027"],
            },
        )


def test_no_request_gets_a_server_error(seeded: Seeded) -> None:
    schema = schemathesis.openapi.from_url(f"{seeded.url}/openapi.json")
    server_errors: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/health", "/metrics")):
            continue  # the kit's
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
            params = case.path_parameters or {}
            for name, ids in seeded.ids.items():
                if name in params and rng.random() < 0.7:
                    params[name] = rng.choice(ids)
            role = "coordinator" if rng.random() < 0.75 else rng.choice(list(seeded.tokens))
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
    assert operations >= 20
    assert statuses[200] and statuses[422], statuses
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert not server_errors, "\n".join(server_errors[:20])
