"""Streamed record exports: MARC 21 (ISO 2709) and MARCXML, of a library's set, a collection, or
a batch's new and changed records prepared for Melinda.

Records are read through a server-side cursor and written out in chunks of about 64 KiB, so
an export of any size holds one chunk in memory. Stored records carry no 005; the export
stamps it from the record's datestamp. In a changes-since export a record that left the set
is written with leader/05 "d" (deleted), which is how MARC exchange says so.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

import asyncpg
from pymarc import Field, Indicators, Record, Subfield
from pymarc.marcxml import record_to_xml

from kit.logging import get_logger
from services.catalogue import store
from services.catalogue.formats.conversion_report import ConversionReport
from services.catalogue.melinda import adapter as melinda

log = get_logger(__name__)

ExportFormat = Literal["marc", "marcxml"]
MARCXML_NS = "http://www.loc.gov/MARC21/slim"
FLUSH_BYTES = 64 * 1024
MEDIA_TYPES: dict[ExportFormat, str] = {
    "marc": "application/marc",
    "marcxml": "application/marcxml+xml",
}
EXTENSIONS: dict[ExportFormat, str] = {"marc": "mrc", "marcxml": "xml"}

CursorFactory = Callable[[asyncpg.Connection], Any]


def stamped(marc: bytes, datestamp: dt.datetime, *, deleted: bool) -> Record:
    record = Record(data=marc, force_utf8=True)
    record.remove_fields("005")
    stamp = datestamp.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S.0")
    record.add_ordered_field(Field(tag="005", data=stamp))
    if deleted:
        record.leader.record_status = "d"
    return record


def with_holdings(record: Record, isils: Sequence[str]) -> Record:
    """A kimppa set's record lists the kimppa's libraries that hold it, one MARC 21 852
    (Location) per library with the library's ISIL in $a, in ISIL order. This is the
    catalogue's convention for holdings in a shared set: 852 $a is MARC's place for the
    holding institution's code, and a supplier record never carries 852 of its own (any it
    has is replaced). The 852s are recomputed whenever the holders change, and the item gets a
    new datestamp then, so an incremental harvest sees them change."""
    record.remove_fields("852")
    for isil in sorted(isils):
        record.add_ordered_field(
            Field(tag="852", indicators=Indicators(" ", " "), subfields=[Subfield("a", isil)])
        )
    return record


# Bytes XML 1.0 cannot carry (pymarc's MARCXML writer does not refuse them).
_NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
MAX_RECORD_BYTES = 99_999
MAX_FIELD_BYTES = 9_999


def _serialise(record: Record, fmt: ExportFormat) -> bytes:
    """One record in ``fmt``; ValueError when the result would corrupt the export (a record
    longer than ISO 2709 can say, a separator inside data, a character XML forbids)."""
    if fmt == "marc":
        data = record.as_marc()
        if len(data) > MAX_RECORD_BYTES or data.count(b"\x1d") != 1:
            raise ValueError("the record does not fit in one ISO 2709 record")
        if any(len(f.as_marc("utf-8")) > MAX_FIELD_BYTES for f in record.fields):
            raise ValueError("a field is longer than ISO 2709 allows")
        return data
    data = record_to_xml(record) + b"\n"
    if _NOT_XML.search(data):
        raise ValueError("the record holds characters XML cannot carry")
    return data


def unrenderable(record_id: int | None, context: str, error: Exception) -> tuple[int, str, str]:
    """Log a record left out of an export or a page (its id and the error's kind only:
    records may name people, logs must not) and describe it for record_findings."""
    log.error(
        "record left out: it cannot be rendered",
        record_id=record_id,
        context=context,
        error=type(error).__name__,
    )
    return (record_id or 0, context, f"{type(error).__name__}: {error}")


async def _chunks(parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buffer = bytearray()
    async for part in parts:
        buffer += part
        if len(buffer) >= FLUSH_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


async def stream_records(
    pool: asyncpg.Pool, cursor: CursorFactory, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    """Records from ``cursor(conn)`` (rows: marc, deleted, datestamp) in ``fmt``."""

    problems: list[tuple[int, str, str]] = []

    async def parts() -> AsyncIterator[bytes]:
        # A cursor lives in a transaction: one consistent snapshot for the whole export.
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            if fmt == "marcxml":
                yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
                yield f'<collection xmlns="{MARCXML_NS}">\n'.encode()
            async for row in cursor(conn):
                # One record at a time: a stored record that cannot be rendered is left out
                # (logged, and noted as a finding), never the end of the export.
                try:
                    record = stamped(row["marc"], row["datestamp"], deleted=row["deleted"])
                    data = _serialise(record, fmt)
                except Exception as error:
                    problems.append(unrenderable(row["id"], "export", error))
                    continue
                yield data
            if fmt == "marcxml":
                yield b"</collection>\n"

    async for chunk in _chunks(parts()):
        yield chunk
    if problems:
        try:
            await store.note_unrenderable(pool, problems)
        except Exception:  # the export has been sent; the finding is best effort
            log.exception("could not note unrenderable records")


def library_export(
    pool: asyncpg.Pool, isil: str, since: dt.datetime | None, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    return stream_records(pool, lambda conn: store.library_export_cursor(conn, isil, since), fmt)


def collection_export(
    pool: asyncpg.Pool, collection_id: str, since: dt.datetime | None, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    return stream_records(
        pool, lambda conn: store.collection_export_cursor(conn, collection_id, since), fmt
    )


def melinda_record(
    marc: bytes, *, record_id: int, isil: str, corrected: bool, system_code: str | None = None
) -> Record:
    """A stored record as Melinda takes it (see melinda/adapter.py for the conventions)."""
    return melinda.to_melinda(
        Record(data=marc, force_utf8=True),
        isil=isil,
        local_id=str(record_id),
        corrected=corrected,
        system_code=system_code,
    )


async def melinda_export(
    pool: asyncpg.Pool, batch_id: str, isil: str, system_code: str | None = None
) -> AsyncIterator[bytes]:
    """A batch's new and changed records as one Melinda-ready MARCXML collection."""

    problems: list[tuple[int, str, str]] = []

    async def parts() -> AsyncIterator[bytes]:
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
            yield f'<collection xmlns="{MARCXML_NS}">\n'.encode()
            async for row in store.batch_changes_cursor(conn, batch_id):
                try:
                    record = melinda_record(
                        row["marc"],
                        record_id=row["id"],
                        isil=isil,
                        corrected=row["change"] == "changed",
                        system_code=system_code,
                    )
                    data = _serialise(record, "marcxml")
                except Exception as error:  # that record only, never the export
                    problems.append(unrenderable(row["id"], "export", error))
                    continue
                yield data
            yield b"</collection>\n"

    async for chunk in _chunks(parts()):
        yield chunk
    if problems:
        try:
            await store.note_unrenderable(pool, problems)
        except Exception:
            log.exception("could not note unrenderable records")


async def conversion_report(pool: asyncpg.Pool, batch_id: str) -> dict[str, Any]:
    """The core-field report over a batch's new and changed records (what its Melinda
    export holds), read one record at a time."""
    out = ConversionReport()
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        async for row in store.batch_changes_cursor(conn, batch_id):
            try:
                out.add(Record(data=row["marc"], force_utf8=True))
            except Exception:  # noqa: BLE001 - a record that cannot be read is not counted
                log.warning("record not readable for the conversion report", record_id=row["id"])
    return out.as_dict()
