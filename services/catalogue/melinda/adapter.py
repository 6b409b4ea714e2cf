"""Melinda-ready MARCXML export (pure part; the REST adapter comes later).

Conventions applied to each record, following how Melinda's REST API for library
systems takes new records:
- 001 and 003 are removed: Melinda assigns its own control number (003 FI-MELINDA).
- The consortium's own id for the record goes to 035 $a as "(<ISIL>)<id>", so that a
  later update and Melinda's duplicate detection can find it.
- Local fields (the 909 collection code, any other 9XX the profile adds) are dropped:
  they mean nothing in the union catalogue.
- 005 is dropped; Melinda stamps its own.
- 520 (the publisher's description) is dropped: it is the publisher's copyrighted text,
  licensed for the consortium's own catalogues, not for the union catalogue.
- Leader/05 is "n" for a new record and "c" for a corrected one.

- SID $c the record's own id and $b the consortium's source system code: Melinda's link
  from its record to the copy in the system it came from (given a system code).

ONIX conversions already carry ISBD punctuation (leader/18 "i"); LOW holdings are changed
per kimppa or library by melinda/holdings.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pymarc import Field, Indicators, Record, Subfield
from pymarc.marcxml import record_to_xml

from services.catalogue.profile import COLLECTION_TAG, copy_record

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
LOCAL_TAGS = frozenset({COLLECTION_TAG})
DROPPED_TAGS = frozenset({"001", "003", "005", "520"})


SOURCE_ID_TAG = "SID"


def to_melinda(
    record: Record,
    *,
    isil: str,
    local_id: str,
    corrected: bool = False,
    system_code: str | None = None,
) -> Record:
    out = copy_record(record)
    out.fields = [f for f in out.fields if f.tag not in DROPPED_TAGS and f.tag not in LOCAL_TAGS]
    own = f"({isil}){local_id}"
    has_own = any(own in f.get_subfields("a") for f in out.get_fields("035"))
    if not has_own:
        out.add_ordered_field(
            Field(tag="035", indicators=Indicators(" ", " "), subfields=[Subfield("a", own)])
        )
    if system_code:
        out.remove_fields(SOURCE_ID_TAG)
        out.add_ordered_field(
            Field(
                tag=SOURCE_ID_TAG,
                indicators=Indicators(" ", " "),
                subfields=[Subfield("c", local_id), Subfield("b", system_code)],
            )
        )
    out.leader.record_status = "c" if corrected else "n"
    return out


def export_collection(
    records: Iterable[tuple[Record, str, bool]], *, isil: str, system_code: str | None = None
) -> Iterator[bytes]:
    """Stream a MARCXML <collection> of (record, local id, corrected) triples, chunk by
    chunk, so a large batch is never built whole in memory."""
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<collection xmlns="{MARCXML_NS}">\n'.encode()
    for record, local_id, corrected in records:
        prepared = to_melinda(
            record, isil=isil, local_id=local_id, corrected=corrected, system_code=system_code
        )
        yield record_to_xml(prepared) + b"\n"
    yield b"</collection>\n"


def export_bytes(
    records: Iterable[tuple[Record, str, bool]], *, isil: str, system_code: str | None = None
) -> bytes:
    return b"".join(export_collection(records, isil=isil, system_code=system_code))


HOLDING_TAG = "LOW"


def holding_codes(record: Record) -> list[str]:
    return [code for f in record.get_fields(HOLDING_TAG) for code in f.get_subfields("a")]


def with_holdings(record: Record, *, add: Iterable[str], remove: Iterable[str]) -> Record:
    """A Melinda record with the consortium's holdings changed: a LOW field ($a the holding
    code) for each code in ``add`` that it lacks, and none for the codes in ``remove``. Other
    organisations' LOW fields are left as they are."""
    out = copy_record(record)
    gone = set(remove)
    out.fields = [
        f for f in out.fields if not (f.tag == HOLDING_TAG and set(f.get_subfields("a")) & gone)
    ]
    present = set(holding_codes(out))
    for code in sorted(set(add) - present - gone):
        out.add_ordered_field(
            Field(tag=HOLDING_TAG, indicators=Indicators(" ", " "), subfields=[Subfield("a", code)])
        )
    return out
