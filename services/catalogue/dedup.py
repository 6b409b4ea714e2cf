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


def canonical_form(record: Record, *, leave_out: frozenset[str] = VOLATILE_TAGS) -> str:
    """A stable text form: leader without the computed length and base address, then
    every field in order, 005 (and any other tag in ``leave_out``) left out.

    Subfields are (code, value) named tuples, which JSON writes as the two-element arrays
    this form has always had, so they are handed to the encoder as they are."""
    lead = str(record.leader)
    parts: list[object] = [lead[5:12] + lead[17:]]
    for field in record.fields:
        if field.tag in leave_out:
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


LINK_TAG = "856"


def _url_key(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _link_key(field: Field) -> str:
    urls = field.get_subfields("u")
    return _url_key(urls[0]) if urls else ""


def _link_form(field: Field) -> str:
    indicators = field.indicators or Indicators(" ", " ")
    return json.dumps(
        [indicators[0] + indicators[1], field.subfields], ensure_ascii=False, separators=(",", ":")
    )


def _richness(record: Record) -> int:
    """How much a record says apart from its links.

    Links are merged from every product of a title, so they must not decide which product's
    description is kept: a merged record then ranks exactly as the product it came from, and
    merging in any order gives the same record."""
    links = record.get_fields(LINK_TAG)
    return richness(record) - sum(1 + len(f.subfields) for f in links)


def _description_hash(record: Record) -> str:
    text = canonical_form(record, leave_out=VOLATILE_TAGS | {LINK_TAG})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Merge:
    record: Record
    kept: Literal["existing", "incoming"]
    added_urls: tuple[str, ...]


def _existing_wins(existing: Record, incoming: Record, *, same_delivery: bool) -> bool:
    ours, theirs = _richness(existing), _richness(incoming)
    if ours != theirs:
        return ours > theirs
    if not same_delivery:
        return False  # a later delivery's equally rich record is the supplier's latest word
    # Two products of one title in one delivery: neither is later than the other, so the tie
    # is broken by content (the smaller hash), whatever order the file lists them in.
    return _description_hash(existing) <= _description_hash(incoming)


def merge(existing: Record, incoming: Record, *, same_delivery: bool = False) -> Merge:
    """Keep the description of the richer record and the links of both.

    Ties go to the incoming record (the supplier's latest word), or, for two records of one
    delivery, to the one with the smaller hash. The links are the union of both records'
    856 fields by URL, one field per URL (the smallest, when two are worded differently),
    in URL order. Every choice is by content, so a title's record does not depend on the
    order its products arrive in, in one file or across the chunks of one."""
    which: Literal["existing", "incoming"]
    if _existing_wins(existing, incoming, same_delivery=same_delivery):
        kept, which = existing, "existing"
    else:
        kept, which = incoming, "incoming"
    links: dict[str, Field] = {}
    for field in (*existing.get_fields(LINK_TAG), *incoming.get_fields(LINK_TAG)):
        key = _link_key(field)
        if key not in links or _link_form(field) < _link_form(links[key]):
            links[key] = field
    kept_urls = {_link_key(f) for f in kept.get_fields(LINK_TAG)}
    result = copy_record(kept)
    result.remove_fields(LINK_TAG)
    for key in sorted(links):
        field = links[key]
        result.add_ordered_field(
            Field(tag=field.tag, indicators=field.indicators, subfields=list(field.subfields))
        )
    added = tuple(
        u for k in sorted(links) if k not in kept_urls for u in links[k].get_subfields("u")
    )
    return Merge(result, which, added)


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome
    record: Record  # what to store
    content_hash: str
    incoming_kept: bool  # the incoming record's description is the one stored


def resolve(
    existing: Record | None,
    incoming: Record,
    *,
    seen_in_batch: bool = False,
    same_delivery: bool | None = None,
) -> Resolution:
    """Decide what an incoming record (same collection, same match key) does.

    - no existing record → accepted
    - merge gives the existing content back → unchanged (or duplicate, when the
      existing record came from earlier in the same batch)
    - otherwise → updated (or duplicate within one batch)

    ``same_delivery`` says whether the existing record's description came from the same
    delivery as the incoming one (it defaults to ``seen_in_batch``)."""
    if existing is None:
        return Resolution("accepted", incoming, content_hash(incoming), True)
    if same_delivery is None:
        same_delivery = seen_in_batch
    merged = merge(existing, incoming, same_delivery=same_delivery)
    new_hash = content_hash(merged.record)
    if new_hash == content_hash(existing):
        outcome: Outcome = "duplicate" if seen_in_batch else "unchanged"
        return Resolution(outcome, existing, new_hash, merged.kept == "incoming")
    outcome = "duplicate" if seen_in_batch else "updated"
    return Resolution(outcome, merged.record, new_hash, merged.kept == "incoming")


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
