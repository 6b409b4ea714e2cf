"""Catalogue for integration tests: one app per session on the real database and broker, with
its Melinda adapter pointed at a local stand-in server, and builders for title lists and for
the procurement and membership events it reacts to.

Agreements and participations normally arrive from procurement's events; the API tests write
them through the same commands the handlers use (``sign``, ``join``), so they need not wait
for the broker. ``test_catalogue_chain.py`` goes through the broker.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymarc import Field, Record, Subfield

from bench.marc_generator import generate_record, isbn_for
from contracts.base import Event
from contracts.membership import Library, LibraryNames, MemberLeft
from contracts.procurement import (
    AgreementEnded,
    AgreementJoined,
    AgreementLeft,
    AgreementPeriod,
    AgreementSigned,
    Supplier,
)
from kit.auth import Role
from kit.envelope import decode, encode
from services.catalogue import commands
from services.catalogue.app import build
from services.catalogue.settings import CatalogueSettings
from tests.conftest import Infra, consumer_ready, running
from tests.integration.catalogue.melinda_standin import MelindaStandIn, RunningStandIn
from tests.integration.conftest import Service, auth

pytestmark = pytest.mark.integration

TODAY = dt.date.today()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "catalogue"
UPLOAD_LIMIT = 8 * 1024 * 1024
PAGE_SIZE = 10


@pytest.fixture(scope="session")
def melinda() -> Any:
    running_standin = RunningStandIn(MelindaStandIn())
    running_standin.start()
    try:
        yield running_standin
    finally:
        running_standin.stop()


@pytest.fixture(scope="session")
async def catalogue(infra: Infra, melinda: RunningStandIn) -> AsyncIterator[Service]:
    dsn = await infra.new_database("catalogue")
    settings = CatalogueSettings(
        catalogue_spool_dir=str(infra.tmp / "catalogue-spool"),
        catalogue_upload_max_bytes=UPLOAD_LIMIT,
        catalogue_chunk_size=40,
        oai_page_size=PAGE_SIZE,
        oai_namespace="konsortio.test",
        melinda_url=melinda.url,
        melinda_username=melinda.standin.username,
        melinda_password=melinda.standin.password,
        melinda_poll_interval_s=0.05,
        melinda_lease_s=30,
    )
    app = build(infra.settings("catalogue", dsn, public_url="http://catalogue.test"), settings)
    async with running(app) as client:
        await consumer_ready(app)
        yield Service(app, client, dsn)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def unique_isil(prefix: str = "FI-C") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


class Actors:
    def __init__(self, infra: Infra) -> None:
        self.infra = infra

    @property
    def cataloguer(self) -> dict[str, str]:
        return auth(self.infra.token(Role.CATALOGUER))

    @property
    def coordinator(self) -> dict[str, str]:
        return auth(self.infra.token(Role.COORDINATOR))

    def library(self, isil: str) -> dict[str, str]:
        return auth(self.infra.token(Role.LIBRARY, isil))

    def role(self, role: Role) -> dict[str, str]:
        return auth(self.infra.token(role))


@pytest.fixture(scope="session")
def actors(infra: Infra) -> Actors:
    return Actors(infra)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.content


# --- events -------------------------------------------------------------------------------------


def signed_event(agreement_id: str, title: str = "E-kirjat") -> AgreementSigned:
    return AgreementSigned(
        agreement_id=agreement_id,
        tender_id=f"tender-{agreement_id}",
        title=title,
        supplier=Supplier(name="Ellibs Oy", country="FI"),
        product="Ellibs E-books",
        material_types=["e-book", "e-audiobook"],
        licence_terms={},
        periods=[AgreementPeriod(start=TODAY, end=TODAY + dt.timedelta(days=364))],
        extension_options=1,
        annual_cost_cents=1_000_000,
        cost_share_model="per-capita",
        signed_on=TODAY,
    )


def joined_event(agreement_id: str, isil: str, joined_on: dt.date = TODAY) -> AgreementJoined:
    return AgreementJoined(
        agreement_id=agreement_id,
        isil=isil,
        joined_on=joined_on,
        title="E-kirjat",
        supplier=Supplier(name="Ellibs Oy", country="FI"),
        product="Ellibs E-books",
        participants=1,
    )


def left_event(agreement_id: str, isil: str, left_on: dt.date = TODAY) -> AgreementLeft:
    return AgreementLeft(
        agreement_id=agreement_id, isil=isil, left_on=left_on, reason="opt-out", participants=0
    )


def ended_event(agreement_id: str, effective_on: dt.date = TODAY) -> AgreementEnded:
    return AgreementEnded(agreement_id=agreement_id, kind="terminated", effective_on=effective_on)


def member_left_event(isil: str, effective_date: dt.date = TODAY) -> MemberLeft:
    return MemberLeft(
        library=Library(
            isil=isil,
            names=LibraryNames(fi=f"Kirjasto {isil}"),
            municipalities=["091"],
            population=1000,
            library_system="Koha",
        ),
        effective_date=effective_date,
        period=1,
    )


async def sign(catalogue: Service, agreement_id: str | None = None, title: str = "E-kirjat") -> str:
    """An agreement's collection, made through the command agreement-signed runs."""
    agreement_id = agreement_id or unique("agr")
    async with catalogue.pool.acquire() as conn, conn.transaction():
        await commands.agreement_signed(conn, signed_event(agreement_id, title))
    return agreement_id


async def join(
    catalogue: Service, agreement_id: str, isil: str, joined_on: dt.date = TODAY
) -> None:
    async with catalogue.pool.acquire() as conn, conn.transaction():
        await commands.agreement_joined(conn, joined_event(agreement_id, isil, joined_on), TODAY)


async def leave(catalogue: Service, agreement_id: str, isil: str, left_on: dt.date = TODAY) -> None:
    async with catalogue.pool.acquire() as conn, conn.transaction():
        await commands.agreement_left(conn, left_event(agreement_id, isil, left_on), TODAY)


async def publish(infra: Infra, *events: Event) -> None:
    """Publish events raw, as their producers would (CloudEvents on their topic)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            message = encode(event, source="/tests")
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
    finally:
        await producer.stop()


async def catalogue_events(infra: Infra, key: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) of every catalogue event with this key, oldest first."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topic = "konsortio.catalogue"
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        found: list[tuple[int, str, dict[str, Any]]] = []
        while [p for p in partitions if await consumer.position(p) < end[p]]:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.key != key.encode():
                        continue
                    envelope = decode(dict(record.headers), record.key, record.value)
                    name = envelope.type.split(".")[-2]
                    found.append((record.timestamp, name, envelope.data))
        return [(name, data) for _, name, data in sorted(found, key=lambda item: item[0])]
    finally:
        await consumer.stop()


async def outbox_events(catalogue: Service, key: str) -> list[tuple[str, dict[str, Any]]]:
    """The catalogue's own events with this key, in the order they were recorded."""
    import json

    rows = await catalogue.pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE key = $1 ORDER BY id", key
    )
    return [(row["event_type"].split(".")[-2], json.loads(row["payload"])) for row in rows]


# --- title lists --------------------------------------------------------------------------------


def marc_records(numbers: Iterable[int], seed: int = 7) -> list[Record]:
    """Realistic e-book records (bench's generator); the ISBN follows the number."""
    rng = random.Random(seed)
    return [generate_record(number, rng) for number in numbers]


def marc_file(records: Iterable[Record]) -> bytes:
    out = io.BytesIO()
    for record in records:
        out.write(record.as_marc())
    return out.getvalue()


def with_url(record: Record, url: str) -> Record:
    record.add_ordered_field(
        Field(tag="856", indicators=["4", "0"], subfields=[Subfield("u", url)])
    )
    return record


def retitled(record: Record, title: str) -> Record:
    record.remove_fields("245")
    record.add_ordered_field(
        Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", title)])
    )
    return record


def base_number() -> int:
    """A fresh block of generator numbers (ISBNs) for one test."""
    return random.randrange(10_000, 990_000) // 100 * 100


def isbn(number: int) -> str:
    return isbn_for(number)


async def upload(
    catalogue: Service,
    actors: Actors,
    collection: str,
    content: bytes,
    *,
    mode: str = "delta",
    content_type: str = "application/octet-stream",
    wait: bool = True,
    **params: Any,
) -> dict[str, Any]:
    response = await catalogue.client.post(
        "/batches",
        params={"collection": collection, "mode": mode, "wait": str(wait).lower(), **params},
        content=content,
        headers={**actors.cataloguer, "Content-Type": content_type},
    )
    assert response.status_code == (200 if wait else 202), response.text
    batch = response.json()
    if wait:
        assert batch["status"] == "done", batch
    return batch


def onix_sample() -> bytes:
    return (FIXTURES / "onix_sample.xml").read_bytes()


@pytest.fixture(scope="session")
def oai_schema() -> Any:
    """The OAI-PMH schema with both payload schemas, all from local files (nothing fetched),
    so the strict wildcard in <metadata> is validated too."""
    from lxml import etree

    driver = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:import namespace="http://www.openarchives.org/OAI/2.0/"
                 schemaLocation="{(FIXTURES / "OAI-PMH.xsd").as_uri()}"/>
      <xs:import namespace="http://www.loc.gov/MARC21/slim"
                 schemaLocation="{(FIXTURES / "MARC21slim.xsd").as_uri()}"/>
      <xs:import namespace="http://www.openarchives.org/OAI/2.0/oai_dc/"
                 schemaLocation="{(FIXTURES / "oai_dc.xsd").as_uri()}"/>
    </xs:schema>"""
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.fromstring(driver.encode(), parser))
