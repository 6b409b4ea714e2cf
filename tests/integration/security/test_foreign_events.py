"""Forged events: a service's consumer believes an event only on its producer's topic and from
its producer's source; anything else is dead-lettered as ForeignEvent, with no effect.

Runs on the embedded Tansu broker through the real outreach service (its MemberJoined handler
adds the library to the audience it writes to)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.membership import Contact, Library, LibraryNames, MemberJoined
from kit.envelope import OutgoingMessage, encode
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service, unique_isil

pytestmark = pytest.mark.integration


def joined(isil: str) -> MemberJoined:
    return MemberJoined(
        library=Library(
            isil=isil,
            names=LibraryNames(fi=f"Kirjasto {isil}"),
            municipalities=["091"],
            population=1_000,
            library_system="Koha",
            contacts=[
                Contact(
                    name="Aino", email=f"aino@{isil.lower()}.fi", role="director", language="fi"
                )
            ],
        ),
        joined_on=dt.date.today() - dt.timedelta(days=1),
        period=1,
    )


async def send(infra: Infra, message: OutgoingMessage, topic: str | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic or message.topic,
            message.value,
            key=message.key.encode(),
            headers=[(k, v.encode()) for k, v in message.headers.items()],
        )
    finally:
        await producer.stop()


async def dead_letters(infra: Infra, topic: str, ids: set[str]) -> dict[str, dict[str, str]]:
    """The outreach consumer's dead letters on ``topic`` for the events ``ids``, by id."""
    found: dict[str, dict[str, str]] = {}
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.bootstrap,
        group_id=f"foreign-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:

        async def all_seen() -> bool:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if headers.get("ce_id") in ids and headers["dlq_consumer_group"] == "outreach":
                        found[headers["ce_id"]] = headers
            return set(found) == ids

        await wait_for(all_seen, timeout_s=60)
    finally:
        await consumer.stop()
    return found


async def known(outreach: Service, isil: str) -> bool:
    return bool(
        await outreach.pool.fetchval(
            "SELECT count(*) FROM audience_libraries WHERE isil = $1 AND is_member", isil
        )
    )


async def test_forged_events_are_dead_lettered_without_effect(
    infra: Infra, outreach: Service
) -> None:
    wrong_source, wrong_topic, honest = (unique_isil("FI-F") for _ in range(3))
    # A membership event that says it comes from procurement.
    forged_source = encode(joined(wrong_source), source="/konsortio/procurement")
    # A membership event, with membership's source, slipped onto procurement's topic.
    forged_topic = encode(joined(wrong_topic), source="/konsortio/membership")
    await send(infra, forged_source)
    await send(infra, forged_topic, topic="konsortio.procurement")
    await send(infra, encode(joined(honest), source="/konsortio/membership"))

    await wait_for(lambda: known(outreach, honest), timeout_s=60)
    by_source = await dead_letters(
        infra, "konsortio.membership.dlq", {forged_source.headers["ce_id"]}
    )
    by_topic = await dead_letters(
        infra, "konsortio.procurement.dlq", {forged_topic.headers["ce_id"]}
    )

    assert by_source[forged_source.headers["ce_id"]]["dlq_exception_class"] == "ForeignEvent"
    assert (
        "not '/konsortio/procurement'"
        in by_source[forged_source.headers["ce_id"]]["dlq_exception_message"]
    )
    assert by_topic[forged_topic.headers["ce_id"]]["dlq_exception_class"] == "ForeignEvent"
    assert (
        "belongs to topic konsortio.membership"
        in (by_topic[forged_topic.headers["ce_id"]]["dlq_exception_message"])
    )
    assert not await known(outreach, wrong_source)
    assert not await known(outreach, wrong_topic)
