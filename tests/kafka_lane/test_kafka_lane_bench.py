"""`make bench-kafka`'s path: the pipeline benchmark on the lane's Apache Kafka (an external
broker the run did not start), correctness only, never speed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import pipeline
from bench.infra import ExternalBroker, bench_infra

pytestmark = [
    pytest.mark.kafka_lane,
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("KONSORTIO_TEST_KAFKA_LIB"),
        reason="needs the Apache Kafka lane (make test-kafka)",
    ),
    pytest.mark.timeout(240),
]


def quiet(_key: str, _done: float, _total: float) -> None:
    pass


@pytest.fixture
def lane_broker() -> ExternalBroker:
    pid_file = Path(os.environ.get("KONSORTIO_TEST_KAFKA_PID_FILE", "/nonexistent"))
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    return ExternalBroker(os.environ["KONSORTIO_TEST_KAFKA_BOOTSTRAP"], pid)


async def test_pipeline_on_apache_kafka_applies_every_event_once(
    lane_broker: ExternalBroker,
) -> None:
    broker = lane_broker
    async with bench_infra(external=broker) as infra:
        assert infra.broker is broker  # no Tansu started
        result = await pipeline.measure_pipeline(
            infra, 400, quiet, replicas=1, per_transaction=50, relay_batch=100, max_records=100
        )
    assert result["effects"] == 400
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["republished"] == result["duplicates_skipped"] == 4
