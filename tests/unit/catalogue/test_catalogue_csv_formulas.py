"""Every CSV the catalogue writes neutralises a cell a spreadsheet would run as a formula (a
supplier's record reference or title such as ``=HYPERLINK(...)``): the quality summary, the
batch report served by the API, and the offline converter's findings report."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from services.catalogue.api import report_csv
from services.catalogue.convert_cli import convert_app
from services.catalogue.profile import Finding
from services.catalogue.quality import QualityReport

FORMULA = '=HYPERLINK("http://x","y")'


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_the_quality_summary_neutralises_formulas() -> None:
    report = QualityReport()
    report.add("rejected", [Finding("error", FORMULA, "856", "no access URL")], FORMULA)
    written = cells(report.to_csv())
    assert "'" + FORMULA in written and FORMULA not in written
    assert "1" in written  # counts stay plain numbers


def test_the_batch_report_csv_neutralises_formulas() -> None:
    report = {"top_findings": [{"severity": "@warning", "code": FORMULA, "count": 2}]}
    written = cells(report_csv({"received": 2}, report))
    assert "'" + FORMULA in written and "'@warning" in written
    assert FORMULA not in written


def test_the_converters_findings_report_neutralises_a_supplier_reference(
    fixtures: Path, tmp_path: Path
) -> None:
    onix = (fixtures / "onix_sample.xml").read_text(encoding="utf-8")
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(
        onix.replace("fi.esimerkki.ebook.1003", FORMULA.replace('"', "&quot;")), encoding="utf-8"
    )
    report = tmp_path / "report.csv"
    result = CliRunner().invoke(
        convert_app, [str(hostile), "--to", "json", "--report", str(report)]
    )
    assert result.exit_code == 1, result.output
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    references = {r["position"]: r["reference"] for r in rows}
    assert references["3"] == "'" + FORMULA
    assert not any(cell.startswith("=") for r in rows for cell in r.values())
