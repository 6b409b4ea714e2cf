"""SASL/SCRAM, SASL/PLAIN and TLS to a real Apache Kafka broker, through the kit's own client
builders, so what is proven here is exactly what a service does with those settings."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from kit.kafka import build_broker, build_producer, ensure_topics
from kit.kafka_security import aiokafka_client_kwargs
from kit.settings import KafkaSettings

pytestmark = [
    pytest.mark.kafka_lane,
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("KONSORTIO_TEST_KAFKA_SECURITY_BOOTSTRAP_SASL_PLAINTEXT"),
        reason="needs the Apache Kafka lane (bash deploy/kafka/lane.sh …)",
    ),
    pytest.mark.timeout(120),
]


def lane_env(name: str) -> str:
    return os.environ[f"KONSORTIO_TEST_KAFKA_SECURITY_{name}"]


def settings(listener: str, **overrides: object) -> KafkaSettings:
    protocol = {"MTLS": "SSL"}.get(listener, listener)
    values: dict[str, object] = {
        "bootstrap_servers": lane_env(f"BOOTSTRAP_{listener}"),
        "security_protocol": protocol,
        "idempotence": True,
    }
    if protocol.startswith("SASL_"):
        values |= {
            "sasl_username": lane_env("SASL_USERNAME"),
            "sasl_password": lane_env("SASL_PASSWORD"),
        }
    if protocol.endswith("SSL"):
        values["ssl_cafile"] = lane_env("CAFILE")
    if listener == "MTLS":
        values |= {
            "ssl_certfile": lane_env("CLIENT_CERTFILE"),
            "ssl_keyfile": lane_env("CLIENT_KEYFILE"),
        }
    values |= overrides
    return KafkaSettings(**values)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time


async def raw_roundtrip(kafka: KafkaSettings) -> None:
    """Admin (topic creation), idempotent acks=all producer, and a group consumer."""
    topic = f"lane-security-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic], with_dlq=True)
    producer = build_producer(kafka, client_id="kafka-lane")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"ok":true}', key=b"FI-Hki")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        group_id=f"lane-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **aiokafka_client_kwargs(kafka),
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"FI-Hki", b'{"ok":true}')


async def faststream_roundtrip(kafka: KafkaSettings) -> None:
    """FastStream's broker, built by the kit, publishes and consumes with the same settings."""
    topic = f"lane-faststream-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic], with_dlq=False)
    broker: KafkaBroker = build_broker(kafka)
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    @broker.subscriber(topic, group_id=f"lane-{topic}", auto_offset_reset="earliest")
    async def handle(body: bytes) -> None:
        if not received.done():
            received.set_result(body)

    await broker.start()
    try:
        await broker.publish(b"hello", topic, key=b"FI-Tku")
        assert await asyncio.wait_for(received, timeout=60) == b"hello"
    finally:
        await broker.stop()


async def refused(kafka: KafkaSettings) -> BaseException:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        request_timeout_ms=5_000,
        **aiokafka_client_kwargs(kafka),
    )
    try:
        with pytest.raises(Exception) as caught:  # noqa: B017 - what fails differs per layer
            await asyncio.wait_for(admin.start(), timeout=20)
            await asyncio.wait_for(admin.list_topics(), timeout=20)
    finally:
        await admin.close()
    return caught.value


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
async def test_sasl_plaintext(mechanism: str) -> None:
    await raw_roundtrip(settings("SASL_PLAINTEXT", sasl_mechanism=mechanism))


async def test_sasl_scram_512_through_faststream() -> None:
    await faststream_roundtrip(settings("SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512"))


async def test_sasl_scram_rejects_a_wrong_password(caplog: pytest.LogCaptureFixture) -> None:
    await refused(settings("SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512", sasl_password="x"))
    # aiokafka reports "unable to bootstrap" and logs the broker's reason.
    assert "SaslAuthenticationFailed" in caplog.text


async def test_tls() -> None:
    await raw_roundtrip(settings("SSL"))


async def test_tls_through_faststream() -> None:
    await faststream_roundtrip(settings("SSL"))


async def test_tls_rejects_a_broker_the_ca_did_not_sign(caplog: pytest.LogCaptureFixture) -> None:
    # Without the lane's CA the system store is used, which cannot know the throwaway CA.
    await refused(settings("SSL", ssl_cafile=""))
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


async def test_sasl_scram_512_over_tls() -> None:
    kafka = settings("SASL_SSL", sasl_mechanism="SCRAM-SHA-512")
    await raw_roundtrip(kafka)
    await faststream_roundtrip(kafka)


async def test_mutual_tls() -> None:
    await raw_roundtrip(settings("MTLS"))


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await refused(settings("MTLS", ssl_certfile="", ssl_keyfile=""))
    # The broker ends the handshake; test_mutual_tls shows the certificate is what it wants.
    assert "closed" in caplog.text
