"""``konsortio dlq list|replay|purge``: draining the dead-letter topics.

What has been dealt with is tracked as the committed offsets of one consumer group,
``konsortio-dlq``, on each ``<topic>.dlq``: ``list`` shows what lies beyond them, ``purge``
moves them to the end. This works on every Kafka-protocol broker (Tansu has no DeleteRecords)
and keeps the dead letters themselves for audit until retention removes them.

``replay`` republishes a dead letter to its original topic with its original CloudEvents
headers, so the event keeps its id: consumers that handled it already skip it through their
inbox, and replaying the same dead letter twice has no second effect.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from contracts import TOPICS
from contracts.base import dead_letter_topic
from kit import streams
from kit.kafka_security import aiokafka_client_kwargs
from kit.settings import KafkaSettings

CURSOR_GROUP = "konsortio-dlq"
DLQ_HEADER_PREFIX = "dlq_"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, bytes]
    value: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name, b"").decode(errors="replace")

    @property
    def original_topic(self) -> str:
        return self.header("dlq_original_topic") or self.topic.removesuffix(".dlq")

    def summary(self) -> str:
        return (
            f"{self.topic}@{self.partition}:{self.offset} "
            f"from {self.original_topic}@{self.header('dlq_original_partition')}:"
            f"{self.header('dlq_original_offset')} group={self.header('dlq_consumer_group')} "
            f"type={self.header('ce_type') or '-'} id={self.header('ce_id') or '-'} "
            f"{self.header('dlq_exception_class')}: {self.header('dlq_exception_message')[:200]}"
        )


def dlq_topics(topic: str | None) -> list[str]:
    if topic:
        return [topic if topic.endswith(".dlq") else dead_letter_topic(topic)]
    return [dead_letter_topic(t) for t in TOPICS]


async def _cursor_consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    """A consumer of the cursor group, used only to commit the cursor (``purge``)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        group_id=CURSOR_GROUP,
        enable_auto_commit=False,
        **aiokafka_client_kwargs(kafka),
    )
    await consumer.start()
    return consumer


async def read(
    kafka: KafkaSettings, topic: str | None = None, *, include_handled: bool = False
) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
    """Dead letters beyond the cursor (or all of them), and each partition's end offset.

    Fast on purpose: no group is joined (the cursor is read with the admin client, the records
    with a group-less consumer) and the read stops at each partition's end offset instead of
    waiting for a poll to come back empty."""
    admin = streams.admin_client(kafka, "konsortio-dlq")
    consumer = streams.groupless_consumer(kafka, "konsortio-dlq")
    await admin.start()
    try:
        partitions = await streams.existing_partitions(admin, dlq_topics(topic))
        if not partitions:
            return [], {}
        cursor = (
            {}
            if include_handled
            else await streams.committed_offsets(admin, CURSOR_GROUP, partitions)
        )
        await consumer.start()
        ends = await consumer.end_offsets(partitions)
        records = await streams.read_range(
            consumer, {tp: cursor.get(tp) for tp in partitions}, ends
        )
        records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        letters = [
            DeadLetter(r.topic, r.partition, r.offset, r.key, dict(r.headers), r.value)
            for r in records
        ]
        return letters, ends
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        await admin.close()


async def replay(kafka: KafkaSettings, letters: Iterable[DeadLetter]) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        acks="all",
        enable_idempotence=kafka.idempotence,
        **aiokafka_client_kwargs(kafka),
    )
    await producer.start()
    count = 0
    try:
        for letter in letters:
            headers = [
                (name, value)
                for name, value in letter.headers.items()
                if not name.startswith(DLQ_HEADER_PREFIX)
            ]
            headers.append(("dlq_replayed_from", f"{letter.topic}@{letter.offset}".encode()))
            await producer.send_and_wait(
                letter.original_topic, letter.value, key=letter.key, headers=headers
            )
            count += 1
    finally:
        await producer.stop()
    return count


async def purge(kafka: KafkaSettings, topic: str | None = None) -> int:
    """Mark every dead letter as dealt with; returns how many were beyond the cursor."""
    letters, ends = await read(kafka, topic)
    if not ends:
        return 0
    consumer = await _cursor_consumer(kafka)
    try:
        consumer.assign(list(ends))
        await consumer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
    finally:
        await consumer.stop()
    return len(letters)
