"""Format detection and streaming readers."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from pymarc import Record
from pymarc.marcxml import record_to_xml

from bench.marc_generator import generate, write_file
from services.catalogue.formats.kbart import KBART_COLUMNS
from services.catalogue.formats.readers import (
    ParseFailure,
    UnknownFormat,
    detect_format,
    read_kbart,
    read_marc,
    read_marcxml,
    read_records,
)
from services.catalogue.pipeline import process_stream


class _NoSeek(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # a test stand-in for a binary stream
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _marc_bytes(count: int) -> bytes:
    return b"".join(r.as_marc() for r in generate(count, seed=1))


def _marcxml_bytes(count: int) -> bytes:
    body = b"".join(record_to_xml(r) for r in generate(count, seed=2))
    return b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + body + b"</collection>"


KBART_HEADER = "\t".join(KBART_COLUMNS)


def _kbart_row(**values: str) -> str:
    return "\t".join(values.get(c, "") for c in KBART_COLUMNS)


def test_detect_each_format(fixtures: Path) -> None:
    assert detect_format((fixtures / "onix_sample.xml").read_bytes()[:4096]) == "onix"
    assert detect_format((fixtures / "onix_short.xml").read_bytes()[:4096]) == "onix"
    assert detect_format(_marc_bytes(1)) == "marc"
    assert detect_format(_marcxml_bytes(1)[:4096]) == "marcxml"
    assert detect_format(f"\ufeff{KBART_HEADER}\n".encode()) == "kbart"
    with pytest.raises(UnknownFormat):
        detect_format(b"hello, world")


def test_detection_works_on_a_non_seekable_stream() -> None:
    data = _marc_bytes(3)
    stream = io.BufferedReader(_NoSeek(data))
    records = list(read_records(stream))  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time
    assert [r["001"].data for r in records] == [  # type: ignore[index]  # the test knows the shape of the value it indexes
        "gen000000000",
        "gen000000001",
        "gen000000002",
    ]


def test_override_beats_detection() -> None:
    items = list(read_records(io.BytesIO(_marc_bytes(2)), "marcxml"))
    assert len(items) == 1 and isinstance(items[0], ParseFailure)


def test_a_bad_iso2709_record_does_not_stop_the_batch() -> None:
    good = _marc_bytes(2)
    first_length = int(good[:5])
    garbage = b"00042" + b"x" * 36 + b"\x1d"  # right length, nonsense inside
    broken = good[:first_length] + garbage + good[first_length:]
    items = list(read_marc(io.BytesIO(broken)))
    assert [type(i).__name__ for i in items] == ["Record", "ParseFailure", "Record"]
    assert items[1].position == 2  # type: ignore[union-attr]  # present in the test's data; a None fails the test


def test_marcxml_round_trip_and_bad_record() -> None:
    records = list(read_marcxml(io.BytesIO(_marcxml_bytes(3))))
    originals = list(generate(3, seed=2))
    assert [str(r) for r in records] == [str(r) for r in originals]
    bad = (
        b'<collection xmlns="http://www.loc.gov/MARC21/slim"><record></record>'
        + record_to_xml(originals[0])
        + b"</collection>"
    )
    items = list(read_marcxml(io.BytesIO(bad)))
    assert isinstance(items[0], ParseFailure) and isinstance(items[1], Record)


def test_malformed_xml_yields_a_failure_after_the_good_records() -> None:
    data = _marcxml_bytes(2).replace(b"</collection>", b"<record><oops></collection>")
    items = list(read_marcxml(io.BytesIO(data)))
    assert [type(i).__name__ for i in items] == ["Record", "Record", "ParseFailure"]


def test_kbart_rows_become_online_records() -> None:
    text = "\n".join(
        [
            KBART_HEADER,
            _kbart_row(
                publication_title="Suomen lintuopas",
                print_identifier="951-0-01234-3",
                online_identifier="9789513112349",
                title_url="https://kirjasto.example.fi/t/1",
                first_author="Lindqvist",
                title_id="T1",
                publisher_name="Luontokirjat",
                publication_type="monograph",
                date_monograph_published_online="2021",
            ),
            _kbart_row(publication_title="", title_id="T2"),
            _kbart_row(
                publication_title="Kirjastolehti",
                online_identifier="0317-8471",
                publication_type="serial",
                date_first_issue_online="1990-01-01",
                title_url="https://kirjasto.example.fi/t/3",
            ),
        ]
    ).encode()
    items = list(read_kbart(io.BytesIO(text), default_language="fi"))
    book, failure, serial = items
    assert isinstance(failure, ParseFailure) and failure.reference == "T2"
    assert isinstance(book, Record) and isinstance(serial, Record)
    assert [
        str(f) for f in book.get_fields("020", "035", "041", "100", "245", "264", "776", "856")
    ] == [
        r"=020  \\$a9789513112349$qverkkoaineisto",
        r"=035  \\$a(KBART)T1",
        r"=041  0\$afin",
        r"=100  1\$aLindqvist$ekirjoittaja",
        "=245  10$aSuomen lintuopas",
        r"=264  \1$a[Julkaisupaikka tuntematon]$bLuontokirjat$c2021",
        "=776  08$iPainettu$z951-0-01234-3",
        r"=856  40$uhttps://kirjasto.example.fi/t/1$yLinkki verkkoaineistoon",
    ]
    assert book["008"].data.endswith("fin d")
    assert serial.leader[7] == "s"
    assert str(serial.get("022")) == r"=022  \\$a0317-8471"


def test_kbart_through_the_profile_without_language_is_rejected() -> None:
    text = (
        KBART_HEADER
        + "\n"
        + _kbart_row(
            publication_title="Kirja",
            online_identifier="9789513112349",
            title_url="https://x.example/1",
        )
    ).encode()
    (item,) = list(process_stream(io.BytesIO(text), "kbart"))
    assert not item.accepted
    assert "missing-language" in {f.code for f in item.findings}
    (item,) = list(process_stream(io.BytesIO(text), "kbart", default_language="sv"))
    assert item.accepted, item.findings


@pytest.fixture(scope="module")
def big_marc_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("marc") / "titles.mrc"
    # 6,000 records (≈5 MB) are six times the early sample: a reader that kept records
    # would show it as clearly as at 20,000, in a quarter of the time under tracemalloc.
    write_file(path, 6_000)
    return path


def test_thousands_of_records_stream_with_flat_memory(big_marc_file: Path) -> None:
    # Peak traced memory after the first 1,000 records must not grow by the end: the
    # reader holds one record at a time, whatever the file size.
    tracemalloc.start()
    try:
        count = 0
        with big_marc_file.open("rb") as stream:
            for item in read_marc(stream):
                assert isinstance(item, Record)
                count += 1
                if count == 1_000:
                    early_peak = tracemalloc.get_traced_memory()[1]
        _, final_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 6_000
    assert final_peak < early_peak * 1.5 + 64 * 1024
    assert final_peak < 2 * 1024 * 1024


def test_marcxml_iterparse_clears_what_it_has_read() -> None:
    def peak(count: int) -> int:
        data = _marcxml_bytes(count)
        tracemalloc.start()
        try:
            for _ in read_marcxml(io.BytesIO(data)):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # lxml's tree lives in C memory, so measure it via the Python objects it keeps alive:
    # without clearing, peak grows with the record count.
    assert peak(1_500) < peak(150) * 2 + 64 * 1024
