"""Schemathesis against outreach's own OpenAPI document: no generated request, valid or not,
gets a 5xx.

The service runs for real (uvicorn on loopback, its own database, no broker: what requests
record stays in the outbox) in a thread with its own event loop, because schemathesis calls
it synchronously. It is seeded with a member library, a kit with a file and campaigns in
several states; generated ids are swapped for seeded ones in part of the cases, so the
checks reach past the 404s into the rules.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
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
from services.outreach import store
from services.outreach.app import build
from tests.conftest import Infra
from tests.integration.outreach.conftest import MailServer, library, outreach_settings, unique_isil

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = int(os.environ.get("KONSORTIO_TEST_SCHEMATHESIS_EXAMPLES", "10"))


@dataclass
class Seeded:
    url: str
    tokens: dict[str, str]
    ids: dict[str, list[str]]


def _serve(infra: Infra, mail_server: MailServer) -> Iterator[tuple[str, Any, Any]]:
    loop = asyncio.new_event_loop()
    dsn = loop.run_until_complete(infra.new_database("outreach_st"))
    offline = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    app = build(
        infra.settings("outreach", dsn, kafka=offline), outreach_settings(infra, mail_server)
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
    try:
        yield f"http://127.0.0.1:{port}", app, loop
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()


async def _add_member(app: Any, isil: str) -> None:
    async with app.state.runtime.pool.acquire() as conn, conn.transaction():
        await store.audience.upsert_library(
            conn, library(isil), is_member=True, member_since=dt.date.today()
        )


@pytest.fixture(scope="module")
def seeded(infra: Infra, mail_server: MailServer) -> Iterator[Seeded]:
    for url, app, loop in _serve(infra, mail_server):
        isil = unique_isil("FI-Q")
        asyncio.run_coroutine_threadsafe(_add_member(app, isil), loop).result(timeout=30)
        tokens = {
            "coordinator": infra.token(Role.COORDINATOR),
            "operator": infra.token(Role.OPERATOR),
            "library": infra.token(Role.LIBRARY, isil),
        }
        yield _seed(url, tokens)


def _seed(url: str, tokens: dict[str, str]) -> Seeded:
    headers = {"Authorization": f"Bearer {tokens['coordinator']}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
        kit = http.post("/kits", json={"title": "Paketti", "product": "Tuote"}).json()
        file = http.post(
            f"/kits/{kit['id']}/files",
            files={"file": ("juliste.pdf", b"%PDF-1.7 x")},
            data={"language": "fi", "category": "poster"},
        ).json()
        body = {
            "title": "Kampanja",
            "audience": {"kind": "all"},
            "subject": {"fi": "Aihe", "sv": "Ämne"},
            "body": {"fi": "Teksti", "sv": "Text"},
        }
        campaigns = [http.post("/campaigns", json=body).json()["id"] for _ in range(3)]
        http.post(f"/campaigns/{campaigns[1]}/cancel")
        http.post(f"/campaigns/{campaigns[2]}/send")
    return Seeded(
        url=url,
        tokens=tokens,
        ids={"kit_id": [kit["id"]], "file_id": [file["id"]], "campaign_id": campaigns},
    )


def test_no_request_gets_a_server_error(seeded: Seeded) -> None:
    schema = schemathesis.openapi.from_url(f"{seeded.url}/openapi.json")
    server_errors: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/health", "/metrics", "/dev/")):
            continue  # the kit's and the development sink's
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
    assert operations >= 15
    assert statuses[200] and statuses[422], statuses
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert not server_errors, "\n".join(server_errors[:20])
