"""``python -m bench``: every benchmark in one run, on one embedded PostgreSQL and one broker,
each figure next to a reference measured in the same run (absolute times on shared 2-core
machines are noisy; ratios travel better). Prints a table and writes the JSON.

    python -m bench                 # the full run (about 10 minutes on 2 cores)
    python -m bench --quick         # small counts, for a smoke run
    python -m bench --only pipeline,latency
    python -m bench --profile       # py-spy on every benchmark process; writes profile.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import (
    catalogue,
    cli_startup,
    coldstart,
    command,
    latency,
    onix,
    outreach,
    pipeline,
    readme,
    replay,
    scaling,
    usage,
)
from bench.cpu import settle
from bench.infra import BenchInfra, ExternalBroker, bench_infra
from bench.procs import PROFILE_ENV, pyspy_binary
from bench.profiles import markdown, summarise
from bench.report import Row, render, write_json

RESULTS = Path(__file__).parent / "results"
# The benchmarks that run on whatever broker the run has; scaling and cold start start Tansu
# brokers of their own, and the catalogue, ONIX and outreach paths use none.
ON_ANY_BROKER = {"pipeline", "latency", "command", "replay"}
# Before each benchmark, up to this long for other people's work on the machine to calm down.
SETTLE_MAX_S = 20.0


@dataclass(frozen=True)
class Scale:
    pipeline_events: int
    latency_seconds: float
    latency_steps: tuple[tuple[int, str], ...]  # (events/s, "http" or "kit")
    marc_records: int
    onix_products: int
    recipients: int
    scaling_events: int
    replay_records: int = 20_000
    usage_upload_rows: int = 1_000_000
    usage_libraries: int = 20
    command_seconds: float = 10.0


FULL = Scale(
    pipeline_events=100_000,
    latency_seconds=10.0,
    latency_steps=((200, "http"), (1_000, "http"), (1_000, "kit"), (5_000, "kit")),
    marc_records=100_000,
    onix_products=50_000,
    recipients=10_000,
    scaling_events=50_000,
)
QUICK = Scale(
    pipeline_events=5_000,
    latency_seconds=3.0,
    latency_steps=((200, "http"), (1_000, "kit")),
    marc_records=5_000,
    onix_products=2_000,
    recipients=500,
    scaling_events=3_000,
    replay_records=2_000,
    usage_upload_rows=1_000_000,  # the memory goal is stated for a million rows
    usage_libraries=5,
    command_seconds=3.0,
)

ProgressFn = Callable[[str, float, float], None]
Runner = Callable[[BenchInfra, Scale, ProgressFn], Awaitable[dict[str, Any]]]
Rows = Callable[[dict[str, Any]], list[Row]]


def benchmarks() -> dict[str, tuple[Runner, Rows]]:
    return {
        "pipeline": (
            lambda infra, scale, progress: pipeline.run(infra, scale.pipeline_events, progress),
            pipeline.rows,
        ),
        "latency": (
            lambda infra, scale, progress: latency.run(
                infra, scale.latency_steps, scale.latency_seconds, progress
            ),
            latency.rows,
        ),
        "command": (
            lambda infra, scale, progress: command.run(infra, scale.command_seconds, progress),
            command.rows,
        ),
        "catalogue": (
            lambda infra, scale, progress: catalogue.run(infra, scale.marc_records, progress),
            catalogue.rows,
        ),
        "onix": (
            lambda infra, scale, progress: onix.run(infra, scale.onix_products, progress),
            onix.rows,
        ),
        "outreach": (
            lambda infra, scale, progress: outreach.run(infra, scale.recipients, progress),
            outreach.rows,
        ),
        "coldstart": (
            lambda infra, scale, progress: coldstart.run(infra, progress),
            coldstart.rows,
        ),
        "scaling": (
            lambda infra, scale, progress: scaling.run(infra, scale.scaling_events, progress),
            scaling.rows,
        ),
        "replay": (
            lambda infra, scale, progress: replay.run(infra, scale.replay_records, progress),
            replay.rows,
        ),
        "cli": (lambda infra, scale, progress: cli_startup.run(infra, progress), cli_startup.rows),
        "usage": (
            lambda infra, scale, progress: usage.run(
                infra, scale.usage_upload_rows, scale.usage_libraries, progress
            ),
            usage.rows,
        ),
    }


def _print_profiles(profiles: dict[str, Any], console: Console) -> None:
    for role, summary in profiles.items():
        top = ", ".join(f"{item['frame']} {item['share']:.0%}" for item in summary["self"][:5])
        console.print(f"[bold]{role}[/] ({summary['samples']} samples): {top}", highlight=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(benchmarks())}"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default latest.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    parser.add_argument(
        "--kafka-bootstrap",
        default="",
        metavar="HOST:PORT",
        help="run the broker benchmarks (pipeline, latency) on this broker instead of the "
        "bundled Tansu, e.g. Apache Kafka: make bench-kafka",
    )
    parser.add_argument(
        "--kafka-pid-file", type=Path, default=None, help="that broker's pid, for its CPU share"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample every benchmark process with py-spy; figures go to profile.json instead",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="run nothing: rewrite the README's benchmark table from bench/results/latest.json",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.readme:
        changed = readme.update()
        print("README.md: benchmark table " + ("rewritten" if changed else "already current"))
        return 0
    scale = QUICK if args.quick else FULL
    selected = [name for name in args.only.split(",") if name] or list(benchmarks())
    unknown = set(selected) - set(benchmarks())
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        return 2
    if args.kafka_bootstrap and set(selected) - ON_ANY_BROKER:
        # The others start brokers of their own (scaling, cold start) or use none.
        print(f"--kafka-bootstrap runs only: {', '.join(sorted(ON_ANY_BROKER))} (use --only)")
        return 2
    if args.profile:
        try:
            pyspy_binary()
        except FileNotFoundError as error:
            print(error)
            return 2
    # A profiled run's figures carry the sampler's cost: they never replace latest.json.
    default = (
        "profile.json"
        if args.profile
        else "quick.json"
        if args.quick
        else "apache-kafka.json"
        if args.kafka_bootstrap
        else "latest.json"
    )
    out = args.out or RESULTS / default
    console = Console(width=None if Console().is_terminal else 150)
    return asyncio.run(_run(selected, scale, args, out, console))


def _external_broker(args: argparse.Namespace) -> ExternalBroker | None:
    if not args.kafka_bootstrap:
        return None
    pid_file: Path | None = args.kafka_pid_file
    pid = int(pid_file.read_text()) if pid_file and pid_file.exists() else None
    return ExternalBroker(args.kafka_bootstrap, pid)


async def _run(
    selected: list[str], scale: Scale, args: argparse.Namespace, out: Path, console: Console
) -> int:
    quick, keep = args.quick, args.keep
    started = time.time()
    profiles: dict[str, Any] = {}
    rows: list[Row] = []
    details: dict[str, Any] = {}
    failed: list[str] = []
    registry = benchmarks()
    async with bench_infra(keep=keep, external=_external_broker(args)) as infra:
        if args.profile:
            infra.path("profiles").mkdir()
            os.environ[PROFILE_ENV] = str(infra.path("profiles"))
        with Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bars:
            tasks: dict[str, Any] = {}

            def progress(key: str, done: float, total: float) -> None:
                if key not in tasks:
                    tasks[key] = bars.add_task(key, total=total)
                bars.update(tasks[key], completed=min(done, total), total=total)

            for name in selected:
                runner, to_rows = registry[name]
                background = await settle(SETTLE_MAX_S)
                began = time.monotonic()
                try:
                    result = await runner(infra, scale, progress)
                except Exception as error:  # one failed benchmark must not lose the others
                    failed.append(name)
                    details[name] = {"error": f"{type(error).__name__}: {error}"}
                    console.print(f"[red]{name} failed[/]: {error}")
                    console.print(traceback.format_exc(), markup=False, highlight=False)
                    continue
                result["wall_seconds"] = round(time.monotonic() - began, 1)
                result["background_cores_at_start"] = background
                details[name] = result
                rows.extend(to_rows(result))
        if args.profile:
            profiles = summarise(infra.path("profiles"))
            _print_profiles(profiles, console)
        if keep:
            console.print(f"logs and data kept in {infra.root}")
    meta: dict[str, Any] = {
        "command": " ".join(
            ["python -m bench"]
            + (["--quick"] if quick else [])
            + (["--profile"] if args.profile else [])
            + ([f"--only {','.join(selected)}"] if args.only else [])
            + (["--kafka-bootstrap (Apache Kafka lane)"] if args.kafka_bootstrap else [])
        ),
        "broker": "external: " + args.kafka_bootstrap if args.kafka_bootstrap else "Tansu",
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
        "seconds": round(time.time() - started, 1),
        "quick": quick,
        "scale": asdict(scale),
        "failed": failed,
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    if profiles:
        meta["profiles"] = profiles
    on = f", broker {args.kafka_bootstrap}" if args.kafka_bootstrap else ""
    render(rows, console, f"Konsortio benchmarks ({'quick' if quick else 'full'} run{on})")
    background_summary = ", ".join(
        f"{name} {result['background_cores_at_start']:.2f}"
        for name, result in details.items()
        if "background_cores_at_start" in result
    )
    console.print(
        f"other work on this {os.cpu_count()}-core machine as each benchmark began (cores busy): "
        f"{background_summary}",
        highlight=False,
    )
    write_json(out, rows, details, meta)
    console.print(f"wrote {out} in {meta['seconds']:.0f} s")
    every = set(selected) == set(registry)
    if out == RESULTS / "latest.json" and every and not failed:
        # A full run of every benchmark: its figures become the README's table.
        await asyncio.to_thread(readme.update)
        console.print("rewrote the README's benchmark table from it")
    if profiles:
        summary = out.with_name(out.stem + "-summary.md")
        summary.write_text(markdown(profiles, meta["command"]) + "\n")
        console.print(f"wrote {summary}")
    return 1 if failed else 0
