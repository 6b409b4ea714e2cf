"""The service factory: one composition root for every service.

A service hands over a ``ServiceSpec`` (its routes, what it reacts to, its migrations, its
periodic jobs and its dependencies factory); ``create_app`` builds the FastAPI app around a
``Runtime``. The pieces live in their own modules: ``kit.runtime`` (the spec, the runtime and
how routes reach it), ``kit.lifecycle`` (start-up and graceful shutdown), ``kit.scheduler``
(periodic jobs) and ``kit.health`` (liveness, readiness, metrics).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import Histogram

from kit.auth import TokenVerifier
from kit.body_limit import BodySizeLimit
from kit.clock import Clock, SystemClock
from kit.errors import install_error_handlers
from kit.health import health_router
from kit.lifecycle import lifespan
from kit.logging import bind_trace
from kit.ratelimit import PublicLimits
from kit.runtime import (
    PeriodicJob,
    Runtime,
    ServiceClock,
    ServiceSpec,
    clock_of,
    pool_of,
    provided,
    runtime_of,
)
from kit.settings import Settings

__all__ = [
    "DOCS_ASSETS",
    "PeriodicJob",
    "Runtime",
    "ServiceClock",
    "ServiceSpec",
    "clock_of",
    "create_app",
    "pool_of",
    "provided",
    "runtime_of",
]

# Request rate and latency per route template (never the raw path: bounded cardinality).
HTTP_SECONDS = Histogram(
    "konsortio_http_request_duration_seconds",
    "Time to answer one HTTP request",
    ["service", "method", "route", "status"],
)
DOCS_ASSETS = "/docs-assets"


def create_app(spec: ServiceSpec, settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The service's app. ``clock`` is the time its routes, handlers and jobs see (the system's
    unless a test or a replay gives another)."""
    runtime = Runtime(spec=spec, settings=settings, clock=clock or SystemClock())
    # Swagger UI and ReDoc from assets shipped in a package, not from a CDN: the API docs
    # must work on a network with no way out (a library's back office, a closed cluster).
    if settings.api_docs:
        app: FastAPI = FastAPIOffline(
            title=spec.title,
            description=spec.description,
            version="1.0.0",
            lifespan=lifespan(runtime),
            static_url=DOCS_ASSETS,
        )
    else:
        # No /docs, /redoc or /openapi.json (KONSORTIO_API_DOCS=false): 404 like any path.
        app = FastAPI(
            title=spec.title,
            description=spec.description,
            version="1.0.0",
            lifespan=lifespan(runtime),
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

    app.include_router(health_router(runtime))
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


def _public_key(settings: Settings) -> str:
    if settings.jwt_public_key:
        return settings.jwt_public_key
    if settings.jwt_public_key_file:
        return Path(settings.jwt_public_key_file).read_text()
    return ""
