"""A steady load of realistic commands through the services' HTTP APIs.

Several actors run stories concurrently (a library's whole membership lifecycle, and more as
services appear); a shared pacer keeps the rate steady whatever the faults do to latency.
A story stops at the first command whose outcome is not a plain success: what happened to
that command is resolved afterwards from the services' state, so the ledger stays exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from reliability.ledger import Command, Ledger
from reliability.stack import Stack

REQUEST_TIMEOUT_S = 10.0


class Pacer:
    """At most ``rate`` commands per second across all actors, evenly spaced."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        await asyncio.sleep(max(0.0, slot - time.monotonic()))


@dataclass
class Driver:
    """What a story uses to act: the stack (URLs, tokens), an HTTP client, the ledger and
    the pacer. Every command goes through ``command`` so it is recorded."""

    stack: Stack
    client: httpx.AsyncClient
    ledger: Ledger
    pacer: Pacer
    rng: random.Random
    run_tag: str
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    counter: int = 0

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    async def command(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str,
        action: str,
        key: str,
        expects: str | None,
        json: Any = None,
        detail: dict[str, Any] | None = None,
    ) -> Command:
        await self.pacer.wait()
        command = self.ledger.add(
            Command(
                correlation_id=f"rel-{uuid.uuid4()}",
                service=service,
                action=action,
                key=key,
                expects=expects,
                detail=detail or {},
            )
        )
        try:
            response = await self.client.request(
                method,
                f"{self.stack.url(service)}{path}",
                json=json,
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Correlation-ID": command.correlation_id,
                },
                timeout=REQUEST_TIMEOUT_S,
            )
            command.status = response.status_code
            if response.status_code >= 400:
                command.error = response.text[:300]
        except httpx.HTTPError as error:
            command.error = repr(error)[:300]
        command.ended = time.time()
        return command


class Story(Protocol):
    """One realistic sequence of commands (one library's lifecycle, one tender ...)."""

    service: str

    async def run(self, driver: Driver) -> None: ...


StoryFactory = Callable[[], Story]


@dataclass
class Load:
    """Runs ``actors`` concurrent actors, each running stories back to back until stopped."""

    stack: Stack
    stories: Sequence[StoryFactory]
    rate: float
    actors: int = 6
    seed: int = 0
    ledger: Ledger = field(default_factory=Ledger)
    started: float = 0.0
    stopped: float = 0.0
    story_errors: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _driver: Driver | None = None
    _client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=self.actors * 2))
        rng = random.Random(self.seed)
        self._driver = Driver(
            stack=self.stack,
            client=self._client,
            ledger=self.ledger,
            pacer=Pacer(self.rate),
            rng=rng,
            run_tag=f"{rng.randrange(16**3):03x}",
        )
        self.started = time.time()
        self._tasks = [
            asyncio.create_task(self._actor(i), name=f"load-actor-{i}") for i in range(self.actors)
        ]

    async def _actor(self, number: int) -> None:
        assert self._driver is not None
        driver = self._driver
        while not driver.stopping.is_set():
            story = driver.rng.choice(self.stories)()
            try:
                await story.run(driver)
            except Exception as error:  # a harness bug must not silently stop the load
                self.story_errors.append(f"{type(error).__name__}: {error}"[:300])
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._driver is not None:
            self._driver.stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 30)
        for task in self._tasks:
            task.cancel()
        self.stopped = time.time()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
