"""The ingest's per-chunk decisions (pure): outcomes against stored records and earlier records
of the batch, what is written, and what a full load must not withdraw."""

from __future__ import annotations

import io

from pymarc import Field, MARCReader, Record, Subfield

from bench.marc_generator import generate
from services.catalogue.dedup import content_hash, stored_bytes
from services.catalogue.ingest import plan_chunk
from services.catalogue.pipeline import Processed, process_stream
from services.catalogue.quality import QualityReport
from services.catalogue.store import StoredRecord

BATCH = "batch-now"


def processed(records: list[Record]) -> list[Processed]:
    data = b"".join(r.as_marc() for r in records)
    return list(process_stream(io.BytesIO(data), "marc", collection_code="col-1"))


def stored(item: Processed, record_id: int, **overrides: object) -> StoredRecord:
    assert item.record is not None and item.match_key is not None
    values: dict = {
        "id": record_id,
        "match_key": item.match_key,
        "content_hash": content_hash(item.record),
        "marc": stored_bytes(item.record),
        "deleted": False,
        "seen_batch": "batch-before",
    }
    values.update(overrides)
    return StoredRecord(**values)


def test_new_titles_are_accepted_and_inserted() -> None:
    report = QualityReport()
    plan = plan_chunk(processed(list(generate(3))), {}, BATCH, report)
    assert report.outcomes["accepted"] == 3
    assert len(plan.inserts) == 3 and not plan.updates and not plan.seen
    inserted = next(MARCReader(io.BytesIO(plan.inserts[0].marc), to_unicode=True))
    assert inserted["909"]["a"] == "col-1"


def test_the_same_title_twice_in_a_chunk_is_one_record_with_both_urls() -> None:
    first, second = list(generate(1)), list(generate(1, seed=5))
    second[0].add_ordered_field(
        Field(tag="856", indicators=["4", "0"], subfields=[Subfield("u", "https://b.fi/1")])
    )
    report = QualityReport()
    plan = plan_chunk(processed(first + second), {}, BATCH, report)
    assert (report.outcomes["accepted"], report.outcomes["duplicate"]) == (1, 1)
    [insert] = plan.inserts
    record = next(MARCReader(io.BytesIO(insert.marc), to_unicode=True))
    assert "https://b.fi/1" in [u for f in record.get_fields("856") for u in f.get_subfields("u")]


def test_stored_titles_are_unchanged_updated_or_back() -> None:
    items = processed(list(generate(3)))
    existing = {
        items[0].match_key: stored(items[0], 1),  # same content
        items[1].match_key: stored(items[1], 2, deleted=True),  # withdrawn before
    }
    poorer = items[2].record.__class__(force_utf8=True)
    poorer.leader = items[2].record.leader
    poorer.fields = [f for f in items[2].record.fields if f.tag not in ("520", "700")]
    existing[items[2].match_key] = stored(
        items[2], 3, content_hash="old", marc=stored_bytes(poorer)
    )
    report = QualityReport()
    plan = plan_chunk(items, existing, BATCH, report)
    assert report.outcomes == {"unchanged": 1, "accepted": 1, "updated": 1}
    assert plan.seen == {1}
    assert {u.id for u in plan.updates} == {2, 3}
    assert plan.reinstated == {2}
    assert not plan.inserts


def test_a_title_seen_earlier_in_the_batch_is_a_duplicate() -> None:
    items = processed(list(generate(1)))
    existing = {items[0].match_key: stored(items[0], 9, seen_batch=BATCH)}
    report = QualityReport()
    plan_chunk(items, existing, BATCH, report)
    assert report.outcomes == {"duplicate": 1}


def test_a_rejected_record_of_a_title_we_have_keeps_it_in_a_full_load() -> None:
    good = processed(list(generate(1)))
    bad = list(generate(1))[0]
    bad.remove_fields("245")  # missing title: rejected, but its ISBN is still on the list
    [item] = processed([bad])
    report = QualityReport()
    plan = plan_chunk([item], {good[0].match_key: stored(good[0], 4)}, BATCH, report)
    assert report.outcomes == {"rejected": 1}
    assert plan.seen == {4}
    assert [f[4] for f in plan.findings] == ["missing-title"]


def test_text_for_the_database_carries_no_nul() -> None:
    record = list(generate(1))[0]
    record.remove_fields("245")
    record.add_ordered_field(
        Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", "Nolla\x00merkki")])
    )
    plan = plan_chunk(processed([record]), {}, BATCH, QualityReport())
    assert "\x00" not in plan.inserts[0].title
