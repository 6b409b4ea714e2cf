"""OAI-PMH 2.0 over the real store: every verb, resumption across pages, per-library and
per-collection sets, deleted records, the protocol's errors, each response validated against
the OAI-PMH schema (with the MARCXML and oai_dc schemas for the metadata)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lxml import etree

from tests.integration.catalogue.conftest import (
    PAGE_SIZE,
    Actors,
    base_number,
    join,
    leave,
    marc_file,
    marc_records,
    sign,
    unique_isil,
    upload,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
OAI = "{http://www.openarchives.org/OAI/2.0/}"
NS = "konsortio.test"
TITLES = 25


class Harvester:
    def __init__(self, catalogue: Service, headers: dict[str, str], schema: Any) -> None:
        self.catalogue, self.headers, self.schema = catalogue, headers, schema

    async def __call__(self, method: str = "GET", **args: str) -> etree._Element:
        if method == "POST":
            response = await self.catalogue.client.post("/oai", data=args, headers=self.headers)
        else:
            response = await self.catalogue.client.get("/oai", params=args, headers=self.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        root = etree.fromstring(response.content)
        assert self.schema.validate(root), self.schema.error_log
        return root

    async def harvest(self, verb: str, **args: str) -> tuple[list[etree._Element], int]:
        """Every item of a list, following resumption tokens; returns (items, pages)."""
        items: list[etree._Element] = []
        pages = 0
        root = await self(verb=verb, **args)
        while True:
            pages += 1
            body = root.find(f"{OAI}{verb}")
            assert body is not None, etree.tostring(root)
            tag = "record" if verb == "ListRecords" else "header"
            items += body.findall(f"{OAI}{tag}")
            token = body.find(f"{OAI}resumptionToken")
            if token is None or not token.text:
                return items, pages
            root = await self(verb=verb, resumptionToken=token.text)


def error_code(root: etree._Element) -> str | None:
    error = root.find(f"{OAI}error")
    return error.get("code") if error is not None else None


@pytest.fixture(scope="module")
async def harvested(catalogue: Service, actors: Actors) -> dict[str, Any]:
    """A collection of 25 titles, one library that takes part and one that does not."""
    collection = await sign(catalogue, title="OAI-kokoelma")
    member, outsider = unique_isil("FI-O"), unique_isil("FI-X")
    await join(catalogue, collection, member)
    start = base_number()
    await upload(
        catalogue, actors, collection, marc_file(marc_records(range(start, start + TITLES)))
    )
    return {"collection": collection, "member": member, "outsider": outsider}


async def test_identify_and_formats(
    catalogue: Service, actors: Actors, oai_schema: Any, harvested: dict
) -> None:
    oai = Harvester(catalogue, actors.coordinator, oai_schema)
    identify = (await oai(verb="Identify")).find(f"{OAI}Identify")
    assert identify.findtext(f"{OAI}baseURL") == "http://catalogue.test/oai"
    assert identify.findtext(f"{OAI}deletedRecord") == "persistent"
    assert identify.findtext(f"{OAI}granularity") == "YYYY-MM-DDThh:mm:ssZ"
    formats = await oai(verb="ListMetadataFormats")
    prefixes = [p.text for p in formats.iter(f"{OAI}metadataPrefix")]
    assert prefixes == ["marc21", "oai_dc"]
    missing = await oai(verb="ListMetadataFormats", identifier=f"oai:{NS}:999999999")
    assert error_code(missing) == "idDoesNotExist"


async def test_sets_per_collection_and_per_library(
    catalogue: Service, actors: Actors, oai_schema: Any, harvested: dict
) -> None:
    everything = Harvester(catalogue, actors.coordinator, oai_schema)
    specs = {s.text for s in (await everything(verb="ListSets")).iter(f"{OAI}setSpec")}
    assert {f"collection:{harvested['collection']}", f"library:{harvested['member']}"} <= specs
    library = Harvester(catalogue, actors.library(harvested["member"]), oai_schema)
    own = [s.text for s in (await library(verb="ListSets")).iter(f"{OAI}setSpec")]
    assert own == [f"library:{harvested['member']}"]


async def test_a_library_harvests_its_set_page_by_page(
    catalogue: Service, actors: Actors, oai_schema: Any, harvested: dict
) -> None:
    member = harvested["member"]
    library = Harvester(catalogue, actors.library(member), oai_schema)
    records, pages = await library.harvest(
        "ListRecords", metadataPrefix="marc21", set=f"library:{member}"
    )
    assert len(records) == TITLES and pages == -(-TITLES // PAGE_SIZE)
    identifiers = [r.findtext(f"{OAI}header/{OAI}identifier") for r in records]
    assert len(set(identifiers)) == TITLES
    assert all(i.startswith(f"oai:{NS}:{member}:") for i in identifiers)
    assert {r.findtext(f"{OAI}header/{OAI}setSpec") for r in records} == {f"library:{member}"}
    # Without a set a library token gets the same: its own set is all it can see.
    headers, _ = await library.harvest("ListIdentifiers", metadataPrefix="oai_dc")
    assert sorted(h.findtext(f"{OAI}identifier") for h in headers) == sorted(identifiers)
    # oai_dc, by POST.
    dc = await library("POST", verb="ListRecords", metadataPrefix="oai_dc")
    titles = list(dc.iter("{http://purl.org/dc/elements/1.1/}title"))
    assert len(titles) == PAGE_SIZE and all(t.text for t in titles)


async def test_the_coordinator_harvests_a_collection_and_gets_records(
    catalogue: Service, actors: Actors, oai_schema: Any, harvested: dict
) -> None:
    oai = Harvester(catalogue, actors.coordinator, oai_schema)
    headers, _ = await oai.harvest(
        "ListIdentifiers", metadataPrefix="marc21", set=f"collection:{harvested['collection']}"
    )
    assert len(headers) == TITLES
    first = headers[0].findtext(f"{OAI}identifier")
    assert first.count(":") == 2  # oai:<namespace>:<record id>, the collection's record
    marc = await oai(verb="GetRecord", identifier=first, metadataPrefix="marc21")
    fields = {f.get("tag") for f in marc.iter("{http://www.loc.gov/MARC21/slim}datafield")}
    assert {"020", "245", "856", "909"} <= fields
    dc = await oai(verb="GetRecord", identifier=first, metadataPrefix="oai_dc")
    assert dc.find(".//{http://purl.org/dc/elements/1.1/}identifier") is not None
    # A library cannot read the collection's own items, only its set's.
    library = Harvester(catalogue, actors.library(harvested["member"]), oai_schema)
    hidden = await library(verb="GetRecord", identifier=first, metadataPrefix="marc21")
    assert error_code(hidden) == "idDoesNotExist"


async def test_protocol_errors(
    catalogue: Service, actors: Actors, oai_schema: Any, harvested: dict
) -> None:
    oai = Harvester(catalogue, actors.library(harvested["member"]), oai_schema)
    assert error_code(await oai(verb="Harvest")) == "badVerb"
    assert error_code(await oai(verb="ListRecords")) == "badArgument"
    assert (
        error_code(await oai(verb="ListRecords", metadataPrefix="marc21", until="yesterday"))
        == "badArgument"
    )
    assert error_code(await oai(verb="ListRecords", resumptionToken="not-a-token")) == (
        "badResumptionToken"
    )
    assert error_code(await oai(verb="ListRecords", metadataPrefix="mods")) == (
        "cannotDisseminateFormat"
    )
    assert (
        error_code(
            await oai(verb="GetRecord", identifier=f"oai:{NS}:nothing", metadataPrefix="marc21")
        )
        == "idDoesNotExist"
    )
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert error_code(
        await oai(verb="ListRecords", metadataPrefix="marc21", **{"from": tomorrow})
    ) == ("noRecordsMatch")
    outsider = Harvester(catalogue, actors.library(harvested["outsider"]), oai_schema)
    assert error_code(await outsider(verb="ListIdentifiers", metadataPrefix="marc21")) == (
        "noRecordsMatch"
    )


async def test_withdrawn_records_stay_as_deleted(
    catalogue: Service, actors: Actors, oai_schema: Any
) -> None:
    collection = await sign(catalogue)
    isil = unique_isil("FI-W")
    await join(catalogue, collection, isil)
    start = base_number()
    await upload(catalogue, actors, collection, marc_file(marc_records(range(start, start + 3))))
    library = Harvester(catalogue, actors.library(isil), oai_schema)
    before, _ = await library.harvest("ListIdentifiers", metadataPrefix="marc21")
    assert [h.get("status") for h in before] == [None, None, None]
    since = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    await leave(catalogue, collection, isil)

    after, _ = await library.harvest(
        "ListRecords",
        metadataPrefix="marc21",
        **{"from": since.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    assert len(after) == 3
    assert {r.find(f"{OAI}header").get("status") for r in after} == {"deleted"}
    assert all(r.find(f"{OAI}metadata") is None for r in after)
    one = after[0].findtext(f"{OAI}header/{OAI}identifier")
    got = await library(verb="GetRecord", identifier=one, metadataPrefix="oai_dc")
    assert got.find(f".//{OAI}header").get("status") == "deleted"
