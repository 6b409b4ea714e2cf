"""The kit on the real PostgreSQL: migrations, the outbox relay with two replicas, and the
idempotent consumer driven through FastStream's TestKafkaBroker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts.membership import Contact, Library, LibraryNames, MemberJoined, MemberLeft
from kit.consumer import Delivery, EventConsumer, Outcome, Reactions
from kit.db import apply_migrations, create_pool
from kit.envelope import OutgoingMessage, encode
from kit.outbox import OutboxRelay, execute_with_event, record_event
from tests.conftest import Infra, wait_for

pytestmark = pytest.mark.integration
NO_SERVICE_MIGRATIONS = Path("/nonexistent")


async def fresh_pool(infra: Infra, prefix: str) -> asyncpg.Pool:
    pool = await create_pool(await infra.new_database(prefix))
    await apply_migrations(pool, NO_SERVICE_MIGRATIONS)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE effects (event_id text PRIMARY KEY, isil text)")
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


async def test_migrations_apply_once_even_when_two_replicas_start_together(infra: Infra) -> None:
    dsn = await infra.new_database("migrations")
    pools = [await create_pool(dsn), await create_pool(dsn)]
    service_dir = Path(__file__).parents[3] / "services" / "membership" / "migrations"
    first, second = await asyncio.gather(*(apply_migrations(p, service_dir) for p in pools))
    kit_dir = Path(__file__).parents[3] / "kit" / "migrations"
    expected = [f"kit/{p.stem}" for p in kit_dir.glob("*.sql")]
    expected += [f"service/{p.stem}" for p in service_dir.glob("*.sql")]
    # Each file once in all: the replica that did not take the lock applied nothing twice.
    assert sorted(first + second) == sorted(expected)
    assert await apply_migrations(pools[0], service_dir) == []
    assert await pools[0].fetchval("SELECT count(*) FROM schema_migrations") == len(expected)
    for pool in pools:
        await pool.close()


async def test_two_relay_replicas_publish_every_event_once_and_in_order_per_key(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "relay")
    dsn = pool._connect_kwargs.get("dsn") or pool._connect_args[0]  # noqa: SLF001
    published: list[tuple[str, OutgoingMessage]] = []

    def publisher(name: str):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
        async def publish(messages: Sequence[OutgoingMessage]) -> None:
            await asyncio.sleep(0.001)  # let the other replica try to interleave
            published.extend((name, m) for m in messages)

        return publish

    relays = [
        OutboxRelay(
            service="t",
            dsn=dsn,
            pool=pool,
            publish=publisher(n),
            batch_size=7,
            poll_interval_s=0.05,
        )
        for n in ("a", "b")
    ]
    for relay in relays:
        relay.start()
    keys = [f"FI-K{n}" for n in range(5)]
    for round_ in range(20):
        async with pool.acquire() as conn, conn.transaction():
            for key in keys:
                await record_event(conn, joined(key), source=f"/round/{round_}")
    await wait_for(lambda: len(published) >= 100)
    assert sum(r.is_leader for r in relays) == 1
    leader = next(r for r in relays if r.is_leader)
    await leader.stop()  # the leader goes away; the other replica takes over
    async with pool.acquire() as conn, conn.transaction():
        for key in keys:
            await record_event(conn, joined(key), source="/round/after")
    await wait_for(lambda: len(published) >= 105, timeout_s=10)
    for relay in relays:
        await relay.stop()

    ids = [m.headers["ce_id"] for _, m in published]
    assert len(ids) == len(set(ids)) == 105
    for key in keys:
        sources = [m.headers["ce_source"] for _, m in published if m.key == key]
        assert sources == [f"/round/{n}" for n in range(20)] + ["/round/after"]
    assert len({name for name, _ in published}) == 2  # both replicas led, one at a time
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    await pool.close()


class Recorder:
    """Dead letters and failures injected into the handler."""

    def __init__(self) -> None:
        self.dead: list[OutgoingMessage] = []
        self.transient_failures = 0
        self.unavailable_failures = 0
        self.calls = 0

    async def dead_letter(self, messages: Sequence[OutgoingMessage]) -> None:
        self.dead.extend(messages)


def build_consumer(pool: asyncpg.Pool, recorder: Recorder, max_attempts: int = 3) -> EventConsumer:
    reactions = Reactions()

    @reactions.on(MemberJoined)
    async def remember(delivery: Delivery, event: MemberJoined) -> None:
        recorder.calls += 1
        if recorder.unavailable_failures:
            recorder.unavailable_failures -= 1
            raise ConnectionRefusedError("database restarting")
        if recorder.transient_failures:
            recorder.transient_failures -= 1
            raise TimeoutError("statement timed out")
        if event.library.isil.startswith("FI-Rule"):
            raise ValueError("violates a business rule")
        await delivery.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", delivery.envelope.id, event.library.isil
        )

    return EventConsumer(
        name="tests",
        reactions=reactions,
        pool=pool,
        dead_letters=recorder.dead_letter,
        max_attempts=max_attempts,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
    )


async def test_handlers_through_testkafkabroker_are_idempotent_and_dead_letter_poison(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "consumer")
    recorder = Recorder()
    consumer = build_consumer(pool, recorder)
    broker = KafkaBroker()
    consumer.subscribe(broker)
    outcomes: list[Outcome | None] = []
    original = consumer.process

    async def tracking(record):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
        outcome = await original(record)
        outcomes.append(outcome)
        return outcome

    consumer.process = tracking  # type: ignore[method-assign]  # the test replaces the method to observe it

    async with TestKafkaBroker(broker) as test_broker:

        async def send(message: OutgoingMessage, value: bytes | None = None, **headers: str):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
            await test_broker.publish(
                value if value is not None else message.value,
                message.topic,
                key=message.key.encode(),
                headers={**message.headers, **headers},
            )

        ok = encode(joined("FI-Ok"), source="/t")
        await send(ok)
        await send(ok)  # the same event again
        await send(encode(joined("FI-Bad"), source="/t"), value=b"{not json")
        await send(encode(joined("FI-Inv"), source="/t"), value=b'{"library": 1}')
        await send(ok, ce_type="fi.konsortio.membership.member-joined.v7", ce_id="v7")
        await send(encode(joined("FI-Rule1"), source="/t"))
        recorder.transient_failures = 2
        await send(encode(joined("FI-Retry"), source="/t"))
        recorder.transient_failures = 5
        await send(encode(joined("FI-Never"), source="/t"))
        # An unreachable database is waited out, however long: more than max_attempts here.
        recorder.unavailable_failures = 6
        await send(encode(joined("FI-Wait"), source="/t"))
        left = MemberLeft(
            library=joined("FI-Ok").library, effective_date=dt.date(2026, 2, 1), period=1
        )
        await send(encode(left, source="/t"))  # known, but this consumer does not react

    assert outcomes == [
        Outcome.HANDLED,
        Outcome.DUPLICATE,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.HANDLED,
        Outcome.DEAD_LETTERED,
        Outcome.HANDLED,
        Outcome.IGNORED,
    ]
    effects = {r["isil"] for r in await pool.fetch("SELECT isil FROM effects")}
    assert effects == {"FI-Ok", "FI-Retry", "FI-Wait"}
    reasons = [
        (m.key, m.headers["dlq_exception_class"], m.headers["dlq_attempts"]) for m in recorder.dead
    ]
    assert reasons == [
        ("FI-Bad", "PoisonMessage", "1"),
        ("FI-Inv", "ValidationError", "1"),
        ("FI-Ok", "PoisonMessage", "1"),
        ("FI-Rule1", "ValueError", "1"),
        ("FI-Never", "TimeoutError", "3"),
    ]
    assert all(m.topic == "konsortio.membership.dlq" for m in recorder.dead)
    assert recorder.dead[0].value == b"{not json"
    assert json.loads(recorder.dead[1].value) == {"library": 1}
    await pool.close()


async def test_an_event_that_breaks_its_contracts_rule_is_dead_lettered_before_any_effect(
    infra: Infra,
) -> None:
    """Schema-valid, yet impossible (a membership that ends before it began): the handler
    never runs, the dead letter names the rule, and the next event is handled."""
    pool = await fresh_pool(infra, "rules")
    recorder = Recorder()
    reactions = Reactions()

    @reactions.on(MemberLeft)
    async def leave(delivery: Delivery, event: MemberLeft) -> None:
        recorder.calls += 1
        await delivery.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", delivery.envelope.id, event.library.isil
        )

    consumer = EventConsumer(
        name="rules", reactions=reactions, pool=pool, dead_letters=recorder.dead_letter
    )
    library = joined("FI-Rules").library
    impossible = MemberLeft(
        library=library, effective_date=dt.date(2025, 1, 1), period=1, joined_on=dt.date(2026, 1, 1)
    )
    possible = MemberLeft(
        library=library, effective_date=dt.date(2026, 3, 1), period=1, joined_on=dt.date(2026, 1, 1)
    )
    broker = KafkaBroker()
    consumer.subscribe(broker)
    async with TestKafkaBroker(broker) as test_broker:
        for event in (impossible, possible):
            message = encode(event, source="/t")
            await test_broker.publish(
                message.value, message.topic, key=message.key.encode(), headers=message.headers
            )

    assert recorder.calls == 1
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1
    [dead] = recorder.dead
    assert dead.headers["dlq_exception_class"] == "BrokenRule"
    assert "cannot end before it began" in dead.headers["dlq_exception_message"]
    assert dead.topic == "konsortio.membership.dlq"
    await pool.close()


async def test_a_change_and_its_event_in_one_statement_commit_or_roll_back_together(
    infra: Infra,
) -> None:
    pool = await fresh_pool(infra, "with_event")
    change = "INSERT INTO effects (event_id, isil) VALUES ($1, $2)"
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                event_id = await execute_with_event(conn, change, "a", "FI-A", event=joined("FI-A"))
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await execute_with_event(conn, change, "b", "FI-B", event=joined("FI-B"))
                    raise RuntimeError("the command fails after its statement")
            effects = [row["isil"] for row in await conn.fetch("SELECT isil FROM effects")]
            outbox = await conn.fetch("SELECT event_id::text, key, payload FROM outbox")
        assert effects == ["FI-A"]
        assert [(row["event_id"], row["key"]) for row in outbox] == [(event_id, "FI-A")]
        # The same row record_event writes: the payload is the event's data.
        assert json.loads(outbox[0]["payload"])["library"]["isil"] == "FI-A"
    finally:
        await pool.close()
