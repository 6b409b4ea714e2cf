"""Every service's operations routes: liveness, readiness (database, migrations, broker) and
the Prometheus metrics, with the readiness also exported as a gauge."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kit.auth import Role
from kit.db import pending_migrations
from kit.errors import ApiError
from kit.outbox import OUTBOX_BACKLOG, backlog
from kit.runtime import Runtime

# The same checks as /health/ready, taken on every scrape, so alerts see "not ready" even
# where no orchestrator probes the service.
READY = Gauge("konsortio_ready", "1 when the service is ready (/health/ready), else 0", ["service"])


async def tcp_reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
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


async def readiness(runtime: Runtime) -> dict[str, bool]:
    checks: dict[str, bool] = {"database": False, "migrations": False, "broker": False}
    if runtime.pool is not None:
        try:
            await asyncio.wait_for(runtime.pool.fetchval("SELECT 1"), timeout=2)
            checks["database"] = True
            checks["migrations"] = not await pending_migrations(
                runtime.pool, runtime.spec.migrations
            )
        except Exception:
            pass
    checks["broker"] = runtime.kafka_ready and await tcp_reachable(
        runtime.settings.kafka.bootstrap_servers
    )
    return checks


def require_operator(request: Request) -> None:
    """The operator-role check of ``/metrics`` (KONSORTIO_METRICS_REQUIRE_OPERATOR=true)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise ApiError(401, "a bearer token is required", field="authorization")
    caller = request.app.state.token_verifier.verify(credentials.strip())
    if caller.role is not Role.OPERATOR:
        raise ApiError(403, f"role {caller.role.value} may not read metrics (needs operator)")


def health_router(runtime: Runtime) -> APIRouter:
    name = runtime.spec.name
    health = APIRouter(tags=["operations"])

    @health.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "alive", "service": name}

    @health.get(
        "/health/ready",
        summary="Ready: database and broker reachable, migrations applied",
        responses={503: {"description": "not ready"}},
    )
    async def ready() -> JSONResponse:
        checks = await readiness(runtime)
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @health.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        if runtime.settings.metrics_require_operator:
            require_operator(request)
        if runtime.pool is not None:
            with contextlib.suppress(Exception):
                OUTBOX_BACKLOG.labels(name).set(await backlog(runtime.pool))
        READY.labels(name).set(1 if all((await readiness(runtime)).values()) else 0)
        if runtime.consumer is not None:
            with contextlib.suppress(Exception):
                await runtime.consumer.measure_lag()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return health
