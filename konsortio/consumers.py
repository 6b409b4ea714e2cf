"""``konsortio consumers lag|reset``: consumer-group lag, and replay from the earliest offset.

Lag covers only the topics a group consumes (those it has committed offsets on) and uses the
true end offsets of ``kit.streams``, the same figures as the dashboard's operator view.

A reset commits new offsets for the group, which Kafka accepts only while the group has no
active members: stop every replica of the service first, reset, then start them again. The
services' inboxes make the replay harmless: every event is seen again, no effect repeats.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from contracts import TOPICS
from kit.kafka_security import aiokafka_client_kwargs
from kit.settings import KafkaSettings
from kit.streams import PartitionLag, admin_client, group_lag, list_groups

__all__ = ["PartitionLag", "all_groups", "lag", "reset_to_earliest"]


async def _group_consumer(kafka: KafkaSettings, group: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        group_id=group,
        enable_auto_commit=False,
        **aiokafka_client_kwargs(kafka),
    )
    await consumer.start()
    await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh call
    return consumer


def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    return [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or [])
    ]


async def lag(
    kafka: KafkaSettings, group: str, topics: list[str] | None = None
) -> list[PartitionLag]:
    """Lag per partition of the topics ``group`` consumes (empty for an unknown group)."""
    return await group_lag(kafka, group, topics or list(TOPICS)) or []


async def all_groups(kafka: KafkaSettings) -> list[str]:
    admin = admin_client(kafka, "konsortio-lag")
    await admin.start()
    try:
        return await list_groups(admin)
    finally:
        await admin.close()


async def reset_to_earliest(
    kafka: KafkaSettings,
    group: str,
    topics: list[str] | None = None,
    *,
    settle_timeout_s: float = 60.0,
) -> int:
    """Commit the beginning offsets of ``topics`` for ``group``; returns partitions reset.

    The tool joins the group as its only member and commits as that member: Apache Kafka
    would also accept a commit from outside an empty group, but Tansu refuses it."""
    topics = topics or list(TOPICS)
    consumer = await _group_consumer(kafka, group)
    try:
        wanted = set(_partitions(consumer, topics))
        if not wanted:
            return 0
        consumer.subscribe(topics)
        deadline = asyncio.get_running_loop().time() + settle_timeout_s
        while consumer.assignment() != wanted:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"could not take over every partition of {group}; is it stopped?"
                )
            await consumer.getmany(timeout_ms=200, max_records=1)
        beginnings = await consumer.beginning_offsets(list(wanted))
        await consumer.commit({tp: OffsetAndMetadata(off, "") for tp, off in beginnings.items()})
        return len(wanted)
    finally:
        await consumer.stop()
