""".xlsx uploads: COUNTER tabular reports and supplier loan reports as providers send them,
through the same row pipeline as CSV/TSV; broken workbooks are a 422, never a 500."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from typing import Any

import pytest
from openpyxl import Workbook

from kit.auth import Role
from tests.conftest import Infra
from tests.integration.conftest import Service, unique_isil
from tests.integration.usage.test_usage_harvest import auth, new_agreement
from tests.integration.usage.test_usage_uploads_and_costs import COLUMNS, HEADER_BLOCK, tr_row

pytestmark = pytest.mark.integration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_cached_value(body: bytes, formula: str, cached: str) -> bytes:
    """The workbook as a spreadsheet program saves it: the formula with its computed value
    (openpyxl writes formulas without one)."""
    source, out = zipfile.ZipFile(io.BytesIO(body)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                old = f"<f>{formula}</f><v></v>".encode()
                assert old in data
                data = data.replace(old, f"<f>{formula}</f><v>{cached}</v>".encode())
            target.writestr(item, data)
    return out.getvalue()


def counter_book(rows: list[list[Any]]) -> list[list[Any]]:
    return [*HEADER_BLOCK, COLUMNS, *rows]


def counts(row: list[str]) -> list[Any]:
    """A tabular row as a workbook holds it: the month counts as numbers."""
    return [*row[:-2], *(int(c) if c.isdigit() else c for c in row[-2:])]


async def post(
    usage: Service, infra: Infra, path: str, params: dict[str, str], name: str, body: bytes
) -> Any:
    return await usage.client.post(
        path, params=params, files={"file": (name, body, XLSX)}, headers=auth(infra)
    )


async def revisions(usage: Service, agreement: str) -> int:
    return await usage.pool.fetchval(  # type: ignore[no-any-return]  # asyncpg is untyped
        "SELECT count(*) FROM usage_revisions WHERE agreement_id = $1", agreement
    )


async def test_a_counter_report_as_xlsx_is_read_like_its_tsv(infra: Infra, usage: Service) -> None:
    agreement, isil = new_agreement(), unique_isil("FI-X")
    path = f"/agreements/{agreement}/uploads/counter"
    rows = [
        counts(tr_row("Kirja A", "9789520000001", "Total_Item_Requests", "5", "3")),
        counts(tr_row("Kirja A", "9789520000001", "Unique_Title_Requests", "4", "2")),
    ]
    # A month count computed by a formula, with the value Excel saved for it.
    rows[1][-1] = "=1+1"
    body = with_cached_value(workbook(counter_book(rows)), "1+1", "2")
    response = await post(usage, infra, path, {"isil": isil}, "tr.xlsx", body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": 2,
        "facts": 4,
        "revisions": {"2025-01": 1, "2025-02": 1},
    }
    response = await usage.client.get(
        f"/agreements/{agreement}/usage",
        params={"from": "2025-01", "to": "2025-02", "group": "month", "isil": isil},
        headers=auth(infra),
    )
    assert response.status_code == 200, response.text
    totals = {(r["month"], r["metric"]): r["total"] for r in response.json()["items"]}
    assert totals == {
        ("2025-01", "Total_Item_Requests"): 5,
        ("2025-02", "Total_Item_Requests"): 3,
        ("2025-01", "Unique_Title_Requests"): 4,
        ("2025-02", "Unique_Title_Requests"): 2,
    }


async def test_broken_rows_of_a_workbook_are_named_and_nothing_is_recorded(
    infra: Infra, usage: Service
) -> None:
    agreement, isil = new_agreement(), unique_isil("FI-X")
    path = f"/agreements/{agreement}/uploads/counter"
    rows = [
        counts(tr_row("Kirja A", "9789520000001", "Total_Item_Requests", "5", "3")),
        counts(tr_row("Kirja B", "9789520000002", "Total_Item_Requests", "1", "3")),
        counts(tr_row("Kirja C", "9789520000003", "Total_Item_Requests", "1", "1")),
    ]
    rows[1][-2] = "=SUM(O17:O17)"  # no cached value: openpyxl never computes formulas
    rows[2][-1] = 1.5
    response = await post(
        usage, infra, path, {"isil": isil}, "tr.xlsx", workbook(counter_book(rows))
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(17, "Jan-2025"), (18, "2025-02")]
    assert "formula" in errors[0]["message"] and "O17" in errors[0]["message"]
    assert await revisions(usage, agreement) == 0


async def test_a_supplier_loan_report_as_xlsx_with_dates_and_serials(
    infra: Infra, usage: Service
) -> None:
    agreement, isil = new_agreement(), unique_isil("FI-X")
    supplier = f"Ellibs-{uuid.uuid4().hex[:6]}"
    mapping = {"isbn": "ISBN", "title": "Nimeke", "month": "Kuukausi", "loans": "Lainat"}
    response = await usage.client.put(
        f"/suppliers/{supplier}/mapping", json=mapping, headers=auth(infra)
    )
    assert response.status_code == 200, response.text
    path = f"/agreements/{agreement}/uploads/supplier"
    params = {"isil": isil, "supplier": supplier}
    header = ["ISBN", "Nimeke", "Kuukausi", "Lainat"]
    # A month as a date cell, as text, and as a bare Excel serial (a date that lost its format).
    broken = [
        header,
        ["9789520000001", "Kirja 1", dt.datetime(2025, 3, 1), 4],
        ["9789520000002", "Kirja 2", "04/2025", 2],
        ["9789520000003", "Kirja 3", 45778, 1],
    ]
    response = await post(usage, infra, path, params, "lainat.xlsx", workbook(broken))
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert (error["row"], error["field"]) == (4, "month")
    assert "serial" in error["message"]
    assert await revisions(usage, agreement) == 0

    response = await post(usage, infra, path, params, "lainat.xlsx", workbook(broken[:3]))
    assert response.status_code == 200, response.text
    assert response.json()["revisions"] == {"2025-03": 1, "2025-04": 1}


async def test_files_that_are_not_readable_workbooks_are_a_422_naming_the_file(
    infra: Infra, usage: Service
) -> None:
    agreement, isil = new_agreement(), unique_isil("FI-X")
    path = f"/agreements/{agreement}/uploads/counter"
    good = workbook(
        counter_book([counts(tr_row("A", "9789520000001", "Total_Item_Requests", "1", "1"))])
    )
    not_a_workbook = io.BytesIO()
    with zipfile.ZipFile(not_a_workbook, "w") as archive:
        archive.writestr("readme.txt", "hello")
    broken_sheet = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(good)) as source,
        zipfile.ZipFile(broken_sheet, "w") as target,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]  # cut off mid-element
            target.writestr(item, data)
    cases = {
        "plain.xlsx": b"Title\tMetric_Type\nthis is text, not a workbook\n",
        # An encrypted workbook is an OLE compound file, not a zip archive.
        "salattu.xlsx": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        "archive.xlsx": not_a_workbook.getvalue(),
        "truncated.xlsx": good[: len(good) // 2],
        "broken-sheet.xlsx": broken_sheet.getvalue(),
    }
    for name, body in cases.items():
        response = await post(usage, infra, path, {"isil": isil}, name, body)
        assert response.status_code == 422, (name, response.text)
        problem = response.json()
        assert name in problem["detail"], (name, problem)
        assert problem["errors"][0]["field"] == "file", (name, problem)
    assert await revisions(usage, agreement) == 0
    response = await usage.client.post(
        path,
        params={"isil": isil},
        files={"file": ("tr.xlsx", good, XLSX)},
        headers=auth(infra, Role.LIBRARY, unique_isil("FI-Y")),
    )
    assert response.status_code == 403
