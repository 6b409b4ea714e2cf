"""The Apache Kafka lane's security tests run only under deploy/kafka/lane.sh, which starts a
real broker with SASL and TLS listeners and exports their addresses."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kafka_lane: needs the real Apache Kafka broker that deploy/kafka/lane.sh starts"
    )
