from __future__ import annotations

from services.catalogue.profile import Finding
from services.catalogue.quality import QualityReport, finding_rows

MISSING_URL = Finding("error", "missing-access-url", "856", "no access URL")
NO_PUBLISHER = Finding("warning", "missing-publisher", "264", "no publisher")


def test_counts_outcomes_and_top_findings() -> None:
    report = QualityReport()
    report.add("accepted", [], "a")
    report.add("accepted", [NO_PUBLISHER], "b")
    report.add("rejected", [MISSING_URL, NO_PUBLISHER], "c")
    report.add("duplicate", [], "d")
    report.add("unchanged", [], "e")
    data = report.as_dict()
    assert data["total"] == 5
    assert data["counts"] == {
        "accepted": 2,
        "updated": 0,
        "unchanged": 1,
        "duplicate": 1,
        "rejected": 1,
    }
    assert data["warnings"] == 2
    top = data["top_findings"]
    assert top[0]["code"] == "missing-publisher" and top[0]["count"] == 2  # type: ignore[index]  # the test knows the shape of the value it indexes
    assert top[0]["examples"] == ["b: no publisher", "c: no publisher"]  # type: ignore[index]  # the test knows the shape of the value it indexes


def test_csv_summary() -> None:
    report = QualityReport()
    report.add("rejected", [MISSING_URL], "x")
    assert report.to_csv().splitlines() == [
        "section,severity,code,count",
        "total,,,1",
        "outcome,,accepted,0",
        "outcome,,updated,0",
        "outcome,,unchanged,0",
        "outcome,,duplicate,0",
        "outcome,,rejected,1",
        "outcome,,warnings,0",
        "finding,error,missing-access-url,1",
    ]
    assert finding_rows(3, "x", [MISSING_URL]) == [
        (3, "x", "error", "missing-access-url", "856", "no access URL")
    ]


def test_examples_are_bounded() -> None:
    report = QualityReport()
    for i in range(1000):
        report.add("rejected", [MISSING_URL], str(i))
    assert len(report.examples["missing-access-url"]) == 3
