"""Supplier files can never corrupt the catalogue: characters that would split an ISO 2709
record or break XML are removed at ingest with a finding, a stored record that cannot be
rendered is left out of exports and OAI-PMH pages (which stay valid) with a finding, and
resumption tokens that were changed or are not ours are badResumptionToken."""

from __future__ import annotations

import io
from typing import Any

import pytest
from lxml import etree
from pymarc import MARCReader, Record

from services.catalogue import store
from services.catalogue.formats.kbart import KBART_COLUMNS
from tests.integration.catalogue.conftest import (
    FIXTURES,
    Actors,
    base_number,
    isbn,
    marc_file,
    marc_records,
    ok,
    sign,
    upload,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
OAI = "{http://www.openarchives.org/OAI/2.0/}"


def marcxml_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(str(FIXTURES / "MARC21slim.xsd"), parser))


def kbart_hiding_a_marc_record(start: int) -> bytes:
    hidden = marc_records([start + 99])[0].as_marc().decode("utf-8")
    assert "\x1d" in hidden and "\x1e" in hidden and "\x1f" in hidden
    lines = ["\t".join(KBART_COLUMNS)]
    for number in range(start, start + 3):
        row = dict.fromkeys(KBART_COLUMNS, "")
        row.update(
            publication_title=f"Verkkokirja {number}",
            online_identifier=isbn(number),
            title_url=f"https://kbart.example.fi/{number}",
            publication_type="monograph",
            notes=hidden if number == start + 1 else "",
        )
        lines.append("\t".join(row[c] for c in KBART_COLUMNS))
    return ("\n".join(lines) + "\n").encode()


async def oai(catalogue: Service, actors: Actors, **args: str) -> etree._Element:
    response = await catalogue.client.get("/oai", params=args, headers=actors.coordinator)
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


async def test_a_kbart_cell_hiding_a_marc_record_cannot_corrupt_exports_or_oai(
    catalogue: Service, actors: Actors, oai_schema: Any
) -> None:
    collection = await sign(catalogue)
    batch = await upload(
        catalogue, actors, collection, kbart_hiding_a_marc_record(base_number()), language="fin"
    )
    assert batch["counts"]["accepted"] == 3
    findings = ok(
        await catalogue.client.get(
            f"/batches/{batch['id']}/findings.csv", headers=actors.coordinator
        )
    ).decode()
    removed = [line for line in findings.splitlines() if "control-characters-removed" in line]
    # Named by row (position 2) and field (500 $a), with the characters removed.
    assert removed and removed[0].startswith("2,") and "500 $a" in removed[0]
    # (the record terminator at the cell's end went with the surrounding whitespace)
    assert "U+001E" in removed[0] and "U+001F" in removed[0]

    iso = ok(
        await catalogue.client.get(
            f"/collections/{collection}/export",
            params={"format": "marc"},
            headers=actors.coordinator,
        )
    )
    records = list(MARCReader(io.BytesIO(iso), to_unicode=True, force_utf8=True))
    assert len(records) == 3 and all(r is not None for r in records)
    assert iso.count(b"\x1d") == 3

    marcxml = ok(
        await catalogue.client.get(
            f"/collections/{collection}/export",
            params={"format": "marcxml"},
            headers=actors.coordinator,
        )
    )
    document = etree.fromstring(marcxml)
    marcxml_schema().assertValid(document)

    root = await oai(
        catalogue,
        actors,
        verb="ListRecords",
        metadataPrefix="marc21",
        set=f"collection:{collection}",
    )
    assert oai_schema.validate(root), oai_schema.error_log
    assert len(root.findall(f"{OAI}ListRecords/{OAI}record")) == 3


async def test_a_stored_record_that_cannot_be_rendered_is_left_out_with_a_finding(
    catalogue: Service, actors: Actors, oai_schema: Any
) -> None:
    collection = await sign(catalogue)
    start = base_number()
    await upload(catalogue, actors, collection, marc_file(marc_records(range(start, start + 4))))
    # Damage one stored record behind the service's back (as a bad migration or a bug might).
    broken = await catalogue.pool.fetchval(
        "UPDATE records SET marc = $2 WHERE collection_id = $1 AND match_key = $3 RETURNING id",
        collection,
        b"00026nam a2200025 i 4500\x1e\x1d",
        isbn(start + 1),
    )
    xml_breaker = await catalogue.pool.fetchval(
        "SELECT id FROM records WHERE collection_id = $1 AND match_key = $2",
        collection,
        isbn(start + 2),
    )
    marc = await catalogue.pool.fetchval("SELECT marc FROM records WHERE id = $1", xml_breaker)
    record = Record(data=marc, force_utf8=True)
    title = record["245"]
    title.subfields[0] = title.subfields[0]._replace(value="Ohjaus\x01merkki")
    # Valid ISO 2709 still, but no XML can carry U+0001.
    await catalogue.pool.execute(
        "UPDATE records SET marc = $2 WHERE id = $1", xml_breaker, record.as_marc()
    )

    for fmt in ("marc", "marcxml"):
        body = ok(
            await catalogue.client.get(
                f"/collections/{collection}/export",
                params={"format": fmt},
                headers=actors.coordinator,
            )
        )
        if fmt == "marc":
            assert len(list(MARCReader(io.BytesIO(body)))) == 3  # U+0001 is fine in ISO 2709
        else:
            document = etree.fromstring(body)
            marcxml_schema().assertValid(document)
            assert len(document) == 2

    for prefix in ("marc21", "oai_dc"):
        root = await oai(
            catalogue,
            actors,
            verb="ListRecords",
            metadataPrefix=prefix,
            set=f"collection:{collection}",
        )
        assert oai_schema.validate(root), oai_schema.error_log
        assert len(root.findall(f"{OAI}ListRecords/{OAI}record")) == 2

    noted = await store.record_findings(catalogue.pool, broken)
    assert {(f["context"], f["code"]) for f in noted} == {
        ("export", "unrenderable-record"),
        ("oai-pmh", "unrenderable-record"),
    }
    one = await oai(
        catalogue,
        actors,
        verb="GetRecord",
        metadataPrefix="marc21",
        identifier=f"oai:konsortio.test:{broken}",
    )
    assert oai_schema.validate(one)
    assert one.find(f"{OAI}error").get("code") == "cannotDisseminateFormat"


async def test_a_changed_or_foreign_resumption_token_is_refused(
    catalogue: Service, actors: Actors, oai_schema: Any
) -> None:
    collection = await sign(catalogue)
    start = base_number()
    await upload(catalogue, actors, collection, marc_file(marc_records(range(start, start + 15))))
    first = await oai(
        catalogue,
        actors,
        verb="ListIdentifiers",
        metadataPrefix="marc21",
        set=f"collection:{collection}",
    )
    token = first.find(f"{OAI}ListIdentifiers/{OAI}resumptionToken").text
    body, _, signature = token.partition(".")
    tampered = [
        body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature,
        body + "." + ("A" * len(signature)),
        body,  # no signature at all
        "eyJ2IjoxLCJ2ZXJiIjoiTGlzdElkZW50aWZpZXJzIn0.c2lnbmF0dXJl",  # someone else's
        "not a token at all \u00e4",
        "x" * 5000,
    ]
    for bad in tampered:
        root = await oai(catalogue, actors, verb="ListIdentifiers", resumptionToken=bad)
        assert oai_schema.validate(root), oai_schema.error_log
        assert root.find(f"{OAI}error").get("code") == "badResumptionToken", bad
    good = await oai(catalogue, actors, verb="ListIdentifiers", resumptionToken=token)
    assert good.find(f"{OAI}ListIdentifiers") is not None
