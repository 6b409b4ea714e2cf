"""Transactional outbox: record events with the state change, and relay them to Kafka.

Recording is one INSERT inside the caller's transaction. A statement trigger NOTIFYs on commit.

The relay publishes unsent rows in id order and stamps them sent. With several replicas of a
service only one relays at a time: the holder of a PostgreSQL advisory lock on a dedicated
connection. SKIP LOCKED work-sharing would be faster but lets two replicas publish two events
of the same key out of order; one leader keeps per-key order with no coordination beyond the
database we already have. If the leader dies its connection closes, the lock is released and
another replica takes over within one poll interval. A crash between publish and the
``sent_at`` update republishes a batch; consumers are idempotent, so that is harmless.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from contracts.base import Event
from kit.envelope import OutgoingMessage, encode, source_of
from kit.logging import current_trace, get_logger

log = get_logger(__name__)

RELAY_LOCK_ID = 7_231_604_512
OUTBOX_BACKLOG = Gauge("konsortio_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_PUBLISHED = Counter(
    "konsortio_outbox_published_total", "Outbox rows published to Kafka", ["service"]
)
# Per event type, so that operators follow progress (titles ingested, messages delivered)
# and the relay's publish time, on which every consumer's latency depends.
EVENTS_PUBLISHED = Counter(
    "konsortio_events_published_total", "Events published to Kafka, by type", ["service", "type"]
)
RELAY_PUBLISH_SECONDS = Histogram(
    "konsortio_relay_publish_seconds", "Time to publish one outbox batch to Kafka", ["service"]
)

Publish = Callable[[Sequence[OutgoingMessage]], Awaitable[None]]

INSERT_OUTBOX = """
INSERT INTO outbox (event_id, topic, key, event_type, headers, payload)
VALUES ($1, $2, $3, $4, $5, $6)
"""
# ORDER BY the ordinality: ids (so the relay's publish order) follow the caller's order.
INSERT_OUTBOX_MANY = """
INSERT INTO outbox (event_id, topic, key, event_type, headers, payload)
SELECT event_id, topic, key, event_type, headers::jsonb, payload
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
    WITH ORDINALITY AS batch (event_id, topic, key, event_type, headers, payload, position)
ORDER BY position
"""

SELECT_UNSENT = """
SELECT id, topic, key, headers, payload FROM outbox
WHERE sent_at IS NULL ORDER BY id LIMIT $1
"""
MARK_SENT_AND_SELECT_NEXT = """
WITH sent AS (UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[]))
SELECT id, topic, key, headers, payload FROM outbox
WHERE sent_at IS NULL AND id > $2 ORDER BY id LIMIT $3
"""


async def record_event(
    conn: asyncpg.Connection,
    event: Event,
    *,
    source: str | None = None,
    causation_id: str | None = None,
) -> str:
    """Write ``event`` to the outbox in the caller's transaction; return its id.

    The CloudEvents source is the event's producer's (``/konsortio/<producer>``, what
    consumers expect of it); ``source`` overrides it, for tests and tools only.

    The correlation id is the one bound to the current command or event; the causation id
    is the event being handled, if any (bound by the consumer)."""
    message = _encode_one(event, source, causation_id)
    event_id = message.headers["ce_id"]
    await conn.execute(INSERT_OUTBOX, *_outbox_values(event, message))
    return event_id


def _encode_one(event: Event, source: str | None, causation_id: str | None) -> OutgoingMessage:
    correlation_id, bound_causation = current_trace()
    return encode(
        event,
        source=source or source_of(event.producer),
        correlation_id=correlation_id,
        causation_id=causation_id or bound_causation,
    )


def _outbox_values(event: Event, message: OutgoingMessage) -> tuple[object, ...]:
    return (
        message.headers["ce_id"],
        message.topic,
        message.key,
        event.ce_type(),
        message.headers,
        message.value,
    )


# Composed statements of ``execute_with_event``, by the caller's statement.
_WITH_EVENT: dict[tuple[str, int], str] = {}


async def execute_with_event(
    conn: asyncpg.Connection,
    statement: str,
    *args: object,
    event: Event,
    source: str | None = None,
    causation_id: str | None = None,
) -> str:
    """Run a data-modifying ``statement`` (an INSERT, UPDATE or DELETE with parameters ``$1``
    to ``$n``, ``n = len(args)``) and record ``event`` exactly as ``record_event`` does, in
    one statement and one round trip: the change is a data-modifying ``WITH`` part, which
    PostgreSQL runs to completion whether or not the outbox insert reads it. Returns the
    event's id. Use it inside the caller's transaction, like ``record_event``."""
    message = _encode_one(event, source, causation_id)
    key = (statement, len(args))
    composed = _WITH_EVENT.get(key)
    if composed is None:
        first = len(args) + 1
        placeholders = ", ".join(f"${first + i}" for i in range(6))
        composed = (
            f"WITH change AS ({statement}) "  # noqa: S608 - the caller's constant statement
            f"INSERT INTO outbox (event_id, topic, key, event_type, headers, payload) "
            f"VALUES ({placeholders})"
        )
        _WITH_EVENT[key] = composed
    await conn.execute(composed, *args, *_outbox_values(event, message))
    return str(message.headers["ce_id"])


async def record_events(
    conn: asyncpg.Connection, events: Sequence[Event], *, source: str | None = None
) -> list[str]:
    """``record_event`` for many events at once, in the caller's transaction: the same rows,
    with ids in the given order, written by one set-based statement instead of a round trip
    (and a Bind/Execute) per event, which halves the cost of a batched command."""
    correlation_id, causation_id = current_trace()
    messages = [
        encode(
            event,
            source=source or source_of(event.producer),
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        for event in events
    ]
    if messages:
        await conn.execute(
            INSERT_OUTBOX_MANY,
            [message.headers["ce_id"] for message in messages],
            [message.topic for message in messages],
            [message.key for message in messages],
            [event.ce_type() for event in events],
            [json.dumps(message.headers) for message in messages],
            [message.value for message in messages],
        )
    return [message.headers["ce_id"] for message in messages]


async def backlog(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    return count


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        dsn: str,
        pool: asyncpg.Pool,
        publish: Publish,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.service = service
        self.dsn = dsn
        self.pool = pool
        self.publish = publish
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.is_leader = False
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._drain_lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        """Graceful stop: finish the batch in flight, publish what is left, then close."""
        self._stopping.set()
        self._wakeup.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.is_leader:
            with contextlib.suppress(Exception):
                await self.drain()

    def _on_notify(self, *_args: object) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._lead()
            # After a PostgreSQL restart the leader connection (its own, not pooled) raises
            # InterfaceError ("connection is closed") or, when the server's FATAL notice was
            # read before the socket's end, InternalClientError ("cannot switch to state 15;
            # another operation (2) is in progress"). Anything escaping here ends the relay
            # for good and no event is published until the service restarts, so every error
            # is logged and the relay tries again.
            except Exception as error:
                log.warning(
                    "outbox relay lost its connection",
                    error_class=type(error).__name__,
                    error=str(error),
                )
            self.is_leader = False
            await self._sleep(self.poll_interval_s)

    async def _lead(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stopping.is_set():
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_ID):
                    break
                await self._sleep(self.poll_interval_s)  # another replica is relaying
            else:
                return
            self.is_leader = True
            await conn.add_listener("outbox", self._on_notify)
            log.info("outbox relay leading")
            while not self._stopping.is_set():
                self._wakeup.clear()
                try:
                    await self.drain()
                except (OSError, asyncpg.PostgresError):
                    raise
                except Exception as error:  # broker down: keep rows, try again later
                    log.warning("outbox publish failed; will retry", error=repr(error))
                    await self._sleep(self.poll_interval_s)
                    continue
                await self._sleep(self.poll_interval_s)
                # A dead leader connection must end leadership promptly.
                await conn.fetchval("SELECT 1")
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)

    async def drain(self) -> int:
        """Publish every unsent row, batch by batch, in id order. Returns how many.

        One round trip per batch: the statement that stamps a published batch ``sent_at`` also
        reads the next batch (the rows after it). Its snapshot cannot see its own update, so
        the next batch starts after the last published id; a row committed late with a lower
        id is found by the fresh scan that ends every drain, exactly as before."""
        published = 0
        async with self._drain_lock:
            rows = await self.pool.fetch(SELECT_UNSENT, self.batch_size)
            while rows:
                messages = [_message(row) for row in rows]
                with RELAY_PUBLISH_SECONDS.labels(self.service).time():
                    await self.publish(messages)
                published += len(rows)
                OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
                for event_type, count in collections.Counter(
                    message.headers.get("ce_type", "") for message in messages
                ).items():
                    EVENTS_PUBLISHED.labels(self.service, event_type).inc(count)
                rows = await self.pool.fetch(
                    MARK_SENT_AND_SELECT_NEXT,
                    [row["id"] for row in rows],
                    rows[-1]["id"],
                    self.batch_size,
                )
                if not rows:  # the fresh scan: nothing unsent is left behind
                    rows = await self.pool.fetch(SELECT_UNSENT, self.batch_size)
        if published:
            log.debug("outbox relayed", count=published)
        return published


def _message(row: asyncpg.Record) -> OutgoingMessage:
    headers = row["headers"]
    return OutgoingMessage(
        topic=row["topic"],
        key=row["key"],
        headers=headers if isinstance(headers, dict) else json.loads(headers),
        value=bytes(row["payload"]),
    )
