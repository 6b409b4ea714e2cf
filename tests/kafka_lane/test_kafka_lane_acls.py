"""Least privilege on Apache Kafka: each service has its own SCRAM user, and ACLs let it write
only its own topic (and the dead-letter topics of what it reads), read only what its handlers
need, and use only its own consumer group. The broker itself refuses the rest."""

from __future__ import annotations

import os
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from kit.kafka import build_producer, ensure_topics
from kit.kafka_security import aiokafka_client_kwargs
from kit.settings import KafkaSettings

pytestmark = [
    pytest.mark.kafka_lane,
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("KONSORTIO_TEST_KAFKA_SECURITY_SERVICE_USERS"),
        reason="needs the Apache Kafka lane with its ACLs (bash deploy/kafka/lane.sh …)",
    ),
    pytest.mark.timeout(120),
]

TOPICS = ["konsortio.membership", "konsortio.procurement", "konsortio.catalogue"]


def lane_env(name: str) -> str:
    return os.environ[f"KONSORTIO_TEST_KAFKA_SECURITY_{name}"]


def as_user(user: str | None) -> KafkaSettings:
    """The SASL listener as a service's own user, or as the admin (None)."""
    password = lane_env("SASL_PASSWORD")
    return KafkaSettings(
        bootstrap_servers=lane_env("BOOTSTRAP_SASL_PLAINTEXT"),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user or lane_env("SASL_USERNAME"),
        sasl_password=f"{password}-{user}" if user else password,
        idempotence=True,
    )


async def produce(kafka: KafkaSettings, topic: str) -> None:
    producer = build_producer(kafka, client_id=f"acl-{uuid.uuid4().hex[:6]}")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"FI-Acl")
    finally:
        await producer.stop()


async def test_the_membership_user_writes_only_its_own_topic() -> None:
    await ensure_topics(as_user(None), TOPICS, with_dlq=True)
    membership = as_user("membership")
    await produce(membership, "konsortio.membership")
    # a dead-letter topic of what membership reads (procurement's events)
    await produce(membership, "konsortio.procurement.dlq")
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(membership, "konsortio.procurement")
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(membership, "konsortio.catalogue.dlq")


async def test_a_service_reads_only_in_its_own_group() -> None:
    await ensure_topics(as_user(None), TOPICS, with_dlq=True)
    kafka = as_user("procurement")

    def consumer(group: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            "konsortio.membership",
            bootstrap_servers=kafka.bootstrap_servers.split(","),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **aiokafka_client_kwargs(kafka),
        )

    own = consumer("procurement")
    await own.start()
    try:
        await own.getmany(timeout_ms=2000)
    finally:
        await own.stop()
    # procurement's user may not join membership's group: the broker refuses the join
    other = consumer("membership")
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await other.start()
    finally:
        await other.stop()
