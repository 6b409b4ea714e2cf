"""Kimppa record sets, harvested by a real OAI-PMH client (Sickle) over real HTTP.

Two libraries of one kimppa and one library outside any kimppa take part in one agreement.
Membership's events (member-joined with ``library.kimppa``, kimppa-updated) go through the
real broker. The kimppa's set ``kimppa:<id>`` holds each record once with both libraries as
852 $a; the outside library harvests ``library:<ISIL>``; ListSets names both kinds; a record
leaves the kimppa's set (an OAI deleted record) only when the last holding library loses it;
records-available tells each library which set to harvest."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from lxml import etree
from sickle import Sickle
from sickle.oaiexceptions import IdDoesNotExist

from contracts.base import Event
from contracts.membership import KimppaRef, KimppaUpdated, Library, LibraryNames, MemberJoined
from kit.auth import Role
from kit.envelope import encode
from tests.conftest import Infra, wait_for
from tests.integration.catalogue.conftest import (
    Actors,
    base_number,
    join,
    leave,
    marc_file,
    marc_records,
    outbox_events,
    publish,
    sign,
    unique_isil,
    upload,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
MARC = "{http://www.loc.gov/MARC21/slim}"
TITLES = 12  # more than the session's OAI page size (10): the harvest follows a token
TODAY = dt.date.today()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def served(catalogue: Service) -> AsyncIterator[str]:
    """The session's catalogue app behind uvicorn on a loopback port (its lifespan already
    runs under the session fixture, so uvicorn does not run it again)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            catalogue.app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, timeout_s=30)
    try:
        yield f"http://127.0.0.1:{port}/oai"
    finally:
        server.should_exit = True
        await task


def library(isil: str, kimppa: KimppaRef | None) -> Library:
    return Library(
        isil=isil,
        names=LibraryNames(fi=f"Kirjasto {isil}"),
        municipalities=["853"],
        population=10_000,
        library_system="Koha",
        kimppa=kimppa,
    )


def harvest(url: str, token: str, set_spec: str) -> list[dict[str, Any]]:
    """Every record of a set, as a harvester sees it (Sickle follows resumption tokens)."""
    sickle = Sickle(url, auth=("harvester", token), max_retries=0, timeout=30)
    found = []
    for record in sickle.ListRecords(metadataPrefix="marc21", set=set_spec, ignore_deleted=False):
        holders = [
            sub.text
            for field in record.xml.iter(f"{MARC}datafield")
            if field.get("tag") == "852"
            for sub in field.iter(f"{MARC}subfield")
            if sub.get("code") == "a"
        ]
        found.append(
            {
                "identifier": record.header.identifier,
                "deleted": record.header.deleted,
                "sets": list(record.header.setSpecs),
                "holders": holders,
            }
        )
    return found


def list_sets(url: str, token: str) -> dict[str, str]:
    sickle = Sickle(url, auth=("harvester", token), max_retries=0, timeout=30)
    return {s.setSpec: s.setName for s in sickle.ListSets()}


@pytest.fixture(scope="module")
async def kimppa_world(catalogue: Service, actors: Actors, infra: Infra) -> dict[str, Any]:
    kimppa_id = f"kimppa-{uuid.uuid4().hex[:8]}"
    first, second, outside = unique_isil("FI-K"), unique_isil("FI-K"), unique_isil("FI-L")
    ref = KimppaRef(
        id=kimppa_id, name="Testikimppa", library_system="Koha", melinda_code="TESTK", since=TODAY
    )
    await publish(
        infra,
        MemberJoined(library=library(first, ref), joined_on=TODAY, period=1),
        MemberJoined(library=library(second, ref), joined_on=TODAY, period=1),
        MemberJoined(library=library(outside, None), joined_on=TODAY, period=1),
    )

    async def known() -> bool:
        rows = await catalogue.pool.fetch(
            "SELECT isil FROM libraries WHERE isil = ANY($1::text[])", [first, second, outside]
        )
        return len(rows) == 3

    await wait_for(known)
    collection = await sign(catalogue, title="Kimppa-e-kirjat")
    for isil in (first, second, outside):
        await join(catalogue, collection, isil)
    start = base_number()
    await upload(
        catalogue, actors, collection, marc_file(marc_records(range(start, start + TITLES)))
    )
    return {
        "kimppa": kimppa_id,
        "first": first,
        "second": second,
        "outside": outside,
        "collection": collection,
    }


async def test_a_kimppa_set_holds_each_record_once_with_its_holders(
    catalogue: Service, infra: Infra, served: str, kimppa_world: dict[str, Any]
) -> None:
    w = kimppa_world
    token = infra.token(Role.LIBRARY, w["first"])
    items = await asyncio.to_thread(harvest, served, token, f"kimppa:{w['kimppa']}")
    assert len(items) == TITLES  # two holding libraries, still one item per record
    assert len({i["identifier"] for i in items}) == TITLES
    assert all(
        i["identifier"].startswith(f"oai:konsortio.test:kimppa:{w['kimppa']}:") for i in items
    )
    assert all(not i["deleted"] for i in items)
    assert all(i["sets"] == [f"kimppa:{w['kimppa']}"] for i in items)
    assert all(i["holders"] == sorted([w["first"], w["second"]]) for i in items)


async def test_a_library_outside_a_kimppa_harvests_its_own_set(
    infra: Infra, served: str, kimppa_world: dict[str, Any]
) -> None:
    w = kimppa_world
    token = infra.token(Role.LIBRARY, w["outside"])
    items = await asyncio.to_thread(harvest, served, token, f"library:{w['outside']}")
    assert len(items) == TITLES
    assert all(i["sets"] == [f"library:{w['outside']}"] for i in items)


async def test_list_sets_names_kimppas_and_libraries_outside_them(
    infra: Infra, served: str, kimppa_world: dict[str, Any]
) -> None:
    w = kimppa_world
    sets = await asyncio.to_thread(list_sets, served, infra.token(Role.COORDINATOR))
    assert sets[f"kimppa:{w['kimppa']}"] == "Testikimppa (Koha)"
    assert sets[f"library:{w['outside']}"] == f"Kirjasto {w['outside']} ({w['outside']})"
    assert f"library:{w['first']}" not in sets  # it harvests its kimppa's set
    own = await asyncio.to_thread(list_sets, served, infra.token(Role.LIBRARY, w["second"]))
    assert set(own) == {f"kimppa:{w['kimppa']}", f"library:{w['second']}"}


async def test_a_library_may_not_harvest_another_kimppa(
    catalogue: Service, infra: Infra, kimppa_world: dict[str, Any]
) -> None:
    w = kimppa_world
    response = await catalogue.client.get(
        "/oai",
        params={
            "verb": "ListIdentifiers",
            "metadataPrefix": "marc21",
            "set": f"kimppa:{w['kimppa']}",
        },
        headers={"Authorization": f"Bearer {infra.token(Role.LIBRARY, w['outside'])}"},
    )
    assert response.status_code == 403, response.text
    assert "set" in response.text


async def test_records_available_names_the_set_to_harvest(
    catalogue: Service, kimppa_world: dict[str, Any]
) -> None:
    w = kimppa_world
    for isil, expected in (
        (w["first"], f"kimppa:{w['kimppa']}"),
        (w["second"], f"kimppa:{w['kimppa']}"),
        (w["outside"], f"library:{w['outside']}"),
    ):
        available = [
            p for name, p in await outbox_events(catalogue, isil) if name == "records-available"
        ]
        assert available, isil
        assert {p["oai_set"] for p in available} == {expected}


async def test_kimppa_record_is_deleted_only_when_the_last_holder_loses_it(
    catalogue: Service, actors: Actors, infra: Infra, served: str
) -> None:
    kimppa_id = f"kimppa-{uuid.uuid4().hex[:8]}"
    first, second = unique_isil("FI-K"), unique_isil("FI-K")
    await publish(
        infra,
        KimppaUpdated(
            kimppa_id=kimppa_id,
            kimppa_name="Lähtökimppa",
            library_system="Aurora",
            melinda_code="LAHTO",
            libraries=[first, second],
        ),
    )
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT count(*) = 2 FROM libraries WHERE kimppa_id = $1", kimppa_id
        )
    )
    collection = await sign(catalogue, title="Lähtevät")
    await join(catalogue, collection, first)
    await join(catalogue, collection, second)
    start = base_number()
    await upload(catalogue, actors, collection, marc_file(marc_records(range(start, start + 3))))
    token = infra.token(Role.LIBRARY, first)
    spec = f"kimppa:{kimppa_id}"

    await leave(catalogue, collection, first)
    items = await asyncio.to_thread(harvest, served, token, spec)
    assert len(items) == 3
    assert all(not i["deleted"] and i["holders"] == [second] for i in items)

    await leave(catalogue, collection, second)
    items = await asyncio.to_thread(harvest, served, token, spec)
    assert len(items) == 3
    assert all(i["deleted"] for i in items)


async def test_a_library_leaving_its_kimppa_takes_its_holdings_with_it(
    catalogue: Service, actors: Actors, infra: Infra, served: str
) -> None:
    """kimppa-updated without a library: the kimppa's set loses that library as a holder;
    a record only it held is deleted there. A redelivered event changes nothing."""
    kimppa_id = f"kimppa-{uuid.uuid4().hex[:8]}"
    first, second = unique_isil("FI-K"), unique_isil("FI-K")

    def updated(libraries: list[str]) -> KimppaUpdated:
        return KimppaUpdated(
            kimppa_id=kimppa_id,
            kimppa_name="Muuttuva kimppa",
            library_system="Koha",
            libraries=libraries,
        )

    await publish(infra, updated([first, second]))
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT count(*) = 2 FROM libraries WHERE kimppa_id = $1", kimppa_id
        )
    )
    shared, own = await sign(catalogue, title="Yhteiset"), await sign(catalogue, title="Omat")
    await join(catalogue, shared, first)
    await join(catalogue, shared, second)
    await join(catalogue, own, second)
    start = base_number()
    await upload(catalogue, actors, shared, marc_file(marc_records(range(start, start + 2))))
    await upload(catalogue, actors, own, marc_file(marc_records(range(start + 50, start + 51))))

    shrink_id = str(uuid.uuid4())
    for _ in range(2):  # the same event delivered twice: the inbox applies it once
        await publish_as(infra, updated([first]), shrink_id)
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT kimppa_id IS NULL FROM libraries WHERE isil = $1", second
        )
    )
    items = await asyncio.to_thread(
        harvest, served, infra.token(Role.LIBRARY, first), f"kimppa:{kimppa_id}"
    )
    live = [i for i in items if not i["deleted"]]
    assert len(live) == 2 and all(i["holders"] == [first] for i in live)
    assert len([i for i in items if i["deleted"]]) == 1  # the title only the leaver held
    assert (
        await catalogue.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", shrink_id)
        == 1
    )


async def publish_as(infra: Infra, event: Event, event_id: str) -> None:
    """Publish an event as membership does, with a given CloudEvents id (a redelivery)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        message = encode(event, source="/konsortio/membership", event_id=event_id)
        await producer.send_and_wait(
            message.topic,
            message.value,
            key=message.key.encode(),
            headers=[(k, v.encode()) for k, v in message.headers.items()],
        )
    finally:
        await producer.stop()


async def test_kimppa_items_are_valid_oai_pmh_and_only_its_libraries_read_them(
    catalogue: Service, infra: Infra, served: str, kimppa_world: dict[str, Any], oai_schema: Any
) -> None:
    w = kimppa_world
    member = {"Authorization": f"Bearer {infra.token(Role.LIBRARY, w['second'])}"}
    response = await catalogue.client.get(
        "/oai",
        params={"verb": "ListRecords", "metadataPrefix": "marc21", "set": f"kimppa:{w['kimppa']}"},
        headers=member,
    )
    root = etree.fromstring(response.content)
    assert oai_schema.validate(root), oai_schema.error_log
    identifier = root.findtext(".//{http://www.openarchives.org/OAI/2.0/}identifier")
    assert identifier is not None

    def get(token: str) -> Any:
        sickle = Sickle(served, auth=("harvester", token), max_retries=0, timeout=30)
        return sickle.GetRecord(identifier=identifier, metadataPrefix="oai_dc")

    record = await asyncio.to_thread(get, infra.token(Role.LIBRARY, w["first"]))
    assert record.header.identifier == identifier
    with pytest.raises(IdDoesNotExist):
        await asyncio.to_thread(get, infra.token(Role.LIBRARY, w["outside"]))


async def test_a_library_is_told_the_set_it_harvests(
    catalogue: Service, infra: Infra, kimppa_world: dict[str, Any]
) -> None:
    w = kimppa_world

    async def told(isil: str) -> Any:
        response = await catalogue.client.get(
            f"/libraries/{isil}/oai-set",
            headers={"Authorization": f"Bearer {infra.token(Role.LIBRARY, isil)}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    inside = await told(w["first"])
    assert inside["oai_set"] == f"kimppa:{w['kimppa']}"
    assert inside["set_name"] == "Testikimppa (Koha)"
    assert inside["kimppa"]["melinda_code"] == "TESTK"
    outside = await told(w["outside"])
    assert outside == {
        "isil": w["outside"],
        "oai_set": f"library:{w['outside']}",
        "set_name": f"Kirjasto {w['outside']} ({w['outside']})",
        "kimppa": None,
    }
    rows = (
        await catalogue.client.get(
            f"/libraries/{w['second']}/collections",
            headers={"Authorization": f"Bearer {infra.token(Role.LIBRARY, w['second'])}"},
        )
    ).json()
    assert {row["oai_set"] for row in rows} == {f"kimppa:{w['kimppa']}"}
    other = await catalogue.client.get(
        f"/libraries/{w['first']}/oai-set",
        headers={"Authorization": f"Bearer {infra.token(Role.LIBRARY, w['outside'])}"},
    )
    assert other.status_code == 403
