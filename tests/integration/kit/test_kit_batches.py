"""The kit's batch paths on the real PostgreSQL and broker: ``EventConsumer.process_batch`` and
``subscribe(batch=True)`` (one transaction, one inbox claim and one offset commit per batch,
record-by-record fallback so poison is still dead-lettered alone), ``record_events`` (one
statement, ids in order) and the relay's one-round-trip drain (nothing committed late is left
behind)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from contracts.membership import Contact, Library, LibraryNames, MemberJoined, MemberLeft
from kit.consumer import (
    BatchDelivery,
    Delivery,
    EventConsumer,
    Outcome,
    Reactions,
    Received,
)
from kit.db import apply_migrations, create_pool
from kit.envelope import OutgoingMessage, encode, source_of
from kit.kafka import ensure_topics
from kit.logging import bind_trace
from kit.outbox import OutboxRelay, record_event, record_events
from tests.conftest import Infra, wait_for

pytestmark = pytest.mark.integration
NO_SERVICE_MIGRATIONS = Path("/nonexistent")


async def fresh_pool(infra: Infra, prefix: str) -> asyncpg.Pool:
    pool = await create_pool(await infra.new_database(prefix))
    await apply_migrations(pool, NO_SERVICE_MIGRATIONS)
    async with pool.acquire() as conn:
        # No unique constraint: a duplicated effect must show as a second row.
        await conn.execute("CREATE TABLE effects (event_id text, isil text, kind text)")
    return pool


def joined(isil: str) -> MemberJoined:
    return MemberJoined(
        library=Library(
            isil=isil,
            names=LibraryNames(fi=isil),
            municipalities=["091"],
            population=1,
            library_system="Koha",
            contacts=[Contact(name="N", email="n@x.fi", role="r", language="fi")],
        ),
        joined_on=dt.date(2026, 1, 1),
        period=1,
    )


def left(isil: str) -> MemberLeft:
    return MemberLeft(library=joined(isil).library, effective_date=dt.date(2026, 2, 1), period=1)


def received(message: OutgoingMessage, offset: int, value: bytes | None = None, **headers: str):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    return Received(
        topic=message.topic,
        partition=0,
        offset=offset,
        key=message.key.encode(),
        headers={k: v.encode() for k, v in {**message.headers, **headers}.items()},
        value=message.value if value is None else value,
    )


def counted(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "konsortio_consumer_messages_total",
            {"consumer": "batch-tests", "topic": "konsortio.membership", "outcome": outcome},
        )
        or 0.0
    )


class Sink:
    def __init__(self) -> None:
        self.dead: list[OutgoingMessage] = []

    async def __call__(self, messages: Sequence[OutgoingMessage]) -> None:
        self.dead.extend(messages)


def batch_consumer(pool: asyncpg.Pool, sink: Sink, calls: list[list[str]]) -> EventConsumer:
    reactions = Reactions()

    @reactions.on_batch(MemberJoined)
    async def joined_many(delivery: BatchDelivery, events: list[MemberJoined]) -> None:
        calls.append([e.library.isil for e in events])
        if any(e.library.isil.startswith("FI-Rule") for e in events):
            raise ValueError("violates a business rule")
        await delivery.conn.executemany(
            "INSERT INTO effects VALUES ($1, $2, 'joined')",
            [(env.id, e.library.isil) for env, e in zip(delivery.envelopes, events, strict=True)],
        )

    @reactions.on(MemberLeft)  # a one-at-a-time handler also runs on the batch path
    async def left_one(delivery: Delivery, event: MemberLeft) -> None:
        calls.append([f"left:{event.library.isil}"])
        await delivery.conn.execute(
            "INSERT INTO effects VALUES ($1, $2, 'left')",
            delivery.envelope.id,
            event.library.isil,
        )

    return EventConsumer(
        name="batch-tests",
        reactions=reactions,
        pool=pool,
        dead_letters=sink,
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
    )


async def test_a_batch_claims_once_keeps_order_and_dead_letters_poison_alone(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "batch")
    sink, calls = Sink(), []
    consumer = batch_consumer(pool, sink, calls)
    first, second = encode(joined("FI-A"), source="/t"), encode(joined("FI-B"), source="/t")
    earlier = encode(joined("FI-Seen"), source="/t")
    assert await consumer.process(received(earlier, 0)) is Outcome.HANDLED  # claimed before
    gone = encode(left("FI-A"), source="/t")
    records = [
        received(first, 1),
        received(first, 2),  # the same event again within the batch
        received(earlier, 3),  # already in the inbox
        received(encode(joined("FI-Bad"), source="/t"), 4, value=b"{not json"),
        received(encode(joined("FI-Inv"), source="/t"), 5, value=b'{"library": 1}'),
        received(second, 6, ce_type="fi.konsortio.membership.member-joined.v9", ce_id="v9"),
        received(gone, 7),  # member-left after member-joined of the same library
        received(second, 8),
    ]
    before = {outcome: counted(outcome) for outcome in ("handled", "duplicate", "dead-lettered")}
    outcomes = await consumer.process_batch(records)
    after = {outcome: counted(outcome) for outcome in before}
    assert {k: after[k] - before[k] for k in before} == {
        "handled": 3,
        "duplicate": 2,
        "dead-lettered": 3,
    }

    assert outcomes == [
        Outcome.HANDLED,
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.HANDLED,
        Outcome.HANDLED,
    ]
    # Consecutive events of one type go together; types keep their record order.
    assert calls == [["FI-Seen"], ["FI-A"], ["left:FI-A"], ["FI-B"]]
    rows = await pool.fetch("SELECT event_id, isil, kind FROM effects ORDER BY kind, isil")
    assert [(r["isil"], r["kind"]) for r in rows] == [
        ("FI-A", "joined"),
        ("FI-B", "joined"),
        ("FI-Seen", "joined"),
        ("FI-A", "left"),
    ]
    claimed = await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'batch-tests'")
    assert claimed == 4
    assert [(m.key, m.headers["dlq_exception_class"]) for m in sink.dead] == [
        ("FI-Bad", "PoisonMessage"),
        ("FI-Inv", "ValidationError"),
        ("FI-B", "PoisonMessage"),
    ]
    assert sink.dead[0].headers["dlq_original_offset"] == "4"
    # Redelivering the whole batch changes nothing.
    again = await consumer.process_batch([r for r in records if r.offset in (1, 6, 7, 8)])
    assert again == [Outcome.DUPLICATE, Outcome.DEAD_LETTERED, Outcome.DUPLICATE] + [
        Outcome.DUPLICATE
    ]
    assert await pool.fetchval("SELECT count(*) FROM effects") == 4
    await pool.close()


async def test_a_failing_batch_falls_back_to_one_by_one_and_only_the_bad_record_is_dead(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "batchfall")
    sink, calls = Sink(), []
    consumer = batch_consumer(pool, sink, calls)
    events = [encode(joined(isil), source="/t") for isil in ("FI-X1", "FI-Rule", "FI-X2")]
    outcomes = await consumer.process_batch([received(m, n) for n, m in enumerate(events)])

    assert outcomes == [Outcome.HANDLED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    # The batch call failed as a whole and rolled back; then each record ran alone.
    assert calls == [["FI-X1", "FI-Rule", "FI-X2"], ["FI-X1"], ["FI-Rule"], ["FI-X2"]]
    rows = await pool.fetch("SELECT isil FROM effects ORDER BY isil")
    assert [r["isil"] for r in rows] == ["FI-X1", "FI-X2"]
    assert [
        (m.key, m.headers["dlq_exception_class"], m.headers["dlq_attempts"]) for m in sink.dead
    ] == [("FI-Rule", "ValueError", "1")]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 2
    await pool.close()


async def test_batch_subscriber_on_the_broker_applies_each_effect_once_and_commits(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "batchsub")
    sink, calls = Sink(), []
    consumer = batch_consumer(pool, sink, calls)
    group = f"batch-tests-{uuid.uuid4().hex[:6]}"
    topic = MemberJoined.topic()
    # Created as a service would (its partitions), never by the broker's auto-creation with
    # one partition: the session's later tests send to chosen partitions of this topic.
    await ensure_topics(infra.kafka(), [topic], with_dlq=True)
    broker = KafkaBroker(infra.bootstrap, logger=None)
    consumer.subscribe(broker, group_id=group, batch=True, max_records=40, fetch_max_wait_ms=20)
    tag = uuid.uuid4().hex[:5]
    messages = [encode(joined(f"FI-{tag}{n:03d}"), source="/t") for n in range(150)]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    await broker.start()
    try:

        async def send(message: OutgoingMessage, value: bytes | None = None) -> None:
            await producer.send_and_wait(
                message.topic,
                message.value if value is None else value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )

        for message in messages[:100]:
            await send(message)
        await send(messages[0])  # redelivered
        await send(encode(joined(f"FI-{tag}bad"), source="/t"), value=b"[broken")
        for message in messages[100:]:
            await send(message)

        async def ours() -> int:
            return await pool.fetchval(
                "SELECT count(*) FROM effects WHERE isil LIKE $1", f"FI-{tag}%"
            )

        await wait_for(lambda: _at_least(ours, 150), timeout_s=60)
        await wait_for(lambda: any(m.key == f"FI-{tag}bad" for m in sink.dead), timeout_s=20)
        await consumer.drain_in_flight()
    finally:
        await broker.stop()
        await producer.stop()

    rows = await pool.fetch(
        "SELECT isil, count(*) AS n FROM effects WHERE isil LIKE $1 GROUP BY isil", f"FI-{tag}%"
    )
    assert len(rows) == 150 and all(r["n"] == 1 for r in rows)
    assert max(len(c) for c in calls) > 1  # the records really came in batches
    # The group's committed offsets reached the end of every partition it read.
    checker = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, group_id=group)
    await checker.start()
    try:
        await checker.topics()  # loads the metadata of every topic
        partitions = [TopicPartition(topic, p) for p in checker.partitions_for_topic(topic) or []]
        ends = await checker.end_offsets(partitions)
        for tp in partitions:
            assert await checker.committed(tp) == ends[tp]
    finally:
        await checker.stop()
    await pool.close()


async def _at_least(count, expected: int) -> bool:  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    return await count() >= expected


async def test_a_batch_handler_also_serves_the_one_at_a_time_path(infra: Infra) -> None:
    pool = await fresh_pool(infra, "batchone")
    sink, calls = Sink(), []
    consumer = batch_consumer(pool, sink, calls)
    message = encode(joined("FI-One"), source="/t")
    assert await consumer.process(received(message, 0)) is Outcome.HANDLED
    assert await consumer.process(received(message, 1)) is Outcome.DUPLICATE
    assert calls == [["FI-One"]]
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1
    await pool.close()


async def test_a_one_at_a_time_handler_in_a_batch_names_its_own_event_as_cause(
    infra: Infra,
) -> None:
    """Services consume in batches with one-at-a-time handlers: the event each handler records
    carries the correlation of the event it reacts to and names it as cause, not the batch's
    first event."""
    pool = await fresh_pool(infra, "batchcause")
    reactions = Reactions()

    @reactions.on(MemberLeft)
    async def follow_up(delivery: Delivery, event: MemberLeft) -> None:
        await record_event(delivery.conn, joined(event.library.isil), source="/t")

    consumer = EventConsumer(
        name="batch-cause", reactions=reactions, pool=pool, dead_letters=Sink()
    )
    sent = [encode(left(f"FI-C{n}"), source="/t", correlation_id=f"corr-{n}") for n in range(3)]
    outcomes = await consumer.process_batch([received(m, n) for n, m in enumerate(sent)])
    assert outcomes == [Outcome.HANDLED] * 3
    rows = await pool.fetch("SELECT key, headers FROM outbox ORDER BY id")
    assert [
        (r["key"], r["headers"]["ce_correlationid"], r["headers"]["ce_causationid"]) for r in rows
    ] == [(f"FI-C{n}", f"corr-{n}", m.headers["ce_id"]) for n, m in enumerate(sent)]
    await pool.close()


async def test_record_events_writes_what_record_event_writes_in_the_given_order(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "recordmany")
    bind_trace("corr-1", "cause-1")
    events = [joined(f"FI-R{n}") for n in range(30)]
    async with pool.acquire() as conn, conn.transaction():
        single = await record_event(conn, joined("FI-Single"), source="/t")
        ids = await record_events(conn, events, source="/t")
        assert await record_events(conn, [], source="/t") == []
    rows = await pool.fetch(
        "SELECT event_id::text, topic, key, event_type, headers, payload FROM outbox ORDER BY id"
    )
    assert [r["event_id"] for r in rows] == [single, *ids]
    assert [r["key"] for r in rows[1:]] == [f"FI-R{n}" for n in range(30)]
    reference, batched = rows[0], rows[1]
    assert batched["topic"] == reference["topic"] == "konsortio.membership"
    assert batched["event_type"] == reference["event_type"] == MemberJoined.ce_type()
    assert set(batched["headers"]) == set(reference["headers"])
    assert batched["headers"]["ce_correlationid"] == "corr-1"
    assert batched["headers"]["ce_causationid"] == "cause-1"
    assert batched["headers"]["ce_id"] == ids[0]
    assert encode(events[0], source="/t").value == bytes(batched["payload"])
    await pool.close()


async def test_the_source_is_the_producers_unless_overridden(infra: Infra) -> None:
    """A service records its events without naming itself: the source comes from the event's
    producer, which is what consumers check it against."""
    pool = await fresh_pool(infra, "recordsource")
    async with pool.acquire() as conn, conn.transaction():
        await record_event(conn, joined("FI-S1"))
        await record_events(conn, [joined("FI-S2")])
        await record_event(conn, joined("FI-S3"), source="/t")
    rows = await pool.fetch("SELECT headers FROM outbox ORDER BY id")
    assert [r["headers"]["ce_source"] for r in rows] == [
        source_of(MemberJoined.producer),
        source_of(MemberJoined.producer),
        "/t",
    ]
    assert source_of(MemberJoined.producer) == "/konsortio/membership"
    await pool.close()


async def test_drain_publishes_a_row_committed_late_with_a_lower_id_in_the_same_drain(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "draincursor")
    dsn = pool._connect_kwargs.get("dsn") or pool._connect_args[0]  # noqa: SLF001
    late = await asyncpg.connect(dsn)
    late_tx = late.transaction()
    await late_tx.start()
    await late.execute(  # takes the lowest id, commits only after the drain began
        """
        INSERT INTO outbox (event_id, topic, key, event_type, headers, payload)
        VALUES ($1, 'konsortio.membership', 'FI-Late', 't', '{}'::jsonb, '\\x7b7d'::bytea)
        """,
        uuid.uuid4(),
    )
    async with pool.acquire() as conn, conn.transaction():
        await record_events(conn, [joined(f"FI-D{n}") for n in range(10)], source="/t")
    published: list[str] = []
    committed = False

    async def publish(messages: Sequence[OutgoingMessage]) -> None:
        nonlocal committed
        published.extend(m.key for m in messages)
        if not committed:  # commit once, while the drain is under way
            await late_tx.commit()
            committed = True

    relay = OutboxRelay(service="t", dsn=dsn, pool=pool, publish=publish, batch_size=3)
    assert await relay.drain() == 11
    assert published[:10] == [f"FI-D{n}" for n in range(10)]
    assert published[10:] == ["FI-Late"]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    assert await relay.drain() == 0
    await late.close()
    await pool.close()


async def test_a_batch_of_events_nobody_reacts_to_touches_nothing(infra: Infra) -> None:
    pool = await fresh_pool(infra, "batchidle")
    sink: Sink = Sink()
    consumer = EventConsumer(name="idle", reactions=Reactions(), pool=pool, dead_letters=sink)
    message = encode(joined("FI-Idle"), source="/t")
    assert await consumer.process_batch([received(message, 0)]) == [Outcome.IGNORED]
    assert await consumer.process_batch([]) == []
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
    await pool.close()
