"""Batch quality report: counts per outcome and the most frequent findings.

Memory stays bounded however large the batch: findings are counted per code with a
few examples each, never kept whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kit.csvsafe import write_csv
from services.catalogue.profile import Finding

ReportOutcome = Literal["accepted", "updated", "unchanged", "duplicate", "rejected"]
OUTCOMES: tuple[ReportOutcome, ...] = ("accepted", "updated", "unchanged", "duplicate", "rejected")
EXAMPLES_PER_CODE = 3

FINDINGS_CSV_COLUMNS = ("position", "reference", "severity", "code", "field", "message")


@dataclass
class QualityReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    records_with_warnings: int = 0
    finding_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def add(
        self, outcome: ReportOutcome, findings: Iterable[Finding], reference: str | None = None
    ) -> None:
        self.outcomes[outcome] += 1
        has_warning = False
        for finding in findings:
            has_warning |= finding.severity == "warning"
            self.finding_counts[(finding.severity, finding.code)] += 1
            examples = self.examples.setdefault(finding.code, [])
            if len(examples) < EXAMPLES_PER_CODE:
                examples.append(f"{reference or '?'}: {finding.message}")
        if has_warning:
            self.records_with_warnings += 1

    def top_findings(self, n: int = 10) -> list[dict[str, object]]:
        return [
            {
                "severity": severity,
                "code": code,
                "count": count,
                "examples": list(self.examples.get(code, [])),
            }
            for (severity, code), count in self.finding_counts.most_common(n)
        ]

    def as_dict(self, top: int = 10) -> dict[str, object]:
        return {
            "total": self.total,
            "counts": {o: self.outcomes.get(o, 0) for o in OUTCOMES},
            "warnings": self.records_with_warnings,
            "top_findings": self.top_findings(top),
        }

    def to_csv(self, top: int = 10) -> str:
        """Summary CSV: one row per outcome, then one row per top finding code."""
        rows: list[list[object]] = [["section", "severity", "code", "count"]]
        rows.append(["total", "", "", self.total])
        for outcome in OUTCOMES:
            rows.append(["outcome", "", outcome, self.outcomes.get(outcome, 0)])
        rows.append(["outcome", "", "warnings", self.records_with_warnings])
        for (severity, code), count in self.finding_counts.most_common(top):
            rows.append(["finding", severity, code, count])
        return write_csv(rows, lineterminator="\n")  # formula-starting cells neutralised


def finding_rows(
    position: int, reference: str | None, findings: Iterable[Finding]
) -> list[tuple[object, ...]]:
    """Rows for a per-record findings CSV (columns FINDINGS_CSV_COLUMNS)."""
    return [(position, reference or "", f.severity, f.code, f.field, f.message) for f in findings]
