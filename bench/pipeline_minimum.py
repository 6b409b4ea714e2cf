"""The pipeline's second reference: the hand-written minimum of the same durable work.

Raw aiokafka (the first reference) moves bytes; the pipeline also writes state, an outbox, an
inbox and an effect, each durably. This does exactly those writes per event with nothing
else: plain asyncpg and aiokafka, batched as the pipeline is, in the same two-process shape.

- the writer process, per transaction of ``per_transaction`` joins (two writers at once): the
  ``libraries`` rows, the ``membership_periods`` rows and the outbox rows (JSON payloads built
  with ``json.dumps``), one set-based statement each; after the commit it publishes those rows
  itself with ``AIOKafkaProducer`` (the kit's producer settings) and stamps them ``sent_at``:
  an outbox relay with no LISTEN/NOTIFY, no leader lock and no envelope;
- the consumer process reads with ``AIOKafkaConsumer.getmany`` and, per batch, in one
  transaction claims the events in the ``inbox`` (``ON CONFLICT DO NOTHING``) and writes the
  effect rows of the ones it claimed, then commits the offsets.

The figure is computed as the pipeline's: N / (last effect's commit − the writers' start).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.infra import BenchInfra, create_topic
from bench.payloads import EFFECTS_TABLE, effect_counts, member_joined
from bench.procs import Child, children, command, emit
from kit.db import apply_migrations, create_pool
from kit.gc_tuning import tune_gc
from kit.kafka import build_producer
from kit.settings import KafkaSettings
from konsortio.stack import wait_until

CONSUMER = "bench-minimum"
EVENT_TYPE = "fi.konsortio.membership.member-joined.v1"


async def minimum_writer(args: dict[str, Any]) -> None:
    from bench.pipeline import MEMBERSHIP_MIGRATIONS

    pool = await create_pool(args["dsn"], max_size=args["writers"] + 1)
    await apply_migrations(pool, MEMBERSHIP_MIGRATIONS)
    producer = build_producer(
        KafkaSettings(bootstrap_servers=args["bootstrap"]), client_id="bench-minimum"
    )
    await producer.start()
    events = [
        member_joined(args["run"], i) for i in range(args["first"], args["first"] + args["n"])
    ]
    topic = args["topic"]
    tune_gc()
    try:
        emit("ready")
        await command()
        started = time.time()
        per_tx = args["per_transaction"]
        chunks = iter(range(0, len(events), per_tx))

        async def writer() -> None:
            for first in chunks:
                batch = events[first : first + per_tx]
                libraries = [event.library for event in batch]
                ids = [str(uuid.uuid4()) for _ in batch]
                payloads = [
                    json.dumps(
                        {
                            "id": event_id,
                            "type": EVENT_TYPE,
                            "data": event.model_dump(mode="json"),
                        }
                    ).encode()
                    for event_id, event in zip(ids, batch, strict=True)
                ]
                async with pool.acquire() as conn:
                    async with conn.transaction():
                        await conn.execute(
                            """
                            INSERT INTO libraries (isil, names, municipalities, population,
                                                   library_system, library_type, contacts)
                            SELECT isil, names::jsonb, string_to_array(municipalities, ','),
                                   population, library_system, library_type, contacts::jsonb
                            FROM unnest($1::text[], $2::text[], $3::text[], $4::int[],
                                        $5::text[], $6::text[], $7::text[])
                                AS b (isil, names, municipalities, population, library_system,
                                      library_type, contacts)
                            """,
                            [library.isil for library in libraries],
                            [library.names.model_dump_json() for library in libraries],
                            [",".join(library.municipalities) for library in libraries],
                            [library.population for library in libraries],
                            [library.library_system for library in libraries],
                            [library.library_type for library in libraries],
                            [
                                json.dumps([c.model_dump() for c in library.contacts])
                                for library in libraries
                            ],
                        )
                        await conn.execute(
                            """
                            INSERT INTO membership_periods (isil, number, joined_on, signatory)
                            SELECT isil, number, joined_on, 'Kunnanjohtaja'
                            FROM unnest($1::text[], $2::int[], $3::date[])
                                AS b (isil, number, joined_on)
                            """,
                            [library.isil for library in libraries],
                            [event.period for event in batch],
                            [event.joined_on for event in batch],
                        )
                        rows = await conn.fetch(
                            """
                            INSERT INTO outbox (event_id, topic, key, event_type, headers,
                                                payload)
                            SELECT event_id, $2, key, $3, '{}'::jsonb, payload
                            FROM unnest($1::uuid[], $4::text[], $5::bytea[])
                                AS b (event_id, key, payload)
                            RETURNING id
                            """,
                            ids,
                            topic,
                            EVENT_TYPE,
                            [library.isil for library in libraries],
                            payloads,
                        )
                    # Published after the commit, then stamped: the relay's work, minimal.
                    sent = [
                        await producer.send(topic, payload, key=library.isil.encode())
                        for payload, library in zip(payloads, libraries, strict=True)
                    ]
                    await asyncio.gather(*sent)
                    await conn.execute(
                        "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                        [row["id"] for row in rows],
                    )

        await asyncio.gather(*(writer() for _ in range(args["writers"])))
        emit("done", started=started, written=time.time())
        await command()
    finally:
        await producer.stop()
        await pool.close()


async def minimum_consumer(args: dict[str, Any]) -> None:
    pool = await asyncpg.create_pool(args["dsn"], min_size=1, max_size=2)
    await apply_migrations(pool, Path("/nonexistent"))  # the kit's tables: the inbox
    await pool.execute(EFFECTS_TABLE)
    consumer = AIOKafkaConsumer(
        args["topic"],
        bootstrap_servers=args["bootstrap"],
        group_id=args["group"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    handled = 0
    try:
        await wait_until(consumer.assignment, timeout_s=60)
        tune_gc()
        emit("ready")
        stop = asyncio.create_task(command())
        while not stop.done():
            batch = await consumer.getmany(timeout_ms=100, max_records=args["max_records"])
            records = [record for part in batch.values() for record in part]
            if records:
                decoded = [json.loads(record.value) for record in records]
                async with pool.acquire() as conn, conn.transaction():
                    claimed = {
                        row["event_id"]
                        for row in await conn.fetch(
                            """
                            INSERT INTO inbox (consumer, event_id, event_type)
                            SELECT $1, event_id, event_type
                            FROM unnest($2::text[], $3::text[]) AS c (event_id, event_type)
                            ON CONFLICT DO NOTHING RETURNING event_id
                            """,
                            CONSUMER,
                            [event["id"] for event in decoded],
                            [event["type"] for event in decoded],
                        )
                    }
                    new = [event for event in decoded if event["id"] in claimed]
                    await conn.execute(
                        """
                        INSERT INTO bench_effects (event_id, event_type, isil, population)
                        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
                        """,
                        [event["id"] for event in new],
                        [event["type"] for event in new],
                        [event["data"]["library"]["isil"] for event in new],
                        [event["data"]["library"]["population"] for event in new],
                    )
                await consumer.commit()
                handled += len(records)
            emit("progress", handled=handled)
        emit("done", handled=handled)
    finally:
        await consumer.stop()
        await pool.close()


CHILDREN = {"minimum-writer": minimum_writer, "minimum-consumer": minimum_consumer}


async def measure_minimum(
    infra: BenchInfra,
    n: int,
    progress: Any,
    *,
    per_transaction: int = 500,
    max_records: int = 2000,
    writers: int = 2,
) -> dict[str, Any]:
    from bench.pipeline import _ours, _per_event

    writer_dsn = await infra.new_database("bench_minimum_writer")
    consumer_dsn = await infra.new_database("bench_minimum_consumer")
    topic = f"bench.minimum.{uuid.uuid4().hex[:8]}"
    await create_topic(infra.bootstrap, topic, 3)
    logs = infra.path("logs")
    common = {"bootstrap": infra.bootstrap, "topic": topic}
    consumer = await Child.start(
        "minimum-consumer",
        {**common, "dsn": consumer_dsn, "group": topic, "max_records": max_records},
        logs,
    )
    writer = await Child.start(
        "minimum-writer",
        {
            **common,
            "dsn": writer_dsn,
            "run": "M",
            "first": 0,
            "n": n,
            "per_transaction": per_transaction,
            "writers": writers,
        },
        logs,
    )
    async with children(consumer, writer):
        await consumer.expect("ready", 90)
        await writer.expect("ready", 90)
        meter = infra.meter()
        meter.watch("consumer", consumer.pid)
        meter.watch("writer", writer.pid)
        before, clock = meter.sample(), time.monotonic()
        writer.send("go")
        deadline = time.monotonic() + 300
        while consumer.progress.get("handled", 0) < n and time.monotonic() < deadline:
            progress("minimum", consumer.progress.get("handled", 0), n)
            await asyncio.sleep(0.1)
        progress("minimum", consumer.progress.get("handled", 0), n)
        window = time.monotonic() - clock
        cpu = meter.since(before, meter.sample(), window)
        written = await writer.expect("done", 60)
        writer.send("stop")
        consumer.send("stop")
        await consumer.expect("done", 60)
    effects = await asyncpg.connect(consumer_dsn)
    try:
        rows, distinct = await effect_counts(effects)
        last_effect = await effects.fetchval(
            "SELECT max(pg_xact_commit_timestamp(xmin)) FROM bench_effects"
        )
    finally:
        await effects.close()
    seconds = last_effect.timestamp() - written["started"]
    per_event = _per_event(cpu, window, n)
    return {
        "events": n,
        "effects": rows,
        "distinct_effects": distinct,
        "seconds": round(seconds, 3),
        "per_s": round(n / seconds),
        "write_per_s": round(n / (written["written"] - written["started"])),
        "cpu_cores": cpu,
        "cpu_us_per_event": per_event,
        "cpu_us_per_event_ours": round(_ours(per_event), 1),
    }
