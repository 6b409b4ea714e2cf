"""Raw aiokafka clients for what the CloudEvents consumer does not do: reading dead-letter topics
and measuring consumer lag. Both connect the same way as every other client of the service
(``kit.kafka_security``)."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kit.kafka_security import aiokafka_client_kwargs
from kit.settings import KafkaSettings


def admin_client(kafka: KafkaSettings, client_id: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        client_id=client_id,
        request_timeout_ms=10_000,
        **aiokafka_client_kwargs(kafka),
    )


def groupless_consumer(kafka: KafkaSettings, client_id: str) -> AIOKafkaConsumer:
    """A consumer outside any group: it commits nothing and joins nothing, so it costs no
    rebalance and is ready as soon as it connects."""
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=10_000,
        **aiokafka_client_kwargs(kafka),
    )


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
