"""`make audit`: pip-audit over uv.lock, with an ignore list that carries a reason and a date."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _check(ignore_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "audit-ignores", f"AUDIT_IGNORE={ignore_file}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_the_shipped_ignore_list_is_well_formed() -> None:
    assert _check(REPO / "audit-ignore.txt").returncode == 0


def test_an_entry_without_a_reason_or_past_its_date_fails(tmp_path: Path) -> None:
    ignore = tmp_path / "ignore.txt"
    ignore.write_text(
        "# comment\n\nGHSA-aaaa 2099-01-01 not reachable: we never parse untrusted YAML\n"
    )
    assert _check(ignore).returncode == 0
    ignore.write_text("GHSA-bbbb\n")
    assert "want <id> <YYYY-MM-DD> <reason>" in _check(ignore).stdout
    ignore.write_text("PYSEC-2020-1 2020-01-01 accepted long ago\n")
    failed = _check(ignore)
    assert failed.returncode != 0 and "has passed" in failed.stdout


def test_audit_runs_pip_audit_on_the_locked_dependencies_with_the_ignores(tmp_path: Path) -> None:
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("GHSA-cccc 2099-01-01 reason\n")
    plan = subprocess.run(
        ["make", "-n", "audit", f"AUDIT_IGNORE={ignore}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "uv export --frozen" in plan and "pip-audit" in plan
    assert "--ignore-vuln" in plan or "ignore-vuln" in plan
