"""The consumer's group membership settings reach the Kafka client: the session timeout bounds
how long a killed member's partitions wait, so a default that never arrived would bring back
the long catch-ups after a crash."""

from __future__ import annotations

import pytest

from kit.settings import Settings
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration


async def test_the_running_consumer_uses_the_session_settings(outreach: Service) -> None:
    runtime = outreach.app.state.runtime
    settings: Settings = runtime.settings
    consumers = [s.consumer for s in runtime.broker.subscribers if s.consumer is not None]
    assert consumers, "outreach runs a consumer"
    for consumer in consumers:
        assert consumer._session_timeout_ms == settings.consumer_session_timeout_ms == 6000
        assert consumer._heartbeat_interval_ms == settings.consumer_heartbeat_interval_ms
        assert consumer._group_instance_id is None  # dynamic membership by default


def test_a_heartbeat_slower_than_a_third_of_the_session_is_refused() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        Settings(consumer_session_timeout_ms=6000, consumer_heartbeat_interval_ms=3000)
    assert Settings(consumer_session_timeout_ms=9000, consumer_heartbeat_interval_ms=3000)
