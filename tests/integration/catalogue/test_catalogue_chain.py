"""The catalogue on the real broker: procurement's and membership's events (published raw, as
their producers would) drive collections and per-library record sets, and the catalogue's own
events reach its topic.

The whole chain: agreement-signed → ingest → agreement-joined → records-available → OAI-PMH
harvest by the library; then new titles, leaving, and the records staying as deleted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from lxml import etree

from kit.envelope import encode
from services.catalogue import commands
from tests.conftest import Infra, wait_for
from tests.integration.catalogue.conftest import (
    TODAY,
    Actors,
    base_number,
    catalogue_events,
    ended_event,
    join,
    joined_event,
    left_event,
    marc_file,
    marc_records,
    member_left_event,
    ok,
    onix_sample,
    outbox_events,
    publish,
    sign,
    signed_event,
    unique,
    unique_isil,
    upload,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
OAI = "{http://www.openarchives.org/OAI/2.0/}"


async def harvest(catalogue: Service, actors: Actors, isil: str, **args: str) -> list[Any]:
    response = await catalogue.client.get(
        "/oai",
        params={
            "verb": "ListRecords",
            "metadataPrefix": "marc21",
            "set": f"library:{isil}",
            **args,
        },
        headers=actors.library(isil),
    )
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    return root.findall(f"{OAI}ListRecords/{OAI}record")


async def events_named(infra: Infra, key: str, name: str, count: int = 1) -> list[dict]:
    async def arrived() -> list[dict] | None:
        found = [data for n, data in await catalogue_events(infra, key) if n == name]
        return found if len(found) >= count else None

    return await wait_for(arrived)


async def test_agreement_signed_to_ingest_to_opt_in_to_harvest(
    infra: Infra, catalogue: Service, actors: Actors
) -> None:
    agreement, isil = unique("agr"), unique_isil("FI-H")
    await publish(infra, signed_event(agreement, "E-äänikirjat 2027"))

    async def collection_made() -> dict | None:
        response = await catalogue.client.get(
            f"/collections/{agreement}", headers=actors.cataloguer
        )
        return response.json() if response.status_code == 200 else None

    collection = await wait_for(collection_made)
    assert collection["agreement_id"] == agreement and collection["title"] == "E-äänikirjat 2027"

    batch = await upload(catalogue, actors, agreement, onix_sample())
    [ingested] = await events_named(infra, agreement, "titles-ingested")
    # Three accepted: the product without a link gets the national resolver's URL.
    assert ingested["batch_id"] == batch["id"] and ingested["counts"]["accepted"] == 3
    assert ingested["records_in_collection"] == 3 and ingested["format"] == "onix"

    await publish(infra, joined_event(agreement, isil))
    [available] = await events_named(infra, isil, "records-available")
    assert available == {
        "isil": isil,
        "collection_id": agreement,
        "agreement_id": agreement,
        "title": "E-äänikirjat 2027",
        "count": 3,
        "reason": "agreement-joined",
        "oai_set": f"library:{isil}",  # not in a kimppa: its own set
    }
    records = await harvest(catalogue, actors, isil)
    titles = sorted(
        r.findtext(
            ".//{http://www.loc.gov/MARC21/slim}datafield[@tag='245']/"
            "{http://www.loc.gov/MARC21/slim}subfield[@code='a']"
        )
        for r in records
    )
    # ISBD punctuation is kept, as Melinda takes the records.
    assert titles == ["Meren muisti :", "Sienet ja marjat :", "Skärgårdens hemligheter /"]

    # New titles in a collection the library has: records-available with the new ones only.
    start = base_number()
    await upload(catalogue, actors, agreement, marc_file(marc_records(range(start, start + 3))))
    added = (await events_named(infra, isil, "records-available", 2))[1]
    assert (added["count"], added["reason"]) == (3, "titles-added")
    assert len(await harvest(catalogue, actors, isil)) == 6

    # Leaving withdraws them; they stay in the set, deleted.
    await publish(infra, left_event(agreement, isil))
    [withdrawn] = await events_named(infra, isil, "records-withdrawn")
    assert (withdrawn["count"], withdrawn["reason"]) == (6, "agreement-left")
    after = await harvest(catalogue, actors, isil)
    assert len(after) == 6
    assert {r.find(f"{OAI}header").get("status") for r in after} == {"deleted"}


async def test_member_left_and_agreement_ended_withdraw_once(
    infra: Infra, catalogue: Service, actors: Actors
) -> None:
    agreement = unique("agr")
    leaving, staying = unique_isil("FI-L"), unique_isil("FI-S")
    await publish(infra, signed_event(agreement), joined_event(agreement, leaving))
    await publish(infra, joined_event(agreement, staying))
    await events_named(infra, staying, "records-available")
    start = base_number()
    await upload(catalogue, actors, agreement, marc_file(marc_records(range(start, start + 2))))

    await publish(infra, member_left_event(leaving))
    [gone] = await events_named(infra, leaving, "records-withdrawn")
    assert (gone["count"], gone["reason"]) == (2, "member-left")
    # Procurement follows member-left with agreement-left (membership-ended): nothing more.
    follow_up = left_event(agreement, leaving).model_copy(update={"reason": "membership-ended"})
    await publish(infra, follow_up, ended_event(agreement))
    [ended] = await events_named(infra, staying, "records-withdrawn")
    assert (ended["count"], ended["reason"]) == (2, "agreement-ended")
    names = [name for name, _ in await catalogue_events(infra, leaving)]
    assert names.count("records-withdrawn") == 1
    collection = ok(
        await catalogue.client.get(f"/collections/{agreement}", headers=actors.coordinator)
    )
    assert collection["ended_on"] == TODAY.isoformat() and collection["libraries"] == 0


async def test_a_redelivered_event_changes_nothing_twice(
    infra: Infra, catalogue: Service, actors: Actors
) -> None:
    agreement, isil = await sign(catalogue), unique_isil("FI-R")
    message = encode(joined_event(agreement, isil), source="/tests")
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(3):  # the same CloudEvent (same id) three times
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
        # A later marker event on the same partition: once it is handled, so are the copies.
        await publish(infra, joined_event(agreement, unique_isil("FI-M")))
    finally:
        await producer.stop()
    await events_named(infra, isil, "records-available")
    marker_seen = await catalogue.pool.fetchval(
        "SELECT count(*) FROM record_sets WHERE collection_id = $1", agreement
    )
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT count(*) = 2 FROM record_sets WHERE collection_id = $1", agreement
        )
    )
    assert marker_seen >= 1
    assert [n for n, _ in await outbox_events(catalogue, isil)] == ["records-available"]


async def test_an_opt_in_from_a_later_day_applies_on_that_day(
    catalogue: Service, actors: Actors
) -> None:
    agreement, isil = await sign(catalogue), unique_isil("FI-F")
    start = base_number()
    await upload(catalogue, actors, agreement, marc_file(marc_records(range(start, start + 2))))
    later = TODAY + dt.timedelta(days=7)
    await join(catalogue, agreement, isil, joined_on=later)
    assert await outbox_events(catalogue, isil) == []
    assert await commands.reconcile_due(catalogue.pool, TODAY) == 0
    assert await commands.reconcile_due(catalogue.pool, later) >= 1
    [(name, data)] = await outbox_events(catalogue, isil)
    assert (name, data["count"]) == ("records-available", 2)
    # An opt-out with notice: kept until its date, withdrawn on it.
    async with catalogue.pool.acquire() as conn, conn.transaction():
        await commands.agreement_left(
            conn, left_event(agreement, isil, later + dt.timedelta(days=30)), later
        )
    assert [n for n, _ in await outbox_events(catalogue, isil)] == ["records-available"]
    await commands.reconcile_due(catalogue.pool, later + dt.timedelta(days=30))
    assert [n for n, _ in await outbox_events(catalogue, isil)][-1] == "records-withdrawn"
