"""Offsets, lag, tail and dead letters as the CLI reads them, on the real broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rich.console import Console
from typer.testing import CliRunner

from contracts import TOPICS
from contracts.membership import Contact, Library, LibraryNames, MemberJoined
from kit import streams
from kit.envelope import encode
from kit.kafka import ensure_topics
from konsortio import dlq
from konsortio.cli import app
from konsortio.tail import tail
from tests.conftest import Infra

pytestmark = pytest.mark.integration
runner = CliRunner()


def member_joined(isil: str) -> MemberJoined:
    return MemberJoined(
        library=Library(
            isil=isil,
            names=LibraryNames(fi=f"Kirjasto {isil}"),
            municipalities=["091"],
            population=1,
            library_system="Koha",
            contacts=[Contact(name="T", email="t@example.org", role="t", language="fi")],
        ),
        joined_on=dt.date.today(),
        period=1,
    )


async def new_topic(infra: Infra, partitions: int = 1) -> str:
    name = f"cli-test-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def send_batch(infra: Infra, topic: str, count: int, partition: int = 0) -> None:
    """``count`` records in one produce request (one record batch), as the outbox relay does."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, linger_ms=200)
    await producer.start()
    try:
        futures = [await producer.send(topic, b"x", partition=partition) for _ in range(count)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume_and_commit(infra: Infra, topic: str, group: str, count: int) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(records) for records in batch.values())
        await consumer.commit()
    finally:
        await consumer.stop()


async def test_end_offsets_are_high_watermarks_after_multi_record_batches(infra: Infra) -> None:
    """Tansu reports the last batch's base offset + 1 as the end; the kit's reader corrects it,
    so a group that read everything has lag 0, never a committed offset beyond the end."""
    topic = await new_topic(infra)
    await send_batch(infra, topic, 3)
    await send_batch(infra, topic, 5)
    tp = TopicPartition(topic, 0)
    consumer = streams.groupless_consumer(infra.kafka(), "test")
    await consumer.start()
    try:
        assert (await consumer.end_offsets([tp]))[tp] == 8
    finally:
        await consumer.stop()

    group = f"cli-test-{uuid.uuid4().hex[:6]}"
    await consume_and_commit(infra, topic, group, 8)
    rows = await streams.group_lag(infra.kafka(), group, [topic, *TOPICS])
    assert rows is not None
    assert [(r.topic, r.committed, r.end, r.lag) for r in rows] == [(topic, 8, 8, 0)]


async def test_lag_lists_only_the_groups_topics_and_refuses_an_unknown_group(
    infra: Infra,
) -> None:
    await ensure_topics(infra.kafka(), TOPICS, with_dlq=True)
    topic = await new_topic(infra)
    await send_batch(infra, topic, 4)
    group = f"cli-test-{uuid.uuid4().hex[:6]}"
    await consume_and_commit(infra, topic, group, 4)
    await send_batch(infra, topic, 2)  # not yet read: lag 2

    env = {"KONSORTIO_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap}
    result = await asyncio.to_thread(runner.invoke, app, ["consumers", "lag", group], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines == [f"{topic}[0] committed=4 end=6 lag=2"]

    unknown = await asyncio.to_thread(
        runner.invoke, app, ["consumers", "lag", "no-such-group"], env=env
    )
    assert unknown.exit_code == 1
    assert "no consumer group 'no-such-group'" in unknown.output

    every = await asyncio.to_thread(runner.invoke, app, ["consumers", "lag"], env=env)
    assert every.exit_code == 0, every.output
    assert f"{group}: lag=2" in every.output


async def test_tail_merges_history_by_time_and_starts_after_the_last_event(
    infra: Infra,
) -> None:
    await ensure_topics(infra.kafka(), TOPICS, with_dlq=True)
    # Timestamps long before anything else on the shared broker, so these come first in time
    # order; sent so that partition order differs from time order.
    base = int(dt.datetime(2001, 1, 1, tzinfo=dt.UTC).timestamp() * 1000) + uuid.uuid4().int % 1000
    isils = [f"FI-T{uuid.uuid4().hex[:5]}" for _ in range(4)]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, linger_ms=100)
    await producer.start()
    try:
        order = [(3, 0), (1, 1), (2, 0), (0, 1)]  # (time rank, partition)
        futures = []
        for rank, partition in order:
            message = encode(member_joined(isils[rank]), source="/tests")
            futures.append(
                await producer.send(
                    "konsortio.membership",
                    message.value,
                    key=message.key.encode(),
                    partition=partition,
                    timestamp_ms=base + rank * 1000,
                    headers=[(k, v.encode()) for k, v in message.headers.items()],
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    out = io.StringIO()
    printed = await tail(
        infra.kafka(),
        from_beginning=True,
        limit=4,
        event_name="member-joined",
        console=Console(file=out, width=400, highlight=False),
    )
    assert printed == 4
    shown = [next(isil for isil in isils if isil in line) for line in out.getvalue().splitlines()]
    assert shown == isils

    # Not from the beginning: nothing old is printed again (the end is the true end). Other
    # services on the shared broker may publish during the idle second; those are new.
    again = io.StringIO()
    await tail(infra.kafka(), console=Console(file=again, width=400), idle_exit_s=1.0, limit=None)
    assert not any(isil in again.getvalue() for isil in isils)


async def test_dlq_list_reads_every_dead_letter_without_a_group(infra: Infra) -> None:
    await ensure_topics(infra.kafka(), TOPICS, with_dlq=True)
    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, linger_ms=100)
    await producer.start()
    try:
        futures = [
            await producer.send(
                "konsortio.catalogue.dlq",
                b"{not json",
                key=f"{marker}-{n}".encode(),
                headers=[
                    ("dlq_original_topic", b"konsortio.catalogue"),
                    ("dlq_exception_class", b"PoisonMessage"),
                    ("dlq_exception_message", f"bad {marker}".encode()),
                ],
            )
            for n in range(3)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    letters, ends = await dlq.read(infra.kafka(), "konsortio.catalogue", include_handled=True)
    ours = [letter for letter in letters if marker in letter.header("dlq_exception_message")]
    assert len(ours) == 3
    for letter in letters:
        assert letter.offset < ends[TopicPartition(letter.topic, letter.partition)]

    env = {"KONSORTIO_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap, "COLUMNS": "400"}
    listed = await asyncio.to_thread(
        runner.invoke, app, ["dlq", "list", "--topic", "konsortio.catalogue", "--all"], env=env
    )
    assert listed.exit_code == 0, listed.output
    assert listed.output.count(f"bad {marker}") == 3
