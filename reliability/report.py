"""Checks, scenario results, the JSON report and the figures table."""

from __future__ import annotations

import datetime as dt
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reliability.readme import scenario_table


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""
    skipped: bool = False  # not applicable here; neither passed nor failed
    note: bool = False  # an observation about something outside Konsortio; not counted


@dataclass
class ScenarioResult:
    name: str
    title: str
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    error: str | None = None  # the scenario itself broke (a harness or stack failure)

    def check(self, name: str, passed: bool, detail: str = "") -> Check:
        item = Check(name, bool(passed), detail)
        self.checks.append(item)
        return item

    def skip(self, name: str, reason: str) -> None:
        self.checks.append(Check(name, True, reason, skipped=True))

    def note(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, True, detail, skipped=True, note=True))

    def zero(self, name: str, items: list[Any] | int, examples: int = 3) -> Check:
        """A check that a list of problems (or a count) is empty."""
        count = items if isinstance(items, int) else len(items)
        detail = "" if isinstance(items, int) else "; ".join(map(str, items[:examples]))
        return self.check(f"{name} = 0", count == 0, f"{count}" + (f": {detail}" if detail else ""))

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.passed and not c.skipped)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checks if not c.passed) + (1 if self.error else 0)


@dataclass
class Report:
    mode: str
    services: list[str]
    started: dt.datetime
    scenarios: list[ScenarioResult] = field(default_factory=list)
    seconds: float = 0.0
    totals: dict[str, Any] = field(default_factory=dict)
    broker: str = "Tansu (embedded)"
    commit: str | None = None  # the tree the run exercised (git describe --dirty)
    code: str | None = None  # that commit's code (readme.code_of): what a streak counts

    @property
    def passed(self) -> int:
        return sum(s.passed for s in self.scenarios)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.scenarios)

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.started.isoformat(timespec="seconds"),
            "commit": self.commit,
            "code": self.code,
            "mode": self.mode,
            "broker": self.broker,
            "services": self.services,
            "seconds": round(self.seconds, 1),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "passed": self.passed,
            "failed": self.failed,
            "totals": self.totals,
            "scenarios": {
                s.name: {
                    "title": s.title,
                    "seconds": round(s.seconds, 1),
                    "passed": s.passed,
                    "failed": s.failed,
                    "error": s.error,
                    "figures": s.figures,
                    "checks": [asdict(c) for c in s.checks],
                }
                for s in self.scenarios
            },
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(self.as_json(), indent=2, default=str) + "\n")
        partial.rename(path)

    def table(self) -> str:
        """The figures as a Markdown table, for the README."""
        return scenario_table(self.as_json())

    def timings(self) -> str:
        """Time per scenario (and per run of a repeated one), with the total: where a long
        run's half hour goes."""
        width = max((len(s.name) for s in self.scenarios), default=8)
        lines = ["time per scenario:"]
        lines += [f"  {s.name:<{width}}  {s.seconds:7.1f} s" for s in self.scenarios]
        total = sum(s.seconds for s in self.scenarios)
        lines.append(f"  {'scenarios':<{width}}  {total:7.1f} s (whole run {self.seconds:.1f} s)")
        return "\n".join(lines)
