"""The lane's broker control: a real broker restart keeps topics, records and committed offsets
(unlike the in-memory Tansu broker), so restart tests belong on this lane."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kit.kafka import ensure_topics
from kit.settings import KafkaSettings

pytestmark = [
    pytest.mark.kafka_lane,
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("KONSORTIO_TEST_KAFKA_CONTROL"),
        reason="needs the Apache Kafka lane (bash deploy/kafka/lane.sh …)",
    ),
    pytest.mark.timeout(180),
]


async def test_records_and_offsets_survive_a_broker_restart() -> None:
    bootstrap = os.environ["KONSORTIO_TEST_KAFKA_BOOTSTRAP"]
    topic, group = f"lane-restart-{uuid.uuid4().hex[:6]}", f"lane-{uuid.uuid4().hex[:6]}"
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [topic], with_dlq=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(topic, f"{n}".encode(), key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        first = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit({TopicPartition(topic, first.partition): first.offset + 1})
    finally:
        await consumer.stop()

    control = shlex.split(os.environ["KONSORTIO_TEST_KAFKA_CONTROL"])
    done = await asyncio.to_thread(
        subprocess.run, [*control, "restart"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        rest = [await asyncio.wait_for(consumer.getone(), timeout=30) for _ in range(2)]
    finally:
        await consumer.stop()
    assert [r.value for r in rest] == [b"1", b"2"]
