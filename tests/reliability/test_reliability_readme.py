"""The README's reliability figures: which runs count as consecutive clean runs, how a run is
recorded, and the table a report gives."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reliability import readme


def report(
    at: str, *, commit: str | None = "abc1234", failed: int = 0, mode: str = "full"
) -> dict[str, Any]:
    return {
        "generated_at": at,
        "commit": commit,
        "code": f"code-{commit}" if commit else None,
        "mode": mode,
        "broker": "Tansu (embedded)",
        "seconds": 1800.0,
        "passed": 120 - failed,
        "failed": failed,
        "totals": {"events_produced": 9000, "events_lost": 0, "effects_lost": failed},
        "scenarios": {
            "consumer_killed": {
                "title": "2. kill -9 (53 kills)",
                "seconds": 800.0,
                "passed": 10,
                "failed": failed,
                "figures": {
                    "events_produced": 9000,
                    "events_lost": 0,
                    "effects_lost": failed,
                    "effects_duplicated": 0,
                    "longest_catch_up_s": 60.3,
                    "longest_consumer_catch_up_s": 16.6,
                    "faults": 53,
                    "outreach_smtp_resends_after_sigkill": 2,
                },
            }
        },
    }


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_code_is_the_same_across_commits_that_only_record_runs(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "reliability").mkdir()
    (tmp_path / "reports").mkdir()
    for name in ("app.py", "README.md", "reliability/README.md", "reports/reliability.json"):
        (tmp_path / name).write_text("one\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "code")
    tested = readme.current_commit(tmp_path)
    assert tested is not None and not tested.endswith("-dirty")
    code = readme.code_of(tested, tmp_path)
    assert code

    for name in ("README.md", "reliability/README.md", "reports/reliability.json"):
        (tmp_path / name).write_text("recorded\n")
    (tmp_path / "reports" / "reliability-runs.json").write_text("[]\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "record a run")
    recorded = readme.current_commit(tmp_path)
    assert recorded != tested
    assert readme.code_of(recorded, tmp_path) == code

    (tmp_path / "app.py").write_text("two\n")
    assert readme.code_of(readme.current_commit(tmp_path), tmp_path) is None  # dirty
    git(tmp_path, "commit", "-q", "-am", "change the code")
    changed = readme.code_of(readme.current_commit(tmp_path), tmp_path)
    assert changed not in (None, code)
    (tmp_path / "docs.md").write_text("a new file counts too\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "docs")
    assert readme.code_of(readme.current_commit(tmp_path), tmp_path) not in (None, changed)
    assert readme.code_of("0000000", tmp_path) is None


def test_a_report_without_code_gets_its_commits(tmp_path: Path) -> None:
    head = readme.current_commit()
    if head is None or head.endswith("-dirty"):
        pytest.skip("needs a clean checkout")
    old = {**report("2026-12-07T01:00:00+00:00", commit=head), "code": None}
    assert readme.summary(old)["code"] == readme.code_of(head)


def test_the_streak_is_the_newest_clean_runs_of_one_commit() -> None:
    runs = [
        readme.summary(report("2026-12-07T01:00:00+00:00", commit="old0000")),
        readme.summary(report("2026-12-07T02:00:00+00:00")),
        readme.summary(report("2026-12-07T03:00:00+00:00", failed=1)),
        readme.summary(report("2026-12-07T04:00:00+00:00")),
        readme.summary(report("2026-12-07T05:00:00+00:00")),
    ]
    streak = readme.clean_streak(runs)
    # The failure at 03:00 ends the streak, though the run before it was clean.
    assert [r["generated_at"][11:16] for r in streak] == ["04:00", "05:00"]
    assert readme.clean_streak(runs[:2]) == runs[1:2]  # another commit before it does not count
    assert readme.clean_streak(runs[:3]) == []  # the newest run failed
    unknown = [readme.summary(report("2026-12-07T06:00:00+00:00", commit=None))]
    assert readme.clean_streak(unknown) == []  # a run of an unknown tree proves nothing


def test_a_run_is_recorded_once_and_only_a_full_one(tmp_path: Path) -> None:
    runs_file = tmp_path / "runs.json"
    readme.record(report("2026-12-07T02:00:00+00:00"), runs_file)
    readme.record(report("2026-12-07T01:00:00+00:00"), runs_file)
    readme.record(report("2026-12-07T02:00:00+00:00"), runs_file)  # the same run again
    stored = json.loads(runs_file.read_text())
    assert [r["generated_at"][11:13] for r in stored] == ["01", "02"]
    with pytest.raises(ValueError, match="quick"):
        readme.record(report("2026-12-07T03:00:00+00:00", mode="quick"), runs_file)
    assert len(json.loads(runs_file.read_text())) == 2


def test_the_block_names_the_streak_and_a_failed_scenario(tmp_path: Path) -> None:
    clean = report("2026-12-07T02:00:00+00:00")
    runs = [readme.summary(clean), readme.summary(report("2026-12-07T03:00:00+00:00"))]
    text = readme.block(clean, runs, readme.ROOT / "README.md")
    assert "**2 consecutive full run(s) of one code (code-abc1234, commit abc1234)" in text
    assert "| 16.6 s / 60.3 s |" in text
    assert "2 SMTP resends" in text
    # reliability/README.md links one folder up.
    nested = readme.block(clean, runs, readme.ROOT / "reliability" / "README.md")
    assert "](../reports/reliability.json)" in nested
    failed = report("2026-12-07T04:00:00+00:00", failed=1)
    text = readme.block(failed, [*runs, readme.summary(failed)], tmp_path / "README.md")
    assert "consecutive" not in text
    assert "1 check(s) failed" in text


def test_readme_rewrites_only_the_block(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(f"# Title\n\nbefore\n\n{readme.START}\nold\n{readme.END}\n\nafter\n")
    latest = tmp_path / "reliability.json"
    latest.write_text(json.dumps(report("2026-12-07T02:00:00+00:00")))
    runs_file = tmp_path / "runs.json"
    readme.record(json.loads(latest.read_text()), runs_file)
    assert readme.update((page,), latest, runs_file) == [page]
    text = page.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "old" not in text and "2. kill -9 (53 kills)" in text
    assert readme.update((page,), latest, runs_file) == []  # already current
