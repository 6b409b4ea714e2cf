"""Benchmark work runs in child processes, as services do: on 2 cores a writer, a relay and a
consumer in one process would share one core and measure the GIL, not the design.

A child is ``python -m bench.worker ROLE JSON``. It talks JSON lines: it prints events
(``{"event": "ready"}``, ``{"event": "progress", "n": 1200}``, ``{"event": "done", ...}``) on
stdout and reads commands (``go``, ``stop``) on stdin. Its stderr goes to a log file in the
run directory, so a failure can be read afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
# Set by ``python -m bench --profile``: the directory the children's py-spy profiles go to.
PROFILE_ENV = "KONSORTIO_BENCH_PROFILE"
PYSPY_ENV = "KONSORTIO_BENCH_PYSPY"


def pyspy_binary() -> str:
    """py-spy from $KONSORTIO_BENCH_PYSPY, the venv, or the PATH."""
    candidates = [
        os.environ.get(PYSPY_ENV, ""),
        str(Path(sys.executable).parent / "py-spy"),
        shutil.which("py-spy") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("py-spy not found: pip install py-spy, or set KONSORTIO_BENCH_PYSPY")


class ChildFailed(RuntimeError):
    pass


class Child:
    def __init__(self, role: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.role = role
        self.process = process
        self.log_path = log_path
        self.progress: dict[str, Any] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(), name=f"read-{role}")

    @classmethod
    async def start(cls, role: str, args: dict[str, Any], log_dir: Path) -> Child:
        log_path = _log_path(log_dir, role)
        command = [sys.executable, "-m", "bench.worker", role, json.dumps(args)]
        profile_dir = os.environ.get(PROFILE_ENV)
        if profile_dir:
            # py-spy samples the child from outside (no code change, ~1 % overhead): the
            # collapsed stacks land next to the logs and are summarised at the end.
            output = Path(profile_dir) / f"{log_path.stem}.txt"
            command = [
                pyspy_binary(),
                "record",
                "--format",
                "raw",
                "--rate",
                "100",
                "--nonblocking",
                "--output",
                str(output),
                "--",
                *command,
            ]
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=REPO,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=16 * 1024 * 1024,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return cls(role, process, log_path)

    @property
    def pid(self) -> int:
        """The worker's pid, also when py-spy runs it (CPU is measured on the worker)."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children():
                if "bench.worker" in " ".join(child.cmdline()):
                    return child.pid
        return self.process.pid

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue  # a stray print from a library
            if message.get("event") == "progress":
                self.progress = message
            else:
                await self._events.put(message)
        await self._events.put(None)

    async def expect(self, event: str, timeout_s: float) -> dict[str, Any]:
        """Wait for the child's next event, which must be ``event``."""
        try:
            message = await asyncio.wait_for(self._events.get(), timeout_s)
        except TimeoutError:
            raise ChildFailed(
                f"{self.role}: no {event!r} within {timeout_s:.0f}s; see {self.log_path}"
            ) from None
        if message is None:
            raise ChildFailed(f"{self.role} exited early; see {self.log_path}:\n{self.tail()}")
        if message.get("event") == "error":
            raise ChildFailed(f"{self.role} failed: {message.get('error')}\n{self.tail()}")
        if message.get("event") != event:
            raise ChildFailed(f"{self.role}: expected {event!r}, got {message}")
        return message

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.process.stdin.write(command.encode() + b"\n")

    async def finish(self, timeout_s: float = 30.0) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()  # a child waiting for a command reads EOF and ends
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            self.kill()
        await asyncio.gather(self._reader, return_exceptions=True)

    def kill(self) -> None:
        if self.process.returncode is None:
            # Our worker and whatever it started (under py-spy, the worker is a grandchild).
            with contextlib.suppress(psutil.Error):
                for descendant in psutil.Process(self.process.pid).children(recursive=True):
                    descendant.kill()
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.asynccontextmanager
async def children(*started: Child):
    """Kill whatever is still running when a benchmark step ends, however it ends."""
    try:
        yield started
    finally:
        # A child told to stop (or done) exits by itself; a profiled one must, for py-spy to
        # write its profile. What is still running after that is killed.
        await asyncio.gather(*(child.finish(15) for child in started), return_exceptions=True)


def _log_path(log_dir: Path, role: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    number = len(list(log_dir.glob(f"{role}-*.log"))) + 1
    return log_dir / f"{role}-{number}.log"


# --- the child's side ---------------------------------------------------------------------


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def command() -> str:
    """The next command line from the parent (empty when the parent has gone)."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip()
