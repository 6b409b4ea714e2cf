"""Draining a dead-letter topic: list, replay (idempotent), purge — on the real broker."""

from __future__ import annotations

import datetime as dt

import pytest
from aiokafka import AIOKafkaProducer

from contracts.membership import Contact, Library, LibraryNames, MemberJoined
from kit.envelope import encode
from konsortio import dlq
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service, unique_isil

pytestmark = pytest.mark.integration


async def test_list_replay_twice_and_purge(infra: Infra, outreach: Service) -> None:
    isil = unique_isil("FI-R")
    email = f"replay.{isil.lower()}@example.org"
    event = MemberJoined(
        library=Library(
            isil=isil,
            names=LibraryNames(fi="Replay"),
            municipalities=["091"],
            population=1,
            library_system="Koha",
            contacts=[Contact(name="R", email=email, role="r", language="fi")],
        ),
        joined_on=dt.date.today(),
        period=1,
    )
    message = encode(event, source="/tests")
    # A good event that was dead-lettered earlier (say, while a bug was being fixed).
    headers = {
        **message.headers,
        "dlq_original_topic": message.topic,
        "dlq_original_partition": "0",
        "dlq_original_offset": "0",
        "dlq_consumer_group": "outreach",
        "dlq_exception_class": "RuntimeError",
        "dlq_exception_message": "bug since fixed",
        "dlq_attempts": "1",
    }
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            "konsortio.membership.dlq",
            message.value,
            key=isil.encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
    finally:
        await producer.stop()

    kafka = infra.kafka()
    letters, _ = await dlq.read(kafka, "konsortio.membership")
    ours = [letter for letter in letters if letter.key == isil.encode()]
    assert len(ours) == 1 and "bug since fixed" in ours[0].summary()

    assert await dlq.replay(kafka, ours) == 1
    await wait_for(lambda: [m for m in infra.mails() if email in m["rcpt_to"]])
    assert await dlq.replay(kafka, ours) == 1  # again: same event id, no second effect
    marker = encode(event.model_copy(update={"period": 2}), source="/tests")
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:  # a later event on the same key proves the replay was consumed before it
        await producer.send_and_wait(
            marker.topic,
            marker.value,
            key=isil.encode(),
            headers=[(k, v.encode()) for k, v in marker.headers.items()],
        )
    finally:
        await producer.stop()
    await wait_for(lambda: len([m for m in infra.mails() if email in m["rcpt_to"]]) == 2)
    assert len([m for m in infra.mails() if email in m["rcpt_to"]]) == 2  # 1 replay + marker

    assert await dlq.purge(kafka, "konsortio.membership") >= 1
    remaining, _ = await dlq.read(kafka, "konsortio.membership")
    assert remaining == []
    everything, _ = await dlq.read(kafka, "konsortio.membership", include_handled=True)
    assert any(letter.key == isil.encode() for letter in everything)
