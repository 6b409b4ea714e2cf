"""Deduplication by match key and idempotent re-ingest."""

from __future__ import annotations

import copy
from pathlib import Path

from pymarc import Field, Indicators, Record, Subfield

from services.catalogue.dedup import content_hash, merge, resolve, stored_bytes
from services.catalogue.pipeline import process_stream


def _record(url: str, *, summary: bool = False) -> Record:
    record = Record(leader="00000nam a22000005c 4500")
    record.add_field(
        Field(
            tag="020", indicators=Indicators(" ", " "), subfields=[Subfield("a", "9789513112349")]
        ),
        Field(
            tag="245", indicators=Indicators("0", "0"), subfields=[Subfield("a", "Meren muisti")]
        ),
    )
    if summary:
        record.add_field(
            Field(tag="520", indicators=Indicators(" ", " "), subfields=[Subfield("a", "Tarina")])
        )
    record.add_field(
        Field(tag="856", indicators=Indicators("4", "0"), subfields=[Subfield("u", url)])
    )
    return record


def test_merge_keeps_the_richer_record_and_merges_access_urls() -> None:
    poor = _record("https://a.example/1")
    rich = _record("https://b.example/1", summary=True)
    result = merge(existing=rich, incoming=poor)
    assert result.kept == "existing"
    assert result.added_urls == ("https://a.example/1",)
    assert result.record.get_fields("520")
    assert [f.get_subfields("u")[0] for f in result.record.get_fields("856")] == [
        "https://b.example/1",
        "https://a.example/1",
    ]
    # the other way round gives the same content
    assert merge(existing=poor, incoming=rich).kept == "incoming"


def test_same_url_is_not_added_twice() -> None:
    result = merge(_record("https://a.example/1/"), _record("HTTPS://A.example/1"))
    assert len(result.record.get_fields("856")) == 1


def test_content_hash_ignores_005_and_leader_lengths() -> None:
    record = _record("https://a.example/1")
    stamped = copy.deepcopy(record)
    stamped.add_ordered_field(Field(tag="005", data="20260101120000.0"))
    stamped.leader = type(stamped.leader)("01234" + str(stamped.leader)[5:])
    assert content_hash(stamped) == content_hash(record)
    other = _record("https://a.example/2")
    assert content_hash(other) != content_hash(record)


def test_resolve_outcomes() -> None:
    first = _record("https://a.example/1")
    assert resolve(None, first).outcome == "accepted"
    assert resolve(first, copy.deepcopy(first)).outcome == "unchanged"
    assert resolve(first, copy.deepcopy(first), seen_in_batch=True).outcome == "duplicate"
    updated = resolve(first, _record("https://b.example/1"))
    assert updated.outcome == "updated"
    assert len(updated.record.get_fields("856")) == 2


def _ingest(path: Path, store: dict[str, tuple[str, bytes]]) -> list[str]:
    """A stand-in for the store: match key → (hash, stored bytes)."""
    from pymarc import Record as R

    outcomes = []
    seen: set[str] = set()
    with path.open("rb") as stream:
        for item in process_stream(stream, collection_code="AGR-1"):
            if not item.accepted or item.record is None or item.match_key is None:
                outcomes.append("rejected")
                continue
            existing = store.get(item.match_key)
            old = R(existing[1], force_utf8=True) if existing else None
            resolution = resolve(old, item.record, seen_in_batch=item.match_key in seen)
            seen.add(item.match_key)
            if resolution.outcome != "unchanged":
                store[item.match_key] = (resolution.content_hash, stored_bytes(resolution.record))
            outcomes.append(resolution.outcome)
    return outcomes


def test_reingesting_the_same_file_changes_nothing(fixtures: Path) -> None:
    store: dict[str, tuple[str, bytes]] = {}
    first = _ingest(fixtures / "onix_sample.xml", store)
    assert first == ["accepted", "accepted", "accepted", "rejected"]
    snapshot = dict(store)
    second = _ingest(fixtures / "onix_sample.xml", store)
    assert second == ["unchanged", "unchanged", "unchanged", "rejected"]
    assert store == snapshot  # same bytes, same hashes
