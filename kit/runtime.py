"""What a running service is made of, and how its routes reach it.

A service describes itself with a ``ServiceSpec``; ``kit.app.create_app`` turns it into a
``Runtime`` that owns the pool, the Kafka clients, the relay, the consumer, the clock and the
service's own dependencies. The dependencies are one typed object per service, built by the
spec's ``deps`` factory at start-up; routes receive it by type (``Depends(provided(X))``) and
handlers as ``delivery.deps``, so nothing travels under a string key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, Request
from faststream.kafka import KafkaBroker

from contracts.base import Event
from kit.clock import Clock, SystemClock
from kit.consumer import EventConsumer, Reactions
from kit.outbox import OutboxRelay
from kit.settings import Settings

T = TypeVar("T")


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
    # The service's dependencies (templates, storage, clients, its own settings), built once
    # the pool is up and before the consumer and the jobs start; they reach routes by type and
    # handlers as ``delivery.deps``.
    deps: Callable[[Runtime], Awaitable[object]] | None = None
    # Hooks for resources with a lifetime of their own (background readers, clients to close).
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
    clock: Clock = field(default_factory=SystemClock)
    deps: Any = None
    pool: asyncpg.Pool | None = None
    broker: KafkaBroker | None = None
    relay: OutboxRelay | None = None
    consumer: EventConsumer | None = None
    producer: AIOKafkaProducer | None = None
    producer_started: bool = False
    kafka_ready: bool = False
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

    def deps_as(self, kind: type[T]) -> T:
        """The service's dependencies, checked to be of the type the caller expects."""
        if not isinstance(self.deps, kind):
            raise RuntimeError(
                f"{self.spec.name} has no {kind.__name__} (its deps are {type(self.deps).__name__})"
            )
        return self.deps


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def pool_of(request: Request) -> asyncpg.Pool:
    pool = request.app.state.runtime.pool
    assert pool is not None
    return pool


def clock_of(request: Request) -> Clock:
    """The running service's clock (a route takes it as a ``ServiceClock`` parameter)."""
    return runtime_of(request).clock


#: A route parameter of this type receives the service's clock.
ServiceClock = Annotated[Clock, Depends(clock_of)]


def provided(kind: type[T]) -> Callable[[Request], T]:
    """A FastAPI dependency that hands a route the service's dependencies of type ``kind``:
    ``deps: Annotated[OutreachDeps, Depends(provided(OutreachDeps))]``."""

    def dependency(request: Request) -> T:
        return runtime_of(request).deps_as(kind)

    return dependency
