"""Benchmark 6, cold start: from ``konsortio up`` to every service ready, and where the time goes.

It does what ``konsortio.launcher.up`` does, in the same order and with the same service
environment (``launcher.service_environment``) and entrypoint (``konsortio run <service>``),
but on free ports and a fresh data directory, so it runs beside anyone's stack on 8000-8004:
PostgreSQL (``initdb`` and start on the first run), one database per service, the broker, the
SMTP sink, then every service process at once, each until its ``/health/ready`` answers 200
(database reachable, migrations applied, the broker taking the service's events; a consuming
service joins its consumer group after that).

The shares come from the services' own JSON logs (``timestamp`` of "migration applied",
"service started", "broker reachable"): *process start* is spawn → first log line (interpreter
and imports), *migrations* first → last "migration applied", *Kafka connect* "service started" →
"broker reachable" (topics and producer), all taken on the service that became ready last.
*Process start* covers the interpreter, imports, building the app and opening its database
pool; the launcher's own interpreter start (about a second) is not counted. Done twice: the
first start of a fresh data directory, then a restart on the kept data (nothing left to
migrate).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.infra import BenchInfra
from bench.procs import REPO, Child, children, emit
from bench.report import Row
from kit.auth import generate_keypair
from konsortio.launcher import available_services, database_name, service_environment
from konsortio.stack import EmbeddedBroker, EmbeddedPostgres, SmtpSink, free_port

READY_TIMEOUT_S = 120
GOAL_S = 8.0  # `konsortio up` to every service ready


async def _ready(client: httpx.AsyncClient, port: int) -> bool:
    try:
        response = await client.get(f"http://127.0.0.1:{port}/health/ready", timeout=1)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _log_times(path: Path) -> dict[str, Any]:
    first: float | None = None
    marks: dict[str, list[float]] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                stamp = dt.datetime.fromisoformat(entry["timestamp"]).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            first = stamp if first is None else first
            marks.setdefault(entry.get("event", ""), []).append(stamp)
    return {"first": first, "marks": marks}


async def coldstart_once(args: dict[str, Any]) -> None:
    """One ``konsortio up`` as its own process, as a person would type it."""
    emit("done", **await _start_once(Path(args["root"]), args["services"]))


async def _start_once(root: Path, services: list[str]) -> dict[str, Any]:
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    keys = root / "keys"
    keys.mkdir(exist_ok=True)
    public_key = keys / "jwt_public.pem"
    if not public_key.exists():
        public_key.write_text(generate_keypair()[1])
    ports = {service: free_port() for service in services}
    began = time.time()  # where the launcher's own work begins, after its imports
    postgres = EmbeddedPostgres(root / "postgres")
    broker = EmbeddedBroker(free_port(), log_path=logs / "broker.log")
    sink = SmtpSink(free_port(), root / "mailbox")
    processes: dict[str, asyncio.subprocess.Process] = {}
    try:
        await asyncio.to_thread(postgres.start)
        await postgres.create_databases([database_name(s) for s in services])
        postgres_done = time.time()
        await asyncio.to_thread(broker.start)
        broker_done = time.time()
        await asyncio.to_thread(sink.start)
        spawned: dict[str, float] = {}
        for service in services:
            env = service_environment(
                service,
                dsn=postgres.dsn(database_name(service)),
                bootstrap=broker.bootstrap,
                public_key_file=public_key,
                port=ports[service],
                smtp_port=sink.port,
                sink_dir=root / "mailbox",
                data_dir=root,
            )
            env["KONSORTIO_SERVICE_URLS"] = ",".join(
                f"{name}=http://127.0.0.1:{port}" for name, port in ports.items()
            )
            log_path = logs / f"{service}.log"
            log_path.unlink(missing_ok=True)  # the restart's own lines only
            with log_path.open("ab") as output:
                processes[service] = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "konsortio.cli",
                    "run",
                    service,
                    env=env,
                    cwd=REPO,
                    stdout=output,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            spawned[service] = time.time()
        ready_at: dict[str, float] = {}
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with httpx.AsyncClient() as client:
            while len(ready_at) < len(services) and time.monotonic() < deadline:
                for service in services:
                    if service not in ready_at and await _ready(client, ports[service]):
                        ready_at[service] = time.time()
                await asyncio.sleep(0.05)
        all_ready = max(ready_at.values()) if len(ready_at) == len(services) else None
        per_service = {
            service: _service_phases(
                spawned[service], ready_at.get(service), _log_times(logs / f"{service}.log")
            )
            for service in services
        }
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
        sink.stop()
        broker.stop()
        postgres.stop()
    last = max(per_service, key=lambda s: per_service[s]["ready_s"] or 1e9)
    return {
        "total_s": round(all_ready - began, 2) if all_ready else None,
        "postgres_s": round(postgres_done - began, 2),
        "broker_s": round(broker_done - postgres_done, 2),
        "services_s": round(all_ready - broker_done, 2) if all_ready else None,
        "last_ready": last,
        "services": per_service,
    }


def _service_phases(spawned: float, ready: float | None, log: dict[str, Any]) -> dict[str, Any]:
    marks = log["marks"]

    def span(start: float | None, end: float | None) -> float | None:
        return round(end - start, 2) if start is not None and end is not None else None

    migrations = marks.get("migration applied", [])
    started = (marks.get("service started") or [None])[0]
    connected = (marks.get("broker reachable") or [None])[0]
    return {
        "ready_s": span(spawned, ready),
        "process_start_s": span(spawned, log["first"]),
        "migrations_applied": len(migrations),
        "migrations_s": span(min(migrations), max(migrations)) if migrations else 0.0,
        "kafka_connect_s": span(started, connected),
    }


async def run(infra: BenchInfra, progress: Any) -> dict[str, Any]:
    services = available_services()
    root = infra.path("coldstart")
    results = []
    for attempt in range(2):
        progress("cold start", attempt, 2)
        spawned = time.time()
        child = await Child.start(
            "coldstart",
            {"root": str(root), "services": services, "spawned": spawned},
            infra.path("logs"),
        )
        async with children(child):
            results.append(await child.expect("done", READY_TIMEOUT_S + 60))
    progress("cold start", 2, 2)
    return {"services": services, "first_start": results[0], "restart": results[1]}


def rows(result: dict[str, Any]) -> list[Row]:
    out = []
    for key, label in (("first_start", "first start"), ("restart", "restart (data kept)")):
        figures = result[key]
        slowest = figures["services"][figures["last_ready"]]
        out.append(
            Row(
                benchmark="6 cold start",
                figure=f"`konsortio up` → {len(result['services'])} services ready, {label}",
                value=figures["total_s"],
                unit="s",
                goal=f"< {GOAL_S:g} s",
                met=figures["total_s"] < GOAL_S,
                note=(
                    f"PostgreSQL {figures['postgres_s']} s · broker {figures['broker_s']} s · "
                    f"services {figures['services_s']} s (slowest {figures['last_ready']}: "
                    f"process start {slowest['process_start_s']} s, migrations "
                    f"{slowest['migrations_s']} s, Kafka connect "
                    f"{slowest['kafka_connect_s']} s)"
                ),
            )
        )
    return out


CHILDREN = {"coldstart": coldstart_once}
