"""Idempotent event consumers with bounded retries and a dead-letter topic.

A service declares what it reacts to with ``Reactions`` (one handler per event type, in its
``handlers.py``). ``EventConsumer`` does the rest for every message:

1. decode the CloudEvent and validate the payload against the contracts model;
2. in one transaction, claim ``(consumer, event id)`` in the inbox and run the handler, so the
   effects and the claim commit together and a redelivery is skipped;
3. retry transient failures (database or network) with exponential backoff, a bounded number
   of times;
4. send anything that cannot be processed to ``<topic>.dlq`` with the reason, and move on;
5. commit the Kafka offset only after all of that (manual acknowledgement).

FastStream's NACK_ON_ERROR would seek back to a poison message forever; here nothing is ever
nacked, so no partition is blocked.

Batch path, which every service uses (kit/lifecycle.py, ``consumer_batch_max_records``):
``subscribe(broker, batch=True, max_records=N)`` takes up to N records per poll and
``process_batch`` handles them in ONE transaction (one inbox
``INSERT … SELECT unnest … ON CONFLICT DO NOTHING RETURNING`` finds the new event ids, then
the handlers run in record order) with ONE offset commit afterwards. Handlers may take a list
(``@reactions.on_batch(Model)``: ``async def f(delivery: BatchDelivery, events: list[Model])``);
a plain ``@reactions.on`` handler also works there, called once per new event inside the batch
transaction. If the batch transaction fails for any reason, nothing of it is committed and every
record is processed again on its own through ``process``, so a poison message is retried and
dead-lettered individually exactly as on the one-at-a-time path.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

from contracts import EVENTS_BY_TYPE
from contracts.base import BrokenRule, Event, dead_letter_topic
from kit.db import DATABASE_UNAVAILABLE_ERRORS
from kit.envelope import Envelope, OutgoingMessage, PoisonMessage, decode, source_of
from kit.logging import bind_trace, get_logger

log = get_logger(__name__)

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Delivery:
    """What a handler receives besides the event: the open transaction's connection, the
    envelope (ids for causation), and the service's dependencies (templates, settings...)."""

    conn: asyncpg.Connection
    envelope: Envelope
    deps: Any = None


@dataclass(frozen=True)
class BatchDelivery:
    """What a batch handler receives besides its events: the open transaction's connection,
    the envelopes (``envelopes[i]`` belongs to ``events[i]``), and the service's dependencies."""

    conn: asyncpg.Connection
    envelopes: Sequence[Envelope]
    deps: Any = None


Handler = Callable[[Delivery, Any], Awaitable[None]]
BatchHandler = Callable[[BatchDelivery, list[Any]], Awaitable[None]]

# The service's own database is unreachable: no message can be processed until it is back,
# so waiting (with backoff) is right and dead-lettering would only lose good events.
UNAVAILABLE_ERRORS = DATABASE_UNAVAILABLE_ERRORS
# Failures of one attempt that another attempt may not repeat: retried a bounded number of
# times, then dead-lettered. Checked first: TimeoutError is also an OSError.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.TooManyConnectionsError,
    # A protocol error on a connection that is still open: another attempt gets another
    # connection. (A pooled connection the server ended, which asyncpg reports the same way,
    # arrives as kit.db.ConnectionTerminated: "database unavailable", not an attempt.)
    asyncpg.InternalClientError,
)

MAX_DEAD_LETTER_VALUE = 512 * 1024

MESSAGES = Counter(
    "konsortio_consumer_messages_total",
    "Messages seen by a consumer, by outcome",
    ["consumer", "topic", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "konsortio_consumer_handle_seconds", "Time to handle one message", ["consumer"]
)
# Per assigned partition: the partition's end (as of the consumer's last fetch) minus the
# group's committed offset. Measured on every scrape of /metrics (EventConsumer.measure_lag).
LAG = Gauge(
    "konsortio_consumer_lag",
    "Records on a partition that the consumer group has not committed yet",
    ["group", "topic", "partition"],
)


class Outcome(StrEnum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # a known event this consumer does not react to
    DEAD_LETTERED = "dead-lettered"


@dataclass(frozen=True)
class Received:
    """A Kafka record as the consumer sees it, whichever client delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Mapping[str, bytes]
    value: bytes


class DeadLetterSink(Protocol):
    async def __call__(self, messages: Sequence[OutgoingMessage]) -> None: ...


class ForeignEvent(Exception):
    """An event whose type does not belong to the topic it came on, or whose source is not
    the service that produces that type: dead-lettered, never handled."""


class Reactions:
    """What one service reacts to: a handler per event type."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[type[Event], Handler]] = {}
        self._batch_handlers: dict[str, tuple[type[Event], BatchHandler]] = {}

    def on(self, event_type: type[E]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._handlers[event_type.ce_type()] = (event_type, handler)
            return handler

        return register

    def on_batch(self, event_type: type[E]) -> Callable[[BatchHandler], BatchHandler]:
        """Register a handler that takes a list of events (in record order) and one
        ``BatchDelivery``, for the batch path. On the one-at-a-time path, and when a failed
        batch is retried record by record, it is called with a list of one."""

        def register(handler: BatchHandler) -> BatchHandler:
            self._batch_handlers[event_type.ce_type()] = (event_type, handler)
            return handler

        return register

    def _models(self) -> dict[str, type[Event]]:
        models = {ce_type: model for ce_type, (model, _) in self._batch_handlers.items()}
        models.update({ce_type: model for ce_type, (model, _) in self._handlers.items()})
        return models

    def topics(self) -> list[str]:
        return sorted({model.topic() for model in self._models().values()})

    def lookup(self, ce_type: str) -> tuple[type[Event], Handler] | None:
        """The one-at-a-time handler; for a type with only a batch handler, an adapter that
        calls it with a list of one."""
        registered = self._handlers.get(ce_type)
        if registered is not None:
            return registered
        batch = self._batch_handlers.get(ce_type)
        if batch is None:
            return None
        model, batch_handler = batch

        async def one(delivery: Delivery, event: Any) -> None:
            await batch_handler(
                BatchDelivery(delivery.conn, (delivery.envelope,), delivery.deps), [event]
            )

        return model, one

    def lookup_batch(self, ce_type: str) -> tuple[type[Event], BatchHandler] | None:
        """The batch handler, or an adapter calling the one-at-a-time handler per event."""
        registered = self._batch_handlers.get(ce_type)
        if registered is not None:
            return registered
        single = self._handlers.get(ce_type)
        if single is None:
            return None
        model, handler = single

        async def each(delivery: BatchDelivery, events: list[Any]) -> None:
            for envelope, event in zip(delivery.envelopes, events, strict=True):
                # Each event's own trace, so the events its handler records name it as cause.
                bind_trace(envelope.correlation_id, envelope.id)
                await handler(Delivery(delivery.conn, envelope, delivery.deps), event)

        return model, each

    def event_types(self) -> list[type[Event]]:
        return list(self._models().values())


class EventConsumer:
    def __init__(
        self,
        *,
        name: str,
        reactions: Reactions,
        pool: asyncpg.Pool,
        dead_letters: DeadLetterSink,
        deps: Any = None,
        max_attempts: int = 5,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 5.0,
        trusted_sources: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        # None: no source check (a consumer built by hand in a test of the plumbing). Every
        # service passes a list (kit.app), so its consumer accepts an event only from its
        # producer's own source, plus these (KONSORTIO_CONSUMER_EXTRA_SOURCES).
        self.trusted_sources = None if trusted_sources is None else tuple(trusted_sources)
        self.reactions = reactions
        self.pool = pool
        self.dead_letters = dead_letters
        self.deps = deps
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.stopping = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._subscriber: Any = None
        self._group = name

    def subscribe(
        self,
        broker: KafkaBroker,
        *,
        group_id: str | None = None,
        batch: bool = False,
        max_records: int = 500,
        batch_timeout_ms: int = 100,
        fetch_max_wait_ms: int = 500,
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 2000,
        group_instance_id: str | None = None,
    ) -> None:
        """One subscriber for all the topics the reactions need, in this consumer's group.

        One subscriber, not one per topic: each subscriber is its own group member, and on
        Tansu every join rebalances the group, so members joining one after another took
        about 30 s where one member over all topics takes about 5 s.

        ``batch=True`` (the services' path) takes up to ``max_records`` records per poll and
        handles them with ``process_batch``: one transaction and one offset commit per batch. A poll
        returns as soon as any record is there; ``batch_timeout_ms`` only bounds an idle one.

        ``fetch_max_wait_ms`` is how long the broker may hold a fetch that finds nothing new
        (aiokafka's default, 500 ms). Apache Kafka answers such a fetch as soon as records
        arrive; Tansu 0.6 holds it for the whole wait, so there a consumer's latency is up to
        this value: latency-sensitive consumers on Tansu pass 10-20 ms.

        ``session_timeout_ms`` bounds how long a killed member's partitions wait before the
        group hands them to a live member (measured on Tansu 0.6: a kill -9 with a 10 s session
        left its partitions unread for 18 s, with 6 s for 11.5 s); ``group_instance_id`` turns on
        static membership (see the settings). A graceful stop leaves the group (aiokafka's
        LeaveGroup) so a dynamic member's partitions move at once.
        """
        membership: dict[str, Any] = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "group_instance_id": group_instance_id or None,
        }
        if batch:
            self._subscribe_batches(
                broker, group_id, max_records, batch_timeout_ms, fetch_max_wait_ms, membership
            )
            return
        topics = self.reactions.topics()

        async def on_message(message: KafkaMessage) -> None:
            if self.stopping:
                return  # not acknowledged: redelivered to whoever consumes next
            record = message.raw_message
            self._in_flight += 1
            self._idle.clear()
            try:
                outcome = await self.process(_received(record))
                if outcome is not None:  # None: stopped mid-retry; redelivered later
                    await message.ack()
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()

        self._group = group_id or self.name
        self._subscriber = broker.subscriber(
            *topics,
            # Keep FastStream from parsing the body: a malformed value must reach
            # process() and the dead-letter topic, not fail before the handler.
            decoder=_raw_body,
            group_id=group_id or self.name,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_max_wait_ms,
            ack_policy=AckPolicy.MANUAL,
            title=f"{self.name}:{','.join(topics)}",
            description=f"{self.name} reacts to events on {', '.join(topics)}",
            **membership,
        )
        self._subscriber(on_message)

    def _subscribe_batches(
        self,
        broker: KafkaBroker,
        group_id: str | None,
        max_records: int,
        batch_timeout_ms: int,
        fetch_max_wait_ms: int,
        membership: dict[str, Any],
    ) -> None:
        # One subscriber over all the topics, as on the one-at-a-time path: one group member.
        topics = self.reactions.topics()

        async def on_batch(message: KafkaMessage) -> None:
            if self.stopping:
                return  # not acknowledged: redelivered to whoever consumes next
            self._in_flight += 1
            self._idle.clear()
            try:
                outcomes = await self.process_batch(
                    [_received(record) for record in message.raw_message]
                )
                # None: stopped mid-retry; the offset must not pass that record, and the
                # ones handled before it are found in the inbox when redelivered.
                if all(outcome is not None for outcome in outcomes):
                    await message.ack()
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()

        self._group = group_id or self.name
        self._subscriber = broker.subscriber(
            *topics,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=batch_timeout_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            decoder=_raw_body,
            group_id=group_id or self.name,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            title=f"{self.name}:{','.join(topics)}",
            description=f"{self.name} reacts to events on {', '.join(topics)} (in batches)",
            **membership,
        )
        self._subscriber(on_batch)

    async def measure_lag(self) -> None:
        """Set the lag gauge for every partition assigned to this consumer: the partition's
        high watermark from the last fetch minus the group's committed offset. Partitions
        not fetched yet are left out rather than guessed."""
        consumer = getattr(self._subscriber, "consumer", None)
        if consumer is None:
            return
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            committed = await asyncio.wait_for(consumer.committed(tp), timeout=2)
            LAG.labels(self._group, tp.topic, str(tp.partition)).set(max(end - (committed or 0), 0))

    async def drain_in_flight(self, timeout_s: float = 10.0) -> None:
        """Graceful shutdown: take no new messages and let the one in flight finish."""
        self.stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=timeout_s)
        except TimeoutError:
            log.warning("in-flight message did not finish before shutdown; it is redelivered")

    async def process(self, record: Received) -> Outcome | None:
        started = time.perf_counter()
        outcome = await self._process(record)
        if outcome is not None:
            MESSAGES.labels(self.name, record.topic, outcome.value).inc()
            HANDLE_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        return outcome

    async def _process(self, record: Received) -> Outcome | None:
        try:
            envelope = decode(record.headers, record.key, record.value)
        except PoisonMessage as error:
            return await self._dead_letter(record, error, attempts=1)
        bind_trace(envelope.correlation_id, envelope.id)
        model = EVENTS_BY_TYPE.get(envelope.type)
        if model is None:
            return await self._dead_letter(
                record, PoisonMessage(f"unknown event type or version {envelope.type!r}"), 1
            )
        registered = self.reactions.lookup(envelope.type)
        if registered is None:
            return Outcome.IGNORED
        if (foreign := self._foreign(model, envelope, record.topic)) is not None:
            return await self._dead_letter(record, foreign, attempts=1)
        _, handler = registered
        try:
            event = model.model_validate(envelope.data)
        except ValidationError as error:
            return await self._dead_letter(record, error, attempts=1)
        if (rule := event.broken_rule()) is not None:
            return await self._dead_letter(record, BrokenRule(rule), attempts=1)

        attempt = 0
        unavailable_delay = self.backoff_base_s
        while True:
            attempt += 1
            try:
                return await self._handle_once(handler, event, envelope)
            except TRANSIENT_ERRORS as error:
                if attempt == self.max_attempts:
                    return await self._dead_letter(record, error, attempts=attempt)
                delay = min(self.backoff_base_s * 2 ** (attempt - 1), self.backoff_max_s)
                log.warning(
                    "transient failure; retrying",
                    event_type=envelope.type,
                    attempt=attempt,
                    delay_s=delay,
                    error=repr(error),
                )
                if self.stopping:
                    return None
                await asyncio.sleep(delay)
            except UNAVAILABLE_ERRORS as error:
                attempt -= 1  # not the message's fault: does not count as an attempt
                log.warning("database unavailable; waiting", error=repr(error))
                if self.stopping:
                    return None
                await asyncio.sleep(unavailable_delay)
                unavailable_delay = min(unavailable_delay * 2, self.backoff_max_s)
            except Exception as error:  # a violated rule or a bug: more attempts cannot help
                return await self._dead_letter(record, error, attempts=attempt)

    async def process_batch(self, records: Sequence[Received]) -> list[Outcome | None]:
        """Handle records in one transaction; return an outcome per record, in order.

        Poison, unknown and invalid records are dead-lettered first, one by one, as
        ``process`` would. The rest share one inbox claim and one transaction; if that
        transaction fails, none of it is committed and each of those records goes through
        ``process`` on its own (bounded retries, dead letter), so one bad record costs its
        batch a retry, never its neighbours' effects."""
        started = time.perf_counter()
        outcomes: list[Outcome | None] = [None] * len(records)
        pending: list[tuple[int, Envelope, Event]] = []
        seen: set[str] = set()
        retried_alone: set[int] = set()
        for index, record in enumerate(records):
            try:
                envelope = decode(record.headers, record.key, record.value)
            except PoisonMessage as error:
                outcomes[index] = await self._dead_letter(record, error, attempts=1)
                continue
            bind_trace(envelope.correlation_id, envelope.id)
            model = EVENTS_BY_TYPE.get(envelope.type)
            if model is None:
                outcomes[index] = await self._dead_letter(
                    record, PoisonMessage(f"unknown event type or version {envelope.type!r}"), 1
                )
                continue
            if self.reactions.lookup_batch(envelope.type) is None:
                outcomes[index] = Outcome.IGNORED
                continue
            if (foreign := self._foreign(model, envelope, record.topic)) is not None:
                outcomes[index] = await self._dead_letter(record, foreign, attempts=1)
                continue
            try:
                event = model.model_validate(envelope.data)
            except ValidationError as error:
                outcomes[index] = await self._dead_letter(record, error, attempts=1)
                continue
            if (rule := event.broken_rule()) is not None:
                outcomes[index] = await self._dead_letter(record, BrokenRule(rule), attempts=1)
                continue
            if envelope.id in seen:  # the same event twice in one batch (a republish)
                outcomes[index] = Outcome.DUPLICATE
                continue
            seen.add(envelope.id)
            pending.append((index, envelope, event))

        if pending:
            try:
                handled = await self._handle_batch_once(pending)
            except Exception as error:  # any failure: retry the records one by one
                log.warning(
                    "batch failed; handling its records one by one",
                    records=len(pending),
                    error=repr(error)[:500],
                )
                for index, _, _ in pending:
                    retried_alone.add(index)  # process() counts these itself
                    outcomes[index] = await self.process(records[index])
            else:
                for index, envelope, _ in pending:
                    outcomes[index] = (
                        Outcome.HANDLED if envelope.id in handled else Outcome.DUPLICATE
                    )

        # Counted per (topic, outcome) and observed through one child: a label lookup per
        # record costs more than the rest of the bookkeeping.
        per_record = (time.perf_counter() - started) / max(len(records), 1)
        counts: collections.Counter[tuple[str, str]] = collections.Counter(
            (records[index].topic, outcome.value)
            for index, outcome in enumerate(outcomes)
            if outcome is not None and index not in retried_alone
        )
        for (topic, outcome_name), count in counts.items():
            MESSAGES.labels(self.name, topic, outcome_name).inc(count)
        seconds = HANDLE_SECONDS.labels(self.name)
        for _ in range(sum(counts.values())):
            seconds.observe(per_record)
        return outcomes

    async def _handle_batch_once(self, pending: Sequence[tuple[int, Envelope, Event]]) -> set[str]:
        """One transaction: claim every event id in the inbox, then run the handlers for the
        newly claimed ones in record order (consecutive events of one type go to their batch
        handler together, so per-key order holds across types). Returns the claimed ids."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """
                INSERT INTO inbox (consumer, event_id, event_type)
                SELECT $1, event_id, event_type FROM unnest($2::text[], $3::text[])
                    AS claimed (event_id, event_type)
                ON CONFLICT DO NOTHING RETURNING event_id
                """,
                self.name,
                [envelope.id for _, envelope, _ in pending],
                [envelope.type for _, envelope, _ in pending],
            )
            claimed = {row["event_id"] for row in rows}
            run: list[tuple[Envelope, Event]] = []
            for _, envelope, event in pending:
                if envelope.id not in claimed:
                    continue
                if run and run[-1][0].type != envelope.type:
                    await self._run_batch_handler(conn, run)
                    run = []
                run.append((envelope, event))
            if run:
                await self._run_batch_handler(conn, run)
        return claimed

    async def _run_batch_handler(
        self, conn: asyncpg.Connection, run: Sequence[tuple[Envelope, Event]]
    ) -> None:
        registered = self.reactions.lookup_batch(run[0][0].type)
        assert registered is not None  # checked when the batch was read
        _, handler = registered
        envelopes = [envelope for envelope, _ in run]
        # Follow-up events recorded by the handler name the batch's first event as cause;
        # a handler that needs one cause per event passes causation_id= explicitly.
        bind_trace(envelopes[0].correlation_id, envelopes[0].id)
        await handler(BatchDelivery(conn, envelopes, self.deps), [event for _, event in run])

    async def _handle_once(self, handler: Handler, event: Event, envelope: Envelope) -> Outcome:
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                """
                INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
                ON CONFLICT DO NOTHING RETURNING true
                """,
                self.name,
                envelope.id,
                envelope.type,
            )
            if not claimed:
                return Outcome.DUPLICATE
            await handler(Delivery(conn, envelope, self.deps), event)
        return Outcome.HANDLED

    def _foreign(self, model: type[Event], envelope: Envelope, topic: str) -> ForeignEvent | None:
        """Why an event must not be believed, or None. A handler is chosen by the event's type,
        so a type on a topic its producer does not own, or with another service's source, is
        a forgery by whoever could write to the broker (or a misrouted message)."""
        if model.topic() != topic:
            return ForeignEvent(
                f"event type {envelope.type} belongs to topic {model.topic()}, not {topic}"
            )
        if self.trusted_sources is None:
            return None
        expected = source_of(model.producer)
        if envelope.source != expected and envelope.source not in self.trusted_sources:
            return ForeignEvent(
                f"event type {envelope.type} comes from {expected}, not {envelope.source!r}"
            )
        return None

    async def _dead_letter(
        self, record: Received, error: BaseException, attempts: int
    ) -> Outcome | None:
        reason = _describe(error)
        log.warning(
            "message dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error_class=type(error).__name__,
            reason=reason[:500],
        )
        headers = {name: value.decode(errors="replace") for name, value in record.headers.items()}
        headers.update(
            {
                "dlq_original_topic": record.topic,
                "dlq_original_partition": str(record.partition),
                "dlq_original_offset": str(record.offset),
                "dlq_consumer_group": self.name,
                "dlq_exception_class": type(error).__name__,
                "dlq_exception_message": reason[:2000],
                "dlq_attempts": str(attempts),
            }
        )
        value = record.value
        if len(value) > MAX_DEAD_LETTER_VALUE:
            # Keep the dead letter under the broker's message size limit; the headers still
            # say where the original is.
            headers["dlq_value_truncated_from"] = str(len(value))
            value = value[:MAX_DEAD_LETTER_VALUE]
        message = OutgoingMessage(
            topic=dead_letter_topic(record.topic),
            key=(record.key or b"").decode(errors="replace"),
            headers=headers,
            value=value,
        )
        # The offset must not move past a message that is neither handled nor dead-lettered,
        # so publishing to the DLQ is retried until it succeeds or the service stops.
        delay = self.backoff_base_s
        while True:
            try:
                await self.dead_letters([message])
                return Outcome.DEAD_LETTERED
            except Exception as publish_error:
                log.warning("dead-letter publish failed", error=repr(publish_error))
                if self.stopping:
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)


def _received(record: Any) -> Received:
    """An aiokafka ConsumerRecord as the consumer sees it."""
    return Received(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        headers={name: value for name, value in (record.headers or [])},
        value=record.value or b"",
    )


async def _raw_body(message: Any) -> Any:
    # One record's bytes, or a batch subscriber's list of them.
    return message.body


def _describe(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(payload)'}: {item['msg']}"
            for item in error.errors()
        )
    return str(error) or type(error).__name__
