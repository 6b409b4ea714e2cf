"""deploy/k8s/topics/create-topics.sh (compose's topic-init and the Kubernetes Job) against the real
Apache Kafka broker, through Kafka's own TopicCommand and ConfigCommand."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "k8s" / "topics" / "create-topics.sh"

pytestmark = [
    pytest.mark.kafka_lane,
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("KONSORTIO_TEST_KAFKA_LIB"),
        reason="needs the Apache Kafka lane (bash deploy/kafka/lane.sh …)",
    ),
    pytest.mark.timeout(240),
]


def create_topics(topics: list[str], partitions: int) -> str:
    java = f"java -cp {os.environ['KONSORTIO_TEST_KAFKA_LIB']}/*"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": os.environ["KONSORTIO_TEST_KAFKA_BOOTSTRAP"],
        "KAFKA_TOPICS_CMD": f"{java} org.apache.kafka.tools.TopicCommand",
        "KAFKA_CONFIGS_CMD": f"{java} kafka.admin.ConfigCommand",
        "KONSORTIO_TOPICS": " ".join(topics),
        "TOPIC_PARTITIONS": str(partitions),
        "TOPIC_RETENTION_MS": "-1",
        "DLQ_RETENTION_MS": "604800000",
        "WAIT_ATTEMPTS": "5",
    }
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=200
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def describe(names: list[str]) -> dict[str, tuple[int, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KONSORTIO_TEST_KAFKA_BOOTSTRAP"])
    await admin.start()
    try:
        described = await admin.describe_topics(names)
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    retention: dict[str, str] = {}
    for response in configs:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            retention[name] = next(e[1] for e in entries if e[0] == "retention.ms")
    return {t["topic"]: (len(t["partitions"]), retention[t["topic"]]) for t in described}


async def test_creates_topics_and_dead_letter_topics_then_grows_partitions() -> None:
    prefix = f"lane-{uuid.uuid4().hex[:6]}"
    topics = [f"{prefix}.membership", f"{prefix}.outreach"]
    every = topics + [f"{t}.dlq" for t in topics]

    create_topics(topics, partitions=3)
    assert await describe(every) == {
        **{t: (3, "-1") for t in topics},
        **{f"{t}.dlq": (1, "604800000") for t in topics},
    }

    # Running it again is safe, and a larger count adds partitions (the scale-out step).
    out = create_topics(topics, partitions=6)
    assert f"topic {topics[0]}: 6 partitions" in out
    assert {name: p for name, (p, _) in (await describe(every)).items()} == {
        **{t: 6 for t in topics},
        **{f"{t}.dlq": 1 for t in topics},
    }
