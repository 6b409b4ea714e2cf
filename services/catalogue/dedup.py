"""Deduplication within a collection and idempotent re-ingest, as pure functions.

Two records with the same match key in one collection become one: the richer record is
kept and the other's access URLs are merged into it. A content hash over the stored
form decides whether anything changed, so re-ingesting the same file is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from pymarc import Field, Indicators, Record

from services.catalogue.profile import copy_record, richness

Outcome = Literal["accepted", "updated", "unchanged", "duplicate"]

# 005 is the store's "last changed" stamp: it must not make identical content differ.
VOLATILE_TAGS = frozenset({"005"})
TRANSFORMATION_TAG = "884"


def canonical_form(record: Record) -> str:
    """A stable text form: leader without the computed length and base address, then
    every field in order, 005 left out.

    Subfields are (code, value) named tuples, which JSON writes as the two-element arrays
    this form has always had, so they are handed to the encoder as they are."""
    lead = str(record.leader)
    parts: list[object] = [lead[5:12] + lead[17:]]
    for field in record.fields:
        if field.tag in VOLATILE_TAGS:
            continue
        if field.control_field:
            parts.append([field.tag, field.data])
        elif field.tag == TRANSFORMATION_TAG:
            # 884 $g is the date of the conversion: converting the same product again on
            # another day is not a change ($k carries the source product's hash).
            indicators = field.indicators or Indicators(" ", " ")
            kept = [sf for sf in field.subfields if sf.code != "g"]
            parts.append([field.tag, indicators[0] + indicators[1], kept])
        else:
            indicators = field.indicators or Indicators(" ", " ")
            parts.append([field.tag, indicators[0] + indicators[1], field.subfields])
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def content_hash(record: Record) -> str:
    return hashlib.sha256(canonical_form(record).encode("utf-8")).hexdigest()


def _url_key(url: str) -> str:
    return url.strip().rstrip("/").lower()


@dataclass(frozen=True)
class Merge:
    record: Record
    kept: Literal["existing", "incoming"]
    added_urls: tuple[str, ...]


def _existing_wins(existing: Record, incoming: Record, *, same_delivery: bool) -> bool:
    ours, theirs = richness(existing), richness(incoming)
    if ours != theirs:
        return ours > theirs
    if not same_delivery:
        return False  # a later delivery's equally rich record is the supplier's latest word
    # Two products of one title in one file: neither is later than the other, so the tie is
    # broken by content (the smaller hash), whatever order the file lists them in.
    return content_hash(existing) <= content_hash(incoming)


def merge(existing: Record, incoming: Record, *, same_delivery: bool = False) -> Merge:
    """Keep the richer record and add the other's 856 fields whose URLs it lacks. Ties go to
    the incoming record (the supplier's latest word), or, for two records of one delivery,
    to the one with the smaller content hash."""
    which: Literal["existing", "incoming"]
    if _existing_wins(existing, incoming, same_delivery=same_delivery):
        kept, other, which = existing, incoming, "existing"
    else:
        kept, other, which = incoming, existing, "incoming"
    result = copy_record(kept)
    have = {_url_key(u) for f in result.get_fields("856") for u in f.get_subfields("u")}
    added: list[str] = []
    for field in other.get_fields("856"):
        urls = field.get_subfields("u")
        if urls and all(_url_key(u) not in have for u in urls):
            result.add_ordered_field(
                Field(tag=field.tag, indicators=field.indicators, subfields=list(field.subfields))
            )
            have.update(_url_key(u) for u in urls)
            added.extend(urls)
    return Merge(result, which, tuple(added))


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome
    record: Record  # what to store
    content_hash: str


def resolve(
    existing: Record | None, incoming: Record, *, seen_in_batch: bool = False
) -> Resolution:
    """Decide what an incoming record (same collection, same match key) does.

    - no existing record → accepted
    - merge gives the existing content back → unchanged (or duplicate, when the
      existing record came from earlier in the same batch)
    - otherwise → updated (or duplicate within one batch)
    """
    if existing is None:
        return Resolution("accepted", incoming, content_hash(incoming))
    merged = merge(existing, incoming, same_delivery=seen_in_batch).record
    new_hash = content_hash(merged)
    if new_hash == content_hash(existing):
        return Resolution("duplicate" if seen_in_batch else "unchanged", existing, new_hash)
    return Resolution("duplicate" if seen_in_batch else "updated", merged, new_hash)


MAX_RECORD_BYTES = 99_999  # ISO 2709: five digits of record length
MAX_FIELD_BYTES = 9_999  # four digits of field length in the directory


def stored_bytes(record: Record) -> bytes:
    """The ISO 2709 bytes the store keeps; same record → same bytes. ValueError for a
    record ISO 2709 cannot hold (pymarc would write a length that does not fit its digits,
    and every export of it would be corrupt), so it is rejected at ingest instead."""
    data = record.as_marc()
    if len(data) > MAX_RECORD_BYTES:
        raise ValueError(f"the record is {len(data)} bytes, more than ISO 2709's 99,999")
    if len(data) > MAX_FIELD_BYTES:  # only then can one field be too long
        for field in record.fields:
            size = len(field.as_marc("utf-8"))
            if size > MAX_FIELD_BYTES:
                raise ValueError(f"field {field.tag} is {size} bytes, more than ISO 2709's 9,999")
    return data
