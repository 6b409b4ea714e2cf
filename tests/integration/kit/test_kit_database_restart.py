"""A PostgreSQL restart under load: HTTP commands, some of them cancelled mid-query (a client
that disconnects or times out), while the server restarts again and again. The database being
briefly gone must answer 503 with Retry-After, never 500, and no command may be half-written.

The server is this test's own (not the session's shared one), so restarting it disturbs no
other test. The service is membership, through its real routes: the 500 was first seen on its
``POST /libraries/{isil}/membership``.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from kit.auth import Role
from kit.db import ConnectionTerminated, Pool, create_pool
from konsortio.stack import EmbeddedPostgres
from services.membership.app import build as build_membership
from tests.conftest import Infra, wait_for

pytestmark = pytest.mark.integration

RESTARTS = 6
WORKERS = 12
# A share of the commands is cancelled a few milliseconds in, mid-query most of the time.
CANCELLED_SHARE = 0.3


@pytest.fixture(scope="module")
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    root = Path(tempfile.mkdtemp(prefix="konsortio-restart-"))
    server = EmbeddedPostgres(root / "pg")
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(root, ignore_errors=True)


async def _unsent(pool: asyncpg.Pool) -> bool:
    try:
        return await pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL")
    except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
        return False


def library(isil: str) -> dict[str, object]:
    # No contacts: these libraries must cause no mail in the session's shared outreach.
    return {
        "isil": isil,
        "names": {"fi": f"Kokeilu {isil}"},
        "municipalities": ["091"],
        "population": 1000,
        "library_system": "Koha",
    }


async def test_a_restart_mid_query_answers_503_with_retry_after_and_writes_nothing_half(
    infra: Infra, own_postgres: EmbeddedPostgres
) -> None:
    database = f"restart_{uuid.uuid4().hex[:8]}"
    await own_postgres.create_databases([database])
    dsn = own_postgres.dsn(database)
    app = build_membership(infra.settings("membership", dsn, database_pool_max=6))
    token = infra.token(Role.COORDINATOR)
    headers = {"Authorization": f"Bearer {token}"}
    statuses: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    stop = asyncio.Event()
    rng = random.Random(20261206)

    async def command(client: httpx.AsyncClient, method: str, path: str, body: object) -> None:
        request = asyncio.ensure_future(client.request(method, path, json=body, headers=headers))
        if rng.random() < CANCELLED_SHARE:
            await asyncio.sleep(rng.uniform(0, 0.01))
            request.cancel()
        try:
            response = await request
        except asyncio.CancelledError:
            statuses["cancelled"] += 1
            return
        statuses[str(response.status_code)] += 1
        if response.status_code >= 500 and response.status_code != 503:
            problems.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        if response.status_code == 503 and not response.headers.get("retry-after"):
            problems.append(f"{method} {path}: 503 without Retry-After")

    async def worker(client: httpx.AsyncClient, number: int) -> None:
        while not stop.is_set():
            isil = f"FI-R{number}{uuid.uuid4().hex[:6]}"
            await command(client, "POST", "/libraries", library(isil))
            await command(
                client,
                "POST",
                f"/libraries/{isil}/membership",
                {"signed_on": dt.date.today().isoformat(), "signatory": "Johtaja"},
            )

    async with app.router.lifespan_context(app):
        # The app's own exceptions become responses, as under a real server: a 500 is seen
        # as a 500 here, not as an exception in the test.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            workers = [asyncio.create_task(worker(client, n)) for n in range(WORKERS)]
            try:
                for _ in range(RESTARTS):
                    await asyncio.sleep(rng.uniform(0.3, 0.8))
                    await asyncio.to_thread(own_postgres.restart)
                await asyncio.sleep(0.5)
            finally:
                stop.set()
                await asyncio.gather(*workers, return_exceptions=True)

            async def serves_again() -> bool:
                isil = f"FI-R{uuid.uuid4().hex[:6]}"
                response = await client.post("/libraries", json=library(isil), headers=headers)
                return response.status_code == 201

            await wait_for(serves_again, timeout_s=30, interval_s=0.2)
            # The relay survived the restarts: everything recorded gets published.
            pool = app.state.runtime.pool
            await wait_for(lambda: _unsent(pool), timeout_s=30, interval_s=0.2)

    assert not problems, "\n".join(problems[:10])
    assert statuses["503"] > 0, f"no command met the restarts: {dict(statuses)}"
    assert statuses["201"] > 0, dict(statuses)

    # Nothing half-written: a membership period exists exactly when its member-joined event
    # does, whatever the answer was (201, 503, or none for a cancelled request).
    conn = await asyncpg.connect(dsn)
    try:
        periods = {
            r["isil"]: r["n"]
            for r in await conn.fetch(
                "SELECT isil, count(*) AS n FROM membership_periods GROUP BY isil"
            )
        }
        events = {
            r["key"]: r["n"]
            for r in await conn.fetch(
                "SELECT key, count(*) AS n FROM outbox WHERE event_type LIKE '%member-joined%'"
                " GROUP BY key"
            )
        }
    finally:
        await conn.close()
    assert periods, "no membership was recorded"
    assert periods == events


async def test_a_connection_the_server_ended_is_reported_lost_and_replaced(
    own_postgres: EmbeddedPostgres,
) -> None:
    """The pool-level cause on its own: idle pooled connections get PostgreSQL's FATAL
    shutdown notice; one handed out before its socket's end is read failed with asyncpg's
    InternalClientError ("cannot switch to state 15; another operation (2) is in progress").
    The kit's pool reports every such failure as a lost connection, and replaces the rest."""
    database = f"restart_{uuid.uuid4().hex[:8]}"
    await own_postgres.create_databases([database])
    pool = await create_pool(own_postgres.dsn(database), max_size=8)
    assert isinstance(pool, Pool)
    seen: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()

    async def unit_of_work() -> None:
        while not stop.is_set():
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.fetchval("SELECT pg_sleep(0.002)")
                seen["ok"] += 1
            except asyncpg.InternalClientError as error:
                seen[f"InternalClientError: {error}"] += 1
            except ConnectionTerminated:
                seen["terminated"] += 1
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
                seen["unavailable"] += 1
                await asyncio.sleep(0.01)

    try:
        tasks = [asyncio.create_task(unit_of_work()) for _ in range(16)]
        for _ in range(RESTARTS):
            await asyncio.sleep(0.3)
            generation = pool.generation
            await asyncio.to_thread(own_postgres.restart)
            await wait_for(lambda g=generation: pool.generation > g, timeout_s=10)
        stop.set()
        await asyncio.gather(*tasks)
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
    leaked = {k: v for k, v in seen.items() if k.startswith("InternalClientError")}
    assert not leaked, leaked
    assert seen["ok"] > 0
