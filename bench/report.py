"""The results: one table row per figure, each with the reference measured in the same run, the
ratio, and the goal; the same rows go into ``bench/results/latest.json``."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Row:
    benchmark: str
    figure: str
    value: float | None
    unit: str
    reference: str = ""
    reference_value: float | None = None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""


def machine() -> dict[str, Any]:
    frequency = psutil.cpu_freq()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "cpu_mhz": round(frequency.current) if frequency else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("ms", "s", "MB"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}".strip()


def render(rows: list[Row], console: Console, title: str) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("benchmark")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("reference (same run)")
    table.add_column("ratio", justify="right")
    table.add_column("goal")
    table.add_column("", justify="center")
    for row in rows:
        reference = (
            f"{row.reference}: {_number(row.reference_value, row.unit)}" if row.reference else ""
        )
        table.add_row(
            row.benchmark,
            row.figure + (f"\n[dim]{row.note}[/]" if row.note else ""),
            _number(row.value, row.unit),
            reference,
            "" if row.ratio is None else f"{row.ratio:.3f}",
            row.goal,
            {True: "[green]✔[/]", False: "[red]✘[/]", None: ""}[row.met],
        )
    console.print(table)


def write_json(path: Path, rows: list[Row], details: dict[str, Any], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **meta,
        "machine": machine(),
        "figures": [asdict(row) for row in rows],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
