"""The short version of ``make reliability``: every scenario once, on its own stack, in a
subprocess (it starts services as processes and signals them; nothing of it belongs in the
test process). Each promise of the delivery guarantees is its own test, so a failure names
the promise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Any

import pytest

from tests.reliability.background import start_quick_run, take_started_run

# The quick run took about three minutes on two cores before each kill waited for its service
# to catch up and a kill mid-command was added; with them it took 10.5 minutes on two cores
# shared with five other test runs (load average 8-14). The margin is for such machines.
QUICK_TIMEOUT_S = 900

pytestmark = [
    # Above the subprocess's own timeout, so the fixture's clean stop runs first.
    pytest.mark.timeout(QUICK_TIMEOUT_S + 120),
    pytest.mark.skipif(
        bool(os.environ.get("KONSORTIO_TEST_KAFKA_BOOTSTRAP")),
        reason="the reliability suite runs its own embedded broker (it pauses it with SIGSTOP)",
    ),
]


@pytest.fixture(scope="module")
def quick_run() -> dict[str, Any]:
    # Begun in the background when collection finished (see conftest.py); begun now if not.
    run = take_started_run() or start_quick_run()
    process, report = run.process, run.report
    try:
        stdout, stderr = process.communicate(timeout=QUICK_TIMEOUT_S)
    except BaseException:
        # SIGTERM, not SIGKILL: the suite then stops the stack it started (services,
        # broker, database) before it exits.
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        raise
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    assert report.exists(), f"no report; stderr ends:\n{stderr[-3000:]}"
    data = json.loads(report.read_text())
    data["_last_line"] = last
    data["_exit_code"] = process.returncode
    return data


def failed_checks(data: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {check['name']} ({check['detail'][:300]})"
        for name, scenario in data["scenarios"].items()
        for check in scenario["checks"]
        if not check["passed"]
    ] + [f"{name}: {s['error']}" for name, s in data["scenarios"].items() if s.get("error")]


def test_the_last_line_counts_passed_and_failed_checks(quick_run: dict[str, Any]) -> None:
    assert quick_run["_last_line"] == f"{quick_run['passed']} passed, {quick_run['failed']} failed"


def test_no_event_is_lost(quick_run: dict[str, Any]) -> None:
    assert quick_run["totals"]["events_lost"] == 0
    assert quick_run["totals"]["effects_lost"] == 0


def test_no_effect_is_duplicated(quick_run: dict[str, Any]) -> None:
    assert quick_run["totals"]["effects_duplicated"] == 0


def test_no_service_crashes(quick_run: dict[str, Any]) -> None:
    assert quick_run["totals"]["crashes"] == 0


def test_no_5xx_answers(quick_run: dict[str, Any]) -> None:
    assert quick_run["totals"]["http_5xx"] == 0
    assert quick_run["totals"]["schemathesis_cases"] > 0


def test_no_wrong_authorization_decision(quick_run: dict[str, Any]) -> None:
    assert quick_run["totals"]["authorization_cases"] > 0
    assert quick_run["totals"]["wrong_authorization_decisions"] == 0


def test_every_poison_message_is_dead_lettered(quick_run: dict[str, Any]) -> None:
    poison = quick_run["scenarios"]["poison"]["figures"]
    assert poison["dlq_entries"] == poison["dlq_entries_expected"] > 0


def test_every_check_passes(quick_run: dict[str, Any]) -> None:
    failed = failed_checks(quick_run)
    assert not failed, "\n".join(failed)
    assert quick_run["_exit_code"] == 0


def test_a_supplier_file_cut_short_or_delivered_again_changes_nothing(
    quick_run: dict[str, Any],
) -> None:
    for name in ("supplier_file_cut", "supplier_file_again"):
        scenario = quick_run["scenarios"][name]
        failed = [c["name"] for c in scenario["checks"] if not c["passed"]]
        assert scenario["passed"] > 0 and not failed and not scenario["error"], (name, failed)
