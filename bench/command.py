"""Benchmark 8, the HTTP command path: ``PATCH /libraries/{isil}`` on one membership process
(the token check, validation, the update, the ``member-updated`` event in the outbox, the
commit and the answer), against the hand-written minimum of the same durable work.

The reference is a bare asyncpg transaction per command, in a load process of its own, on a
database with membership's schema: lock the library's row, update it, insert the event's
outbox row (a JSON payload built by hand), commit. No HTTP, no framework, no models. The ratio
of the two throughputs is what everything between the socket and those statements costs.

Three figures, each on the same machine in the same run:

- throughput: the commands per second each path completes, closed loop (every connection
  sends its next command as soon as the last is answered), the same number of connections;
- latency at 200/s over HTTP: open loop (command i is due at start + i / rate whether or not
  earlier ones were answered), each command's time from when it was due to its answer.

The membership service runs exactly as in production (``konsortio run membership``), with its
outbox relay publishing to the run's broker; its CPU share is reported with the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from typing import Any

import asyncpg

from bench.infra import BenchInfra
from bench.latency import _HttpConnection, _quantile, _ready, _register, _service_pid
from bench.latency import _start_membership as start_membership
from bench.payloads import derived_from_latest_figures, isil
from bench.procs import Child, children, command, emit
from bench.report import Row
from kit.auth import Role, generate_keypair, issue_token
from kit.db import apply_migrations, create_pool
from konsortio.stack import free_port, wait_until

LIBRARIES = 10_000
CONNECTIONS = 16
WARMUP_S = 1.0
LATENCY_RATE = 200
GOAL_PER_S = 1_000
GOAL_P99_MS = 100.0
RUN = "C"
MIGRATIONS = "services/membership/migrations"

# The hand-written minimum: the same rows the command changes, with prepared statements
# (asyncpg prepares and caches each on first use).
LOCK = "SELECT isil, population, population_exception FROM libraries WHERE isil = $1 FOR UPDATE"
UPDATE = """
UPDATE libraries SET population = $2, population_exception = $3, updated_at = now()
WHERE isil = $1
"""
INSERT_OUTBOX = """
INSERT INTO outbox (event_id, topic, key, event_type, headers, payload)
VALUES ($1, $2, $3, $4, $5, $6)
"""


def _body(number: int) -> bytes:
    return json.dumps(
        {"population": 1_000 + number, "population_reason": "joint authority (benchmark)"}
    ).encode()


# --- children -------------------------------------------------------------------------------


async def command_bare(args: dict[str, Any]) -> None:
    """Closed loop of bare transactions on ``connections`` connections for the time given."""
    pool = await asyncpg.create_pool(
        args["dsn"], min_size=args["connections"], max_size=args["connections"]
    )
    isils = [isil(args["run"], i) for i in range(args["libraries"])]
    latencies: list[float] = []
    counter = iter(range(10**9))
    emit("ready")
    loop = asyncio.get_running_loop()
    started = loop.time()
    measure_from = started + args["warmup"]
    end = measure_from + args["seconds"]

    async def worker() -> None:
        async with pool.acquire() as conn:
            while (now := loop.time()) < end:
                number = next(counter)
                code = isils[number % len(isils)]
                population = 1_000 + number
                async with conn.transaction():
                    row = await conn.fetchrow(LOCK, code)
                    exception = json.dumps(
                        {"population": population, "reason": "joint authority (benchmark)"}
                    )
                    await conn.execute(UPDATE, code, population, exception)
                    event_id = uuid.uuid4()
                    payload = json.dumps(
                        {
                            "library": {"isil": code, "population": population},
                            "previous": row["population"],
                        }
                    ).encode()
                    headers = json.dumps({"ce_id": str(event_id), "ce_type": "member-updated"})
                    await conn.execute(
                        INSERT_OUTBOX,
                        event_id,
                        "konsortio.membership",
                        code,
                        "fi.konsortio.membership.member-updated.v1",
                        headers,
                        payload,
                    )
                if now >= measure_from:
                    latencies.append(loop.time() - now)

    await asyncio.gather(*(worker() for _ in range(args["connections"])))
    latencies.sort()
    # Before the pool closes: the parent's last CPU sample must still see its backends.
    emit(
        "done",
        completed=len(latencies),
        per_s=round(len(latencies) / args["seconds"]),
        p50_ms=round(_quantile(latencies, 0.5) * 1000, 2),
        p99_ms=round(_quantile(latencies, 0.99) * 1000, 2),
    )
    await command()  # the parent's "stop", once it has measured
    await pool.close()


async def command_http(args: dict[str, Any]) -> None:
    """``rate`` 0: closed loop on every connection; otherwise open loop at ``rate``/s."""
    isils = [isil(args["run"], i) for i in range(args["libraries"])]
    connections = [await _HttpConnection.open(args["port"]) for _ in range(args["connections"])]
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    emit("ready")
    loop = asyncio.get_running_loop()
    started = loop.time()
    measure_from = started + args["warmup"]
    end = measure_from + args["seconds"]
    token = args["token"]

    async def send(connection: _HttpConnection, number: int, due: float) -> None:
        code = isils[number % len(isils)]
        body = _body(number)
        head = (
            f"PATCH /libraries/{code} HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            status = await connection.request(head, body)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status = 0
        if due >= measure_from:
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(loop.time() - due)

    counter = iter(range(10**9))
    if not args["rate"]:

        async def closed(connection: _HttpConnection) -> None:
            while (now := loop.time()) < end:
                await send(connection, next(counter), now)

        await asyncio.gather(*(closed(connection) for connection in connections))
    else:
        idle: asyncio.Queue[_HttpConnection] = asyncio.Queue()
        for connection in connections:
            idle.put_nowait(connection)
        pending: set[asyncio.Task[None]] = set()

        async def one(number: int, due: float) -> None:
            connection = await idle.get()
            try:
                await send(connection, number, due)
            finally:
                idle.put_nowait(connection)

        sent = 0
        rate = args["rate"]
        while (now := loop.time()) < end:
            due_count = int((now - started) * rate) + 1
            while sent < due_count:
                task = asyncio.create_task(one(sent, started + sent / rate))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(0.001)
        if pending:
            await asyncio.wait(pending, timeout=60)
    for connection in connections:
        connection.close()
    latencies.sort()
    emit(
        "done",
        completed=len(latencies),
        per_s=round(len(latencies) / args["seconds"]),
        statuses={str(k): v for k, v in statuses.items()},
        p50_ms=round(_quantile(latencies, 0.5) * 1000, 2),
        p99_ms=round(_quantile(latencies, 0.99) * 1000, 2),
        max_ms=round(latencies[-1] * 1000, 2) if latencies else None,
    )


CHILDREN = {"command-bare": command_bare, "command-http": command_http}


# --- parent ---------------------------------------------------------------------------------


async def _schema(dsn: str) -> None:
    """Membership's schema (the kit's tables and the service's) in a database of its own."""
    from pathlib import Path

    from bench.procs import REPO

    pool = await create_pool(dsn, 1)
    try:
        await apply_migrations(pool, Path(REPO) / MIGRATIONS)
    finally:
        await pool.close()


async def _load(
    infra: BenchInfra,
    role: str,
    args: dict[str, Any],
    progress: Any,
    key: str,
    meter_pids: dict[str, int],
) -> dict[str, Any]:
    child = await Child.start(role, args, infra.path("logs"))
    meter = infra.meter()
    for name, pid in meter_pids.items():
        meter.watch(name, pid)
    async with children(child):
        await child.expect("ready", 60)
        meter.watch("load", child.pid)
        total = args["warmup"] + args["seconds"]
        await asyncio.sleep(args["warmup"])
        before, clock = meter.sample(), time.monotonic()
        done = asyncio.create_task(child.expect("done", total + 90))
        while not done.done():
            progress(key, min(time.monotonic() - clock + args["warmup"], total), total)
            await asyncio.wait({done}, timeout=0.2)
        result = done.result()
        elapsed = time.monotonic() - clock
        result["cpu_cores"] = meter.since(before, meter.sample(), elapsed)
        child.send("stop")
    # CPU per command moves far less with other work on the machine than the rates do.
    result["cpu_us_per_command"] = {
        name: round(cores * elapsed * 1e6 / max(result["completed"], 1))
        for name, cores in result["cpu_cores"].items()
        if name != "others"
    }
    progress(key, total, total)
    result.pop("event", None)
    return result


async def run(infra: BenchInfra, seconds: float, progress: Any) -> dict[str, Any]:
    common = {
        "run": RUN,
        "libraries": LIBRARIES,
        "seconds": seconds,
        "warmup": WARMUP_S,
        "connections": CONNECTIONS,
    }
    # The reference first, on a database of its own, while nothing else of ours runs.
    bare_dsn = await infra.new_database("bench_command_bare")
    await _schema(bare_dsn)
    await _register(bare_dsn, RUN, LIBRARIES)
    bare = await _load(
        infra, "command-bare", {**common, "dsn": bare_dsn}, progress, "command: bare asyncpg", {}
    )

    dsn = await infra.new_database("bench_command")
    private_key, public_key = generate_keypair()
    token = issue_token(private_key, role=Role.COORDINATOR, audience="membership")
    port = free_port()
    service = await start_membership(infra, dsn, public_key, port)
    try:
        await wait_until(lambda: _ready(port), timeout_s=90, interval_s=0.2)
        await _register(dsn, RUN, LIBRARIES)
        await derived_from_latest_figures(dsn)
        pids = {"membership": _service_pid(service)}
        http = {**common, "port": port, "token": token}
        throughput = await _load(
            infra, "command-http", {**http, "rate": 0}, progress, "command: HTTP closed", pids
        )
        at_rate = await _load(
            infra,
            "command-http",
            {**http, "rate": LATENCY_RATE},
            progress,
            f"command: HTTP {LATENCY_RATE}/s",
            pids,
        )
    finally:
        if service.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(_service_pid(service), signal.SIGTERM)
            try:
                await asyncio.wait_for(service.wait(), 30)
            except TimeoutError:
                service.kill()
    return {
        "bare": bare,
        "http": throughput,
        "http_at_rate": {**at_rate, "rate": LATENCY_RATE},
        "ratio": round(throughput["per_s"] / max(bare["per_s"], 1), 3),
        "connections": CONNECTIONS,
        "libraries": LIBRARIES,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    bare, http, at_rate = result["bare"], result["http"], result["http_at_rate"]
    ok = http["statuses"].get("200", 0) == http["completed"]
    ok_at_rate = at_rate["statuses"].get("200", 0) == at_rate["completed"]
    cpu = http["cpu_cores"]
    return [
        Row(
            benchmark="8 command",
            figure=f"HTTP PATCH /libraries/{{isil}}, 1 process, {result['connections']} "
            "connections, closed loop",
            value=http["per_s"],
            unit="/s",
            reference="bare asyncpg transaction, same rows",
            reference_value=bare["per_s"],
            ratio=result["ratio"],
            goal=f"≥ {GOAL_PER_S:,}/s",
            met=http["per_s"] >= GOAL_PER_S and ok,
            note=(
                f"p50 {http['p50_ms']} ms · p99 {http['p99_ms']} ms · statuses "
                f"{http['statuses']} · membership {cpu.get('membership', 0):.2f} core, "
                f"PostgreSQL {cpu.get('postgres', 0):.2f} · CPU per command: membership "
                f"{http['cpu_us_per_command'].get('membership', 0)} µs, PostgreSQL "
                f"{http['cpu_us_per_command'].get('postgres', 0)} µs; bare client "
                f"{bare['cpu_us_per_command'].get('load', 0)} µs, PostgreSQL "
                f"{bare['cpu_us_per_command'].get('postgres', 0)} µs · bare p50 "
                f"{bare['p50_ms']} ms, p99 {bare['p99_ms']} ms"
            ),
        ),
        Row(
            benchmark="8 command",
            figure=f"HTTP PATCH latency at {at_rate['rate']}/s (due → answered), p99",
            value=at_rate["p99_ms"],
            unit="ms",
            goal=f"p99 < {GOAL_P99_MS:.0f} ms",
            met=at_rate["p99_ms"] < GOAL_P99_MS and ok_at_rate,
            note=(
                f"p50 {at_rate['p50_ms']} ms · max {at_rate['max_ms']} ms · "
                f"{at_rate['per_s']}/s completed · statuses {at_rate['statuses']} · membership "
                f"{at_rate['cpu_cores'].get('membership', 0):.2f} core"
            ),
        ),
    ]
