"""A service's start-up and graceful shutdown, in the order they need: the pool and the
migrations, the token deny list, the service's dependencies and hooks, the consumer, the outbox
relay, Kafka in the background, the periodic jobs; and back down again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import asyncpg
from fastapi import FastAPI
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from contracts.base import topic_for
from kit.auth import TokenVerifier
from kit.consumer import DeadLetterSink, EventConsumer
from kit.db import apply_migrations, create_pool
from kit.envelope import OutgoingMessage
from kit.gc_tuning import tune_gc
from kit.kafka import build_broker, build_producer, ensure_topics, publish_batch
from kit.logging import configure_logging, get_logger
from kit.outbox import OutboxRelay
from kit.revocation import REFRESH_S
from kit.revocation import refresh as refresh_revocations
from kit.runtime import PeriodicJob, Runtime
from kit.scheduler import start_jobs

log = get_logger(__name__)


async def connect_pool(runtime: Runtime) -> asyncpg.Pool:
    """Wait for the database: in containers it may come up after the service."""
    settings = runtime.settings
    delay = 0.5
    while True:
        try:
            return await create_pool(settings.database_url, settings.database_pool_max)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("database not reachable yet", error=repr(error))
            if runtime.stopping.is_set():
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)


async def connect_kafka(runtime: Runtime) -> None:
    """Connect to Kafka in the background, so the HTTP API accepts commands (into the outbox)
    even while the broker is down."""
    spec = runtime.spec
    delay = 0.5
    while not runtime.stopping.is_set():
        try:
            subscribed = spec.reactions.topics() if spec.reactions else []
            await ensure_topics(
                runtime.settings.kafka, [topic_for(spec.name), *subscribed], with_dlq=True
            )
            if not runtime.producer_started:
                assert runtime.producer is not None
                await runtime.producer.start()
                runtime.producer_started = True
            # Ready once the broker takes the service's events; joining the consumer group
            # goes on after that. A group with no members waits about 3 s before its first
            # assignment (measured on the embedded broker; Apache Kafka's default
            # group.initial.rebalance.delay.ms is 3 s). Nothing is missed meanwhile: the
            # group reads on from its committed offsets, or from the earliest when new.
            runtime.kafka_ready = True
            log.info("broker reachable")
            if runtime.broker is not None:
                await runtime.broker.start()
            log.info("kafka connected", subscribed=subscribed)
            return
        except Exception as error:
            runtime.kafka_ready = False
            log.warning("kafka not reachable yet", error=repr(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)


def publisher(runtime: Runtime) -> DeadLetterSink:
    async def publish(messages: Sequence[OutgoingMessage]) -> None:
        if runtime.producer is None or not runtime.producer_started:
            raise ConnectionError("Kafka producer not connected yet")
        await publish_batch(runtime.producer, messages)

    return publish


def subscribe(runtime: Runtime) -> None:
    """The consumer of the events the service reacts to, with the service's dependencies."""
    spec, settings = runtime.spec, runtime.settings
    assert spec.reactions is not None and runtime.pool is not None
    runtime.broker = build_broker(
        settings.kafka, middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY)]
    )
    runtime.consumer = EventConsumer(
        name=spec.name,
        reactions=spec.reactions,
        pool=runtime.pool,
        dead_letters=publisher(runtime),
        deps=runtime.deps,
        max_attempts=settings.consumer_max_attempts,
        backoff_base_s=settings.consumer_backoff_base_s,
        backoff_max_s=settings.consumer_backoff_max_s,
        trusted_sources=settings.consumer_extra_sources,
    )
    runtime.consumer.subscribe(
        runtime.broker,
        group_id=runtime.consumer_group,
        # Batches: re-reading a topic one transaction and one offset commit per record ran at
        # about 380 records/s on the embedded broker, in batches at 3,300-4,300/s
        # (bench/replay.py), so a replay or a catch-up took minutes.
        batch=True,
        max_records=settings.consumer_batch_max_records,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
        group_instance_id=settings.consumer_group_instance_id,
    )


async def start(runtime: Runtime, verifier: TokenVerifier) -> None:
    spec, settings = runtime.spec, runtime.settings
    configure_logging(spec.name, settings.log_level)
    # aiokafka clients must be created inside the running event loop.
    runtime.producer = build_producer(settings.kafka, client_id=f"konsortio-{spec.name}")
    runtime.pool = await connect_pool(runtime)
    await apply_migrations(runtime.pool, spec.migrations)
    # The deny list of revoked tokens before the first request, then kept fresh: a revocation
    # recorded by another replica's consumer reaches this one within REFRESH_S.
    await refresh_revocations(runtime.pool, verifier)

    async def reload_revocations(runtime: Runtime) -> None:
        assert runtime.pool is not None
        await refresh_revocations(runtime.pool, verifier)

    if spec.deps is not None:
        runtime.deps = await spec.deps(runtime)
    for hook in spec.on_startup:
        await hook(runtime)
    if spec.reactions is not None:
        subscribe(runtime)
    runtime.relay = OutboxRelay(
        service=spec.name,
        dsn=settings.database_url,
        pool=runtime.pool,
        publish=publisher(runtime),
        batch_size=settings.relay_batch_size,
        poll_interval_s=settings.relay_poll_interval_s,
    )
    runtime.tasks.append(asyncio.create_task(connect_kafka(runtime), name="kafka-connect"))
    runtime.relay.start()
    start_jobs(
        runtime, [*spec.jobs, PeriodicJob("token-revocations", reload_revocations, REFRESH_S)]
    )
    # Start-up's objects out of every later collection, and fewer collections: GC pauses were
    # a quarter of a batch consumer's CPU and of its latency's tail (kit/gc_tuning.py).
    tune_gc()
    log.info("service started", port=settings.http_port)


async def stop(runtime: Runtime) -> None:
    """Graceful order: stop consuming and finish what is in flight, flush the relay, then
    close the clients and the pool."""
    runtime.stopping.set()
    if runtime.consumer is not None:
        await runtime.consumer.drain_in_flight()
    if runtime.broker is not None:
        with contextlib.suppress(Exception):
            await runtime.broker.stop()
    for task in runtime.tasks:
        task.cancel()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    if runtime.relay is not None:
        await runtime.relay.stop()
    for hook in runtime.spec.on_shutdown:
        with contextlib.suppress(Exception):
            await hook(runtime)
    if runtime.producer is not None and runtime.producer_started:
        with contextlib.suppress(Exception):
            await runtime.producer.stop()
    if runtime.pool is not None:
        await runtime.pool.close()
    log.info("service stopped")


def lifespan(runtime: Runtime) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        await start(runtime, app.state.token_verifier)
        try:
            yield
        finally:
            await stop(runtime)

    return run
