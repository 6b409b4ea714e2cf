"""``konsortio up``: the whole system on embedded defaults, in one command.

Starts embedded PostgreSQL (one database per service), the Tansu broker, a local SMTP sink,
and every service as its own process; prints where each can be reached and a coordinator
token; on Ctrl-C stops the services gracefully, then the broker and the database. Data is
kept in the data directory across runs. The broker keeps events in memory only.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from kit.auth import Role, generate_keypair, issue_token
from konsortio.stack import (
    SERVICE_PORTS,
    EmbeddedBroker,
    EmbeddedPostgres,
    SmtpSink,
    free_port,
    port_is_free,
)

console = Console(stderr=True)
START_ORDER = ("membership", "procurement", "catalogue", "outreach", "dashboard")


def available_services() -> list[str]:
    """Services whose code exists in this checkout, in start order."""
    return [name for name in START_ORDER if importlib.util.find_spec(f"services.{name}.app")]


def database_name(service: str) -> str:
    return f"konsortio_{service}"


@dataclass
class Keys:
    private_pem: str
    public_file: Path


def ensure_keys(directory: Path) -> Keys:
    directory.mkdir(parents=True, exist_ok=True)
    private_file, public_file = directory / "jwt_private.pem", directory / "jwt_public.pem"
    if not private_file.exists():
        private_pem, public_pem = generate_keypair()
        private_file.write_text(private_pem)
        private_file.chmod(0o600)
        public_file.write_text(public_pem)
    return Keys(private_file.read_text(), public_file)


def service_environment(
    service: str,
    *,
    dsn: str,
    bootstrap: str,
    public_key_file: Path,
    port: int,
    smtp_port: int,
    sink_dir: Path,
    data_dir: Path,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONSORTIO_")}
    env.update(
        {
            "KONSORTIO_SERVICE": service,
            "KONSORTIO_DATABASE_URL": dsn,
            "KONSORTIO_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KONSORTIO_KAFKA_IDEMPOTENCE": "false",  # Tansu has no InitProducerId
            "KONSORTIO_JWT_PUBLIC_KEY_FILE": str(public_key_file),
            "KONSORTIO_HTTP_PORT": str(port),
            "KONSORTIO_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "KONSORTIO_SMTP_HOST": "127.0.0.1",
            "KONSORTIO_SMTP_PORT": str(smtp_port),
            "KONSORTIO_SMTP_SINK_DIR": str(sink_dir),
            "KONSORTIO_KIT_STORAGE_DIR": str(data_dir / "kits"),
            "KONSORTIO_SERVICE_URLS": ",".join(
                f"{name}=http://127.0.0.1:{SERVICE_PORTS[name]}" for name in START_ORDER
            ),
        }
    )
    return env


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def up(data_dir: Path, broker_port: int = 9092, smtp_port: int = 8025) -> int:
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    services = available_services()
    busy = [
        f"{name}:{SERVICE_PORTS[name]}"
        for name in services
        if not port_is_free(SERVICE_PORTS[name])
    ]
    if busy:
        console.print(f"[red]ports in use: {', '.join(busy)}. Is another stack running?[/red]")
        return 1
    if not port_is_free(broker_port):
        broker_port = free_port()
    if not port_is_free(smtp_port):
        smtp_port = free_port()

    keys = ensure_keys(data_dir / "keys")
    postgres = EmbeddedPostgres(data_dir / "postgres")
    broker = EmbeddedBroker(broker_port, log_path=data_dir / "logs" / "broker.log")
    sink = SmtpSink(smtp_port, data_dir / "mailbox")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stop_requested = False

    def request_stop(*_args: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        with console.status("starting embedded PostgreSQL, broker and SMTP sink"):
            postgres.start()
            asyncio.run(postgres.create_databases([database_name(s) for s in services]))
            broker.start()
            sink.start()
        for service in services:
            port = SERVICE_PORTS[service]
            env = service_environment(
                service,
                dsn=postgres.dsn(database_name(service)),
                bootstrap=broker.bootstrap,
                public_key_file=keys.public_file,
                port=port,
                smtp_port=smtp_port,
                sink_dir=data_dir / "mailbox",
                data_dir=data_dir,
            )
            log_file = open(data_dir / "logs" / f"{service}.log", "ab")  # noqa: SIM115
            processes[service] = subprocess.Popen(
                [sys.executable, "-m", "konsortio.cli", "run", service],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
            )
        table = Table(title="Konsortio is up", show_lines=False)
        table.add_column("service")
        table.add_column("URL")
        table.add_column("API docs")
        for service, process in processes.items():
            url = f"http://127.0.0.1:{SERVICE_PORTS[service]}"
            ok = wait_ready(url, process)
            state = url if ok else f"[red]not ready, see {data_dir}/logs/{service}.log[/red]"
            table.add_row(service, state, f"{url}/docs")
        console.print(table)
        token = issue_token(keys.private_pem, role=Role.COORDINATOR, subject="coordinator:local")
        (data_dir / "coordinator.token").write_text(token)
        console.print(
            f"broker (in memory only): {broker.bootstrap}   SMTP sink: 127.0.0.1:{smtp_port}"
        )
        console.print(f"data directory: {data_dir}")
        console.print("coordinator token (also in data/coordinator.token):")
        print(token, flush=True)
        console.print("Try `konsortio demo` in another terminal. Ctrl-C stops everything.")
        while not stop_requested:
            for service, process in processes.items():
                if process.poll() is not None:
                    console.print(f"[red]{service} exited ({process.returncode}); stopping[/red]")
                    stop_requested = True
            time.sleep(0.5)
        return 0
    finally:
        console.print("stopping services…")
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        sink.stop()
        broker.stop()
        postgres.stop()
        console.print("stopped.")
