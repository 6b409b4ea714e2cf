"""OAI-PMH 2.0: every verb and every error, each response validated against the
official OAI-PMH schema (with local MARCXML and oai_dc payload schemas)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from catalogue_oai_memory import MemoryRepository
from lxml import etree

from services.catalogue.formats.readers import read_onix
from services.catalogue.oai.protocol import (
    OaiItem,
    OaiSet,
    RepositoryInfo,
    collection_set,
    decode_token,
    encode_token,
    handle_request,
    library_set,
)

NS = {
    "o": "http://www.openarchives.org/OAI/2.0/",
    "marc": "http://www.loc.gov/MARC21/slim",
    "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
NOW = datetime(2026, 3, 10, 9, 0, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
INFO = RepositoryInfo(
    name="Konsortio catalogue",
    base_url="https://konsortio.example.fi/catalogue/oai",
    admin_emails=("kirjasto@konsortio.example.fi",),
)
SETS = [
    OaiSet(library_set("FI-Tro"), "Tampereen kaupunginkirjasto"),
    OaiSet(collection_set("agr-1"), "E-kirjat 2026"),
]


@pytest.fixture(scope="module")
def repository(fixtures: Path) -> MemoryRepository:
    with (fixtures / "onix_sample.xml").open("rb") as stream:
        records = [r for r in read_onix(stream) if not isinstance(r, Exception)][:2]
    sets = (library_set("FI-Tro"), collection_set("agr-1"))
    items = [
        OaiItem(f"oai:konsortio.example.fi:rec-{i}", T0 + timedelta(days=i), sets, False, r)
        for i, r in enumerate(records * 3)  # six live items
        if hasattr(r, "leader")
    ]
    items.append(
        OaiItem("oai:konsortio.example.fi:gone", T0 + timedelta(days=30), sets, deleted=True)
    )
    return MemoryRepository(items, SETS)


async def ask(
    repository: MemoryRepository,
    schema: etree.XMLSchema,
    page_size: int = 100,
    **args: str,
) -> etree._Element:
    body = await handle_request(args, repository, INFO, now=NOW, page_size=page_size)
    document = etree.fromstring(body)
    schema.assertValid(document)
    return document


def error_code(document: etree._Element) -> str | None:
    codes = document.xpath("o:error/@code", namespaces=NS)
    return codes[0] if codes else None


async def test_identify(repository: MemoryRepository, oai_schema: etree.XMLSchema) -> None:
    doc = await ask(repository, oai_schema, verb="Identify")
    assert doc.xpath("string(o:Identify/o:earliestDatestamp)", namespaces=NS) == (
        "2026-01-01T12:00:00Z"
    )
    assert doc.xpath("string(o:Identify/o:deletedRecord)", namespaces=NS) == "persistent"
    assert doc.xpath("string(o:request/@verb)", namespaces=NS) == "Identify"
    assert doc.xpath("string(o:responseDate)", namespaces=NS) == "2026-03-10T09:00:00Z"


async def test_list_metadata_formats(
    repository: MemoryRepository, oai_schema: etree.XMLSchema
) -> None:
    doc = await ask(repository, oai_schema, verb="ListMetadataFormats")
    assert doc.xpath(
        "o:ListMetadataFormats/o:metadataFormat/o:metadataPrefix/text()", namespaces=NS
    ) == [
        "marc21",
        "oai_dc",
    ]
    doc = await ask(
        repository,
        oai_schema,
        verb="ListMetadataFormats",
        identifier="oai:konsortio.example.fi:rec-0",
    )
    assert error_code(doc) is None
    doc = await ask(repository, oai_schema, verb="ListMetadataFormats", identifier="oai:x:nope")
    assert error_code(doc) == "idDoesNotExist"


async def test_list_sets(repository: MemoryRepository, oai_schema: etree.XMLSchema) -> None:
    doc = await ask(repository, oai_schema, verb="ListSets")
    assert doc.xpath("o:ListSets/o:set/o:setSpec/text()", namespaces=NS) == [
        "library:FI-Tro",
        "collection:agr-1",
    ]
    doc = await ask(repository, oai_schema, verb="ListSets", resumptionToken="abc")
    assert error_code(doc) == "badResumptionToken"


async def test_no_set_hierarchy(oai_schema: etree.XMLSchema, repository: MemoryRepository) -> None:
    flat = MemoryRepository(repository.items, [])
    assert error_code(await ask(flat, oai_schema, verb="ListSets")) == "noSetHierarchy"
    doc = await ask(flat, oai_schema, verb="ListRecords", metadataPrefix="marc21", set="library:x")
    assert error_code(doc) == "noSetHierarchy"


async def test_get_record_marc21(repository: MemoryRepository, oai_schema: etree.XMLSchema) -> None:
    doc = await ask(
        repository,
        oai_schema,
        verb="GetRecord",
        identifier="oai:konsortio.example.fi:rec-0",
        metadataPrefix="marc21",
    )
    record = doc.xpath("o:GetRecord/o:record", namespaces=NS)[0]
    assert record.xpath("o:header/o:setSpec/text()", namespaces=NS) == [
        "library:FI-Tro",
        "collection:agr-1",
    ]
    assert (
        record.xpath(
            "string(o:metadata/marc:record/marc:datafield[@tag='020']/marc:subfield[@code='a'])",
            namespaces=NS,
        )
        == "978-951-31-1234-9"  # hyphenated, as Melinda takes it
    )


async def test_get_record_oai_dc(repository: MemoryRepository, oai_schema: etree.XMLSchema) -> None:
    doc = await ask(
        repository,
        oai_schema,
        verb="GetRecord",
        identifier="oai:konsortio.example.fi:rec-1",
        metadataPrefix="oai_dc",
    )
    dc = doc.xpath("//oai_dc:dc", namespaces=NS)[0]
    assert dc.xpath("dc:title/text()", namespaces=NS) == ["Skärgårdens hemligheter"]
    assert dc.xpath("dc:creator/text()", namespaces=NS) == ["Lundqvist, Ulla-Lena"]
    assert dc.xpath("dc:contributor/text()", namespaces=NS) == ["Ekblad-Holm, Stina"]
    assert dc.xpath("dc:type/text()", namespaces=NS) == ["Sound"]
    assert dc.xpath("dc:language/text()", namespaces=NS) == ["swe"]
    assert "URN:ISBN:978-952-04-2001-7" in dc.xpath("dc:identifier/text()", namespaces=NS)


async def test_deleted_record_has_status_and_no_metadata(
    repository: MemoryRepository, oai_schema: etree.XMLSchema
) -> None:
    doc = await ask(
        repository,
        oai_schema,
        verb="GetRecord",
        identifier="oai:konsortio.example.fi:gone",
        metadataPrefix="oai_dc",
    )
    assert doc.xpath("string(//o:header/@status)", namespaces=NS) == "deleted"
    assert doc.xpath("//o:metadata", namespaces=NS) == []


@pytest.mark.parametrize("verb", ["ListRecords", "ListIdentifiers"])
async def test_list_with_resumption_tokens(
    verb: str, repository: MemoryRepository, oai_schema: etree.XMLSchema
) -> None:
    seen: list[str] = []
    cursors: list[str] = []
    doc = await ask(repository, oai_schema, page_size=3, verb=verb, metadataPrefix="marc21")
    while True:
        seen += doc.xpath("//o:header/o:identifier/text()", namespaces=NS)
        token = doc.xpath(f"o:{verb}/o:resumptionToken", namespaces=NS)
        if not token:
            break
        cursors.append(token[0].get("cursor"))
        if not token[0].text:
            break  # the last page carries an empty token
        doc = await ask(
            repository, oai_schema, page_size=3, verb=verb, resumptionToken=token[0].text
        )
    assert len(seen) == 7 and len(set(seen)) == 7
    assert cursors == ["0", "3", "6"]
    if verb == "ListIdentifiers":
        assert doc.xpath("//o:metadata", namespaces=NS) == []


async def test_list_records_filters_by_set_and_dates(
    repository: MemoryRepository, oai_schema: etree.XMLSchema
) -> None:
    doc = await ask(
        repository,
        oai_schema,
        verb="ListRecords",
        metadataPrefix="oai_dc",
        set="collection:agr-1",
        **{"from": "2026-01-02", "until": "2026-01-03"},
    )
    assert doc.xpath("//o:header/o:identifier/text()", namespaces=NS) == [
        "oai:konsortio.example.fi:rec-1",
        "oai:konsortio.example.fi:rec-2",
    ]
    doc = await ask(
        repository,
        oai_schema,
        verb="ListIdentifiers",
        metadataPrefix="marc21",
        **{"from": "2026-01-31T12:00:00Z"},
    )
    assert doc.xpath("//o:header/@status", namespaces=NS) == ["deleted"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({}, "badVerb"),
        ({"verb": "Frobnicate"}, "badVerb"),
        ({"verb": "Identify", "extra": "1"}, "badArgument"),
        ({"verb": "GetRecord", "identifier": "oai:x:1"}, "badArgument"),
        ({"verb": "ListRecords"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "marc21", "set": "bad set"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "marc21", "from": "yesterday"}, "badArgument"),
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "marc21",
                "from": "2026-01-01",
                "until": "2026-01-02T00:00:00Z",
            },
            "badArgument",
        ),
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "marc21",
                "from": "2026-02-01",
                "until": "2026-01-01",
            },
            "badArgument",
        ),
        (
            {"verb": "ListIdentifiers", "resumptionToken": "x", "metadataPrefix": "marc21"},
            "badArgument",
        ),
        ({"verb": "ListRecords", "resumptionToken": "!!not-base64!!"}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": "eyJ2IjoxfQ"}, "badResumptionToken"),
        (
            {"verb": "GetRecord", "identifier": "oai:x:1", "metadataPrefix": "mods"},
            "cannotDisseminateFormat",
        ),
        ({"verb": "ListRecords", "metadataPrefix": "mods"}, "cannotDisseminateFormat"),
        (
            {"verb": "GetRecord", "identifier": "oai:x:nope", "metadataPrefix": "marc21"},
            "idDoesNotExist",
        ),
        (
            {"verb": "ListRecords", "metadataPrefix": "marc21", "set": "library:FI-Nope"},
            "noRecordsMatch",
        ),
        (
            {"verb": "ListIdentifiers", "metadataPrefix": "marc21", "from": "2030-01-01"},
            "noRecordsMatch",
        ),
    ],
)
async def test_errors(
    args: dict[str, str],
    code: str,
    repository: MemoryRepository,
    oai_schema: etree.XMLSchema,
) -> None:
    doc = await ask(repository, oai_schema, **args)
    assert error_code(doc) == code
    request = doc.xpath("o:request", namespaces=NS)[0]
    if code in ("badVerb", "badArgument"):
        assert dict(request.attrib) == {}  # spec: base URL only for these errors
    assert request.text == INFO.base_url


async def test_repeated_argument_is_bad_argument(
    repository: MemoryRepository, oai_schema: etree.XMLSchema
) -> None:
    body = await handle_request(
        [("verb", "Identify"), ("verb", "Identify")], repository, INFO, now=NOW
    )
    document = etree.fromstring(body)
    oai_schema.assertValid(document)
    assert error_code(document) == "badArgument"


async def test_token_for_another_verb_is_rejected(
    repository: MemoryRepository, oai_schema: etree.XMLSchema
) -> None:
    token = encode_token(
        {"verb": "ListIdentifiers", "metadataPrefix": "marc21", "cursor": "x", "offset": 3}
    )
    assert decode_token(token, "ListIdentifiers")["cursor"] == "x"
    doc = await ask(repository, oai_schema, verb="ListRecords", resumptionToken=token)
    assert error_code(doc) == "badResumptionToken"
