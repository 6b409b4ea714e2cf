"""The service factory: one composition root for every service.

A service hands over a ``ServiceSpec`` (its routes, what it reacts to, its migrations and its
periodic jobs); this builds the FastAPI app whose lifespan owns the pool, the Kafka clients,
the outbox relay and the consumer, in the order start-up and graceful shutdown need.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from contracts.base import Event, topic_for
from kit.auth import TokenVerifier
from kit.body_limit import BodySizeLimit
from kit.consumer import EventConsumer, Reactions
from kit.db import apply_migrations, create_pool, pending_migrations
from kit.errors import install_error_handlers
from kit.gc_tuning import tune_gc
from kit.kafka import build_broker, build_producer, ensure_topics, publish_batch
from kit.logging import bind_trace, configure_logging, get_logger
from kit.outbox import OUTBOX_BACKLOG, OutboxRelay, backlog
from kit.ratelimit import PublicLimits
from kit.revocation import REFRESH_S
from kit.revocation import refresh as refresh_revocations
from kit.settings import Settings

log = get_logger(__name__)

# Request rate and latency per route template (never the raw path: bounded cardinality).
HTTP_SECONDS = Histogram(
    "konsortio_http_request_duration_seconds",
    "Time to answer one HTTP request",
    ["service", "method", "route", "status"],
)
# The same checks as /health/ready, taken on every scrape, so alerts see "not ready" even
# where no orchestrator probes the service.
READY = Gauge("konsortio_ready", "1 when the service is ready (/health/ready), else 0", ["service"])
DOCS_ASSETS = "/docs-assets"


@dataclass(frozen=True)
class PeriodicJob:
    """Work that falls due with time (dated notices, expiries, queued mail). Jobs must be
    safe when two replicas run them at once: they claim rows with SKIP LOCKED or similar."""

    name: str
    run: Callable[[Runtime], Awaitable[Any]]
    interval_s: float | None = None  # None: the settings' scheduler interval


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    migrations: Path
    routers: Sequence[APIRouter] = ()
    reactions: Reactions | None = None
    publishes: Sequence[type[Event]] = ()
    jobs: Sequence[PeriodicJob] = ()
    # Hooks for service-specific resources (an SMTP client, a storage directory, ...).
    on_startup: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    on_shutdown: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    max_body_bytes: int = 1024 * 1024
    upload_paths: Sequence[str] = ()  # prefixes whose bodies may be up to upload_max_bytes
    upload_max_bytes: int = 200 * 1024 * 1024


@dataclass
class Runtime:
    """Everything a running service holds. Lives on ``app.state.runtime``."""

    spec: ServiceSpec
    settings: Settings
    pool: asyncpg.Pool | None = None
    broker: KafkaBroker | None = None
    relay: OutboxRelay | None = None
    consumer: EventConsumer | None = None
    producer: AIOKafkaProducer | None = None
    producer_started: bool = False
    kafka_ready: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def source(self) -> str:
        """CloudEvents ``source`` of everything this service publishes."""
        return f"/konsortio/{self.spec.name}"

    @property
    def consumer_group(self) -> str:
        """The Kafka consumer group this service reads in: the setting, or its own name."""
        return self.settings.consumer_group or self.spec.name


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def pool_of(request: Request) -> asyncpg.Pool:
    pool = request.app.state.runtime.pool
    assert pool is not None
    return pool


async def _connect_pool(settings: Settings, runtime: Runtime) -> asyncpg.Pool:
    """Wait for the database: in containers it may come up after the service."""
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


async def _tcp_reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host or "127.0.0.1", int(port)), timeout_s
            )
        except (TimeoutError, OSError, ValueError):
            continue
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True
    return False


def create_app(spec: ServiceSpec, settings: Settings) -> FastAPI:
    runtime = Runtime(spec=spec, settings=settings)
    own_topic = topic_for(spec.name)

    async def start_kafka() -> None:
        """Connect to Kafka in the background, so the HTTP API accepts commands (into the
        outbox) even while the broker is down."""
        delay = 0.5
        while not runtime.stopping.is_set():
            try:
                subscribed = spec.reactions.topics() if spec.reactions else []
                await ensure_topics(settings.kafka, [own_topic, *subscribed], with_dlq=True)
                if not runtime.producer_started:
                    assert runtime.producer is not None
                    await runtime.producer.start()
                    runtime.producer_started = True
                if runtime.broker is not None:
                    await runtime.broker.start()
                runtime.kafka_ready = True
                log.info("kafka connected", subscribed=subscribed)
                return
            except Exception as error:
                log.warning("kafka not reachable yet", error=repr(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)

    async def publish(messages: Sequence[Any]) -> None:
        if runtime.producer is None or not runtime.producer_started:
            raise ConnectionError("Kafka producer not connected yet")
        await publish_batch(runtime.producer, messages)

    async def run_job(job: PeriodicJob) -> None:
        interval = job.interval_s or settings.scheduler_interval_s
        while not runtime.stopping.is_set():
            try:
                await job.run(runtime)
            except Exception as error:
                log.warning("periodic job failed", job=job.name, error=repr(error))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(runtime.stopping.wait(), timeout=interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(spec.name, settings.log_level)
        # aiokafka clients must be created inside the running event loop.
        runtime.producer = build_producer(settings.kafka, client_id=f"konsortio-{spec.name}")
        runtime.pool = await _connect_pool(settings, runtime)
        await apply_migrations(runtime.pool, spec.migrations)
        # The deny list of revoked tokens before the first request, then kept fresh: a
        # revocation recorded by another replica's consumer reaches this one within REFRESH_S.
        verifier: TokenVerifier = app.state.token_verifier
        await refresh_revocations(runtime.pool, verifier)

        async def reload_revocations(runtime: Runtime) -> None:
            assert runtime.pool is not None
            await refresh_revocations(runtime.pool, verifier)

        jobs = [*spec.jobs, PeriodicJob("token-revocations", reload_revocations, REFRESH_S)]
        for hook in spec.on_startup:
            await hook(runtime)  # may set runtime.extras["deps"] for the handlers
        if spec.reactions is not None:
            runtime.broker = build_broker(
                settings.kafka, middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY)]
            )
            runtime.consumer = EventConsumer(
                name=spec.name,
                reactions=spec.reactions,
                pool=runtime.pool,
                dead_letters=publish,
                deps=runtime.extras.get("deps"),
                max_attempts=settings.consumer_max_attempts,
                backoff_base_s=settings.consumer_backoff_base_s,
                backoff_max_s=settings.consumer_backoff_max_s,
                trusted_sources=settings.consumer_extra_sources,
            )
            runtime.consumer.subscribe(
                runtime.broker,
                group_id=runtime.consumer_group,
                fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
                session_timeout_ms=settings.consumer_session_timeout_ms,
                heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
                group_instance_id=settings.consumer_group_instance_id,
            )
        runtime.relay = OutboxRelay(
            service=spec.name,
            dsn=settings.database_url,
            pool=runtime.pool,
            publish=publish,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
        )
        runtime.tasks.append(asyncio.create_task(start_kafka(), name="kafka-connect"))
        runtime.relay.start()
        runtime.tasks.extend(asyncio.create_task(run_job(job), name=job.name) for job in jobs)
        # Start-up's objects out of every later collection, and fewer collections: GC pauses
        # were a quarter of a batch consumer's CPU and of its latency's tail (kit/gc_tuning.py).
        tune_gc()
        log.info("service started", port=settings.http_port)
        try:
            yield
        finally:
            # Graceful order: stop consuming and finish what is in flight, flush the relay,
            # then close the clients and the pool.
            runtime.stopping.set()
            if runtime.consumer is not None:
                await runtime.consumer.drain_in_flight()
            if runtime.broker is not None:
                with contextlib.suppress(Exception):
                    await runtime.broker.stop()
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await runtime.relay.stop()
            for hook in spec.on_shutdown:
                with contextlib.suppress(Exception):
                    await hook(runtime)
            if runtime.producer is not None and runtime.producer_started:
                with contextlib.suppress(Exception):
                    await runtime.producer.stop()
            await runtime.pool.close()
            log.info("service stopped")

    # Swagger UI and ReDoc from assets shipped in a package, not from a CDN: the API docs
    # must work on a network with no way out (a library's back office, a closed cluster).
    if settings.api_docs:
        app: FastAPI = FastAPIOffline(
            title=spec.title,
            description=spec.description,
            version="1.0.0",
            lifespan=lifespan,
            static_url=DOCS_ASSETS,
        )
    else:
        # No /docs, /redoc or /openapi.json (KONSORTIO_API_DOCS=false): 404 like any path.
        app = FastAPI(
            title=spec.title,
            description=spec.description,
            version="1.0.0",
            lifespan=lifespan,
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(
        _public_key(settings), settings.jwt_issuer, audience=settings.service
    )
    app.state.public_limits = PublicLimits(
        settings.public_rate_per_minute, settings.stream_max_connections
    )
    install_error_handlers(app)

    def body_limit(path: str) -> int:
        if any(path.startswith(prefix) for prefix in spec.upload_paths):
            return spec.upload_max_bytes
        return spec.max_body_bytes

    app.add_middleware(BodySizeLimit, limit_for=body_limit)
    app.add_middleware(Correlate, service=spec.name)

    health = APIRouter(tags=["operations"])

    @health.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "alive", "service": spec.name}

    @health.get(
        "/health/ready",
        summary="Ready: database and broker reachable, migrations applied",
        responses={503: {"description": "not ready"}},
    )
    async def ready() -> JSONResponse:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    async def readiness() -> dict[str, bool]:
        checks: dict[str, bool] = {"database": False, "migrations": False, "broker": False}
        if runtime.pool is not None:
            try:
                await asyncio.wait_for(runtime.pool.fetchval("SELECT 1"), timeout=2)
                checks["database"] = True
                checks["migrations"] = not await pending_migrations(runtime.pool, spec.migrations)
            except Exception:
                pass
        checks["broker"] = runtime.kafka_ready and await _tcp_reachable(
            settings.kafka.bootstrap_servers
        )
        return checks

    @health.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        if settings.metrics_require_operator:
            _require_operator(request)
        if runtime.pool is not None:
            with contextlib.suppress(Exception):
                OUTBOX_BACKLOG.labels(spec.name).set(await backlog(runtime.pool))
        READY.labels(spec.name).set(1 if all((await readiness()).values()) else 0)
        if runtime.consumer is not None:
            with contextlib.suppress(Exception):
                await runtime.consumer.measure_lag()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.include_router(health)
    for router in spec.routers:
        app.include_router(router)
    return app


class Correlate:
    """The outermost middleware: binds the request's correlation id (``X-Correlation-ID``, or a
    new one) to its log lines and events, answers it in the same header, and times the request
    per route template. Plain ASGI: Starlette's ``BaseHTTPMiddleware`` runs the rest of the
    app in a task of its own behind memory streams, which cost more than a small command."""

    def __init__(self, app: Callable[..., Awaitable[None]], service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (value for name, value in scope["headers"] if name == b"x-correlation-id"), b""
        )
        correlation_id = given.decode("latin-1")[:64] if given else str(uuid.uuid4())
        bind_trace(correlation_id, None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != b"x-correlation-id"
                ]
                headers.append((b"x-correlation-id", correlation_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            HTTP_SECONDS.labels(
                self.service, scope["method"], getattr(route, "path", "unmatched"), status
            ).observe(time.perf_counter() - started)


def _require_operator(request: Request) -> None:
    """The operator-role check of ``/metrics`` (KONSORTIO_METRICS_REQUIRE_OPERATOR=true)."""
    from kit.auth import Role
    from kit.errors import ApiError

    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise ApiError(401, "a bearer token is required", field="authorization")
    caller = request.app.state.token_verifier.verify(credentials.strip())
    if caller.role is not Role.OPERATOR:
        raise ApiError(403, f"role {caller.role.value} may not read metrics (needs operator)")


def _public_key(settings: Settings) -> str:
    if settings.jwt_public_key:
        return settings.jwt_public_key
    if settings.jwt_public_key_file:
        return Path(settings.jwt_public_key_file).read_text()
    return ""
