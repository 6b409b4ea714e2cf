"""Benchmark 2, end-to-end latency: from the command's commit to the consumer's committed effect.

The membership service runs exactly as in production, as its own process through the container
entrypoint (``konsortio run membership``: uvicorn, the kit's app with its outbox relay woken by
LISTEN/NOTIFY). A load process drives real HTTP commands, ``PATCH /libraries/{isil}`` (each one a
``member-updated`` event), open-loop at a fixed rate over keep-alive connections. The kit's
idempotent consumer (batch path) runs in a third process; its effect is a row in its own
database.

Both timestamps come from the same clock, PostgreSQL's, without instrumenting anything:
``pg_xact_commit_timestamp(xmin)`` of the command's outbox row (the command's commit) and of the
consumer's effect row (the effect's commit); ``track_commit_timestamp`` is on (bench/infra.py).

Where the HTTP path cannot offer a rate on this machine (one uvicorn process on h11, without
httptools or uvloop, sharing 2 cores with PostgreSQL, the broker and the consumer), the rate is
also driven through the close equivalent on the kit: a load process running one transaction per
command, the library's state change and its ``member-updated`` event together
(``kit.outbox.record_event``), exactly what membership's command does after HTTP. Each row says
which path it used and the rate the path actually achieved.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench.infra import BenchInfra, create_topic, start_group_at_end
from bench.payloads import derived_from_latest_figures, insert_libraries, isil, library
from bench.procs import PROFILE_ENV, REPO, Child, children, emit, pyspy_binary
from bench.report import Row
from contracts.membership import MemberUpdated
from kit.auth import Role, generate_keypair, issue_token
from kit.db import create_pool
from kit.outbox import record_events
from konsortio.stack import free_port, wait_until

LIBRARIES = 10_000
WARMUP_S = 1.0
GOAL_RATE = 1_000
GOAL_P99_MS = 50.0
SOURCE = "/konsortio/membership"
# Tansu holds an empty fetch for the whole wait instead of answering when records arrive
# (measured: p50 135 ms at aiokafka's default 500 ms, 9 ms at 10 ms), so the latency consumer
# asks for short fetches; see EventConsumer.subscribe.
FETCH_MAX_WAIT_MS = 10

# Measurement probe, installed in the benchmark's own membership database after its migrations:
# the relay stamps outbox rows sent_at (a new row version, a new xmin), so the command's commit
# time is kept on a row of its own that nothing updates.
COMMIT_PROBE = """
CREATE TABLE bench_commits (event_id text NOT NULL);
CREATE FUNCTION bench_commit_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_commits VALUES (NEW.event_id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER bench_commit_probe AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION bench_commit_probe();
"""


# --- children -------------------------------------------------------------------------------


class _HttpConnection:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost far less CPU than
    the server it measures, and httpx costs about as much per request as uvicorn does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> _HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(status_line.split()[1]) if status_line else 0

    def close(self) -> None:
        self.writer.close()


async def http_load(args: dict[str, Any]) -> None:
    """Open-loop load: request i is due at start + i / rate, whether or not earlier ones
    have been answered (a closed loop would hide queueing behind the client's own wait)."""
    rate, total = args["rate"], int(args["rate"] * args["seconds"])
    isils = [isil(args["run"], i) for i in range(args["libraries"])]
    connections: asyncio.Queue[_HttpConnection] = asyncio.Queue()
    for _ in range(args["connections"]):
        connections.put_nowait(await _HttpConnection.open(args["port"]))
    statuses: dict[int, int] = {}
    answered: list[float] = []
    emit("ready")

    async def one(number: int, due: float) -> None:
        isil = isils[number % len(isils)]
        body = json.dumps(
            {"population": 1_000 + number, "population_reason": "joint authority (benchmark)"}
        ).encode()
        head = (
            f"PATCH /libraries/{isil} HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {args['token']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        connection = await connections.get()
        try:
            status = await connection.request(head, body)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status = 0
        connections.put_nowait(connection)
        statuses[status] = statuses.get(status, 0) + 1
        answered.append(time.monotonic() - due)

    loop = asyncio.get_running_loop()
    started = reported = loop.time()
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    skipped = 0
    while sent + skipped < total:
        now = loop.time()
        due_count = min(int((now - started) * rate) + 1, total)
        while sent + skipped < due_count:
            if len(pending) >= args["max_pending"]:
                # The server is past its capacity: what cannot be sent in time is counted,
                # not queued up for minutes behind the measurement.
                skipped += 1
                continue
            task = asyncio.create_task(one(sent, started + (sent + skipped) / rate))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        if loop.time() - reported > 0.2:  # the parent's progress bar; not every tick
            emit("progress", n=sent + skipped)
            reported = loop.time()
        await asyncio.sleep(0.002)
    offered_s = loop.time() - started
    if pending:
        await asyncio.wait(pending, timeout=60)
    answered.sort()
    emit(
        "done",
        sent=sent,
        skipped=skipped,
        statuses={str(k): v for k, v in statuses.items()},
        offered_per_s=round(sent / offered_s),
        completed_per_s=round(sent / (loop.time() - started)),
        client_p50_ms=round(_quantile(answered, 0.5) * 1000, 1),
        client_p99_ms=round(_quantile(answered, 0.99) * 1000, 1),
    )


async def kit_load(args: dict[str, Any]) -> None:
    """The close equivalent without HTTP: every 2 ms the events that have fallen due are
    committed together, their state changes and their events in one transaction
    (``kit.outbox.record_events``). One transaction per event tops out near 1,000/s here:
    each costs the client about 350 µs of CPU (pool, BEGIN, two statements, COMMIT, the
    CloudEvents encoding) and every commit with a NOTIFY is serialised in PostgreSQL."""
    rate, total = args["rate"], int(args["rate"] * args["seconds"])
    pool = await create_pool(args["dsn"], max_size=args["connections"])
    libraries = [library(args["run"], i) for i in range(args["libraries"])]
    slots = asyncio.Semaphore(args["connections"])
    statuses: dict[str, int] = {}
    transactions = 0
    emit("ready")

    async def commit(first: int, last: int) -> None:
        nonlocal transactions
        changed = [
            libraries[number % len(libraries)].model_copy(update={"population": 1_000 + number})
            for number in range(first, last)
        ]
        async with slots:
            try:
                async with pool.acquire() as conn, conn.transaction():
                    # Row locks in one order, as a command that locks its library first
                    # would: overlapping transactions then wait instead of deadlocking.
                    await conn.execute(
                        "SELECT 1 FROM libraries WHERE isil = ANY($1::text[]) "
                        "ORDER BY isil FOR UPDATE",
                        [item.isil for item in changed],
                    )
                    await conn.execute(
                        """
                        UPDATE libraries SET population = batch.population, updated_at = now()
                        FROM unnest($1::text[], $2::int[]) AS batch (isil, population)
                        WHERE libraries.isil = batch.isil
                        """,
                        [item.isil for item in changed],
                        [item.population for item in changed],
                    )
                    await record_events(
                        conn,
                        [MemberUpdated(library=item, is_member=False) for item in changed],
                        source=SOURCE,
                    )
                outcome = "ok"
                transactions += 1
            except Exception as error:  # counted and reported, never expected
                outcome = type(error).__name__
        statuses[outcome] = statuses.get(outcome, 0) + last - first

    loop = asyncio.get_running_loop()
    started = reported = loop.time()
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    while sent < total:
        due = min(int((loop.time() - started) * rate) + 1, total)
        if due > sent:
            task = asyncio.create_task(commit(sent, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent = due
        if loop.time() - reported > 0.2:  # the parent's progress bar; not every tick
            emit("progress", n=sent)
            reported = loop.time()
        await asyncio.sleep(0.002)
    offered_s = loop.time() - started
    if pending:
        await asyncio.wait(pending, timeout=60)
    await pool.close()
    emit(
        "done",
        sent=sent,
        statuses=statuses,
        transactions=transactions,
        offered_per_s=round(sent / offered_s),
        completed_per_s=round(sent / (loop.time() - started)),
    )


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(int(q * len(values)), len(values) - 1)]


# --- parent ---------------------------------------------------------------------------------


async def _start_membership(
    infra: BenchInfra, dsn: str, public_key: str, port: int
) -> asyncio.subprocess.Process:
    key_file = infra.path("jwt_public.pem")
    key_file.write_text(public_key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONSORTIO_")}
    env.update(
        {
            "KONSORTIO_DATABASE_URL": dsn,
            "KONSORTIO_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap,
            "KONSORTIO_JWT_PUBLIC_KEY_FILE": str(key_file),
            "KONSORTIO_HTTP_PORT": str(port),
            "KONSORTIO_LOG_LEVEL": "WARNING",
        }
    )
    log = infra.path("logs") / "membership.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "konsortio.cli", "run", "membership"]
    profile_dir = os.environ.get(PROFILE_ENV)
    if profile_dir:  # python -m bench --profile: the HTTP service's profile too
        output_file = str(Path(profile_dir) / "membership-http-1.txt")
        command = [pyspy_binary(), "record", "--format", "raw", "--rate", "100"]
        command += ["--nonblocking", "--output", output_file, "--", sys.executable]
        command += ["-m", "konsortio.cli", "run", "membership"]
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            *command, cwd=REPO, env=env, stdout=output, stderr=output
        )


def _service_pid(process: asyncio.subprocess.Process) -> int:
    """The service's own pid, also when py-spy started it."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(process.pid).children():
            if "konsortio.cli" in " ".join(child.cmdline()):
                return child.pid
    return process.pid


async def _ready(port: int) -> bool:
    async with httpx.AsyncClient() as client:
        try:
            response = await client.get(f"http://127.0.0.1:{port}/health/ready", timeout=1)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


async def _register(dsn: str, run: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await insert_libraries(conn, [library(run, number) for number in range(count)])
    finally:
        await conn.close()


async def _latencies(
    membership_dsn: str, consumer_dsn: str, from_time: dt.datetime, to_time: dt.datetime
) -> dict[str, Any]:
    """Commit-to-effect latencies (ms) of the commands committed between the two times, split
    at the relay's ``sent_at`` stamp (taken once the broker acknowledged the batch), and how
    many of them have no effect."""
    membership = await asyncpg.connect(membership_dsn)
    effects = await asyncpg.connect(consumer_dsn)
    try:
        commits = {
            row["event_id"]: (row["committed"], row["sent_at"])
            for row in await membership.fetch(
                """
                SELECT c.event_id, pg_xact_commit_timestamp(c.xmin) AS committed, o.sent_at
                FROM bench_commits c JOIN outbox o ON o.event_id::text = c.event_id
                WHERE pg_xact_commit_timestamp(c.xmin) BETWEEN $1 AND $2
                """,
                from_time,
                to_time,
            )
        }
        done = {
            row["event_id"]: row["committed"]
            for row in await effects.fetch(
                """
                SELECT event_id, min(pg_xact_commit_timestamp(xmin)) AS committed
                FROM bench_effects WHERE event_id = ANY($1::text[]) GROUP BY event_id
                """,
                list(commits),
            )
        }
    finally:
        await membership.close()
        await effects.close()

    def ms(later: dt.datetime, earlier: dt.datetime) -> float:
        return (later - earlier).total_seconds() * 1000

    applied = [(event_id, times) for event_id, times in commits.items() if event_id in done]
    return {
        "total": sorted(ms(done[event_id], committed) for event_id, (committed, _) in applied),
        "relay": sorted(ms(sent, committed) for _, (committed, sent) in applied if sent),
        "consumer": sorted(ms(done[event_id], sent) for event_id, (_, sent) in applied if sent),
        "unconsumed": len(commits) - len(done),
    }


async def _now(dsn: str) -> dt.datetime:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT clock_timestamp()")
    finally:
        await conn.close()


async def _install_probe(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(COMMIT_PROBE)
    finally:
        await conn.close()


async def _effects_caught_up(membership_dsn: str, consumer_dsn: str) -> bool:
    membership = await asyncpg.connect(membership_dsn)
    effects = await asyncpg.connect(consumer_dsn)
    try:
        recorded = await membership.fetchval("SELECT count(*) FROM outbox")
        applied = await effects.fetchval("SELECT count(*) FROM bench_effects")
    finally:
        await membership.close()
        await effects.close()
    return applied >= recorded


async def run(
    infra: BenchInfra,
    steps_wanted: tuple[tuple[int, str], ...],
    seconds: float,
    progress: Any,
) -> dict[str, Any]:
    membership_dsn = await infra.new_database("bench_latency_membership")
    consumer_dsn = await infra.new_database("bench_latency_consumer")
    private_key, public_key = generate_keypair()
    token = issue_token(private_key, role=Role.COORDINATOR)
    port = free_port()
    topic = MemberUpdated.topic()
    await create_topic(infra.bootstrap, topic, 3)
    group = f"bench-latency-{uuid.uuid4().hex[:6]}"
    await start_group_at_end(infra.bootstrap, group, topic)
    logs = infra.path("logs")
    service = await _start_membership(infra, membership_dsn, public_key, port)
    consumer = await Child.start(
        "pipeline-consumer",
        {
            "bootstrap": infra.bootstrap,
            "dsn": consumer_dsn,
            "group": group,
            "max_records": 500,
            "batch_timeout_ms": 50,
            "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
        },
        logs,
    )
    steps: list[dict[str, Any]] = []
    try:
        async with children(consumer):
            await wait_until(lambda: _ready(port), timeout_s=60, interval_s=0.2)
            await consumer.expect("ready", 90)
            await _install_probe(membership_dsn)
            await _register(membership_dsn, "L", LIBRARIES)
            await derived_from_latest_figures(membership_dsn)
            for rate, path in steps_wanted:
                steps.append(
                    await _step(
                        infra,
                        rate=rate,
                        seconds=seconds,
                        path=path,
                        port=port,
                        token=token,
                        membership_dsn=membership_dsn,
                        consumer_dsn=consumer_dsn,
                        progress=progress,
                        service_pid=_service_pid(service),
                        consumer=consumer,
                    )
                )
            consumer.send("stop")
            await consumer.expect("done", 60)
    finally:
        if service.returncode is None:
            # The service itself (under py-spy it is a grandchild): a graceful stop, after
            # which py-spy writes its profile and exits too.
            with contextlib.suppress(ProcessLookupError):
                os.kill(_service_pid(service), signal.SIGTERM)
            try:
                await asyncio.wait_for(service.wait(), 30)
            except TimeoutError:
                service.kill()
    return {"steps": steps, "http_server": "uvicorn (h11), 1 process", "libraries": LIBRARIES}


async def _step(
    infra: BenchInfra,
    *,
    rate: int,
    seconds: float,
    path: str,
    port: int,
    token: str,
    membership_dsn: str,
    consumer_dsn: str,
    progress: Any,
    service_pid: int,
    consumer: Child,
) -> dict[str, Any]:
    total = int(rate * (seconds + WARMUP_S))
    common = {"rate": rate, "seconds": seconds + WARMUP_S, "run": "L", "libraries": LIBRARIES}
    if path == "http":
        load = await Child.start(
            "http-load",
            {**common, "port": port, "token": token, "connections": 64, "max_pending": 256},
            infra.path("logs"),
        )
    else:
        load = await Child.start(
            "kit-load",
            {**common, "dsn": membership_dsn, "connections": 32},
            infra.path("logs"),
        )
    key = f"latency {rate:,}/s ({path})"
    meter = infra.meter()
    meter.watch("membership", service_pid)
    meter.watch("consumer", consumer.pid)
    async with children(load):
        await load.expect("ready", 60)
        step_started = await _now(membership_dsn)  # the load starts as it says ready
        meter.watch("load", load.pid)
        before, clock = meter.sample(), time.monotonic()
        cycle_before = dict(consumer.progress.get("cycle", {}))
        done = asyncio.create_task(load.expect("done", seconds + WARMUP_S + 90))
        while not done.done():
            progress(key, load.progress.get("n", 0), total)
            await asyncio.wait({done}, timeout=0.2)
        offered = done.result()
        cpu = meter.since(before, meter.sample(), time.monotonic() - clock)
        cycle = _cycle(cycle_before, consumer.progress.get("cycle", {}))
    step_ended = await _now(membership_dsn)
    progress(key, total, total)
    with contextlib.suppress(TimeoutError):  # what is missing then shows as unconsumed
        await wait_until(
            lambda: _effects_caught_up(membership_dsn, consumer_dsn), timeout_s=60, interval_s=0.2
        )
    measured = await _latencies(
        membership_dsn, consumer_dsn, step_started + dt.timedelta(seconds=WARMUP_S), step_ended
    )
    latencies, unconsumed = measured["total"], measured["unconsumed"]
    return {
        "rate": rate,
        "path": path,
        "load": offered,
        "events": len(latencies),
        "unconsumed": unconsumed,
        "p50_ms": round(_quantile(latencies, 0.5), 1),
        "p99_ms": round(_quantile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        # Where it goes: commit → relay's sent_at (NOTIFY, drain, publish, broker ack) and
        # sent_at → effect committed (fetch, batch transaction).
        "cpu_cores": cpu,
        "relay_p50_ms": round(_quantile(measured["relay"], 0.5), 1),
        "relay_p99_ms": round(_quantile(measured["relay"], 0.99), 1),
        "consumer_p50_ms": round(_quantile(measured["consumer"], 0.5), 1),
        "consumer_p99_ms": round(_quantile(measured["consumer"], 0.99), 1),
        "consumer_cycle": cycle,
    }


def _cycle(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The consumer's batches during the step: how many, and the mean time of one handling
    (decode, validate, one transaction) and between two (offset commit, next fetch)."""
    batches = after.get("batches", 0) - before.get("batches", 0)
    if not batches:
        return {"batches": 0}
    return {
        "batches": batches,
        "handle_ms_mean": round((after["handle_ms"] - before.get("handle_ms", 0)) / batches, 2),
        "between_ms_mean": round((after["between_ms"] - before.get("between_ms", 0)) / batches, 2),
    }


def rows(result: dict[str, Any]) -> list[Row]:
    out = []
    for step in result["steps"]:
        achieved = step["load"]["completed_per_s"]
        offered = achieved >= 0.95 * step["rate"]
        at_goal = step["rate"] == GOAL_RATE and offered
        note = (
            f"p50 {step['p50_ms']} ms · p99 {step['p99_ms']} ms · max {step['max_ms']} ms · "
            f"relay p50/p99 {step['relay_p50_ms']}/{step['relay_p99_ms']} ms · consumer "
            f"{step['consumer_p50_ms']}/{step['consumer_p99_ms']} ms"
        )
        cycle = step.get("consumer_cycle", {})
        if cycle.get("batches"):
            note += (
                f" · consumer {cycle['batches']:,} batches, {cycle['handle_ms_mean']} ms handling "
                f"+ {cycle['between_ms_mean']} ms between (commit, fetch) each"
            )
        if not offered:
            note += f" · the path completed only {achieved:,}/s, so the rate was not offered"
        note += (
            f" · membership process {step['cpu_cores'].get('membership', 0):.2f} core, "
            f"others on the machine {step['cpu_cores'].get('others', 0):.2f}"
        )
        out.append(
            Row(
                benchmark="2 latency",
                figure=(
                    f"commit→effect p99 at {step['rate']:,}/s "
                    f"({'HTTP PATCH' if step['path'] == 'http' else 'kit, no HTTP'})"
                ),
                value=step["p99_ms"],
                unit="ms",
                goal=f"p99 < {GOAL_P99_MS:.0f} ms at {GOAL_RATE:,}/s" if at_goal else "",
                met=(step["p99_ms"] < GOAL_P99_MS and not step["unconsumed"]) if at_goal else None,
                note=note,
            )
        )
    return out


CHILDREN = {"http-load": http_load, "kit-load": kit_load}
