"""Title-list ingest on the real database: formats, quality reports, dedup and re-ingest, full
and delta loads, bad records, links across collections, and exports since a timestamp."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from lxml import etree
from pymarc import MARCReader, Record

from tests.integration.catalogue.conftest import (
    Actors,
    base_number,
    isbn,
    join,
    marc_file,
    marc_records,
    ok,
    onix_sample,
    outbox_events,
    retitled,
    sign,
    unique_isil,
    upload,
    with_url,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
MARC_NS = "{http://www.loc.gov/MARC21/slim}"


async def records_of(catalogue: Service, actors: Actors, collection: str, **params: object) -> list:
    page = ok(
        await catalogue.client.get(
            "/records",
            params={"collection": collection, "limit": 500, **params},
            headers=actors.coordinator,
        )
    )
    return page["items"]


def parse_marc(content: bytes) -> list[Record]:
    return list(MARCReader(io.BytesIO(content), to_unicode=True, force_utf8=True))


async def test_onix_ingest_with_quality_report_as_json_and_csv(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    batch = await upload(catalogue, actors, collection, onix_sample(), filename="ellibs.xml")
    assert batch["format"] == "onix"  # detected from the content
    assert batch["filename"] == "ellibs.xml"
    assert batch["counts"]["received"] == 4
    assert batch["counts"]["accepted"] == 3
    # The print book; the e-book with no access URL gets the national resolver's, a warning.
    assert batch["counts"]["rejected"] == 1

    report = ok(await catalogue.client.get(batch["links"]["report"], headers=actors.cataloguer))
    assert report["counts"]["accepted"] == 3
    codes = {f["code"] for f in report["top_findings"]}
    assert {"resolver-access-url", "unreadable-record"} <= codes

    fields = ok(
        await catalogue.client.get(
            f"/batches/{batch['id']}/conversion-report", headers=actors.cataloguer
        )
    )
    assert fields["records"] == 3
    assert fields["fields"]["020"] == {"applicable": 3, "accepted": 3, "share": 1.0}
    assert fields["fields"]["511"] == {"applicable": 1, "accepted": 1, "share": 1.0}
    assert fields["core_share"] >= 0.95

    summary = ok(
        await catalogue.client.get(batch["links"]["report_csv"], headers=actors.coordinator)
    )
    rows = list(csv.reader(io.StringIO(summary.decode())))
    assert rows[0] == ["section", "severity", "code", "count"]
    assert ["outcome", "", "rejected", "1"] in rows
    assert ["finding", "warning", "resolver-access-url", "1"] in rows

    findings = ok(
        await catalogue.client.get(batch["links"]["findings_csv"], headers=actors.cataloguer)
    )
    lines = list(csv.DictReader(io.StringIO(findings.decode())))
    assert {line["code"] for line in lines} >= {"resolver-access-url", "unreadable-record"}
    assert all(line["position"] for line in lines)

    # The accepted ONIX products became records with the profile's 909 collection code.
    records = await records_of(catalogue, actors, collection)
    assert sorted(r["match_key"] for r in records) == [
        "9789510056783",
        "9789513112349",
        "9789520420017",
    ]
    detail = ok(
        await catalogue.client.get(
            f"/records/{records[0]['id']}", params={"format": "marcxml"}, headers=actors.cataloguer
        )
    )
    xml = etree.fromstring(detail)
    codes_909 = xml.findall(f".//{MARC_NS}datafield[@tag='909']/{MARC_NS}subfield")
    assert [c.text for c in codes_909] == [collection]


async def test_kbart_list_with_its_language(catalogue: Service, actors: Actors) -> None:
    collection = await sign(catalogue)
    header = "\t".join(
        ["publication_title", "print_identifier", "online_identifier", "title_url", "first_author"]
        + ["title_id", "publisher_name", "publication_type", "date_monograph_published_online"]
    )
    row = "\t".join(
        ["Talvisota", "", isbn(base_number()), "https://lainaa.example.fi/t/1", "Virtanen, Aino"]
        + ["t-1", "Kustannus Aalto", "monograph", "2021"]
    )
    batch = await upload(
        catalogue,
        actors,
        collection,
        f"{header}\n{row}\n".encode(),
        content_type="text/tab-separated-values",
        language="fi",
    )
    assert batch["format"] == "kbart" and batch["language"] == "fin"
    assert batch["counts"]["accepted"] == 1, batch["report"]


async def test_dedup_keeps_the_richer_record_and_merges_access_urls(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    number = base_number()
    [plain] = marc_records([number])
    [rich] = marc_records([number], seed=99)
    plain.remove_fields("520")  # poorer: no summary
    rich = with_url(rich, "https://toinen.example.fi/kirja/1")
    batch = await upload(catalogue, actors, collection, marc_file([plain, rich]))
    assert batch["counts"]["accepted"] == 1
    assert batch["counts"]["duplicate"] == 1

    [record] = await records_of(catalogue, actors, collection)
    stored = parse_marc(
        ok(
            await catalogue.client.get(
                f"/records/{record['id']}", params={"format": "marc"}, headers=actors.cataloguer
            )
        )
    )[0]
    urls = {u for f in stored.get_fields("856") for u in f.get_subfields("u")}
    assert urls == {
        f"https://lainaa.example.fi/kirja/{isbn(number)}",
        "https://toinen.example.fi/kirja/1",
    }
    assert stored.get_fields("520"), "the richer record (with a summary) was kept"

    # Later, a poorer copy from another list adds its URL without losing the description.
    [again] = marc_records([number])
    again.remove_fields("520", "856")
    again = with_url(again, "https://kolmas.example.fi/1")
    batch = await upload(catalogue, actors, collection, marc_file([again]))
    assert batch["counts"]["updated"] == 1
    detail = ok(await catalogue.client.get(f"/records/{record['id']}", headers=actors.cataloguer))
    urls = {
        sf["u"]
        for field in detail["marc"]["fields"]
        if "856" in field
        for sf in field["856"]["subfields"]
        if "u" in sf
    }
    assert len(urls) == 3


async def test_reingesting_the_same_file_changes_nothing(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    isil = unique_isil()
    await join(catalogue, collection, isil)
    start = base_number()
    content = marc_file(marc_records(range(start, start + 60)))
    first = await upload(catalogue, actors, collection, content)
    assert first["counts"]["accepted"] == 60
    before = {r["id"]: r["datestamp"] for r in await records_of(catalogue, actors, collection)}
    events_before = await outbox_events(catalogue, isil)

    again = await upload(catalogue, actors, collection, content, mode="full")
    assert again["counts"]["unchanged"] == 60
    assert again["counts"]["accepted"] == again["counts"]["updated"] == 0
    assert again["counts"]["withdrawn"] == 0
    after = {r["id"]: r["datestamp"] for r in await records_of(catalogue, actors, collection)}
    assert after == before
    assert await outbox_events(catalogue, isil) == events_before  # nothing new for the library
    melinda = ok(
        await catalogue.client.get(f"/batches/{again['id']}/melinda.xml", headers=actors.cataloguer)
    )
    assert etree.fromstring(melinda).findall(f"{MARC_NS}record") == []


async def test_full_load_withdraws_missing_titles_and_delta_never_does(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    start = base_number()
    a, b, c, d, e = marc_records(range(start, start + 5))
    await upload(catalogue, actors, collection, marc_file([a, b, c]), mode="full")
    delta = await upload(catalogue, actors, collection, marc_file([d]), mode="delta")
    assert delta["counts"]["withdrawn"] == 0
    assert len(await records_of(catalogue, actors, collection)) == 4

    full = await upload(catalogue, actors, collection, marc_file([b, c, e]), mode="full")
    assert full["counts"]["accepted"] == 1 and full["counts"]["unchanged"] == 2
    assert full["counts"]["withdrawn"] == 2
    current = {r["match_key"] for r in await records_of(catalogue, actors, collection)}
    assert current == {isbn(start + 1), isbn(start + 2), isbn(start + 4)}
    everything = await records_of(catalogue, actors, collection, include_deleted="true")
    assert {r["match_key"] for r in everything if r["deleted"]} == {isbn(start), isbn(start + 3)}

    # A withdrawn title that comes back is a new title again, under the same record id.
    back = await upload(catalogue, actors, collection, marc_file([a]), mode="delta")
    assert back["counts"]["accepted"] == 1
    revived = await records_of(catalogue, actors, collection, match_key=isbn(start))
    assert [r["deleted"] for r in revived] == [False]


async def test_a_full_load_of_nothing_usable_is_refused_and_withdraws_nothing(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    start = base_number()
    await upload(catalogue, actors, collection, marc_file(marc_records(range(start, start + 3))))
    broken = marc_records(range(start + 10, start + 12))
    for record in broken:
        record.remove_fields("020")  # no identifier: rejected
    response = await catalogue.client.post(
        "/batches",
        params={"collection": collection, "mode": "full", "wait": "true"},
        content=marc_file(broken),
        headers={**actors.cataloguer, "Content-Type": "application/marc"},
    )
    batch = ok(response)
    assert batch["status"] == "failed" and "full load refused" in batch["error"]
    assert batch["counts"]["rejected"] == 2 and batch["counts"]["withdrawn"] == 0
    assert len(await records_of(catalogue, actors, collection)) == 3


async def test_bad_records_never_stop_a_batch(catalogue: Service, actors: Actors) -> None:
    collection = await sign(catalogue)
    start = base_number()
    good = marc_records(range(start, start + 4))
    bad_isbn = marc_records([start + 50])[0]
    for field in bad_isbn.get_fields("020"):
        field.subfields[0] = field.subfields[0]._replace(value="9789510000001")  # bad checksum
    nul_title = retitled(marc_records([start + 51])[0], "Nolla\x00merkki")
    content = (
        good[0].as_marc()
        + b"00042nam  2200025   4500garbage-that-is-no-record\x1e\x1d"
        + good[1].as_marc()
        + bad_isbn.as_marc()
        + nul_title.as_marc()
        + marc_file(good[2:])
    )
    batch = await upload(catalogue, actors, collection, content)
    counts = batch["counts"]
    assert counts["accepted"] == 5, batch["report"]  # four good ones and the NUL title
    assert counts["rejected"] == 2
    codes = {f["code"] for f in batch["report"]["top_findings"]}
    assert {"bad-isbn", "unreadable-record"} <= codes


async def test_the_same_work_in_two_collections_is_two_linked_records(
    catalogue: Service, actors: Actors
) -> None:
    first, second = await sign(catalogue), await sign(catalogue)
    number = base_number()
    await upload(catalogue, actors, first, marc_file(marc_records([number])))
    await upload(catalogue, actors, second, marc_file(marc_records([number, number + 1])))
    work = ok(await catalogue.client.get(f"/works/{isbn(number)}", headers=actors.coordinator))
    assert sorted(r["collection_id"] for r in work) == sorted([first, second])
    mine = next(r for r in work if r["collection_id"] == first)
    detail = ok(await catalogue.client.get(f"/records/{mine['id']}", headers=actors.coordinator))
    assert [r["collection_id"] for r in detail["linked"]] == [second]


async def test_exports_in_full_and_changes_since_a_timestamp(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    isil = unique_isil()
    await join(catalogue, collection, isil)
    start = base_number()
    records = marc_records(range(start, start + 6))
    await upload(catalogue, actors, collection, marc_file(records), mode="full")

    full = parse_marc(
        ok(
            await catalogue.client.get(
                f"/libraries/{isil}/export", params={"format": "marc"}, headers=actors.library(isil)
            )
        )
    )
    assert len(full) == 6 and all(r.get("005") is not None for r in full)
    assert all(r.leader[5] != "d" for r in full)

    since = dt.datetime.now(dt.UTC)
    changed = retitled(records[0], "Uusi nimi")
    await upload(catalogue, actors, collection, marc_file([changed, *records[1:5]]), mode="full")

    delta = parse_marc(
        ok(
            await catalogue.client.get(
                f"/libraries/{isil}/export",
                params={"format": "marc", "since": since.isoformat()},
                headers=actors.library(isil),
            )
        )
    )
    by_isbn = {r["020"]["a"]: r for r in delta}
    assert set(by_isbn) == {isbn(start), isbn(start + 5)}
    assert by_isbn[isbn(start)]["245"]["a"] == "Uusi nimi"
    assert by_isbn[isbn(start + 5)].leader[5] == "d"  # withdrawn by the full load

    xml = ok(
        await catalogue.client.get(
            f"/collections/{collection}/export",
            params={"format": "marcxml", "since": since.isoformat()},
            headers=actors.cataloguer,
        )
    )
    assert len(etree.fromstring(xml).findall(f"{MARC_NS}record")) == 2
    current = ok(
        await catalogue.client.get(
            f"/collections/{collection}/export",
            params={"format": "marcxml"},
            headers=actors.coordinator,
        )
    )
    assert len(etree.fromstring(current).findall(f"{MARC_NS}record")) == 5


async def test_collections_list_and_counts(catalogue: Service, actors: Actors) -> None:
    collection = await sign(catalogue, title="Äänikirjat")
    isil = unique_isil()
    await join(catalogue, collection, isil)
    start = base_number()
    await upload(catalogue, actors, collection, marc_file(marc_records(range(start, start + 3))))
    page = ok(
        await catalogue.client.get(
            "/collections", params={"agreement_id": collection}, headers=actors.library(isil)
        )
    )
    [item] = page["items"]
    assert (item["title"], item["records"], item["libraries"]) == ("Äänikirjat", 3, 1)
    sets = ok(
        await catalogue.client.get(f"/libraries/{isil}/collections", headers=actors.library(isil))
    )
    assert [(s["collection_id"], s["available"], s["records"]) for s in sets] == [
        (collection, True, 3)
    ]
    made = ok(
        await catalogue.client.post(
            "/collections",
            json={"title": "Avoimet e-kirjat", "supplier": "Open Library Finland"},
            headers=actors.cataloguer,
        ),
        201,
    )
    assert made["id"].startswith("col-") and made["agreement_id"] is None
    again = await catalogue.client.post(
        "/collections", json={"id": made["id"], "title": "x"}, headers=actors.cataloguer
    )
    assert again.status_code == 409
