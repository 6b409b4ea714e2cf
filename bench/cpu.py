"""Where the CPU went during a measurement: per benchmark process, PostgreSQL, the broker, and
everything else on the machine.

On 2 shared cores wall-clock rates move with whatever else runs; CPU time per event moves much
less, and it says which component bounds a figure. "others" is the machine's busy time that
none of the benchmark's processes used (other users' work): when it is large, the run's
absolute figures are depressed, and the ratios less so.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _cpu(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return times.user + times.system
    return 0.0


@dataclass
class CpuMeter:
    """Snapshots of CPU seconds by component; ``since`` gives the deltas."""

    postgres_data: Path
    broker_pid: int | None
    pids: dict[str, int] = field(default_factory=dict)

    def watch(self, name: str, pid: int | None) -> None:
        if pid is not None:
            self.pids[name] = pid

    def _postgres(self) -> float:
        try:
            postmaster = int((self.postgres_data / "postmaster.pid").read_text().split()[0])
            root = psutil.Process(postmaster)
            return _cpu(root) + sum(_cpu(child) for child in root.children(recursive=True))
        except (OSError, ValueError, psutil.Error):
            return 0.0

    def sample(self) -> dict[str, float]:
        sample: dict[str, float] = {"machine": _busy_seconds(), "postgres": self._postgres()}
        if self.broker_pid is not None:
            with contextlib.suppress(psutil.Error):
                sample["broker"] = _cpu(psutil.Process(self.broker_pid))
        for name, pid in self.pids.items():
            with contextlib.suppress(psutil.Error):
                sample[name] = _cpu(psutil.Process(pid))
        return sample

    @staticmethod
    def since(start: dict[str, float], end: dict[str, float], seconds: float) -> dict[str, float]:
        """Share of one core used by each component over ``seconds`` (1.0 = a whole core)."""
        used = {
            name: max(end[name] - start.get(name, 0.0), 0.0)
            for name in end
            if name != "machine" and name in start
        }
        ours = sum(used.values())
        used["others"] = max(end["machine"] - start["machine"] - ours, 0.0)
        return {name: round(value / seconds, 3) for name, value in used.items()}


async def settle(max_wait_s: float, quiet_cores: float = 0.5, window_s: float = 1.0) -> float:
    """Wait (at most ``max_wait_s``) for the machine to be quiet: between benchmarks nothing of
    ours runs, so what keeps the cores busy is other people's work, which would otherwise land
    in one benchmark's figures and not in another's. Returns the last busy share measured."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_s
    while True:
        before = _busy_seconds()
        await asyncio.sleep(window_s)
        busy = (_busy_seconds() - before) / window_s
        if busy <= quiet_cores or loop.time() >= deadline:
            return round(busy, 2)
