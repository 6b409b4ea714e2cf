"""Format detection and streaming readers for supplier title lists.

Every reader takes a binary stream and yields one item at a time: a pymarc.Record, or a
ParseFailure for a record that could not be read. A bad record never stops the batch.
Nothing here holds a whole file: ISO 2709 is read record by record, XML through
iterparse with each finished element cleared, KBART row by row.

An XML file that is not well-formed cannot be resumed after the syntax error, so the
reader yields one ParseFailure there and stops; the records before it stand. That failure,
an ISO 2709 file that ends inside a record and a KBART file that ends inside a row say
``rest_unread``: the file was not read to its end (typically a broken transfer), which a
full load must know before it withdraws anything.

XML elements that are not records are freed as soon as they end, so a file of any shape
(one huge header, megabytes of elements the converter does not read) is read in memory
bounded by its largest record.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO, Literal

from lxml import etree
from pymarc import Field, Indicators, Record, Subfield

from services.catalogue.formats import kbart, marc21, onix

Format = Literal["onix", "marc", "marcxml", "kbart"]
FORMATS: tuple[Format, ...] = ("onix", "marc", "marcxml", "kbart")

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
SNIFF_BYTES = 4096


class UnknownFormat(ValueError):
    pass


@dataclass(frozen=True)
class ParseFailure:
    position: int  # 1-based record number in the file
    message: str
    reference: str | None = None  # the supplier's id for the record, when it could be read
    rest_unread: bool = False  # the file ends early or breaks here: what follows is unread


ReadResult = Record | ParseFailure


def detect_format(head: bytes) -> Format:
    """Decide the format from the first bytes of a file."""
    text = head.lstrip(codecs.BOM_UTF8).lstrip()
    if text.startswith(b"<"):
        lowered = text.lower()
        if b"onixmessage" in lowered or b"ns.editeur.org/onix" in lowered:
            return "onix"
        if b"loc.gov/marc21/slim" in lowered or b"<record" in lowered or b"<collection" in lowered:
            return "marcxml"
        raise UnknownFormat("XML, but neither ONIX 3.0 nor MARCXML")
    raw = head.lstrip(codecs.BOM_UTF8)
    if len(raw) >= 24 and raw[:5].isdigit() and raw[20:24] == b"4500":
        return "marc"
    first_line = raw.split(b"\n", 1)[0]
    if b"publication_title" in first_line and b"\t" in first_line:
        return "kbart"
    raise UnknownFormat("not ONIX 3.0, MARC 21 (ISO 2709), MARCXML or KBART")


class _Prefixed(io.RawIOBase):
    """The sniffed head followed by the rest of the stream, for non-seekable input."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # typeshed's RawIOBase takes any writable buffer; only these reach it
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def sniff(stream: BinaryIO) -> tuple[Format, BinaryIO]:
    """Detect the format; return it with a stream positioned at the start again."""
    head = stream.read(SNIFF_BYTES)
    fmt = detect_format(head)
    if stream.seekable():
        stream.seek(-len(head), io.SEEK_CUR)
        return fmt, stream
    return fmt, io.BufferedReader(_Prefixed(head, stream))


def read_records(
    stream: BinaryIO,
    fmt: Format | None = None,
    *,
    default_language: str | None = None,
    url_template: str | None = None,
    agency: str = marc21.DEFAULT_AGENCY,
) -> Iterator[ReadResult]:
    """Stream records of the given (or detected) format."""
    if fmt is None:
        fmt, stream = sniff(stream)
    if fmt == "marc":
        return read_marc(stream)
    if fmt == "marcxml":
        return read_marcxml(stream)
    if fmt == "onix":
        return read_onix(stream, url_template=url_template, agency=agency)
    if fmt == "kbart":
        return read_kbart(stream, default_language=default_language)
    raise UnknownFormat(f"unknown format {fmt!r}")


RECORD_TERMINATOR = b"\x1d"
MAX_RECORD_BYTES = 99_999  # the leader's five-digit record length
READ_BYTES = 256 * 1024


class _Unterminated(bytes):
    """The bytes after the last record terminator: the file ends inside a record."""


def _raw_records(stream: BinaryIO) -> Iterator[bytes | None]:
    """ISO 2709 records split on the record terminator (None: a run of bytes with none;
    an ``_Unterminated`` last piece: the file ended before the record did).

    The terminator, not the leader's declared length, decides where a record ends, so one
    record with a wrong length costs that record only: the reader finds the next one. The
    byte 0x1D cannot occur inside a record's data (UTF-8 continuation bytes are 0x80-0xBF)."""
    buffer = b""
    while True:
        chunk = stream.read(READ_BYTES)
        if not chunk:
            break
        buffer += chunk
        start = 0
        while (end := buffer.find(RECORD_TERMINATOR, start)) != -1:
            yield buffer[start : end + 1]
            start = end + 1
        buffer = buffer[start:]
        if len(buffer) > MAX_RECORD_BYTES:
            yield None  # no terminator where one must have been: skip to the next
            buffer = b""
            while (chunk := stream.read(READ_BYTES)) and RECORD_TERMINATOR not in chunk:
                pass
            buffer = chunk[chunk.find(RECORD_TERMINATOR) + 1 :] if chunk else b""
    if buffer.strip(b" \r\n\t\x00\x1a"):
        yield _Unterminated(buffer)


def read_marc(stream: BinaryIO) -> Iterator[ReadResult]:
    position = 0
    for raw in _raw_records(stream):
        if raw is None:
            position += 1
            yield ParseFailure(position, "no record terminator within 99,999 bytes")
            continue
        if not raw.strip(b" \r\n\t\x1d"):
            continue
        position += 1
        if isinstance(raw, _Unterminated):
            # A record always ends with the terminator: without one the file was cut short
            # (a broken transfer), whatever pymarc could make of the piece.
            yield ParseFailure(
                position,
                "the file ends inside a record (no record terminator): rest of file unread",
                rest_unread=True,
            )
            continue
        # Line breaks between records, which some tools write, are not part of a record.
        raw = raw.lstrip(b"\r\n")
        try:
            record = Record(data=raw, to_unicode=True, force_utf8=True, utf8_handling="replace")
            if not record.fields:
                raise ValueError("no fields")
        except Exception as error:  # a bad record must not stop the batch
            yield ParseFailure(position, f"{type(error).__name__}: {error}")
            continue
        yield record


def _iter_elements(
    stream: BinaryIO, local_names: set[str], namespaces: tuple[str, ...]
) -> Iterator[etree._Element]:
    """Yield each finished record element; free everything else as the parser goes.

    Every element's start and end is seen (not only the records'), so an element that is
    not a record is cleared, with its finished siblings, as soon as it ends: memory stays
    bounded by the largest record, whatever else the file holds. Elements inside a record
    are kept until the record itself has been yielded and converted."""
    record_tags = frozenset(
        [f"{{{ns}}}{name}" for ns in namespaces for name in local_names] + list(local_names)
    )
    context = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    depth = 0  # > 0 while inside a record
    for event, element in context:
        if element.tag in record_tags:
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth:
                continue  # a record inside a record is part of the outer one
            yield element
        elif depth or event == "start":
            continue
        # Free what we have read: the element, and the finished siblings before it.
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]


def _guarded(
    elements: Iterator[etree._Element],
    convert: Callable[[etree._Element], Record],
    ref: tuple[str, ...],
) -> Iterator[ReadResult]:
    """Each element converted, or a failure naming its position and reference (the text of
    its first child whose local name is one of ``ref``)."""
    position = 0
    try:
        for element in elements:
            position += 1
            try:
                yield convert(element)
            except Exception as error:  # a bad record must not stop the batch
                reference = next(
                    (
                        (child.text or "").strip()
                        for child in element
                        if isinstance(child.tag, str) and etree.QName(child).localname in ref
                    ),
                    None,
                )
                yield ParseFailure(position, f"{type(error).__name__}: {error}", reference)
    except etree.XMLSyntaxError as error:
        yield ParseFailure(
            position + 1, f"XML syntax error, rest of file unread: {error}", rest_unread=True
        )


def read_marcxml(stream: BinaryIO) -> Iterator[ReadResult]:
    elements = _iter_elements(stream, {"record"}, (MARCXML_NS,))
    return _guarded(elements, marcxml_element_to_record, ref=("controlfield",))


def read_onix(
    stream: BinaryIO, *, url_template: str | None = None, agency: str = marc21.DEFAULT_AGENCY
) -> Iterator[ReadResult]:
    elements = _iter_elements(stream, {"Product", "product"}, onix.ONIX_NAMESPACES)
    # One conversion date per file: every record of a delivery carries the same 884 $g.
    converted = date.today()
    return _guarded(
        elements,
        lambda el: onix.element_to_record(
            el, url_template=url_template, agency=agency, converted=converted
        ),
        ref=("RecordReference", "a001"),
    )


class _Lines:
    """Lines of a text stream, remembering whether the last one read ended with a line
    break (a KBART file cut short ends inside a row without one)."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self.terminated = True

    def __iter__(self) -> Iterator[str]:
        for line in self._text:
            self.terminated = line.endswith(("\n", "\r"))
            yield line


def read_kbart(stream: BinaryIO, *, default_language: str | None = None) -> Iterator[ReadResult]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None:
        return
    columns = [h.strip() for h in header]
    rows = enumerate(reader, start=1)
    ahead = next(rows, None)
    while ahead is not None:
        position, values = ahead
        ahead = next(rows, None)
        if not any(v.strip() for v in values):
            continue
        if len(values) < len(columns) and ahead is None and not lines.terminated:
            yield ParseFailure(
                position,
                f"the file ends inside a row ({len(values)} of {len(columns)} columns, no "
                "line break): rest of file unread",
                rest_unread=True,
            )
            return
        row = dict(zip(columns, values, strict=False))
        try:
            if not row.get("publication_title", "").strip():
                raise ValueError("empty publication_title")
            yield kbart.row_to_record(row, default_language=default_language)
        except Exception as error:
            yield ParseFailure(position, f"{type(error).__name__}: {error}", row.get("title_id"))


def marcxml_element_to_record(element: etree._Element) -> Record:
    """One <marc:record> element → pymarc.Record."""
    record = Record(force_utf8=True)
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name == "leader":
            value = (child.text or "").ljust(24)[:24]
            record.leader = type(record.leader)(value)
        elif name == "controlfield":
            record.add_field(Field(tag=child.get("tag", ""), data=child.text or ""))
        elif name == "datafield":
            subfields = [
                Subfield(sf.get("code", ""), sf.text or "")
                for sf in child
                if isinstance(sf.tag, str) and etree.QName(sf).localname == "subfield"
            ]
            record.add_field(
                Field(
                    tag=child.get("tag", ""),
                    indicators=Indicators(
                        child.get("ind1", " ") or " ", child.get("ind2", " ") or " "
                    ),
                    subfields=subfields,
                )
            )
    if not record.fields:
        raise ValueError("empty MARCXML record")
    return record
