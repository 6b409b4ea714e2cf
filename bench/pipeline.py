"""Benchmark 1, pipeline throughput: commands → outbox → relay → broker → idempotent consumer.

Measured path, in two processes as in production:
- the *service* process writes membership-style join commands (a ``libraries`` and a
  ``membership_periods`` row each, membership's own tables) in batched transactions, one
  set-based statement per table, the events with ``kit.outbox.record_events``, while the kit's
  ``OutboxRelay`` (LISTEN/NOTIFY, advisory-lock leader) publishes them with the kit's producer
  (``build_producer``, ``publish_batch``);
- the *consumer* process runs the kit's ``EventConsumer`` on the opt-in batch path
  (``subscribe(batch=True)``): one transaction per batch with one inbox claim, one offset commit
  per batch; the effect is a row in the consumer's own database.
The figure is N / (last effect's commit − the writer's start): everything included.

Reference, same payload bytes, same broker, same two-process shape: a raw ``AIOKafkaProducer``
with the kit's producer settings sending N records while a raw ``AIOKafkaConsumer`` reads them;
the figure is N / (last record read − first send).

Afterwards 1 % of the outbox rows are marked unsent again (a relay that crashed between publish
and bookkeeping), so they are published twice; the count must still show 0 duplicated effects.

Every benchmark process freezes its start-up objects out of the garbage collector
(``kit.gc_tuning.tune_gc``, as the kit's services do); the figures also give CPU per event by
process and PostgreSQL's time per statement (pg_stat_statements), which say what bounds the
rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.infra import (
    BenchInfra,
    create_topic,
    reset_statement_stats,
    start_group_at_end,
    top_statements,
)
from bench.payloads import (
    EFFECTS_TABLE,
    CountingConsumer,
    build_reactions,
    effect_counts,
    insert_libraries,
    member_joined,
)
from bench.procs import Child, children, command, emit
from bench.report import Row
from contracts.membership import MemberJoined
from kit.db import apply_migrations, create_pool
from kit.envelope import encode
from kit.gc_tuning import GC_THRESHOLD, tune_gc
from kit.kafka import build_broker, build_producer, ensure_topics, publish_batch
from kit.outbox import OutboxRelay, record_events
from kit.settings import KafkaSettings
from konsortio.stack import wait_until

MEMBERSHIP_MIGRATIONS = (
    Path(__file__).resolve().parents[1] / "services" / "membership" / "migrations"
)
NO_MIGRATIONS = Path("/nonexistent")
SOURCE = "/konsortio/membership"
Progress = Callable[[str, float, float], None]


# --- children -------------------------------------------------------------------------------


async def raw_produce(args: dict[str, Any]) -> None:
    messages = [encode(member_joined(args["run"], i), source=SOURCE) for i in range(args["n"])]
    prepared = [
        (m.key.encode(), [(k, v.encode()) for k, v in m.headers.items()], m.value) for m in messages
    ]
    # The kit's producer settings (acks=all, linger, batch size), so the reference differs
    # from the measured path only by what the outbox, relay and consumer add.
    producer = build_producer(
        KafkaSettings(bootstrap_servers=args["bootstrap"]), client_id="bench-raw"
    )
    await producer.start()
    tune_gc()  # as the measured path's processes do
    try:
        emit("ready")
        await command()
        started = time.time()
        futures = [
            await producer.send(args["topic"], value, key=key, headers=headers)
            for key, headers, value in prepared
        ]
        await asyncio.gather(*futures)
        emit("done", started=started, ended=time.time())
        await command()  # stay until the parent has read this process's CPU time
    finally:
        await producer.stop()


async def raw_consume(args: dict[str, Any]) -> None:
    consumer = AIOKafkaConsumer(
        args["topic"],
        bootstrap_servers=args["bootstrap"],
        group_id=args["group"],
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await wait_until(consumer.assignment, timeout_s=60)
        tune_gc()
        emit("ready")
        expected, seen, last_report = args["n"], 0, 0.0
        deadline = time.monotonic() + args["timeout_s"]
        while seen < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            seen += sum(len(records) for records in batch.values())
            if time.monotonic() - last_report > 0.2:
                emit("progress", n=seen)
                last_report = time.monotonic()
        emit("done", n=seen, ended=time.time())
    finally:
        await consumer.stop()


async def pipeline_service(args: dict[str, Any]) -> None:
    """Writer and relay: the service side of the pipeline."""
    kafka = KafkaSettings(bootstrap_servers=args["bootstrap"])
    pool = await create_pool(args["dsn"], max_size=args["writers"] + 2)
    await apply_migrations(pool, MEMBERSHIP_MIGRATIONS)
    await ensure_topics(kafka, [MemberJoined.topic()], with_dlq=True)
    producer = build_producer(kafka, client_id="bench-membership")
    await producer.start()

    async def publish(messages: Any) -> None:
        await publish_batch(producer, messages)

    relay = OutboxRelay(
        service="membership",
        dsn=args["dsn"],
        pool=pool,
        publish=publish,
        batch_size=args["relay_batch"],
        poll_interval_s=0.5,
    )
    # The commands' input, built before the clock starts: what a request body would carry.
    # Each replica takes its own share of the commands, as behind a load balancer.
    events = [
        member_joined(args["run"], i) for i in range(args["first"], args["first"] + args["n"])
    ]
    relay.start()
    if args.get("gc_tuned", True):
        tune_gc()
    try:
        emit("ready")
        await command()
        started = time.time()
        per_tx = args["per_transaction"]
        chunks = iter(range(0, len(events), per_tx))

        async def writer() -> None:
            # Several commands in flight, as concurrent requests would be: while one
            # transaction waits for PostgreSQL, the next one is being prepared.
            for first in chunks:
                await _join_batch(pool, events[first : first + per_tx])

        await asyncio.gather(*(writer() for _ in range(args["writers"])))
        written = time.time()
        await wait_until(lambda: _all_sent(pool), timeout_s=300, interval_s=0.02)
        emit("done", started=started, written=written, relayed=time.time())
        while await command() == "republish":
            # A relay that died between publishing and stamping sent_at: these go out again.
            republished = await pool.fetchval(
                """
                WITH picked AS (SELECT id FROM outbox ORDER BY id LIMIT $1),
                     unsent AS (
                        UPDATE outbox SET sent_at = NULL WHERE id IN (SELECT id FROM picked)
                        RETURNING 1)
                SELECT count(*) FROM unsent
                """,
                args["republish"],
            )
            await pool.execute("SELECT pg_notify('outbox', '')")
            await wait_until(lambda: _all_sent(pool), timeout_s=120, interval_s=0.02)
            emit("republished", n=republished or 0)
    finally:
        await relay.stop()
        await producer.stop()
        await pool.close()


async def _all_sent(pool: asyncpg.Pool) -> bool:
    return not await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")


def assigned(broker: Any) -> bool:
    """Every subscriber of a FastStream broker has partitions (the group join is done)."""
    return all(
        getattr(s, "consumer", None) is not None and bool(s.consumer.assignment())
        for s in broker.subscribers
    )


async def _join_batch(pool: asyncpg.Pool, events: list[MemberJoined]) -> None:
    """Many join commands in one transaction: state rows and their events together, each
    table written by one set-based statement."""
    async with pool.acquire() as conn, conn.transaction():
        await insert_libraries(conn, [event.library for event in events])
        await conn.execute(
            """
            INSERT INTO membership_periods (isil, number, joined_on, signatory)
            SELECT isil, number, joined_on, 'Kunnanjohtaja'
            FROM unnest($1::text[], $2::int[], $3::date[]) AS batch (isil, number, joined_on)
            """,
            [event.library.isil for event in events],
            [event.period for event in events],
            [event.joined_on for event in events],
        )
        await record_events(conn, events, source=SOURCE)


async def pipeline_consumer(args: dict[str, Any]) -> None:
    """The kit's idempotent consumer on its batch path; the effect is a row in its own DB."""
    kafka = KafkaSettings(bootstrap_servers=args["bootstrap"])
    pool = await create_pool(args["dsn"], max_size=4)
    await apply_migrations(pool, NO_MIGRATIONS)
    await pool.execute(EFFECTS_TABLE)
    broker = build_broker(kafka)

    async def dead_letters(messages: Any) -> None:
        raise RuntimeError("the benchmark publishes no poison")  # retried; never expected

    consumer = CountingConsumer(
        name=args["group"],
        reactions=build_reactions(),
        pool=pool,
        dead_letters=dead_letters,
    )
    consumer.subscribe(
        broker,
        group_id=args["group"],
        batch=True,
        max_records=args["max_records"],
        batch_timeout_ms=args.get("batch_timeout_ms", 100),
        fetch_max_wait_ms=args.get("fetch_max_wait_ms", 500),
    )
    await broker.start()
    try:
        await wait_until(lambda: assigned(broker), timeout_s=60)
        if args.get("gc_tuned", True):
            tune_gc()
        emit("ready")
        stop = asyncio.create_task(command())
        while not stop.done():
            emit("progress", **consumer.outcomes, cycle=consumer.cycle)
            await asyncio.wait({stop}, timeout=0.2)
        await consumer.drain_in_flight()
        emit("done", outcomes=dict(consumer.outcomes))
    finally:
        with contextlib.suppress(Exception):
            await broker.stop()
        await pool.close()


# --- parent ---------------------------------------------------------------------------------


async def measure_raw(infra: BenchInfra, n: int, progress: Progress) -> dict[str, Any]:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await create_topic(infra.bootstrap, topic, 3)
    logs = infra.path("logs")
    common = {"bootstrap": infra.bootstrap, "topic": topic, "n": n, "run": "R"}
    consumer = await Child.start("raw-consume", {**common, "group": topic, "timeout_s": 120}, logs)
    producer = await Child.start("raw-produce", common, logs)
    async with children(consumer, producer):
        await consumer.expect("ready", 60)
        await producer.expect("ready", 60)
        meter = infra.meter()
        meter.watch("producer", producer.pid)
        meter.watch("consumer", consumer.pid)
        before, clock = meter.sample(), time.monotonic()
        producer.send("go")
        done = asyncio.create_task(consumer.expect("done", 150))
        while not done.done():
            progress("raw", consumer.progress.get("n", 0), n)
            await asyncio.wait({done}, timeout=0.2)
        window = time.monotonic() - clock
        cpu = meter.since(before, meter.sample(), window)
        consumed = done.result()
        produced = await producer.expect("done", 30)
    progress("raw", consumed["n"], n)
    seconds = consumed["ended"] - produced["started"]
    return {
        "events": n,
        "consumed": consumed["n"],
        "seconds": round(seconds, 3),
        "per_s": round(n / seconds),
        "produce_per_s": round(n / (produced["ended"] - produced["started"])),
        "cpu_cores": cpu,
        "cpu_us_per_event": _per_event(cpu, window, n),
    }


async def measure_pipeline(
    infra: BenchInfra,
    n: int,
    progress: Progress,
    *,
    replicas: int = 1,
    per_transaction: int = 500,
    relay_batch: int = 2000,
    max_records: int = 2000,
    writers: int = 2,
    gc_tuned: bool = True,
    label: str = "pipeline",
) -> dict[str, Any]:
    writer_dsn = await infra.new_database("bench_membership")
    consumer_dsn = await infra.new_database("bench_consumer")
    group = f"bench-consumer-{uuid.uuid4().hex[:6]}"
    topic = MemberJoined.topic()
    await create_topic(infra.bootstrap, topic, 3)
    await start_group_at_end(infra.bootstrap, group, topic)
    logs = infra.path("logs")
    consumer = await Child.start(
        "pipeline-consumer",
        {
            "bootstrap": infra.bootstrap,
            "dsn": consumer_dsn,
            "group": group,
            "max_records": max_records,
            "gc_tuned": gc_tuned,
        },
        logs,
    )
    share = -(-n // replicas)
    services = [
        await Child.start(
            "pipeline-service",
            {
                "bootstrap": infra.bootstrap,
                "dsn": writer_dsn,
                "run": "P",
                "first": replica * share,
                "n": min(share, n - replica * share),
                "per_transaction": per_transaction,
                "relay_batch": relay_batch,
                "writers": writers,
                "republish": max(n // 100, 1),
            },
            logs,
        )
        for replica in range(replicas)
    ]
    async with children(consumer, *services):
        await consumer.expect("ready", 90)
        for service in services:
            await service.expect("ready", 90)
        meter = infra.meter()
        meter.watch("consumer", consumer.pid)
        for number, service in enumerate(services):
            meter.watch(f"service-{number}", service.pid)
        await reset_statement_stats(infra.postgres.dsn())
        before, clock = meter.sample(), time.monotonic()
        for service in services:
            service.send("go")
        deadline = time.monotonic() + 300
        while _handled(consumer) < n and time.monotonic() < deadline:
            progress(label, _handled(consumer), n)
            await asyncio.sleep(0.2)
        progress(label, _handled(consumer), n)
        window = time.monotonic() - clock
        cpu = meter.since(before, meter.sample(), window)
        statements = await top_statements(
            infra.postgres.dsn(),
            [infra.database_of(writer_dsn), infra.database_of(consumer_dsn)],
            n,
        )
        done = [await service.expect("done", 60) for service in services]
        written = {
            "started": min(d["started"] for d in done),
            "written": max(d["written"] for d in done),
        }
        # Redeliveries: every one must be skipped by the inbox.
        services[0].send("republish")
        republished = (await services[0].expect("republished", 120))["n"]
        with contextlib.suppress(TimeoutError):  # a miss shows as lost or duplicated below
            await wait_until(
                lambda: consumer.progress.get("duplicate", 0) >= republished, timeout_s=60
            )
        for service in services:
            service.send("stop")
        consumer.send("stop")
        final = await consumer.expect("done", 60)
    result = await _pipeline_figures(writer_dsn, consumer_dsn, n, written, final, republished)
    return {
        **result,
        "service_replicas": replicas,
        "consumer_processes": 1,
        "gc": f"freeze after start-up, thresholds {GC_THRESHOLD}" if gc_tuned else "default",
        "cpu_cores": cpu,
        "cpu_us_per_event": _per_event(cpu, window, n),
        "postgres_top_statements": statements,
    }


def _per_event(cpu: dict[str, float], window: float, n: int) -> dict[str, float]:
    """CPU microseconds per event by component (``others``, other people's work, included)."""
    return {name: round(share * window * 1e6 / n, 1) for name, share in cpu.items()}


def _ours(per_event: dict[str, float]) -> float:
    return sum(us for name, us in per_event.items() if name != "others")


def _handled(consumer: Child) -> int:
    return int(consumer.progress.get("handled", 0))


async def _pipeline_figures(
    writer_dsn: str,
    consumer_dsn: str,
    n: int,
    written: dict[str, Any],
    final: dict[str, Any],
    republished: int,
) -> dict[str, Any]:
    writer = await asyncpg.connect(writer_dsn)
    effects = await asyncpg.connect(consumer_dsn)
    try:
        published_ids = {
            r["event_id"] for r in await writer.fetch("SELECT event_id::text FROM outbox")
        }
        relayed = await writer.fetchrow(
            "SELECT min(sent_at) AS first, max(sent_at) AS last FROM outbox"
        )
        rows, distinct = await effect_counts(effects)
        effect_ids = {
            r["event_id"]
            for r in await effects.fetch("SELECT DISTINCT event_id FROM bench_effects")
        }
        last_effect: dt.datetime = await effects.fetchval(
            "SELECT max(pg_xact_commit_timestamp(xmin)) FROM bench_effects"
        )
        first_effect: dt.datetime = await effects.fetchval(
            "SELECT min(pg_xact_commit_timestamp(xmin)) FROM bench_effects"
        )
    finally:
        await writer.close()
        await effects.close()
    seconds = last_effect.timestamp() - written["started"]
    return {
        "events": n,
        "effects": rows,
        "lost": len(published_ids - effect_ids),
        "duplicated": rows - distinct,
        "republished": republished,
        "duplicates_skipped": final["outcomes"].get("duplicate", 0),
        "seconds": round(seconds, 3),
        "per_s": round(n / seconds),
        "write_per_s": round(n / (written["written"] - written["started"])),
        "relay_seconds": round((relayed["last"] - relayed["first"]).total_seconds(), 3),
        "first_effect_after_s": round(first_effect.timestamp() - written["started"], 3),
    }


async def run(infra: BenchInfra, n: int, progress: Progress) -> dict[str, Any]:
    from bench.pipeline_minimum import measure_minimum

    raw = await measure_raw(infra, n, progress)
    minimum = await measure_minimum(infra, n, progress)
    pipeline = await measure_pipeline(infra, n, progress)
    return {
        "raw": raw,
        "minimum": minimum,
        "pipeline": pipeline,
        "ratio": round(pipeline["per_s"] / raw["per_s"], 3),
        # Against the hand-written minimum of the same durable writes (bench/pipeline_minimum.py).
        "ratio_to_minimum": round(pipeline["per_s"] / minimum["per_s"], 3),
        "cpu_ratio_to_minimum": round(
            minimum["cpu_us_per_event_ours"] / _ours(pipeline["cpu_us_per_event"]), 3
        ),
        # The same comparison in CPU instead of wall time: raw's CPU per event over the
        # pipeline's (every benchmark process, PostgreSQL and the broker; other people's work
        # left out). It moves far less with the machine's other load than the rate ratio does.
        "cpu_ratio": round(_ours(raw["cpu_us_per_event"]) / _ours(pipeline["cpu_us_per_event"]), 3),
    }


CHILDREN = {
    "raw-produce": raw_produce,
    "raw-consume": raw_consume,
    "pipeline-service": pipeline_service,
    "pipeline-consumer": pipeline_consumer,
}


# The pipeline's goals: against raw aiokafka (which does no durable work) and against the
# same durable writes done by hand (plain asyncpg and aiokafka, batched).
GOAL_OF_RAW = 0.3
GOAL_OF_MINIMUM = 0.7


def rows(result: dict[str, Any]) -> list[Row]:
    raw, measured = result["raw"], result["pipeline"]
    return [
        Row(
            benchmark="1 pipeline",
            figure=f"effects/s over {measured['events']:,} events",
            value=measured["per_s"],
            unit="/s",
            reference="raw aiokafka produce+consume",
            reference_value=raw["per_s"],
            ratio=result["ratio"],
            goal=f"≥ {GOAL_OF_RAW} of raw",
            met=result["ratio"] >= GOAL_OF_RAW,
            note=(
                f"CPU per event: pipeline {_ours(measured['cpu_us_per_event']):.0f} µs, raw "
                f"{_ours(raw['cpu_us_per_event']):.0f} µs (ratio {result['cpu_ratio']}); other "
                f"work on the machine {raw['cpu_cores'].get('others', 0):.2f} core during raw, "
                f"{measured['cpu_cores'].get('others', 0):.2f} during the pipeline"
            )
            if "cpu_ratio" in result
            else "",
        ),
        *(
            [
                Row(
                    benchmark="1 pipeline",
                    figure=f"effects/s over {measured['events']:,} events, against the same "
                    "durable writes by hand",
                    value=measured["per_s"],
                    unit="/s",
                    reference="plain asyncpg + aiokafka, same rows per event, batched",
                    reference_value=result["minimum"]["per_s"],
                    ratio=result["ratio_to_minimum"],
                    goal=f"≥ {GOAL_OF_MINIMUM} of by hand",
                    met=result["ratio_to_minimum"] >= GOAL_OF_MINIMUM,
                    note=(
                        f"CPU per event: pipeline {_ours(measured['cpu_us_per_event']):.0f} µs, "
                        f"hand-written {result['minimum']['cpu_us_per_event_ours']:.0f} µs "
                        f"(ratio {result['cpu_ratio_to_minimum']}); the hand-written run: "
                        f"{result['minimum']['effects']:,} effects, "
                        f"{result['minimum']['distinct_effects']:,} distinct"
                    ),
                )
            ]
            if "minimum" in result
            else []
        ),
        Row(
            benchmark="1 pipeline",
            figure=f"lost / duplicated ({measured['republished']:,} republished)",
            value=measured["lost"] + measured["duplicated"],
            unit="",
            goal="0 and 0",
            met=measured["lost"] == 0
            and measured["duplicated"] == 0
            and measured["effects"] == measured["events"],
        ),
    ]
