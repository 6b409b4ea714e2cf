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
import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


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
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.worker",
                role,
                json.dumps(args),
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
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            self.kill()
        await asyncio.gather(self._reader, return_exceptions=True)

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.asynccontextmanager
async def children(*started: Child):  # type: ignore[no-untyped-def]
    """Kill whatever is still running when a benchmark step ends, however it ends."""
    try:
        yield started
    finally:
        for child in started:
            child.kill()
        await asyncio.gather(*(child.finish(5) for child in started), return_exceptions=True)


def _log_path(log_dir: Path, role: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    number = len(list(log_dir.glob(f"{role}-*.log"))) + 1
    return log_dir / f"{role}-{number}.log"


# --- the child's side ---------------------------------------------------------------------


GC_THRESHOLD = (10_000, 50, 50)


def tune_gc() -> None:
    """Call once start-up is done. A consumer or relay keeps thousands of records alive per
    batch; with CPython's default thresholds (700, 10, 10) the collector then runs every few
    hundred allocations and rescans them, about a quarter of the consumer's CPU (measured:
    77 → 59 µs per event). Freezing what start-up built (imports, pools, the app) takes it out
    of every later collection. The kit's services do not do this yet."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def command() -> str:
    """The next command line from the parent (empty when the parent has gone)."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip()
