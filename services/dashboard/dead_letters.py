"""Reads the ``<topic>.dlq`` topics into the read model for the operator view.

Dead letters are not CloudEvents the kit's consumer could dispatch (their value may be
malformed JSON, which is why they are there), so a raw aiokafka reader takes them. It belongs
to no consumer group: its position in each partition is the last offset stored in the
database, so it resumes exactly where it left off and a re-read stores nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from contracts import TOPICS, dead_letter_topic
from kit.logging import get_logger
from kit.settings import KafkaSettings
from kit.streams import admin_client, existing_partitions, groupless_consumer
from services.dashboard import domain, store

log = get_logger(__name__)

DEAD_LETTER_TOPICS: tuple[str, ...] = tuple(dead_letter_topic(topic) for topic in TOPICS)
# How often the reader looks for partitions added to the dead-letter topics.
PARTITION_CHECK_S = 30.0


def dead_letter_of(record: ConsumerRecord) -> store.DeadLetter:
    headers: Mapping[str, str] = {
        name: (value or b"").decode(errors="replace") for name, value in (record.headers or [])
    }
    attempts = headers.get("dlq_attempts", "")
    reason = headers.get("dlq_exception_message")
    return store.DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        original_topic=headers.get("dlq_original_topic") or None,
        consumer_group=headers.get("dlq_consumer_group") or None,
        exception_class=(headers.get("dlq_exception_class") or "")[:200] or None,
        reason=domain.redact(reason) if reason else None,
        attempts=int(attempts) if attempts.isdigit() else None,
        event_type=(headers.get("ce_type") or "")[:200] or None,
        dead_lettered_at=(
            dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
            if record.timestamp and record.timestamp > 0
            else None
        ),
    )


class DeadLetterReader:
    def __init__(
        self,
        kafka: KafkaSettings,
        pool: asyncpg.Pool,
        *,
        poll_s: float,
        topics: Sequence[str] = DEAD_LETTER_TOPICS,
    ) -> None:
        self.kafka = kafka
        self.pool = pool
        self.poll_s = poll_s
        self.topics = tuple(topics)

    async def run(self, connected: Callable[[], Awaitable[None]]) -> None:
        """Read until cancelled; reconnect after any failure. ``connected`` returns once the
        service has reached Kafka: the kit creates the dead-letter topics while connecting."""
        await connected()
        delay = 0.5
        while True:
            consumer = groupless_consumer(self.kafka, "konsortio-dashboard-dead-letters")
            try:
                await consumer.start()
                await self._read(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("dead-letter reader failed; reconnecting", error=repr(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        assigned: set[TopicPartition] = set()
        loop = asyncio.get_running_loop()
        next_check = 0.0
        while True:
            if loop.time() >= next_check:
                partitions = set(await self._partitions())
                if partitions != assigned:
                    await self._assign(consumer, partitions)
                    assigned = partitions
                next_check = loop.time() + PARTITION_CHECK_S
            if not assigned:
                await asyncio.sleep(self.poll_s)
                continue
            batches = await consumer.getmany(timeout_ms=int(self.poll_s * 1000), max_records=500)
            letters = [dead_letter_of(r) for records in batches.values() for r in records]
            if letters:
                await store.store_dead_letters(self.pool, letters)
                log.info("dead letters recorded", count=len(letters))

    async def _partitions(self) -> list[TopicPartition]:
        admin = admin_client(self.kafka, "konsortio-dashboard-dead-letters-admin")
        await admin.start()
        try:
            return await existing_partitions(admin, self.topics)
        finally:
            await admin.close()

    async def _assign(self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
        # The database is the reader's memory: every partition restarts after its last stored
        # offset, including the ones it was already reading (assign() forgets positions).
        consumer.assign(sorted(partitions))
        positions = await store.dead_letter_positions(self.pool)
        for partition in partitions:
            stored = positions.get((partition.topic, partition.partition))
            if stored is None:
                await consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, stored)
