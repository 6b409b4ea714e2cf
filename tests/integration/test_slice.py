"""The membership → outreach slice end to end, on the real database, broker and SMTP server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.membership import Contact, Library, LibraryNames, MemberJoined
from kit.auth import Role
from kit.consumer import MESSAGES
from kit.envelope import encode
from tests.conftest import Infra, wait_for
from tests.integration.conftest import (
    Service,
    auth,
    library_body,
    register_and_join,
    unique_isil,
)

pytestmark = pytest.mark.integration


WELCOME_SUBJECTS = ("Tervetuloa", "Välkommen")


def mails_to(infra: Infra, address: str) -> list[dict]:
    """The welcomes sent to ``address``. Only welcomes: outreach also mails every member about
    each agreement signed on this session's shared broker (procurement's tests sign some),
    and whether one of those reaches a library here depends only on timing."""
    return [
        m
        for m in infra.mails()
        if address in m["rcpt_to"] and m["subject"].startswith(WELCOME_SUBJECTS)
    ]


async def test_member_joined_sends_one_welcome_per_contact_in_their_language(
    infra: Infra, membership: Service, outreach: Service
) -> None:
    isil = unique_isil()
    fi, sv = f"fi.{isil.lower()}@example.org", f"sv.{isil.lower()}@example.org"
    contacts = [
        {"name": "Aino", "email": fi, "role": "director", "language": "fi"},
        {"name": "Sara", "email": sv, "role": "e-resources", "language": "sv"},
        {"name": "Aino again", "email": fi.upper(), "role": "marketing", "language": "fi"},
    ]
    await register_and_join(membership, infra, library_body(isil, contacts))

    await wait_for(lambda: mails_to(infra, fi) and mails_to(infra, sv))
    [finnish], [swedish] = mails_to(infra, fi), mails_to(infra, sv)
    assert finnish["subject"].startswith("Tervetuloa")
    assert swedish["subject"].startswith("Välkommen")
    assert finnish["text"] and "<strong>" in finnish["html"]
    assert swedish["headers"]["Content-Language"] == "sv"

    # The SMTP server has a message before the sender marks its row sent (after the server's
    # answer), so the log is read until it has caught up; one row per address, both sent.
    async def logged() -> set[tuple[str, str]]:
        log = await outreach.client.get(
            "/deliveries",
            params={"isil": isil},
            headers=auth(infra.token(Role.COORDINATOR)),
        )
        assert log.status_code == 200
        rows = {(d["recipient"], d["status"]) for d in log.json()["items"]}
        assert len(log.json()["items"]) == 2, log.json()["items"]
        return rows if all(status == "sent" for _, status in rows) else set()

    assert await wait_for(logged) == {(fi, "sent"), (sv, "sent")}


async def test_member_left_takes_the_library_off_the_audience(
    infra: Infra, membership: Service, outreach: Service
) -> None:
    isil = unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    response = await membership.client.post(
        f"/libraries/{isil}/notice",
        json={"effective_date": dt.date.today().isoformat()},
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    assert response.status_code == 200, response.text
    assert response.json()["left"] is True

    async def gone() -> bool:
        audience = await outreach.client.get(
            "/audience",
            params={"members_only": "false", "limit": 500},
            headers=auth(infra.token(Role.OPERATOR)),
        )
        entry = next((i for i in audience.json()["items"] if i["isil"] == isil), None)
        return entry is not None and entry["is_member"] is False

    await wait_for(gone)


async def _raw_producer(infra: Infra) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    return producer


def _headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers.items()]


def _joined_event(isil: str, email: str) -> MemberJoined:
    return MemberJoined(
        library=Library(
            isil=isil,
            names=LibraryNames(fi=f"Kirjasto {isil}"),
            municipalities=["091"],
            population=1000,
            library_system="Koha",
            contacts=[Contact(name="Eero", email=email, role="director", language="fi")],
        ),
        joined_on=dt.date.today(),
        period=1,
    )


async def test_a_duplicated_delivery_sends_no_second_email(infra: Infra, outreach: Service) -> None:
    isil = unique_isil("FI-D")
    email = f"dup.{isil.lower()}@example.org"
    message = encode(_joined_event(isil, email), source="/tests")
    duplicates = MESSAGES.labels("outreach", message.topic, "duplicate")
    before = duplicates._value.get()
    producer = await _raw_producer(infra)
    try:
        for _ in range(3):  # the same CloudEvent (same id) delivered three times
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=_headers(message.headers),
            )
    finally:
        await producer.stop()

    await wait_for(lambda: duplicates._value.get() >= before + 2)
    await wait_for(lambda: mails_to(infra, email))
    await asyncio.sleep(0.5)  # give a wrongly queued second message time to go out
    assert len(mails_to(infra, email)) == 1


async def _dead_letters(infra: Infra, topic: str, key: str) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found = []
        for _ in range(5):
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                found += [r for r in records if r.key == key.encode()]
        return found
    finally:
        await consumer.stop()


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_consumer_keeps_going(
    infra: Infra, outreach: Service
) -> None:
    isil = unique_isil("FI-P")
    good = encode(_joined_event(isil, f"after.{isil.lower()}@example.org"), source="/tests")
    schema_invalid = dict(good.headers, ce_id=f"bad-schema-{isil}")
    malformed = dict(good.headers, ce_id=f"bad-json-{isil}")
    unknown = dict(
        good.headers, ce_id=f"unknown-{isil}", ce_type="fi.konsortio.membership.member-joined.v9"
    )
    producer = await _raw_producer(infra)
    try:
        send = producer.send_and_wait
        key = isil.encode()
        await send(good.topic, b'{"library": ', key=key, headers=_headers(malformed))
        await send(
            good.topic,
            json.dumps({"library": {"isil": 5}}).encode(),
            key=key,
            headers=_headers(schema_invalid),
        )
        await send(good.topic, good.value, key=key, headers=_headers(unknown))
        await send(good.topic, good.value, key=key, headers=_headers(good.headers))
    finally:
        await producer.stop()

    # The consumer moved past all three and handled the good event behind them.
    await wait_for(lambda: mails_to(infra, f"after.{isil.lower()}@example.org"))

    async def outreach_letters() -> list:
        # Every group that consumes the topic dead-letters the same poison; take outreach's.
        letters = await _dead_letters(infra, "konsortio.membership.dlq", isil)
        ours = [r for r in letters if dict(r.headers)["dlq_consumer_group"] == b"outreach"]
        return ours if len(ours) >= 3 else []

    letters = await wait_for(outreach_letters)
    by_id = {dict(r.headers)["ce_id"].decode(): dict(r.headers) for r in letters}
    assert set(by_id) == {f"bad-json-{isil}", f"bad-schema-{isil}", f"unknown-{isil}"}
    bad_json = by_id[f"bad-json-{isil}"]
    assert b"malformed JSON" in bad_json["dlq_exception_message"]
    assert bad_json["dlq_original_topic"] == b"konsortio.membership"
    assert bad_json["dlq_consumer_group"] == b"outreach"
    assert bad_json["dlq_attempts"] == b"1"
    assert {"dlq_original_partition", "dlq_original_offset", "dlq_exception_class"} <= set(bad_json)
    assert b"library" in by_id[f"bad-schema-{isil}"]["dlq_exception_message"]
    assert b"unknown event type" in by_id[f"unknown-{isil}"]["dlq_exception_message"]


async def test_an_event_recorded_while_the_broker_is_down_is_published_when_it_is_back(
    infra: Infra, membership: Service, outreach: Service
) -> None:
    isil = unique_isil("FI-O")
    email = f"outage.{isil.lower()}@example.org"
    with infra.broker_down():
        # The command succeeds: its event waits in the outbox, in the same transaction.
        await register_and_join(
            membership,
            infra,
            library_body(isil, [{"name": "O", "email": email, "role": "r", "language": "fi"}]),
        )
        unsent = await membership.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1 AND sent_at IS NULL", isil
        )
        assert unsent == 1
        await asyncio.sleep(2)
    await wait_for(lambda: mails_to(infra, email), timeout_s=60)
    assert (
        await membership.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1 AND sent_at IS NULL", isil
        )
        == 0
    )
