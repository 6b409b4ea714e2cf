"""The README stays true: its event catalogue lists every event the contracts define, and its
quick start has exactly the two commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

from contracts import ALL_EVENTS

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_event_is_in_the_catalogue() -> None:
    listed = set(re.findall(r"^\| `([a-z-]+)` \| (\w+) \|", README, flags=re.MULTILINE))
    assert listed == {(event.name, event.producer) for event in ALL_EVENTS}


def test_the_quick_start_has_exactly_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick_start.strip().splitlines()]
    assert commands == ["make up", "make test"]


def test_the_settings_table_lists_every_setting() -> None:
    from konsortio.cli import settings_markdown

    assert settings_markdown() in README, (
        "run `konsortio settings --update-readme README.md` and commit"
    )


def test_the_benchmark_table_is_generated_from_the_latest_results() -> None:
    # Never edited by hand: `python -m bench --readme` (or a full `make bench`) writes it.
    from bench import readme

    text = readme.README.read_text(encoding="utf-8")
    results = json.loads(readme.LATEST.read_text(encoding="utf-8"))
    assert readme.current_block(text) == readme.block(results), (
        "README's benchmark table differs from bench/results/latest.json: "
        "run `python -m bench --readme`"
    )


def test_the_reliability_figures_are_generated_from_the_reports() -> None:
    # Never edited by hand: a full `make reliability` (or `python -m reliability --readme`)
    # writes them, in README.md and in reliability/README.md.
    from reliability import readme

    report = json.loads(readme.LATEST.read_text(encoding="utf-8"))
    runs = readme.load_runs()
    for path in readme.READMES:
        text = path.read_text(encoding="utf-8")
        assert readme.current_block(text) == readme.block(report, runs, path), (
            f"{path.name}'s reliability figures differ from reports/: "
            "run `python -m reliability --readme`"
        )
