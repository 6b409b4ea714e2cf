"""Uploads with a row-level report, who may read what, cost per use and invoice checks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from contracts.membership import Library, LibraryNames, MemberJoined
from contracts.procurement import AgreementJoined, AgreementPeriod, AgreementSigned, Supplier
from kit.auth import Role
from services.procurement.domain import CostSharePolicy, Participant, compute_cost_shares
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service, unique_isil
from tests.integration.usage.conftest import outbox_events
from tests.integration.usage.test_usage_harvest import auth, new_agreement

pytestmark = pytest.mark.integration

HEADER_BLOCK = [
    ["Report_Name", "Title Report"],
    ["Report_ID", "TR"],
    ["Release", "5.1"],
    ["Institution_Name", "Testikirjasto"],
    ["Institution_ID", "Proprietary:test"],
    ["Metric_Types", "Total_Item_Requests; Unique_Title_Requests"],
    ["Report_Filters", ""],
    ["Report_Attributes", ""],
    ["Exceptions", ""],
    ["Reporting_Period", "Begin_Date=2025-01-01; End_Date=2025-02-28"],
    ["Created", "2026-01-05T10:00:00Z"],
    ["Created_By", "Supplier"],
    ["Registry_Record", ""],
    [],
]
COLUMNS = [
    "Title", "Publisher", "Publisher_ID", "Platform", "DOI", "Proprietary_ID", "ISBN",
    "Print_ISSN", "Online_ISSN", "URI", "Data_Type", "Access_Type", "Metric_Type",
    "Reporting_Period_Total", "Jan-2025", "Feb-2025",
]  # fmt: skip


def tabular(rows: list[list[str]]) -> bytes:
    lines = [*HEADER_BLOCK, COLUMNS, *rows]
    return ("\n".join("\t".join(cells) for cells in lines) + "\n").encode()


def tr_row(title: str, isbn: str, metric: str, jan: str, feb: str) -> list[str]:
    return [title, "Kustantamo", "", "Ellibs", "", "", isbn, "", "", "", "Book",
            "Controlled", metric, "", jan, feb]  # fmt: skip


async def upload_counter(usage: Service, infra: Infra, agreement: str, isil: str, body: bytes):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    return await usage.client.post(
        f"/agreements/{agreement}/uploads/counter",
        params={"isil": isil},
        files={"file": ("tr.tsv", body, "text/tab-separated-values")},
        headers=auth(infra),
    )


async def test_an_upload_with_broken_rows_names_them_and_records_nothing(
    infra: Infra, usage: Service
) -> None:
    agreement, isil = new_agreement(), unique_isil("FI-B")
    body = tabular(
        [
            tr_row("Kirja A", "9789520000001", "Total_Item_Requests", "5", "3"),
            tr_row("Kirja B", "9789520000002", "Total_Item_Requests", "viisi", "3"),
            tr_row("Kirja C", "9789520000003", "Total_Clicks", "1", "1"),
        ]
    )
    response = await upload_counter(usage, infra, agreement, isil, body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(17, "2025-01"), (18, "Metric_Type")]
    assert (
        await usage.pool.fetchval(
            "SELECT count(*) FROM usage_revisions WHERE agreement_id = $1", agreement
        )
        == 0
    )

    good = tabular(
        [
            tr_row("Kirja A", "9789520000001", "Total_Item_Requests", "5", "3"),
            tr_row("Kirja A", "9789520000001", "Unique_Title_Requests", "4", "2"),
            tr_row('=HYPERLINK("x")', "9789520000009", "Unique_Title_Requests", "1", ""),
        ]
    )
    response = await upload_counter(usage, infra, agreement, isil, good)
    assert response.status_code == 200, response.text
    assert response.json()["revisions"] == {"2025-01": 1, "2025-02": 1}
    # The same file again changes nothing.
    response = await upload_counter(usage, infra, agreement, isil, good)
    assert response.json()["revisions"] == {"2025-01": 1, "2025-02": 1}
    assert len(await outbox_events(usage.pool, "usage-reported", agreement)) == 2

    response = await usage.client.get(
        f"/agreements/{agreement}/usage",
        params={"from": "2025-01", "to": "2025-02", "group": "title", "format": "csv"},
        headers=auth(infra, Role.PROCUREMENT),
    )
    assert response.status_code == 200
    assert "'=HYPERLINK" in response.text
    assert response.text.splitlines()[0] == "title_id,title,report,metric,total"


async def test_a_library_reads_only_its_own_usage(infra: Infra, usage: Service) -> None:
    agreement, own, other = new_agreement(), unique_isil("FI-O"), unique_isil("FI-P")
    token = auth(infra, Role.LIBRARY, own)
    span = {"from": "2025-01", "to": "2025-12"}
    response = await usage.client.get(f"/libraries/{other}/usage", params=span, headers=token)
    assert response.status_code == 403
    response = await usage.client.get(
        f"/agreements/{agreement}/usage", params={**span, "isil": other}, headers=token
    )
    assert response.status_code == 403
    response = await usage.client.get(f"/libraries/{own}/usage", params=span, headers=token)
    assert response.status_code == 200
    response = await usage.client.get(f"/agreements/{agreement}/provider", headers=token)
    assert response.status_code == 403
    response = await usage.client.put(
        f"/agreements/{agreement}/provider",
        json={"platform": "x", "base_url": "http://127.0.0.1:1", "requestor_id": "r"},
        headers=token,
    )
    assert response.status_code == 403


async def test_cost_per_use_is_the_share_over_the_uses_and_invoices_are_checked(
    infra: Infra, usage: Service, publish: Any
) -> None:
    agreement = new_agreement()
    supplier_name = f"Ellibs-{uuid.uuid4().hex[:6]}"
    people = {unique_isil("FI-C"): pop for pop in (12_345, 54_321, 7_777)}
    supplier = Supplier(name="Ellibs", country="FI")
    await publish(
        AgreementSigned(
            agreement_id=agreement,
            tender_id="T-1",
            title="E-kirjat",
            supplier=supplier,
            product="Ellibs",
            material_types=["e-book"],
            licence_terms={},
            periods=[AgreementPeriod(start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))],
            extension_options=0,
            annual_cost_cents=1_000_001,
            cost_share_model="per-capita",
            signed_on=dt.date(2024, 12, 1),
        ),
        *[
            MemberJoined(
                library=Library(
                    isil=isil,
                    names=LibraryNames(fi=f"Kirjasto {isil}"),
                    municipalities=["091"],
                    population=population,
                    library_system="Koha",
                ),
                joined_on=dt.date(2024, 1, 1),
                period=1,
            )
            for isil, population in people.items()
        ],
        *[
            AgreementJoined(
                agreement_id=agreement,
                isil=isil,
                joined_on=dt.date(2025, 1, 1),
                title="E-kirjat",
                supplier=supplier,
                product="Ellibs",
                participants=n,
            )
            for n, isil in enumerate(people, 1)
        ],
    )
    mapping = {"isbn": "ISBN", "title": "Nimeke", "month": "Kuukausi", "loans": "Lainat"}
    response = await usage.client.put(
        f"/suppliers/{supplier_name}/mapping", json=mapping, headers=auth(infra)
    )
    assert response.status_code == 200, response.text
    loans = {}
    for n, isil in enumerate(people):
        rows = [f"97895200000{t:02d};Kirja {t};{m}/2025;{(n + 1) * t + m}"
                for t in range(1, 6) for m in range(1, 13)]  # fmt: skip
        loans[isil] = sum((n + 1) * t + m for t in range(1, 6) for m in range(1, 13))
        body = ("ISBN;Nimeke;Kuukausi;Lainat\n" + "\n".join(rows) + "\n").encode()
        response = await usage.client.post(
            f"/agreements/{agreement}/uploads/supplier",
            params={"isil": isil, "supplier": supplier_name},
            files={"file": ("lainat.csv", body, "text/csv")},
            headers=auth(infra, Role.LIBRARY, isil),
        )
        assert response.status_code == 200, response.text

    async def all_known() -> bool:
        return (
            await usage.pool.fetchval(
                """SELECT count(*) FROM participations p JOIN libraries USING (isil)
                    WHERE agreement_id = $1""",
                agreement,
            )
            == 3
        )

    await wait_for(all_known)
    response = await usage.client.get(
        f"/agreements/{agreement}/cost-per-use",
        params={"year": 2025, "metric": "loans"},
        headers=auth(infra),
    )
    assert response.status_code == 200, response.text
    shares = compute_cost_shares(
        1_000_001,
        [Participant(isil, isil, pop) for isil, pop in people.items()],
        CostSharePolicy("per-capita"),
    )
    expected = {
        s.isil: {
            "isil": s.isil,
            "share_cents": s.share_cents,
            "uses": loans[s.isil],
            # to the cent, halves up
            "cost_per_use_cents": (2 * s.share_cents + loans[s.isil]) // (2 * loans[s.isil]),
        }
        for s in shares
    }
    assert {row["isil"]: row for row in response.json()["items"]} == expected

    # A library sees its own row only.
    first = next(iter(people))
    response = await usage.client.get(
        f"/agreements/{agreement}/cost-per-use",
        params={"year": 2025, "metric": "loans"},
        headers=auth(infra, Role.LIBRARY, first),
    )
    assert [row["isil"] for row in response.json()["items"]] == [first]

    # Per-loan invoice: 150 cents a loan (given here), one cent of tolerance.
    exact = loans[first] * 150
    check = {"isil": first, "period_from": "2025-01", "period_to": "2025-12",
             "price_per_loan_cents": 150, "tolerance_cents": 1}  # fmt: skip
    response = await usage.client.post(
        f"/agreements/{agreement}/invoice-checks",
        json={**check, "invoiced_cents": exact + 1},
        headers=auth(infra),
    )
    assert response.json()["discrepancy"] is False
    response = await usage.client.post(
        f"/agreements/{agreement}/invoice-checks",
        json={**check, "invoiced_cents": exact + 500},
        headers=auth(infra),
    )
    assert response.json()["discrepancy"] is True
    [event] = await outbox_events(usage.pool, "invoice-discrepancy-found", agreement)
    assert event["difference_cents"] == 500 and event["loans"] == loans[first]
