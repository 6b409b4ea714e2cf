"""Benchmark 7, CLI start-up: how long ``konsortio token issue`` and ``konsortio events tail
--help`` take from process start to exit, as a ratio to ``python -c pass`` measured in the same
run on the same interpreter. The commands a person types often must not pay for the web stack
(FastAPI, FastStream, aiokafka); ``tests/unit/cli`` checks that they do not import it, this
shows what it costs them.

The three are run in turn, several rounds, and each figure is the median of its rounds, so a
burst of other work on the machine hits all three alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from bench.infra import BenchInfra
from bench.procs import REPO
from bench.report import Row
from kit.auth import generate_keypair

ROUNDS = 7
# Goal: a person's command answers within a second on these shared 2-core machines.
GOAL_S = 1.0


def _time(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - began


def commands(key_file: str) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "konsortio.cli"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "konsortio token issue": [
            *cli,
            "token",
            "issue",
            "--role",
            "coordinator",
            "--key-file",
            key_file,
        ],
        "konsortio events tail --help": [*cli, "events", "tail", "--help"],
    }


async def run(infra: BenchInfra, progress: Any) -> dict[str, Any]:
    key_file = infra.path("cli-startup.pem")
    key_file.write_text(generate_keypair()[0])
    argvs = commands(str(key_file))
    times: dict[str, list[float]] = {name: [] for name in argvs}
    for round_ in range(ROUNDS):
        progress("CLI start-up", round_, ROUNDS)
        for name, argv in argvs.items():
            times[name].append(_time(argv))
    progress("CLI start-up", ROUNDS, ROUNDS)
    return {
        "rounds": ROUNDS,
        "median_s": {name: round(statistics.median(t), 3) for name, t in times.items()},
    }


def rows(result: dict[str, Any]) -> list[Row]:
    medians = result["median_s"]
    reference = medians["python -c pass"]
    return [
        Row(
            benchmark="7 CLI start-up",
            figure=f"`{name}`, process start to exit (median of {result['rounds']})",
            value=value,
            unit="s",
            reference="`python -c pass`, same run",
            reference_value=reference,
            ratio=round(value / reference, 1) if reference else None,
            goal=f"< {GOAL_S:g} s",
            met=value < GOAL_S,
        )
        for name, value in medians.items()
        if name != "python -c pass"
    ]
