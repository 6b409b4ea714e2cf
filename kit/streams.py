"""Reading the event stream from the outside: end offsets, consumer-group offsets and lag, and
bounded reads of whole topics (the dead letters, ``events tail``). The CLI and the dashboard's
operator view share it, so both show the same figures.

Every reader here is group-less (partitions are assigned, never subscribed): it joins no group,
so it is ready as soon as it connects and moves nobody's offsets. Group offsets are read with
the admin client.

**End offsets on Tansu.** Tansu 0.6 answers ListOffsets(latest) with the base offset of the
partition's *last record batch* plus one, not with the high watermark. Produce a batch of 3
records (offsets 0-2) and it reports an end of 1; a group that has read all three has committed
3, so committed > end. ``end_offsets`` below corrects that in one place: it reads the records
from the reported end minus one, which is the start of the last batch, and takes the end as
one past the last record found. On Apache Kafka the reported end already is the high
watermark and the read finds exactly the record before it, so the figure is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kit.kafka_security import aiokafka_client_kwargs
from kit.settings import KafkaSettings

# How long a read waits for a partition's next records before it gives up on that partition.
# Records below a known end offset are already on the broker, so they come back at once; the
# bound only matters when a broker answers slowly.
FETCH_WAIT_S = 5.0
# How long the end-offset correction waits for the record before a reported end. Tansu and
# Apache Kafka answer at once; a record removed by retention meanwhile never comes, and then
# the reported end stands.
END_PROBE_WAIT_S = 1.0


def admin_client(kafka: KafkaSettings, client_id: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        client_id=client_id,
        request_timeout_ms=10_000,
        **aiokafka_client_kwargs(kafka),
    )


def groupless_consumer(kafka: KafkaSettings, client_id: str) -> AIOKafkaConsumer:
    """A consumer outside any group: it commits nothing and joins nothing, so it costs no
    rebalance and is ready as soon as it connects. Its ``end_offsets`` are the true ends
    (see the module's note on Tansu)."""
    return StreamConsumer(kafka, client_id)


async def existing_partitions(
    admin: AIOKafkaAdminClient, topics: Iterable[str]
) -> list[TopicPartition]:
    """Partitions of those ``topics`` that exist. Only existing topics are described: a
    metadata request for a missing topic makes brokers with auto-creation (Tansu) create it."""
    wanted = set(topics)
    present = sorted(wanted & set(await admin.list_topics()))
    if not present:
        return []
    described = await admin.describe_topics(present)
    return sorted(
        TopicPartition(entry["topic"], part["partition"])
        for entry in described
        if not entry.get("error_code")
        for part in entry.get("partitions", [])
    )


class StreamConsumer(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka ships no types
    """A group-less consumer whose ``end_offsets`` are high watermarks on every broker."""

    def __init__(self, kafka: KafkaSettings, client_id: str) -> None:
        super().__init__(**_groupless_config(kafka, client_id))
        self.kafka = kafka

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        reported: dict[TopicPartition, int] = await super().end_offsets(partitions)
        return await true_end_offsets(self.kafka, reported)


def _groupless_config(kafka: KafkaSettings, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": kafka.bootstrap_servers.split(","),
        "client_id": client_id,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "request_timeout_ms": 10_000,
        # A short fetch wait: the readers here stop at known end offsets, so a long poll
        # would only add its length to the last read of each partition.
        "fetch_max_wait_ms": 100,
        **aiokafka_client_kwargs(kafka),
    }


async def true_end_offsets(
    kafka: KafkaSettings, reported: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """The high watermark of each partition, from the ends a broker reported (see the module's
    note). Reads with a short-lived consumer of its own, so no caller's assignment or positions
    change."""
    ends = dict(reported)
    probe = [tp for tp, end in ends.items() if end > 0]
    if not probe:
        return ends
    reader = AIOKafkaConsumer(**_groupless_config(kafka, "konsortio-end-offsets"))
    await reader.start()
    try:
        reader.assign(probe)
        for tp in probe:
            reader.seek(tp, ends[tp] - 1)
        pending = set(probe)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + END_PROBE_WAIT_S
        while pending and loop.time() < deadline:
            batch = await reader.getmany(*pending, timeout_ms=100)
            for tp, records in batch.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                    pending.discard(tp)
    finally:
        await reader.stop()
    return ends


async def read_range(
    consumer: AIOKafkaConsumer,
    starts: Mapping[TopicPartition, int | None],
    ends: Mapping[TopicPartition, int],
) -> list[ConsumerRecord]:
    """Every record from ``starts`` (None: the beginning) up to ``ends`` on each partition,
    with ``consumer`` (group-less) assigned to exactly those partitions. Stops at the ends
    instead of waiting for a poll to come back empty."""
    wanted = [tp for tp in ends if ends[tp] > (starts.get(tp) or 0)]
    if not wanted:
        return []
    consumer.assign(wanted)
    for tp in wanted:
        start = starts.get(tp)
        if start is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
    records: list[ConsumerRecord] = []
    pending = set(wanted)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FETCH_WAIT_S
    while pending and loop.time() < deadline:
        batch = await consumer.getmany(*pending, timeout_ms=200)
        for tp, got in batch.items():
            records += [r for r in got if r.offset < ends[tp]]
            if got:
                deadline = loop.time() + FETCH_WAIT_S
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
    return records


@dataclass(frozen=True)
class PartitionLag:
    """One partition of a topic a group consumes: where the group is and how far behind."""

    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    end: int
    start: int = 0  # the partition's first retained offset, where an uncommitted group begins

    @property
    def lag(self) -> int:
        position = self.committed if self.committed is not None else self.start
        return max(self.end - position, 0)


def lag_rows(
    partitions: Iterable[TopicPartition],
    committed: Mapping[TopicPartition, int],
    beginning: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
) -> list[PartitionLag]:
    """Lag of one group on the topics it consumes: those where it has committed anything (a
    negative offset means nothing committed). A partition of such a topic with no commit yet
    lags by everything still retained there; a topic the group does not read is left out,
    because its "lag" would never drain."""
    consumed = {tp.topic for tp, offset in committed.items() if offset >= 0}
    rows: list[PartitionLag] = []
    for tp in sorted(partitions):
        if tp.topic not in consumed or tp not in end:
            continue
        offset = committed.get(tp, -1)
        rows.append(
            PartitionLag(
                tp.topic,
                tp.partition,
                offset if offset >= 0 else None,
                end[tp],
                beginning.get(tp, 0),
            )
        )
    return rows


async def list_groups(admin: AIOKafkaAdminClient) -> list[str]:
    """Every consumer group the broker knows, sorted."""
    return sorted({str(entry[0]) for entry in await admin.list_consumer_groups()})


async def committed_offsets(
    admin: AIOKafkaAdminClient, group: str, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """The group's committed offsets on those of ``partitions`` it has committed on: the topics
    it consumes. Partitions are always named: fetching "all of a group's offsets" breaks the
    connection to Tansu 0.6."""
    if not partitions:
        return {}
    offsets = await admin.list_consumer_group_offsets(group, partitions=list(partitions))
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def measure_lag(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    groups: Sequence[str],
    topics: Iterable[str],
) -> dict[str, list[PartitionLag]]:
    """Lag per partition of each of ``groups`` on the ``topics`` it consumes, read with clients
    the caller has started (``admin_client``, ``groupless_consumer``), so a caller that asks
    often (the dashboard) keeps its connections."""
    partitions = await existing_partitions(admin, topics)
    if not partitions:
        return {group: [] for group in groups}
    committed = {group: await committed_offsets(admin, group, partitions) for group in groups}
    # End offsets only grow, so reading them after the commits keeps every committed offset at
    # or below its end (read the other way round, a group that consumes a message published in
    # between shows a commit beyond the end).
    end = await consumer.end_offsets(partitions)
    beginning = await consumer.beginning_offsets(partitions)
    return {group: lag_rows(partitions, committed[group], beginning, end) for group in groups}


async def group_lag(
    kafka: KafkaSettings, group: str, topics: Iterable[str] | None = None
) -> list[PartitionLag] | None:
    """Lag per partition of the topics ``group`` consumes (among ``topics``, default every
    topic on the broker), or None when the broker knows no such group."""
    admin = admin_client(kafka, "konsortio-lag")
    consumer = groupless_consumer(kafka, "konsortio-lag")
    await admin.start()
    try:
        if group not in await list_groups(admin):
            return None
        if topics is None:
            topics = [t for t in await admin.list_topics() if not t.startswith("__")]
        await consumer.start()
        return (await measure_lag(admin, consumer, [group], topics))[group]
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        await admin.close()
