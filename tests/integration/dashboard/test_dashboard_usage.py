"""Usage events through the real broker into the running dashboard: the page's usage chart,
its table per library and month, cost per use, and the counts of failed harvests and invoice
discrepancies."""

from __future__ import annotations

import re

import pytest

from contracts.usage import InvoiceDiscrepancyFound, UsageHarvestFailed, UsageReported
from tests.conftest import Infra, wait_for
from tests.integration.dashboard.support import DashboardUnderTest, publish, signed, unique

pytestmark = pytest.mark.integration


def reported(
    agreement: str, isil: str, period: str, uses: int, revision: int = 1, report: str = "TR"
) -> UsageReported:
    return UsageReported(
        agreement_id=agreement,
        isil=isil,
        period=period,
        report=report,
        source="sushi",
        revision=revision,
        totals={"Unique_Title_Requests": uses, "Total_Item_Requests": uses * 3},
        titles=5,
    )


async def fragment(dashboard: DashboardUnderTest) -> str:
    response = await dashboard.client.get("/fragments/figures", params={"lang": "en"})
    assert response.status_code == 200, response.text
    return response.text


def cost_row(html: str, agreement: str, year: int) -> dict[str, str] | None:
    row = re.search(
        rf'<tr data-usage-agreement="{agreement}" data-year="{year}">(.*?)</tr>', html, re.DOTALL
    )
    if not row:
        return None
    cells = dict(re.findall(r'data-col="([\w-]+)">([^<]*)<', row.group(1)))
    return cells


def library_rows(html: str, agreement: str) -> dict[tuple[str, str], str]:
    figure = re.search(rf'data-usage-agreement="{agreement}">(.*?)</figure>', html, re.DOTALL)
    if not figure:
        return {}
    rows = re.findall(
        r'<tr data-isil="([^"]+)" data-month="([^"]+)">.*?<td class="num">([^<]*)</td>',
        figure.group(1),
    )
    return {(isil, month): uses for isil, month, uses in rows}


def count(html: str, figure: str) -> int:
    found = re.search(rf'data-figure="{figure}"[^>]*>([^<]*)<', html)
    assert found, figure
    return int(found.group(1).replace(",", ""))


async def test_usage_reports_become_a_chart_per_month_and_cost_per_use(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    agreement, a, b = unique("AG-U"), unique("FI-Ua"), unique("FI-Ub")
    before = await fragment(dashboard)
    failures, discrepancies = (
        count(before, "usage-harvest-failures"),
        count(before, "usage-invoice-discrepancies"),
    )
    await publish(
        infra,
        [
            signed(agreement, f"E-kirjat {agreement}", 1_000_000),  # 10 000 €
            reported(agreement, a, "2025-01", 100),
            reported(agreement, b, "2025-01", 300),
            reported(agreement, a, "2025-02", 50),
            # A correction replaces the first figures; the TR_B1 report counts the same
            # requests again and must not be added to TR's.
            reported(agreement, a, "2025-02", 200, revision=2),
            reported(agreement, a, "2025-02", 150, report="TR_B1"),
            # A lower revision arriving late changes nothing.
            reported(agreement, a, "2025-02", 7, revision=1),
            reported(agreement, b, "2026-01", 40),
            UsageHarvestFailed(
                agreement_id=agreement,
                isil=b,
                period="2025-03",
                report="TR",
                job_id=1,
                attempts=5,
                reason="HTTP 503",
            ),
            InvoiceDiscrepancyFound(
                agreement_id=agreement,
                isil=a,
                period_from="2025-01",
                period_to="2025-02",
                loans=300,
                price_per_loan_cents=150,
                expected_cents=45_000,
                invoiced_cents=50_000,
                difference_cents=5_000,
                tolerance_cents=100,
            ),
        ],
        source="/tests",
    )

    async def settled() -> str | None:
        html = await fragment(dashboard)
        row, next_year = cost_row(html, agreement, 2025), cost_row(html, agreement, 2026)
        # The agreement comes on procurement's topic and the reports on usage's: the
        # dashboard may see the uses before it knows the cost, so wait for both.
        done = (
            row
            and row["uses"] == "600"
            and row["cost-per-use"] != "–"
            and next_year
            and next_year["cost-per-use"] != "–"
            and count(html, "usage-invoice-discrepancies") > discrepancies
            and count(html, "usage-harvest-failures") > failures
        )
        return html if done else None

    html = await wait_for(settled)
    # 2025: 100 + 300 + 200 uses; 10 000 € / 600 = 16.67 € a use. 2026: 10 000 € / 40.
    assert cost_row(html, agreement, 2025) == {"uses": "600", "cost-per-use": "€16.67"}
    assert cost_row(html, agreement, 2026) == {"uses": "40", "cost-per-use": "€250.00"}
    assert library_rows(html, agreement) == {
        (a, "2025-01"): "100",
        (b, "2025-01"): "300",
        (a, "2025-02"): "200",
        (b, "2026-01"): "40",
    }
    # The SVG has one bar per month, with the month's uses over every library.
    figure = re.search(rf'data-usage-agreement="{agreement}">(.*?)</figure>', html, re.DOTALL)
    assert figure is not None
    bars = re.findall(r'data-month="(\d{4}-\d\d)" data-value="(\d+)"', figure.group(1))
    assert bars == [("2025-01", "400"), ("2025-02", "200"), ("2026-01", "40")]
    assert count(html, "usage-harvest-failures") == failures + 1
    assert count(html, "usage-invoice-discrepancies") == discrepancies + 1

    # In Finnish and Swedish too, with their own formats.
    fi = (await dashboard.client.get("/fragments/figures", params={"lang": "fi"})).text
    assert "Hinta / käyttökerta" in fi and "16,67\u00a0€" in fi
    sv = (await dashboard.client.get("/fragments/figures", params={"lang": "sv"})).text
    assert "Kostnad / användning" in sv
