"""Pure usage rules: COUNTER parsing, SUSHI exceptions, upload rows, cost shares, invoices."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.usage import domain
from services.usage.sushi_standin import SushiStandIn, isbn13

JAN = dt.date(2025, 1, 1)


def test_a_51_title_report_sums_attribute_splits() -> None:
    report = domain.CounterReport.model_validate(
        {
            "Report_Header": {"Release": "5.1", "Report_ID": "TR"},
            "Report_Items": [
                {
                    "Title": "Kirja",
                    "Item_ID": {"ISBN": "9789520000017"},
                    "Attribute_Performance": [
                        {"Data_Type": "Book", "YOP": "2020",
                         "Performance": {"Total_Item_Requests": {"2025-01": 3}}},
                        {"Data_Type": "Book", "YOP": "2021",
                         "Performance": {"Total_Item_Requests": {"2025-01": 4}}},
                    ],
                }
            ],
        }
    )  # fmt: skip
    assert domain.facts_of(report) == [
        domain.Fact(JAN, "9789520000017", "Kirja", "Book", "Total_Item_Requests", 7)
    ]


def test_a_50_report_is_read_too() -> None:
    report = domain.CounterReport.model_validate(
        {
            "Report_Header": {"Release": "5", "Report_ID": "TR"},
            "Report_Items": [
                {
                    "Title": "Kirja",
                    "Data_Type": "Book",
                    "Item_ID": [{"Type": "ISBN", "Value": "x"}] and {"ISBN": "978952000001"},
                    "Performance": [
                        {"Period": {"Begin_Date": "2025-01-01", "End_Date": "2025-01-31"},
                         "Instance": [{"Metric_Type": "Unique_Title_Requests", "Count": 2}]}
                    ],
                }
            ],
        }
    )  # fmt: skip
    [fact] = domain.facts_of(report)
    assert (fact.period, fact.metric, fact.count) == (JAN, "Unique_Title_Requests", 2)


@pytest.mark.parametrize(
    ("body", "items", "outcome"),
    [
        ({"Code": 1011, "Message": "Report Queued for Processing"}, False, domain.Outcome.RETRY),
        ([{"Code": 3031, "Message": "Usage Not Ready"}], False, domain.Outcome.RETRY),
        (
            {"Report_Header": {"Release": "5.1", "Report_ID": "TR",
                               "Exceptions": [{"Code": 3030, "Message": "No Usage"}]}},
            False,
            domain.Outcome.NO_USAGE,
        ),
        ({"Code": 2020, "Message": "API Key Invalid"}, False, domain.Outcome.FAIL),
        ({"Report_Header": {"Release": "5.1", "Report_ID": "TR"}}, True, domain.Outcome.REPORT),
    ],
)  # fmt: skip
def test_sushi_exceptions_mean_what_the_code_of_practice_says(
    body: object, items: bool, outcome: domain.Outcome
) -> None:
    assert domain.classify(domain.exceptions_in(body), items)[0] is outcome


def test_tabular_rows_name_the_broken_cell() -> None:
    layout = domain.TabularLayout.of(
        ["Title", "ISBN", "Data_Type", "Metric_Type", "Reporting_Period_Total", "Jan-2025"]
    )
    [fact] = layout.facts(["Kirja", "978952", "Book", "Total_Item_Requests", "5", "5"])
    assert fact == domain.Fact(JAN, "978952", "Kirja", "Book", "Total_Item_Requests", 5)
    with pytest.raises(domain.RowError) as error:
        layout.facts(["Kirja", "978952", "Book", "Total_Item_Requests", "5", "x"])
    assert error.value.column == "2025-01"
    with pytest.raises(domain.RowError) as error:
        layout.facts(["Kirja", "978952", "Book", "Clicks", "5", "5"])
    assert error.value.column == "Metric_Type"


@pytest.mark.parametrize("text", ["1/2025", "01.2025", "2025-01"])
def test_supplier_months(text: str) -> None:
    assert domain.supplier_month(text) == JAN


def test_a_supplier_month_that_is_not_one_is_refused() -> None:
    with pytest.raises(domain.RowError):
        domain.supplier_month("13/2025")


@given(
    total=st.integers(0, 10**9),
    populations=st.dictionaries(st.text("ABC", min_size=1, max_size=4), st.integers(0, 10**6),
                                min_size=1, max_size=20),
    model=st.sampled_from(["per-capita", "equal"]),
)  # fmt: skip
def test_cost_shares_add_up_to_the_total(total: int, populations: dict, model: str) -> None:
    assert sum(domain.cost_shares(total, model, 0, populations).values()) == total


def test_cost_per_use_rounds_half_up_to_the_cent() -> None:
    assert domain.cost_per_use_cents(5, 2) == 3
    assert domain.cost_per_use_cents(100, 3) == 33
    assert domain.cost_per_use_cents(100, 0) is None


def test_an_invoice_within_tolerance_is_no_discrepancy() -> None:
    assert not domain.check_invoice(10, 150, 1501, 1).discrepancy
    check = domain.check_invoice(10, 150, 1400, 1)
    assert check.discrepancy and check.difference_cents == -100


def test_csv_cells_that_start_a_formula_are_neutralised() -> None:
    lines = list(domain.csv_lines(["a", "b"], [["=1+1", 5], ["@x", "-2"]]))
    assert lines == ["a,b\r\n", "'=1+1,5\r\n", "'@x,'-2\r\n"]


def test_the_standin_titles_have_valid_isbns() -> None:
    assert isbn13(1) == "9789520000011"
    standin = SushiStandIn(titles=3)
    report = domain.CounterReport.model_validate(
        standin.title_report("c", "2025-01", "2025-02", "TR")
    )
    facts = domain.facts_of(report)
    assert {f.metric for f in facts} <= {"Total_Item_Requests", "Unique_Title_Requests"}
    for f in facts:
        total, unique = standin.counts("c", domain.month_text(f.period), f.title_id)
        assert f.count == (total if f.metric == "Total_Item_Requests" else unique)
