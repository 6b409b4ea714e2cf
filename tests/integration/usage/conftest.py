"""Session-wide usage service and SUSHI stand-in for the usage integration tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.base import Event
from kit.envelope import encode
from services.usage.app import build
from services.usage.settings import UsageSettings
from services.usage.sushi_standin import SushiStandIn
from tests.conftest import Infra, consumer_ready, running
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration


def usage_settings(**overrides: Any) -> UsageSettings:
    values: dict[str, Any] = {
        "harvest_interval_s": 0.2,
        "harvest_batch": 50,
        "harvest_lease_s": 30.0,
        "harvest_max_attempts": 3,
        "harvest_retry_base_s": 0.2,
        "sushi_timeout_s": 5.0,
    }
    values.update(overrides)
    return UsageSettings(**values)


@pytest.fixture(scope="session")
def standin() -> Iterator[SushiStandIn]:
    server = SushiStandIn(titles=30, slow_s=0.5)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def usage(infra: Infra) -> AsyncIterator[Service]:
    dsn = await infra.new_database("usage")
    app = build(infra.settings("usage", dsn), usage_settings())
    async with running(app) as client:
        await consumer_ready(app)
        yield Service(app, client, dsn)


@pytest.fixture(scope="session")
async def publish(infra: Infra) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()

    async def send(*events: Event) -> None:
        for event in events:
            message = encode(event, source="/tests")
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )

    yield send
    await producer.stop()


async def outbox_events(pool: Any, name: str, agreement_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE event_type LIKE $1 AND key = $2 ORDER BY id",
        f"%.{name}.v1",
        agreement_id,
    )
    return [json.loads(bytes(r["payload"])) for r in rows]
