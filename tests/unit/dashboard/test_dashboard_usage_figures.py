"""The dashboard's usage figures from read-model rows: what a use is, a month's use over
overlapping reports, cost per use, and the bar chart's geometry."""

from __future__ import annotations

import datetime as dt

from services.dashboard import charts, i18n
from services.dashboard.usage import (
    build_figures,
    chart_of,
    cost_per_use_cents,
    usage_facts,
    uses_of,
)


def test_a_use_is_unique_title_requests_else_loans_else_total_item_requests() -> None:
    assert uses_of({"Unique_Title_Requests": 5, "Total_Item_Requests": 9}) == 5
    assert uses_of({"loans": 7, "minutes_listened": 100}) == 7
    assert uses_of({"Total_Item_Requests": 9}) == 9
    assert uses_of({"Searches_Platform": 9}) == 0
    assert uses_of(None) == 0


def test_usage_facts_read_the_month_and_refuse_missing_keys() -> None:
    data = {
        "agreement_id": "AG-1",
        "isil": "FI-A",
        "period": "2025-03",
        "report": "TR",
        "source": "sushi",
        "revision": 2,
        "totals": {"Unique_Title_Requests": 12},
        "titles": 4,
    }
    facts = usage_facts(data)
    assert facts is not None
    assert (facts.period, facts.revision, facts.uses) == (dt.date(2025, 3, 1), 2, 12)
    assert usage_facts({**data, "period": "2025-13"}) is None
    assert usage_facts({**data, "isil": None}) is None


def row(agreement: str, isil: str, month: str, uses: int) -> dict[str, object]:
    return {
        "agreement_id": agreement,
        "isil": isil,
        "period": dt.date(int(month[:4]), int(month[5:]), 1),
        "uses": uses,
    }


def test_figures_sum_libraries_per_month_and_divide_the_annual_cost_per_year() -> None:
    rows = [
        row("AG-1", "FI-A", "2025-01", 100),
        row("AG-1", "FI-B", "2025-01", 300),
        row("AG-1", "FI-A", "2025-02", 200),
        row("AG-1", "FI-A", "2026-01", 0),
        row("AG-2", "FI-A", "2025-01", 10),
    ]
    costs = {"AG-1": ("E-kirjat", 1_000_000), "AG-2": ("Lehdet", None)}
    figures = build_figures(rows, costs, {"harvest-failed": 2})
    first, second = figures.agreements
    assert first.months == [
        (dt.date(2025, 1, 1), 400),
        (dt.date(2025, 2, 1), 200),
        (dt.date(2026, 1, 1), 0),
    ]
    assert [(y.year, y.uses, y.cost_per_use_cents) for y in first.years] == [
        (2025, 600, 1667),
        (2026, 0, None),  # no use: no cost per use
    ]
    assert second.years[0].cost_per_use_cents is None  # no cost known
    assert (figures.total_uses, figures.harvest_failures, figures.invoice_discrepancies) == (
        610,
        2,
        0,
    )
    chart = chart_of(first)
    assert chart is not None
    assert [(b.label, b.value) for b in chart.bars] == [
        ("2025-01", 400),
        ("2025-02", 200),
        ("2026-01", 0),
    ]


def test_cost_per_use_rounds_halves_up() -> None:
    assert cost_per_use_cents(5, 2) == 3
    assert cost_per_use_cents(100, 0) is None
    assert cost_per_use_cents(None, 5) is None


def test_bar_chart_geometry_scales_bars_to_a_round_maximum() -> None:
    chart = charts.bar_chart([("2025-01", 40), ("2025-02", 100), ("2025-03", 0)])
    assert chart is not None
    assert chart.maximum == 100 and chart.total == 140
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.label == "2025-02"
    assert tallest.y == chart.plot_top  # 100 is the axis' top
    assert chart.bars[2].height == 0
    assert chart.bars[0].height == round(tallest.height * 0.4, 1)
    assert all(chart.plot_left <= b.x and b.x + b.width <= chart.plot_right for b in chart.bars)
    assert charts.bar_chart([]) is None


def test_cents_in_each_language() -> None:
    assert i18n.cents(1667, "fi") == "16,67\u00a0€"
    assert i18n.cents(123_456, "sv") == "1\u00a0234,56\u00a0€"
    assert i18n.cents(5, "en") == "€0.05"
