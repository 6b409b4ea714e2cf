"""The quick reliability run in the background: tests/conftest.py starts it with the first
test after the browser tests, at a lower CPU priority, so that its minutes of scenarios
overlap the rest of the suite instead of following it (it runs on its own stack: its own
database server, broker and service processes, nothing shared with the session's).
``quick_run`` waits for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICK_MODULE = "tests/reliability/test_reliability_quick.py"
BROWSER_TESTS = "tests/browser/"
# Lower than the test process, so the suite's own timing-sensitive waits are served first.
NICENESS = 10


@dataclass
class QuickRun:
    process: subprocess.Popen[str]
    report: Path


_started: QuickRun | None = None


def start_quick_run() -> QuickRun:
    report = Path(tempfile.mkdtemp(prefix="konsortio-reliability-report-")) / "reliability.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "reliability", "--quick", "--report", str(report)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.nice(NICENESS),  # noqa: PLW1509 - nothing but a nice() here
    )
    return QuickRun(process, report)


def quick_run_wanted(items: list[pytest.Item]) -> bool:
    if os.environ.get("KONSORTIO_TEST_KAFKA_BOOTSTRAP"):
        return False  # the module skips itself there: it pauses its own embedded broker
    return any(item.nodeid.startswith(QUICK_MODULE) for item in items)


def take_started_run() -> QuickRun | None:
    """The run begun at collection, once; None when it was not begun (then start one)."""
    global _started
    run, _started = _started, None
    return run


_wanted = False


def collection_finished(session: pytest.Session) -> None:
    global _wanted
    _wanted = not session.config.option.collectonly and quick_run_wanted(session.items)


def before_each_test(item: pytest.Item) -> None:
    # Begun with the first test after the browser tests: headless Chromium and the quick
    # run's stack starting at once on two cores once left a browser page waiting past its
    # timeout, and the browser tests are a small part of the time the overlap saves.
    global _started, _wanted
    if _wanted and not item.nodeid.startswith(BROWSER_TESTS):
        _wanted = False
        _started = start_quick_run()


def session_finished() -> None:
    # A session that ends early (-x, Ctrl-C) stops the run; SIGTERM lets it stop its stack.
    run = take_started_run()
    if run is not None and run.process.poll() is None:
        run.process.send_signal(signal.SIGTERM)
        try:
            run.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.communicate()
