"""``python -m reliability [--quick] [--only NAME[,NAME]] [--repeat N]``: start the stack, run
the scenarios (all, or the ones named, each N times in a row to hunt races), write the report,
print the time each scenario took, and print ``N passed, N failed`` last. Exits non-zero if
anything failed. Names take ``-`` or ``_``: ``--only database-restart``.

A full run of every scenario is also recorded in ``reports/reliability-runs.json`` and rewrites
the READMEs' reliability figures. ``--readme`` rewrites them without a run, and ``--record
REPORT`` first adds a full run's report made elsewhere (a fresh clone's)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import signal
import sys
import time
import traceback
from pathlib import Path

import httpx

from reliability import readme
from reliability.report import Report, ScenarioResult
from reliability.scenarios import SCENARIOS
from reliability.stack import REPO_ROOT, ExternalBroker, Stack
from reliability.suite import FULL, QUICK, Scenario, Suite

DEFAULT_REPORT = REPO_ROOT / "reports" / "reliability.json"


SCENARIO_NAMES = [name for name, _ in SCENARIOS]


def scenario_names(value: str) -> list[str]:
    """``--only``'s value: one name or a comma-separated list, with - or _ in names."""
    names = [part.strip().replace("-", "_") for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in SCENARIO_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {', '.join(unknown) or value!r}; "
            f"choose from {', '.join(n.replace('_', '-') for n in SCENARIO_NAMES)}"
        )
    return names


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short version (make test)")
    parser.add_argument(
        "--only",
        action="append",
        type=scenario_names,
        help="run only these scenarios (comma-separated, repeatable), in the suite's order",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each chosen scenario this many times in a row (to hunt races)",
    )
    parser.add_argument(
        "--kafka-bootstrap",
        default=None,
        help="use this broker (e.g. the Apache Kafka lane's) instead of an embedded Tansu",
    )
    parser.add_argument(
        "--kafka-pid-file",
        type=Path,
        default=None,
        help="file holding that broker's pid, so broker_down can pause it (SIGSTOP)",
    )
    parser.add_argument(
        "--kills",
        type=int,
        default=None,
        help="kill -9 each consumer service this many times (every one, not a sample)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="JSON report path")
    parser.add_argument(
        "--keep", action="store_true", help="keep the stack's data directory and logs"
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="no run: rewrite the READMEs' reliability figures from reports/",
    )
    parser.add_argument(
        "--record",
        type=Path,
        action="append",
        default=[],
        metavar="REPORT",
        help="with --readme: first add this full run's report (e.g. a fresh clone's) to "
        "reports/reliability-runs.json; repeatable, oldest first; the last becomes "
        "reports/reliability.json",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.kills is not None and args.kills < 1:
        parser.error("--kills must be at least 1")
    if args.record and not args.readme:
        parser.error("--record goes with --readme")
    args.only = [name for names in args.only for name in names] if args.only else None
    return args


def chosen(args: argparse.Namespace) -> list[tuple[str, str, Scenario]]:
    """(name in the report, scenario name, scenario): repeats are named ``name#2`` and so on,
    each run after the one before it, in the suite's order."""
    runs = []
    for name, scenario in SCENARIOS:
        if args.only and name not in args.only:
            continue
        for round_ in range(1, args.repeat + 1):
            label = name if args.repeat == 1 else f"{name}#{round_}"
            runs.append((label, name, scenario))
    return runs


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> Report:
    mode = QUICK if args.quick else FULL
    if args.kills is not None:
        mode = dataclasses.replace(mode, kills_per_consumer=args.kills, consumers_sampled=None)
    seed = args.seed if args.seed is not None else int(time.time())
    stack = Stack.create()
    if args.kafka_bootstrap:
        pid = int(args.kafka_pid_file.read_text().strip()) if args.kafka_pid_file else None
        stack.external_broker = ExternalBroker(args.kafka_bootstrap, pid)
    began = time.monotonic()
    say(f"reliability ({mode.name}, seed {seed}, {stack.broker_name}): stack in {stack.root}")
    report = Report(
        mode=mode.name,
        services=[],
        started=dt.datetime.now(dt.UTC),
        broker=stack.broker_name,
        commit=(commit := readme.current_commit()),
        code=readme.code_of(commit),
    )
    try:
        await stack.start()
        report.services = list(stack.services)
        say(f"stack ready in {time.monotonic() - began:.1f} s: {', '.join(stack.services)}")
        async with httpx.AsyncClient(timeout=15) as client:
            suite = Suite.create(stack, mode, client, seed)
            for label, name, scenario in chosen(args):
                say(f"--- {label}")
                started = time.monotonic()
                try:
                    result = await scenario(suite)
                except Exception as error:  # report it and go on with the next scenario
                    result = ScenarioResult(name, name, error=f"{type(error).__name__}: {error}")
                    say(traceback.format_exc())
                result.seconds = time.monotonic() - started
                if label != name:
                    result.name = label
                    result.title = f"{result.title} (run {label.split('#')[1]})"
                report.scenarios.append(result)
                for check in result.checks:
                    mark = (
                        "note"
                        if check.note
                        else "skip"
                        if check.skipped
                        else ("ok  " if check.passed else "FAIL")
                    )
                    say(f"  {mark} {check.name}: {check.detail}"[:400])
                if result.error:
                    say(f"  FAIL scenario error: {result.error}")
                say(f"    ({result.seconds:.1f} s)")
            report.totals = totals(report, stack)
    finally:
        await asyncio.to_thread(stack.stop)
        report.seconds = time.monotonic() - began
    if report.failed == 0 and not args.keep:
        stack.remove()
    else:
        say(f"logs kept in {stack.logs}")
    return report


def totals(report: Report, stack: Stack) -> dict[str, object]:
    """The headline figures the issue asks for, summed over the scenarios."""

    def total(key: str) -> int:
        return sum(int(s.figures.get(key) or 0) for s in report.scenarios)

    catch_ups = [
        s.figures["longest_catch_up_s"]
        for s in report.scenarios
        if s.figures.get("longest_catch_up_s") is not None
    ]
    return {
        "events_produced": total("events_produced"),
        "effects_observed": total("effects_observed"),
        "events_lost": total("events_lost"),
        "effects_lost": total("effects_lost"),
        "effects_duplicated": total("effects_duplicated"),
        # Redeliveries the inbox recognised and skipped: expected at-least-once behaviour,
        # never an effect applied twice (that is effects_duplicated).
        "redelivered_ignored": total("event_copies_redelivered_ignored")
        + total("redelivered_ignored"),
        "smtp_resends_after_sigkill": total("outreach_smtp_resends_after_sigkill"),
        "longest_catch_up_s": max(catch_ups) if catch_ups else None,
        "crashes": sum(len(p.crashes) for p in stack.services.values()),
        "http_5xx": total("server_errors") + total("http_5xx"),
        "poison_sent": total("poison_sent"),
        "dlq_entries": total("dlq_entries"),
        "schemathesis_cases": total("schemathesis_cases"),
        "schemathesis_5xx": total("schemathesis_5xx"),
        "authorization_cases": total("authorization_cases"),
        "wrong_authorization_decisions": total("wrong_decisions"),
        "secrets_in_logs": total("secrets_found"),
    }


async def run_until_signalled(args: argparse.Namespace) -> Report:
    """SIGTERM (a CI timeout, pytest-timeout) cancels the run like Ctrl-C does, so the
    stack's processes are always stopped."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(args)


def is_full_run(args: argparse.Namespace) -> bool:
    """Every scenario once, as a full run: the only kind the runs file compares."""
    return not (args.quick or args.only or args.repeat != 1 or args.kills is not None)


def rewrite_readmes(args: argparse.Namespace) -> int:
    """``--readme [--record REPORT ...]``: no stack, only the documents."""
    for path in args.record:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            readme.record(report)
        except (OSError, ValueError, KeyError) as error:
            say(f"--record {path}: {error}")
            return 2
        if path.resolve() != args.report.resolve():
            args.report.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    for changed in readme.update(latest=args.report):
        say(f"rewrote {changed.relative_to(REPO_ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.readme:
        return rewrite_readmes(args)
    try:
        report = asyncio.run(run_until_signalled(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("0 passed, 1 failed", flush=True)
        return 130
    report.write(args.report)
    table = args.report.with_suffix(".md")
    table.write_text(report.table() + "\n")
    say(report.table())
    say(report.timings())
    say(f"report: {args.report} ({report.seconds:.0f} s)")
    if is_full_run(args) and args.report == DEFAULT_REPORT:
        readme.record(report.as_json())
        readme.update()
        say(f"recorded in {readme.RUNS.relative_to(REPO_ROOT)}; READMEs rewritten")
    print(f"{report.passed} passed, {report.failed} failed", flush=True)
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
