"""Benchmark 9, replay: a consumer re-reading records it has already handled.

That is what a consumer does after its group is reset to the earliest offset, and, on a smaller
scale, after a crash or an outage: every record arrives again and the inbox recognises it. The
services' own path is the kit's ``EventConsumer`` in batches (``subscribe(batch=True)``, the
services' ``consumer_batch_max_records``): one transaction with one inbox claim and one offset
commit per batch. It is measured next to two references, in the same run on the same records:

- *one at a time*: the same consumer with ``batch=False``, one transaction and one offset
  commit per record (what the services did before; a replay of 20,000 records took minutes);
- *raw read*: ``AIOKafkaConsumer.getmany`` over the same records with one offset commit per
  poll and no database, the floor set by the broker and the client.

The N records are published first in sends of five (as a lightly loaded outbox relay leaves
them), and one consumer group handles them, so every later group finds them all in the inbox.
Every group starts where the topic ended before they were published (the contracts fix the
topic's name, and other benchmarks of the run publish there too).
Each figure is (records read after the first one) / (time from the first to the last).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.infra import BenchInfra, create_topic, start_group_at_end
from bench.payloads import EFFECTS_TABLE, build_reactions, isil, member_joined
from bench.report import Row
from contracts.membership import MemberJoined
from kit.consumer import EventConsumer, Outcome, Received
from kit.db import apply_migrations, create_pool
from kit.envelope import encode
from kit.kafka import build_broker, build_producer, publish_batch
from kit.settings import Settings
from konsortio.stack import wait_until

NO_MIGRATIONS = Path("/nonexistent")
SOURCE = "/konsortio/membership"
CONSUMER = "bench-replay"
RUN = "RP"  # the ISILs' prefix; no other benchmark uses it
OWN_KEYS = isil(RUN, 0)[: -len("0000000")].encode()
TIMEOUT_S = 600.0
# The services' batch size, from their settings' default.
SERVICE_BATCH = Settings.model_fields["consumer_batch_max_records"].default
GOAL_RATIO = 5.0  # the batch path re-reads at least five times as fast as one at a time


class _ReplayConsumer(EventConsumer):
    """The kit's consumer, counting the outcomes of this benchmark's own records (keys of
    ``RUN``'s libraries) on either path; other benchmarks of the run publish on the topic too."""

    def __init__(self, *, one_at_a_time: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.one_at_a_time = one_at_a_time
        self.outcomes: Counter[str] = Counter()

    def _count(self, records: Sequence[Received], outcomes: Sequence[Outcome | None]) -> None:
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome is not None and (record.key or b"").startswith(OWN_KEYS):
                self.outcomes[outcome.value] += 1

    async def process_batch(self, records: Sequence[Received]) -> list[Outcome | None]:
        outcomes = await super().process_batch(records)
        self._count(records, outcomes)
        return outcomes

    async def process(self, record: Received) -> Outcome | None:
        outcome = await super().process(record)
        if self.one_at_a_time:  # on the batch path, process_batch counts its retries
            self._count([record], [outcome])
        return outcome


async def _publish(infra: BenchInfra, topic: str, n: int, progress: Any) -> None:
    producer = build_producer(infra.kafka(), client_id="bench-replay")
    await producer.start()
    try:
        messages = [encode(member_joined(RUN, i), source=SOURCE) for i in range(n)]
        for first in range(0, n, 5):
            await publish_batch(producer, messages[first : first + 5])
            progress("replay: publish", first + 5, n)
    finally:
        await producer.stop()


async def _new_group(infra: BenchInfra, topic: str, start: dict[int, int]) -> str:
    group = f"{CONSUMER}-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(infra.bootstrap, group, topic, start)
    return group


async def _kit_pass(
    infra: BenchInfra,
    pool: Any,
    group: str,
    n: int,
    *,
    batch: bool,
    label: str,
    progress: Any,
) -> dict[str, Any]:
    """One new consumer group over the N records; the consumer's name, and so its inbox, is
    the same for every pass."""

    async def dead_letters(messages: Any) -> None:
        raise RuntimeError("the benchmark publishes no poison")

    consumer = _ReplayConsumer(
        one_at_a_time=not batch,
        name=CONSUMER,
        reactions=build_reactions(),
        pool=pool,
        dead_letters=dead_letters,
    )
    broker = build_broker(infra.kafka())
    consumer.subscribe(
        broker,
        group_id=group,
        batch=batch,
        max_records=SERVICE_BATCH,
        fetch_max_wait_ms=500,
    )

    def read() -> int:
        return sum(consumer.outcomes.values())

    await broker.start()
    try:
        await wait_until(lambda: read() > 0, timeout_s=TIMEOUT_S)
        first_at, first_count = time.perf_counter(), read()
        while read() < n:
            progress(f"replay: {label}", read(), n)
            if time.perf_counter() - first_at > TIMEOUT_S:
                raise TimeoutError(f"{label}: {read()} of {n} records in {TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - first_at
    finally:
        await broker.stop()
    progress(f"replay: {label}", n, n)
    return {
        "records": n,
        "seconds": round(seconds, 3),
        "records_per_s": round((n - first_count) / seconds, 1),
        "outcomes": dict(consumer.outcomes),
    }


async def _raw_pass(
    infra: BenchInfra, topic: str, group: str, n: int, progress: Any
) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        max_poll_records=SERVICE_BATCH,
    )
    await consumer.start()
    seen, first_at, first_count = 0, 0.0, 0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000)
            if batch and not seen:
                first_at = time.perf_counter()
                first_count = sum(len(records) for records in batch.values())
            seen += sum(len(records) for records in batch.values())
            if batch:
                await consumer.commit()
            progress("replay: raw read", seen, n)
        seconds = time.perf_counter() - first_at
    finally:
        await consumer.stop()
    return {
        "records": n,
        "seconds": round(seconds, 3),
        "records_per_s": round((n - first_count) / seconds, 1),
    }


async def run(infra: BenchInfra, n: int, progress: Any) -> dict[str, Any]:
    dsn = await infra.new_database("replay")
    pool = await create_pool(dsn, max_size=4)
    try:
        await apply_migrations(pool, NO_MIGRATIONS)
        await pool.execute(EFFECTS_TABLE)
        topic = MemberJoined.topic()
        await create_topic(infra.bootstrap, topic, 3)
        start = await start_group_at_end(infra.bootstrap, f"{CONSUMER}-start", topic)
        await _publish(infra, topic, n, progress)
        passes: dict[str, dict[str, Any]] = {}
        for label, batch in (("first pass", True), ("batches", True), ("one at a time", False)):
            group = await _new_group(infra, topic, start)
            passes[label] = await _kit_pass(
                infra, pool, group, n, batch=batch, label=label, progress=progress
            )
        raw = await _raw_pass(infra, topic, await _new_group(infra, topic, start), n, progress)
    finally:
        await pool.close()
    return {
        "records": n,
        "batch_max_records": SERVICE_BATCH,
        "first_pass": passes["first pass"],
        "batches": passes["batches"],
        "one_at_a_time": passes["one at a time"],
        "raw_read": raw,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    batches = result["batches"]["records_per_s"]
    single = result["one_at_a_time"]["records_per_s"]
    raw = result["raw_read"]["records_per_s"]
    ratio = round(batches / single, 3) if single else None
    return [
        Row(
            benchmark="9 replay",
            figure=f"{result['records']:,} handled records re-read by the kit's consumer "
            f"(batches of ≤ {result['batch_max_records']})",
            value=batches,
            unit="records/s",
            reference="one transaction per record",
            reference_value=single,
            ratio=ratio,
            goal=f"≥ {GOAL_RATIO:g}× one at a time",
            met=ratio is not None and ratio >= GOAL_RATIO,
            note=f"raw aiokafka read, no database: {raw:,.0f} records/s",
        )
    ]
