"""Deduplication by match key and idempotent re-ingest."""

from __future__ import annotations

import copy
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
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
        "https://a.example/1",  # the links in URL order, whichever record they came from
        "https://b.example/1",
    ]
    # the other way round gives the same content
    other_way = merge(existing=poor, incoming=rich)
    assert other_way.kept == "incoming"
    assert content_hash(other_way.record) == content_hash(result.record)


def _product(title: str, url: str, *, note: str | None = None, summary: bool = False) -> Record:
    record = _record(url, summary=summary)
    record["245"]["a"] = title
    if note:
        record.get_fields("856")[0].add_subfield("z", note)
    return record


# Products of one title as suppliers send them: equally rich ones that differ in title,
# links that overlap, one link worded two ways, and a richer one.
PRODUCTS = [
    _product("Meren muisti", "https://a.example/1"),
    _product("Meren muisti.", "https://b.example/1"),
    _product("Meren muisti", "https://b.example/1", note="Lainaa e-kirja"),
    _product("Meren Muisti", "https://c.example/1"),
    _product("Meren muisti", "https://a.example/1", summary=True),
    _product("Meren muisti.", "https://d.example/1", summary=True),
]


def _delivered(products: list[Record], stored: Record | None = None) -> str:
    """Merge the products of one delivery in the given order, as the ingest does."""
    current, same_delivery = stored, stored is None
    for product in products:
        if current is None:
            current = product
            continue
        resolution = resolve(current, product, same_delivery=same_delivery)
        current, same_delivery = resolution.record, same_delivery or resolution.incoming_kept
    assert current is not None
    return content_hash(current)


@settings(max_examples=200, deadline=None)
@given(st.permutations(PRODUCTS), st.permutations(PRODUCTS), st.integers(0, len(PRODUCTS) - 1))
def test_one_deliverys_products_give_one_record_in_any_order(
    order: list[Record], other: list[Record], earlier: int
) -> None:
    assert _delivered(order) == _delivered(other)
    # Against a record stored from an earlier delivery too.
    stored = PRODUCTS[earlier]
    assert _delivered(order, stored) == _delivered(other, stored)


def test_a_later_deliverys_equally_rich_record_replaces_the_earlier_one() -> None:
    earlier = _product("Meren muisti", "https://a.example/1")
    corrected = _product("Meren muisti (korjattu)", "https://a.example/1")
    result = resolve(earlier, corrected)
    assert result.outcome == "updated"
    assert result.record["245"]["a"] == "Meren muisti (korjattu)"
    # ...but two products of one delivery are ranked by content, not by order.
    assert content_hash(resolve(earlier, corrected, seen_in_batch=True).record) == content_hash(
        resolve(corrected, earlier, seen_in_batch=True).record
    )


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
