"""Reading an uploaded .xlsx workbook row by row, as text cells, for the same row pipeline as
CSV/TSV uploads.

openpyxl in read-only mode streams the first worksheet; nothing but the shared strings table is
held whole. Cells carry cached values (what Excel last computed), never formulas: the workbook
is opened twice in lockstep, once for values and once for formulas, so a formula cell without a
cached value (a workbook written by a program that never computed it) is told apart from an
empty cell and reported as a row finding. Any failure of the reader is an ``Unreadable``
naming the file, never an unexpected error.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from typing import IO, Any

ZIP_MAGIC = b"PK\x03\x04"
# An encrypted workbook (and an old binary .xls) is an OLE compound file, not a zip archive.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A zip archive's members decompress to far more than the upload: limits against zip bombs.
MAX_UNZIPPED_BYTES = 4 * 1024**3
# The shared strings table is read whole (by each of the two readers).
MAX_SHARED_STRINGS_BYTES = 128 * 1024**2


class Unreadable(ValueError):
    """The upload is not a readable .xlsx workbook; the message names the file."""


class Uncached(str):
    """An empty cell whose formula has no cached value; ``formula`` is the formula text."""

    formula: str
    letter: str

    def __new__(cls, formula: str, letter: str) -> Uncached:
        cell = super().__new__(cls, "")
        cell.formula = formula
        cell.letter = letter
        return cell


def looks_like_xlsx(filename: str | None, content_type: str | None, head: bytes) -> bool:
    """Whether an upload is meant as a workbook: by its name, its type or its first bytes."""
    named = (filename or "").lower().endswith((".xlsx", ".xlsm"))
    return (
        named
        or (content_type or "").split(";")[0].strip() == XLSX_TYPE
        or head.startswith(ZIP_MAGIC)
        or head.startswith(OLE_MAGIC)
    )


def text(value: Any) -> str:
    """A cell's value as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date):
        # A date-formatted cell: uploads only ever need its month (YYYY-MM).
        return f"{value.year:04d}-{value.month:02d}"
    return str(value)


def _check_archive(file: IO[bytes], name: str) -> None:
    head = file.read(8)
    file.seek(0)
    if head.startswith(OLE_MAGIC):
        raise Unreadable(
            f"{name} is an encrypted workbook (or an old binary .xls); "
            "save it as an .xlsx without a password"
        )
    if not head.startswith(ZIP_MAGIC):
        raise Unreadable(f"{name} is not an .xlsx workbook (it is not a zip archive)")
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise Unreadable(f"{name} is not an .xlsx workbook: {error}") from None
    finally:
        file.seek(0)
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names and "[Content_Types].xml" not in names:
        raise Unreadable(f"{name} is a zip archive but not an .xlsx workbook")
    if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
        raise Unreadable(f"{name} unpacks to more than {MAX_UNZIPPED_BYTES} bytes")
    strings = sum(m.file_size for m in members if m.filename.endswith("sharedStrings.xml"))
    if strings > MAX_SHARED_STRINGS_BYTES:
        raise Unreadable(f"{name} has a shared strings table over {MAX_SHARED_STRINGS_BYTES} bytes")


def rows(file: IO[bytes], name: str) -> Iterator[tuple[int, list[str]]]:
    """The first worksheet's rows as (row number, text cells), streamed. Opens the workbook on
    the first ``next`` (so the caller can do that off the event loop)."""
    # openpyxl was a fifth of the usage service's start-up imports, for an upload format
    # used now and then: loaded with the first workbook.
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        _check_archive(file, name)
        values = load_workbook(file, read_only=True, data_only=True, keep_links=False)
        formulas = load_workbook(file, read_only=True, data_only=False, keep_links=False)
    except Unreadable:
        raise
    except Exception as error:  # openpyxl fails in many ways on a broken workbook
        raise Unreadable(f"{name} is not a readable .xlsx workbook: {error}") from None
    try:
        if not values.worksheets:
            raise Unreadable(f"{name} has no worksheet")
        sheet, sheet_formulas = values.worksheets[0], formulas.worksheets[0]
        # The declared dimensions may be wrong; read what the sheet holds.
        sheet.reset_dimensions()  # read-only sheets have it
        sheet_formulas.reset_dimensions()  # read-only sheets have it
        both = zip(
            sheet.iter_rows(values_only=True),
            sheet_formulas.iter_rows(values_only=True),
            strict=False,
        )
        for number, (row, row_formulas) in enumerate(both, start=1):
            cells: list[str] = []
            for i, value in enumerate(row):
                formula = row_formulas[i] if i < len(row_formulas) else None
                if value is None and formula is not None:
                    cells.append(Uncached(str(formula), get_column_letter(i + 1)))
                else:
                    cells.append(text(value))
            yield number, cells
    except Unreadable:
        raise
    except Exception as error:
        raise Unreadable(f"{name} is not a readable .xlsx workbook: {error}") from None
    finally:
        values.close()
        formulas.close()
