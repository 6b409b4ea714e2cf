"""``konsortio up``: the whole system on embedded defaults, in one command.

Starts embedded PostgreSQL (one database per service), the Tansu broker, a local SMTP sink,
and every service as its own process; prints where each can be reached and a coordinator
token; supervises the services (a crashed one is restarted with backoff; one that keeps
crashing stops the stack); on Ctrl-C stops the services gracefully, then the broker and the
database. Data is kept in the data directory across runs. The broker keeps events in memory
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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
    listening,
)

if TYPE_CHECKING:
    from services.usage.sushi_standin import SushiStandIn

console = Console(stderr=True)
START_ORDER = ("membership", "procurement", "catalogue", "outreach", "usage", "dashboard")


def available_services() -> list[str]:
    """Services whose code exists in this checkout, in start order."""
    return [name for name in START_ORDER if importlib.util.find_spec(f"services.{name}.app")]


def database_name(service: str) -> str:
    return f"konsortio_{service}"


@dataclass
class Keys:
    private_pem: str
    public_file: Path


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a file that is 0600 from its creation: created by ``os.open`` with
    that mode, so no other account can open it in the moment between writing and a chmod.
    An existing file (from an older stack) is narrowed to 0600 before it is rewritten."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)


def ensure_keys(directory: Path) -> Keys:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_file, public_file = directory / "jwt_private.pem", directory / "jwt_public.pem"
    if not private_file.exists():
        private_pem, public_pem = generate_keypair()
        write_secret(private_file, private_pem)
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
    ports: Mapping[str, int] | None = None,
) -> dict[str, str]:
    ports = ports or SERVICE_PORTS
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
                f"{name}=http://127.0.0.1:{ports[name]}" for name in START_ORDER if name in ports
            ),
        }
    )
    return env


def is_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if is_ready(url):
            return True
        time.sleep(0.2)
    return False


@dataclass(frozen=True)
class RestartPolicy:
    """How the launcher treats a crashed service: restart it after a backoff that doubles with
    each crash in the window, and stop the stack when it crashed more than ``max_restarts``
    times within ``window_s`` (then it is broken, not unlucky)."""

    max_restarts: int = 5
    window_s: float = 300.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0

    def backoff_s(self, recent_crashes: int) -> float:
        return min(self.backoff_base_s * 2 ** max(recent_crashes - 1, 0), self.backoff_max_s)


def exit_description(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"{code} ({signal.Signals(-code).name})"
    return str(code)


def last_lines(path: Path, count: int = 15) -> list[str]:
    """The end of a log file, read from its last 64 KiB."""
    try:
        with path.open("rb") as file:
            file.seek(max(file.seek(0, os.SEEK_END) - 65536, 0))
            return file.read().decode(errors="replace").splitlines()[-count:]
    except OSError:
        return []


@dataclass
class Supervised:
    """One service process under the launcher: started, watched, restarted after a crash."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    awaiting_ready: bool = False
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "konsortio.cli", "run", self.name],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the launcher only; it stops them
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def supervise_once(
    services: Mapping[str, Supervised], policy: RestartPolicy, now: float
) -> str | None:
    """One round of supervision; returns why the stack must stop, or None."""
    for service in services.values():
        process = service.process
        if service.restart_at is not None:
            if now >= service.restart_at:
                service.restart_at = None
                service.start()
                service.restarts += 1
                service.awaiting_ready = True
                console.print(f"[yellow]{service.name}: restarted (pid {service.pid})[/yellow]")
            continue
        if process is None:
            continue
        if process.poll() is None:
            if service.awaiting_ready and is_ready(service.url):
                service.awaiting_ready = False
                console.print(f"[green]{service.name} is ready again at {service.url}[/green]")
            continue
        code = process.returncode
        service.crashes.append(now)
        while service.crashes and now - service.crashes[0] > policy.window_s:
            service.crashes.popleft()
        console.rule(f"[bold red]{service.name} exited with code {exit_description(code)}")
        for line in last_lines(service.log_path):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        console.print(f"[red](last lines of {service.log_path})[/red]")
        if len(service.crashes) > policy.max_restarts:
            return (
                f"{service.name} crashed {len(service.crashes)} times within "
                f"{policy.window_s:g} s (more than KONSORTIO_UP_MAX_RESTARTS="
                f"{policy.max_restarts}); stopping the stack"
            )
        delay = policy.backoff_s(len(service.crashes))
        console.print(
            f"[bold red]restarting {service.name} in {delay:g} s (crash "
            f"{len(service.crashes)} of at most {policy.max_restarts} within "
            f"{policy.window_s:g} s)[/bold red]"
        )
        service.process = None
        service.restart_at = now + delay
    return None


def demo_command() -> str:
    """How to run the demo from here: plain ``konsortio`` only when that is this installation."""
    here = Path(sys.executable).parent / "konsortio"
    on_path = shutil.which("konsortio")
    if on_path and Path(on_path).resolve() == here.resolve():
        return "konsortio"
    with contextlib.suppress(ValueError):
        return str(here.relative_to(Path.cwd()))
    return str(here)


def write_state(data_dir: Path, services: Mapping[str, Supervised], **extra: object) -> None:
    """``<data-dir>/stack.json``: where everything listens and each service's pid, for tools
    and tests (written anew after each restart)."""
    state = {
        **extra,
        "services": {
            name: {"url": s.url, "pid": s.pid, "restarts": s.restarts}
            for name, s in services.items()
        },
    }
    partial = data_dir / "stack.json.partial"
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(data_dir / "stack.json")


def up(
    data_dir: Path,
    broker_port: int = 9092,
    smtp_port: int = 8025,
    *,
    port_base: int = 8000,
    only: Sequence[str] = (),
    policy: RestartPolicy = RestartPolicy(),  # noqa: B008 - frozen, never mutated
) -> int:
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    services = [name for name in available_services() if not only or name in only]
    unknown = sorted(set(only) - set(available_services()))
    if unknown:
        console.print(f"[red]no such service: {', '.join(unknown)}[/red]")
        return 2
    ports = {name: port_base + SERVICE_PORTS[name] - 8000 for name in services}
    # A port is taken when something accepts connections on it. Binding a test socket would
    # also fail for TIME-WAIT leftovers of the last run, which the services' own listeners
    # (SO_REUSEADDR) do not mind.
    busy = [f"{name}:{port}" for name, port in ports.items() if listening(port)]
    if busy:
        console.print(
            f"[red]something already listens on {', '.join(busy)}. Is another stack running? "
            "(--port-base moves every service port)[/red]"
        )
        return 1
    if listening(broker_port):
        broker_port = free_port()
    if listening(smtp_port):
        smtp_port = free_port()

    keys = ensure_keys(data_dir / "keys")
    postgres = EmbeddedPostgres(data_dir / "postgres")
    broker = EmbeddedBroker(broker_port, log_path=data_dir / "logs" / "broker.log")
    sink = SmtpSink(smtp_port, data_dir / "mailbox")
    supervised: dict[str, Supervised] = {}
    sushi: SushiStandIn | None = None
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
            if "usage" in services:
                # The suppliers' SUSHI servers cannot be reached from here: a stand-in plays
                # them, so the usage service has something real to harvest.
                from services.usage.sushi_standin import SushiStandIn

                sushi = SushiStandIn(titles=40)
                sushi.start()
        for service_name in services:
            env = service_environment(
                service_name,
                dsn=postgres.dsn(database_name(service_name)),
                bootstrap=broker.bootstrap,
                public_key_file=keys.public_file,
                port=ports[service_name],
                smtp_port=smtp_port,
                sink_dir=data_dir / "mailbox",
                data_dir=data_dir,
                ports=ports,
            )
            supervised[service_name] = Supervised(
                service_name, ports[service_name], env, data_dir / "logs" / f"{service_name}.log"
            )
            supervised[service_name].start()
        table = Table(title="Konsortio is up", show_lines=False)
        table.add_column("service")
        table.add_column("URL")
        table.add_column("API docs")
        for service in supervised.values():
            assert service.process is not None
            ok = wait_ready(service.url, service.process)
            status = service.url if ok else f"[red]not ready, see {service.log_path}[/red]"
            table.add_row(service.name, status, f"{service.url}/docs")
        console.print(table)
        token = issue_token(keys.private_pem, role=Role.COORDINATOR, subject="coordinator:local")
        token_file = data_dir / "coordinator.token"
        write_secret(token_file, token)
        state = {"broker": broker.bootstrap, "smtp": f"127.0.0.1:{smtp_port}"}
        if sushi is not None:
            state["sushi"] = sushi.url
        write_state(data_dir, supervised, **state)
        if "dashboard" in supervised:
            console.print(
                f"operator view: {supervised['dashboard'].url}/operator "
                "(sign in with the coordinator token below)"
            )
        console.print(
            f"broker (in memory only): {broker.bootstrap}   SMTP sink: 127.0.0.1:{smtp_port}"
        )
        console.print(f"data directory: {data_dir}")
        console.print(f"coordinator token (also in {token_file}):")
        print(token, flush=True)
        data_option = "" if data_dir == Path("data").resolve() else f" --data-dir {data_dir}"
        console.print(
            f"Try `{demo_command()} demo{data_option}` in another terminal. "
            "Ctrl-C stops everything."
        )
        while not stop_requested:
            pids = {name: s.pid for name, s in supervised.items()}
            reason = supervise_once(supervised, policy, time.monotonic())
            if reason:
                console.print(f"[bold red]{reason}[/bold red]")
                return 1
            if pids != {name: s.pid for name, s in supervised.items()}:
                write_state(data_dir, supervised, **state)
            time.sleep(0.5)
        return 0
    finally:
        console.print("stopping services…")
        for service in supervised.values():
            if service.running():
                assert service.process is not None
                service.process.send_signal(signal.SIGTERM)
        for service in supervised.values():
            if service.process is None:
                continue
            try:
                service.process.wait(20)
            except subprocess.TimeoutExpired:
                service.process.kill()
        sink.stop()
        if sushi is not None:
            sushi.stop()
        broker.stop()
        postgres.stop()
        console.print("stopped.")
