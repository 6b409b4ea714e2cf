"""CSV cells that a spreadsheet cannot run as a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)`` can exfiltrate the
sheet or lure a click). Every CSV the system writes passes its cells through ``safe_cell``,
which prefixes such a cell with an apostrophe (OWASP's advice): the sheet then shows the text
as written and runs nothing. Numbers are written by the caller as numbers, not through here,
so a negative amount stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


def write_csv(rows: Iterable[Iterable[Any]], **writer_options: Any) -> str:
    """RFC 4180 CSV text of ``rows`` with every text cell neutralised."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, **writer_options)
    for row in rows:
        writer.writerow(safe_row(row))
    return buffer.getvalue()
