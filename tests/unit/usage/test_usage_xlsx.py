"""Reading .xlsx uploads: cells as the text a CSV export would hold, cached values of formulas,
uncached formulas and Excel date serials told apart, broken workbooks refused by name."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from services.usage import commands, domain, xlsx


def book(rows: list[list[object]]) -> io.BytesIO:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    out.seek(0)
    return out


def test_cells_read_as_csv_text() -> None:
    rows = list(
        xlsx.rows(book([["a", 3, 4.0, 2.5, True, dt.datetime(2025, 3, 1), None, "=1+1"]]), "t")
    )
    ((number, cells),) = rows
    assert number == 1
    assert cells[:7] == ["a", "3", "4", "2.5", "TRUE", "2025-03", ""]
    # A formula openpyxl wrote has no cached value: empty text, but not an empty cell.
    assert isinstance(cells[7], xlsx.Uncached) and cells[7].letter == "H"
    assert not isinstance(cells[6], xlsx.Uncached)


def test_an_uncached_formula_is_a_finding_naming_its_column_and_blank_rows_are_skipped() -> None:
    mapping = domain.SupplierMapping(isbn="ISBN", title="Nimeke", month="Kk", loans="Lainat")
    file = book(
        [
            ["ISBN", "Nimeke", "Kk", "Lainat"],
            [],
            ["978", "K", "2025-01", "=B2*2"],
            ["978", "K", "2025-02", 1],
        ]
    )
    _, body = commands.supplier_table(xlsx.rows(file, "t.xlsx"), mapping)
    (first, finding), (second, row) = list(body)
    assert (first, second) == (3, 4)
    assert isinstance(finding, domain.RowError) and finding.column == "Lainat"
    assert "D3" in str(finding)
    assert row == ["978", "K", "2025-02", "1"]


@pytest.mark.parametrize("value", ["45658", "45658.0", "18264", "73051"])
def test_an_excel_date_serial_is_named_as_one(value: str) -> None:
    with pytest.raises(domain.RowError, match="serial"):
        domain.supplier_month(value)


@pytest.mark.parametrize("value", ["2025", "123", "99999"])
def test_other_numbers_are_just_not_months(value: str) -> None:
    with pytest.raises(domain.RowError, match="is not a month"):
        domain.supplier_month(value)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"Title,Metric_Type\n", "not a zip archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "encrypted"),
        (b"PK\x03\x04 broken", "not an .xlsx workbook"),
    ],
)
def test_files_that_are_not_workbooks_are_unreadable_by_name(body: bytes, says: str) -> None:
    with pytest.raises(xlsx.Unreadable, match=f"report.xlsx .*{says}|report.xlsx is {says}"):
        next(xlsx.rows(io.BytesIO(body), "report.xlsx"))
