"""Procurement's cost-shares CSV and usage's CSV exports with a library or title named as a
spreadsheet formula: the cell is written with a leading apostrophe, numbers stay numbers.
(The catalogue's CSVs: tests/unit/catalogue/test_catalogue_csv_formulas.py; the invoice and
survey-result CSVs: the procurement and governance unit tests.)"""

from __future__ import annotations

import csv
import io

from services.procurement.domain import CostShare, render_cost_shares_csv
from services.usage.domain import csv_lines

FORMULA = '=HYPERLINK("http://x","y")'


def test_the_cost_shares_csv_neutralises_a_library_name() -> None:
    text = render_cost_shares_csv((CostShare("FI-Hki", FORMULA, 674_500, 123_45),))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["FI-Hki", "'" + FORMULA, "674500", "12345", "123.45"]


def test_the_usage_csv_neutralises_a_title() -> None:
    text = "".join(csv_lines(["title", "total"], [[FORMULA, 5], ["-1 tapaa", -2]]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1:] == [["'" + FORMULA, "5"], ["'-1 tapaa", "-2"]]
