"""Melinda-ready export and the offline convert command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from lxml import etree
from pymarc import Record
from typer.testing import CliRunner

from services.catalogue.convert_cli import convert_app
from services.catalogue.formats.readers import read_marcxml, read_onix
from services.catalogue.melinda.adapter import export_bytes, to_melinda
from services.catalogue.profile import apply_profile

MARC = "{http://www.loc.gov/MARC21/slim}"


def _converted(fixtures: Path) -> list[Record]:
    with (fixtures / "onix_sample.xml").open("rb") as stream:
        return [
            apply_profile(r, "AGR-1").record for r in read_onix(stream) if isinstance(r, Record)
        ]


def test_melinda_record_conventions(fixtures: Path) -> None:
    record = _converted(fixtures)[0]
    out = to_melinda(record, isil="FI-KONS", local_id="rec-1")
    tags = [f.tag for f in out.get_fields()]
    assert "001" not in tags and "909" not in tags
    assert [str(f) for f in out.get_fields("035")] == [r"=035  \\$a(FI-KONS)rec-1"]
    assert out.leader[5] == "n"
    assert to_melinda(record, isil="FI-KONS", local_id="rec-1", corrected=True).leader[5] == "c"
    assert record.get("909") is not None  # the stored record is untouched


def test_melinda_export_is_a_marcxml_collection(fixtures: Path, oai_schema: object) -> None:
    records = _converted(fixtures)
    data = export_bytes([(r, f"rec-{i}", False) for i, r in enumerate(records)], isil="FI-KONS")
    root = etree.fromstring(data)
    assert root.tag == f"{MARC}collection"
    assert len(root.findall(f"{MARC}record")) == len(records)
    schema = etree.XMLSchema(etree.parse(str(fixtures / "MARC21slim.xsd")))
    schema.assertValid(root)
    # and it reads back with the ingest's own reader
    back = list(read_marcxml(io.BytesIO(data)))
    assert [r["245"]["a"] for r in back] == [r["245"]["a"] for r in records]  # type: ignore[index]  # the test knows the shape of the value it indexes


def test_convert_json_with_report_exits_1_on_rejected(fixtures: Path, tmp_path: Path) -> None:
    report = tmp_path / "findings.csv"
    result = CliRunner().invoke(
        convert_app,
        [
            str(fixtures / "onix_sample.xml"),
            "--to",
            "json",
            "--collection",
            "AGR-1",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    # Three accepted (the third without a link gets the national resolver's URL, with a
    # warning); the print product cannot be converted and is left out.
    assert len(lines) == 3
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert {(r["position"], r["code"]) for r in rows} == {
        ("3", "resolver-access-url"),
        ("4", "unreadable-record"),
    }


def test_convert_marcxml_clean_file_exits_0(fixtures: Path) -> None:
    result = CliRunner().invoke(
        convert_app,
        [
            str(fixtures / "onix_short.xml"),
            "--from",
            "onix",
            "--to",
            "marcxml",
            "--url-template",
            "https://lainaa.example.fi/{isbn}",
        ],
    )
    assert result.exit_code == 0, result.output
    start = result.stdout.index("<?xml")
    root = etree.fromstring(result.stdout[start:].encode())
    assert len(root.findall(f"{MARC}record")) == 1


def test_convert_marc_output_round_trips(fixtures: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        convert_app,
        [str(fixtures / "onix_sample.xml"), "--to", "marc", "--report", str(tmp_path / "r.csv")],
    )
    assert result.exit_code == 1
    assert result.stdout_bytes.count(b"\x1d") == 3  # the print product is left out


def test_convert_unknown_format_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello")
    result = CliRunner().invoke(convert_app, [str(path), "--to", "json"])
    assert result.exit_code == 2
