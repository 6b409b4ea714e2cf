"""``konsortio membership check-population`` reads a PxWeb export offline and reports it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.membership.cli import app


def test_check_population_reports_the_year_and_the_total(tmp_path: Path) -> None:
    export = tmp_path / "11ra.csv"
    export.write_bytes(
        '"Alue";"Väestö 31.12.2024"\n"KOKO MAA";"5635971"\n"091 Helsinki";"684018"\n'
        '"235 Kauniainen";"10300"\n'.encode("cp1252")
    )
    result = CliRunner().invoke(app, ["check-population", str(export)])
    assert result.exit_code == 0, result.output
    assert "year 2024: 2 municipalities, population 694318" in result.output


def test_check_population_names_the_bad_row_and_fails(tmp_path: Path) -> None:
    export = tmp_path / "11ra.csv"
    export.write_text('"Alue";"Väestö 31.12.2024"\n"091 Helsinki";"?"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["check-population", str(export)])
    assert result.exit_code == 1
    assert "row 2 population" in result.output


def test_load_population_needs_a_coordinator_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KONSORTIO_TOKEN", raising=False)
    export = tmp_path / "11ra.csv"
    export.write_text('"Alue";"Väestö 31.12.2024"\n"091 Helsinki";"1"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["load-population", str(export), "--year", "2024"])
    assert result.exit_code == 2 and "token" in result.output
