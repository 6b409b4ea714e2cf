"""What the harness sees of the broker: every record on a topic, end offsets, consumer-group
offsets (lag), a group reset to the earliest offset, and raw produce for poison messages.

All of it is plain aiokafka, as an operator's tool would use it; nothing here joins a group
except the reset, and that only while the group's own service is stopped.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

# Large enough for the 1 MB poison payload plus its headers.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
T = TypeVar("T")
P = ParamSpec("P")


def bounded(seconds: float) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """No client call may hang the suite: aiokafka's start, stop and group calls have no
    timeout of their own, and a broker that was paused or a group in a bad state can keep
    them waiting."""

    def wrap(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(function)
        async def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return await asyncio.wait_for(function(*args, **kwargs), seconds)

        return call

    return wrap


@dataclass(frozen=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, bytes]
    value: bytes
    timestamp: float = 0.0  # seconds since the epoch, as the producer stamped it

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value.decode(errors="replace") if value is not None else None


@bounded(30)
async def list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def _partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh
    found = []
    for topic in topics:
        found += [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
    return found


@bounded(30)
async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        partitions = await _partitions(consumer, topics)
        return dict(await consumer.end_offsets(partitions)) if partitions else {}
    finally:
        await consumer.stop()


@bounded(150)
async def read_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    timeout_s: float = 60.0,
    since: Mapping[TopicPartition, int] | None = None,
) -> list[TopicRecord]:
    """Every record on ``topics``, from the beginning (or, for a partition in ``since``, from
    that offset: an earlier ``end_offsets``) until a partition has reached the end offset
    taken at the start and then has nothing more to give. Reading on past the end offset
    matters: after a SIGSTOP, Tansu has been seen to report an end offset below records it
    still serves. Bounded by ``timeout_s``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        fetch_max_bytes=4 * MAX_REQUEST_BYTES,
    )
    try:
        await consumer.start()
        partitions = await _partitions(consumer, topics)
        if not partitions:
            return []
        ends = await consumer.end_offsets(partitions)
        pending = set(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        for tp, offset in (since or {}).items():
            if tp in pending:
                consumer.seek(tp, offset)
        records: list[TopicRecord] = []
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {sorted(map(str, pending))} took over {timeout_s}s")
            batch = await consumer.getmany(*pending, timeout_ms=300, max_records=5000)
            for items in batch.values():
                records += [
                    TopicRecord(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key.decode(errors="replace") if r.key is not None else None,
                        headers={name: value for name, value in (r.headers or ())},
                        value=r.value or b"",
                        timestamp=r.timestamp / 1000,
                    )
                    for r in items
                ]
            for tp in list(pending):
                if tp not in batch and await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return records
    finally:
        await consumer.stop()


@bounded(30)
async def group_offsets(
    bootstrap: str, group: str, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """Committed offsets of ``group`` (-1 where it has none). The partitions are named
    explicitly: Tansu's answer to an "all partitions" OffsetFetch does not decode."""
    if not partitions:
        return {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        offsets = await admin.list_consumer_group_offsets(group, partitions=list(partitions))
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


@bounded(60)
async def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Lag per ``topic:partition``: end offset minus the group's committed offset (a partition
    the group never committed on counts from 0, which is where it would start). A negative
    value means the broker reports an end offset below what the group has already consumed."""
    ends = await end_offsets(bootstrap, topics)
    committed = await group_offsets(bootstrap, group, list(ends))
    return {
        f"{tp.topic}:{tp.partition}": end - max(committed.get(tp, -1), 0)
        for tp, end in ends.items()
    }


@bounded(60)
async def lags(bootstrap: str, consumers: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Total lag per group (negative partitions count as 0), with one end-offset query for
    every topic: cheap enough to sample twice a second during a scenario."""
    ends = await end_offsets(bootstrap, {t for topics in consumers.values() for t in topics})
    totals = {}
    for group, topics in consumers.items():
        mine = [tp for tp in ends if tp.topic in topics]
        committed = await group_offsets(bootstrap, group, mine)
        totals[group] = sum(max(ends[tp] - max(committed.get(tp, -1), 0), 0) for tp in mine)
    return totals


@bounded(150)
async def reset_group_to_earliest(
    bootstrap: str, group: str, topics: Iterable[str], *, timeout_s: float = 60.0
) -> int:
    """Move ``group`` back to the beginning of ``topics``: join the group as a new member,
    take every partition, and commit the earliest offsets. The group's service must be
    stopped. (Tansu refuses a commit from an unassigned "simple" consumer with
    UnknownMemberId, so the reset joins the group, which takes a few seconds.)"""
    topics = list(topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
        wanted = set(await _partitions(consumer, topics))
        consumer.subscribe(topics)
        deadline = time.monotonic() + timeout_s
        while set(consumer.assignment()) != wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no assignment of {sorted(map(str, wanted))} for {group}")
            # Polling drives the join; whatever it fetches is not committed.
            await consumer.getmany(timeout_ms=200, max_records=1)
        beginnings = await consumer.beginning_offsets(list(wanted))
        await consumer.commit({tp: OffsetAndMetadata(beginnings[tp], "") for tp in wanted})
        return len(wanted)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class RawMessage:
    topic: str
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]
    value: bytes


@bounded(120)
async def produce(bootstrap: str, messages: Sequence[RawMessage]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=MAX_REQUEST_BYTES
    )
    try:
        await producer.start()
        for message in messages:
            await producer.send_and_wait(
                message.topic, message.value, key=message.key, headers=list(message.headers)
            )
    finally:
        await producer.stop()
