"""The conversion pipeline shared by the ingest and the offline convert command:
read → convert → normalise → validate, one record at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pymarc import Record

from services.catalogue.formats import marc21
from services.catalogue.formats.readers import Format, ParseFailure, read_records
from services.catalogue.profile import Finding, apply_profile


@dataclass(frozen=True)
class Processed:
    position: int  # 1-based position of the record in the input
    record: Record | None  # normalised record; None when it could not be read
    findings: tuple[Finding, ...]
    match_key: str | None
    reference: str | None  # 001 or the supplier's id, to name the record in reports
    rest_unread: bool = False  # the file breaks here: nothing after this was read

    @property
    def accepted(self) -> bool:
        return self.record is not None and not any(f.severity == "error" for f in self.findings)


def process_stream(
    stream: BinaryIO,
    fmt: Format | None = None,
    *,
    collection_code: str | None = None,
    default_language: str | None = None,
    url_template: str | None = None,
    agency: str = marc21.DEFAULT_AGENCY,
) -> Iterator[Processed]:
    items = read_records(
        stream, fmt, default_language=default_language, url_template=url_template, agency=agency
    )
    for position, item in enumerate(items, start=1):
        if isinstance(item, ParseFailure):
            finding = Finding("error", "unreadable-record", "record", item.message)
            yield Processed(
                position, None, (finding,), None, item.reference, rest_unread=item.rest_unread
            )
            continue
        # The record was just read and nothing else holds it: normalised in place, no copy.
        result = apply_profile(item, collection_code, in_place=True)
        control = result.record.get("001")
        yield Processed(
            position,
            result.record,
            result.findings,
            result.match_key,
            control.data if control is not None else None,
        )
