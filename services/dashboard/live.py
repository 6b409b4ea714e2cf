"""The live feed's broadcaster: committed feed rows, fanned out to connected browsers.

A handler's ``pg_notify`` is delivered by PostgreSQL only when the inbox transaction commits, so
listening on a dedicated connection yields exactly the events whose effects are visible. That
also holds across replicas: every replica's browsers see every event, whichever replica
handled it. A browser whose queue overflows is disconnected; it reconnects with its
Last-Event-ID and catches up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from kit.logging import get_logger
from services.dashboard import store

log = get_logger(__name__)

FeedRow = Mapping[str, Any]


class Subscription:
    """One browser's queue of feed rows; ``None`` in the queue means the stream must end."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[FeedRow | None] = asyncio.Queue(maxsize=size)
        self.closed = False

    def offer(self, row: FeedRow) -> bool:
        if self.closed:
            return False
        try:
            self.queue.put_nowait(row)
            return True
        except asyncio.QueueFull:
            self.close()
            return False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while True:  # make room for the end marker; the browser catches up from the database
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()

    async def next(self) -> FeedRow | None:
        return await self.queue.get()


class Broadcaster:
    def __init__(self, dsn: str, pool: asyncpg.Pool, *, queue_size: int = 500) -> None:
        self.dsn = dsn
        self.pool = pool
        self.queue_size = queue_size
        self.listening = asyncio.Event()
        self._subscribers: set[Subscription] = set()
        self._pending: asyncio.Queue[int] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="feed-listen"),
            asyncio.create_task(self._dispatch(), name="feed-dispatch"),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        for subscription in list(self._subscribers):
            subscription.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription(self.queue_size)
        if self._stopping.is_set():
            subscription.close()
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def publish(self, row: FeedRow) -> None:
        for subscription in list(self._subscribers):
            if not subscription.offer(row):
                self._subscribers.discard(subscription)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if self._subscribers and payload.isdigit():
            self._pending.put_nowait(int(payload))

    async def _listen(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                conn = await asyncpg.connect(self.dsn)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("feed listener cannot connect yet", error=repr(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.5
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            try:
                await conn.add_listener(store.FEED_CHANNEL, self._on_notify)
                self.listening.set()
                stopping = asyncio.create_task(self._stopping.wait())
                dropped = asyncio.create_task(lost.wait())
                try:
                    await asyncio.wait({stopping, dropped}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
                    dropped.cancel()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("feed listener lost its connection", error=repr(error))
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _dispatch(self) -> None:
        while True:
            seqs = [await self._pending.get()]
            while not self._pending.empty():
                seqs.append(self._pending.get_nowait())
            try:
                rows = await store.feed_rows(self.pool, seqs)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                # Browsers miss these live; they still see them on their next page load.
                log.warning("feed rows could not be read", error=repr(error))
                continue
            for row in rows:
                self.publish(row)
