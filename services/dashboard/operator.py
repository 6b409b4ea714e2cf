"""The operator view's figures: each service's health and outbox backlog, consumer lag per group
and partition, and dead letters.

Health and backlog are scraped over HTTP from each service's ``/health/ready`` and ``/metrics``
(``konsortio_outbox_backlog``), as Prometheus would: operational monitoring, not a domain call.
Lag is the broker's end offset minus the group's committed offset, measured by ``kit.streams``
(as ``konsortio consumers lag`` measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Sequence

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

from contracts import TOPICS
from kit import streams
from kit.app import Runtime
from kit.health import readiness
from kit.logging import get_logger
from kit.outbox import backlog
from kit.settings import KafkaSettings
from services.dashboard import store
from services.dashboard.settings import DashboardSettings

log = get_logger(__name__)

BACKLOG_METRIC = "konsortio_outbox_backlog"
LATEST_DEAD_LETTERS = 20


class ServiceHealth(BaseModel):
    service: str
    url: str | None = Field(description="Where it was scraped; None for the dashboard itself")
    status: str = Field(description="ready, not ready or unreachable")
    checks: dict[str, bool]
    outbox_backlog: int | None = Field(description="Outbox rows not yet published")


class PartitionLag(BaseModel):
    topic: str
    partition: int
    committed: int | None = Field(description="None: the group has committed nothing here")
    end: int
    lag: int


class GroupLag(BaseModel):
    group: str
    lag: int
    partitions: list[PartitionLag]


class DeadLetterCount(BaseModel):
    original_topic: str
    consumer_group: str
    count: int
    latest: dt.datetime | None


class DeadLetterReason(BaseModel):
    topic: str
    partition: int
    offset: int
    original_topic: str | None
    consumer_group: str | None
    exception_class: str | None
    reason: str | None
    attempts: int | None
    event_type: str | None
    dead_lettered_at: dt.datetime | None


class OperatorReport(BaseModel):
    generated_at: dt.datetime
    services: list[ServiceHealth]
    lag: list[GroupLag]
    lag_error: str | None = Field(description="Why lag could not be measured, if it could not")
    dead_letters: list[DeadLetterCount]
    latest_dead_letters: list[DeadLetterReason]


def outbox_backlog(metrics_text: str, service: str) -> int | None:
    """The service's ``konsortio_outbox_backlog`` gauge from a Prometheus exposition."""
    try:
        for family in text_string_to_metric_families(metrics_text):
            if family.name != BACKLOG_METRIC:
                continue
            for sample in family.samples:
                if sample.labels.get("service") == service:
                    return int(sample.value)
    except ValueError:
        return None
    return None


async def scrape(client: httpx.AsyncClient, service: str, url: str) -> ServiceHealth:
    try:
        ready = await client.get(f"{url}/health/ready")
        body = (
            ready.json()
            if ready.headers.get("content-type", "").startswith("application/json")
            else {}
        )
    except (httpx.HTTPError, ValueError) as error:
        log.info("service not reachable", service=service, error=repr(error))
        return ServiceHealth(
            service=service, url=url, status="unreachable", checks={}, outbox_backlog=None
        )
    checks = body.get("checks") if isinstance(body, dict) else None
    backlog: int | None = None
    with contextlib.suppress(httpx.HTTPError):
        metrics = await client.get(f"{url}/metrics")
        if metrics.status_code == 200:
            backlog = outbox_backlog(metrics.text, service)
    return ServiceHealth(
        service=service,
        url=url,
        status="ready" if ready.status_code == 200 else "not ready",
        checks={str(k): bool(v) for k, v in checks.items()} if isinstance(checks, dict) else {},
        outbox_backlog=backlog,
    )


def group_lag(
    group: str,
    partitions: Sequence[TopicPartition],
    committed: dict[TopicPartition, int],
    beginning: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
) -> GroupLag:
    """Lag of one group on the topics it consumes, as the operator view shows it
    (``kit.streams.lag_rows`` decides which partitions count and how far behind they are)."""
    return _shown(group, streams.lag_rows(partitions, committed, beginning, end))


def _shown(group: str, rows: Sequence[streams.PartitionLag]) -> GroupLag:
    shown = [
        PartitionLag(
            topic=row.topic,
            partition=row.partition,
            committed=row.committed,
            end=row.end,
            lag=row.lag,
        )
        for row in rows
    ]
    return GroupLag(group=group, lag=sum(r.lag for r in shown), partitions=shown)


class LagProbe:
    """An admin client and a group-less consumer for lag queries, started on first use and
    started afresh after a failure (a broker outage must not leave a broken client behind)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def lag(
        self, groups: Sequence[str], topics: Sequence[str], timeout_s: float
    ) -> list[GroupLag]:
        async with self._lock:
            try:
                return await asyncio.wait_for(self._measure(groups, topics), timeout_s)
            except BaseException:
                await self._close()
                raise

    async def close(self) -> None:
        async with self._lock:
            await self._close()

    async def _measure(self, groups: Sequence[str], topics: Sequence[str]) -> list[GroupLag]:
        if self._admin is None or self._consumer is None:
            self._admin = streams.admin_client(self.kafka, "konsortio-dashboard-lag")
            self._consumer = streams.groupless_consumer(self.kafka, "konsortio-dashboard-lag")
            await self._admin.start()
            await self._consumer.start()
        measured = await streams.measure_lag(self._admin, self._consumer, groups, topics)
        return [_shown(group, rows) for group, rows in measured.items()]

    async def _close(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()


async def dead_letter_summary(
    pool: asyncpg.Pool,
) -> tuple[list[DeadLetterCount], list[DeadLetterReason]]:
    counts = [DeadLetterCount(**row) for row in await store.dead_letter_counts(pool)]
    latest = [
        DeadLetterReason(**row)
        for row in await store.latest_dead_letters(pool, LATEST_DEAD_LETTERS)
    ]
    return counts, latest


async def own_health(runtime: Runtime) -> ServiceHealth:
    """The dashboard's own readiness, checked in process (the kit's checks, as its
    /health/ready answers them): it need not scrape itself."""
    checks = await readiness(runtime)
    rows: int | None = None
    if checks["database"] and runtime.pool is not None:
        with contextlib.suppress(
            OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError
        ):
            rows = await backlog(runtime.pool)
    return ServiceHealth(
        service=runtime.spec.name,
        url=None,
        status="ready" if all(checks.values()) else "not ready",
        checks=checks,
        outbox_backlog=rows,
    )


async def build_report(
    runtime: Runtime, settings: DashboardSettings, client: httpx.AsyncClient, probe: LagProbe
) -> OperatorReport:
    assert runtime.pool is not None
    own_group = runtime.consumer_group
    measuring = asyncio.create_task(
        probe.lag(settings.groups(own_group), TOPICS, settings.scrape_timeout_s * 2)
    )
    services = await asyncio.gather(
        *(scrape(client, name, url) for name, url in settings.services(runtime.spec.name).items())
    )
    lag: list[GroupLag] = []
    lag_error: str | None = None
    try:
        lag = await measuring
    except Exception as error:  # the broker is down or too slow: say so and show the rest
        log.warning("consumer lag not measured", error=repr(error))
        lag_error = type(error).__name__
    counts, latest = await dead_letter_summary(runtime.pool)
    return OperatorReport(
        generated_at=dt.datetime.now(dt.UTC),
        services=[await own_health(runtime), *sorted(services, key=lambda s: s.service)],
        lag=lag,
        lag_error=lag_error,
        dead_letters=counts,
        latest_dead_letters=latest,
    )
