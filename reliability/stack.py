"""The stack under test: the launcher's pieces, on free ports, with each service as its own
process so that faults are real (SIGKILL of a process, SIGSTOP of the broker, a PostgreSQL
restart) and nothing is shared with the harness's own event loop.

Everything here reuses ``konsortio.stack`` and ``konsortio.launcher``; nothing is copied.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kit.auth import Role, generate_keypair, issue_token
from kit.settings import Settings
from konsortio.launcher import (
    available_services,
    database_name,
    ensure_keys,
    service_environment,
)
from konsortio.stack import EmbeddedBroker, EmbeddedPostgres, SmtpSink, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 25.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the harness dies, however it dies (even by
    SIGKILL), so no service outlives a killed run. Linux only; elsewhere a no-op."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ServiceProcess:
    """One service, run exactly as ``konsortio up`` runs it: ``konsortio run <name>``."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # Exits the harness did not cause: a crash, whatever the exit code.
    crashes: list[str] = field(default_factory=list)
    # Wall-clock times of every SIGKILL the harness sent.
    kills: list[float] = field(default_factory=list)
    _expect_exit: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(
                f"\n### reliability: start #{self.starts + 1} at {time.time():.3f}\n".encode()
            )
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "konsortio.cli", "run", self.name],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our signals reach it only when we send them
                preexec_fn=_die_with_parent,
            )
        self.starts += 1
        self._expect_exit = False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no graceful shutdown, no flushing, the harshest crash there is."""
        self.send_kill9()
        assert self.process is not None
        self.process.wait(10)

    def send_kill9(self) -> None:
        """SIGKILL at this very instant, without waiting for the exit: for a caller on the
        event loop that must not yield between choosing the moment and the kill."""
        assert self.process is not None
        self._expect_exit = True
        self.kills.append(time.time())
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)

    def stop(self) -> int | None:
        """SIGTERM and wait for the graceful shutdown; SIGKILL if it hangs."""
        if self.process is None:
            return None
        self._expect_exit = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.crashes.append(f"did not stop within {STOP_TIMEOUT_S}s of SIGTERM")
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def check_crash(self) -> str | None:
        """Record an exit nobody asked for; return its description."""
        if self.process is None or self._expect_exit or self.process.poll() is None:
            return None
        description = f"exited by itself with code {self.process.returncode}"
        self.crashes.append(description)
        self._expect_exit = True  # recorded once
        return description


@dataclass
class ExternalBroker:
    """A broker this run did not start (``--kafka-bootstrap``), such as the Apache Kafka of
    ``deploy/kafka/lane.sh``: left running at the end, paused with SIGSTOP through its pid."""

    bootstrap: str
    pid: int | None = None

    def start(self) -> None:
        pass

    def pause(self) -> None:
        if self.pid is None:
            raise RuntimeError("pausing an external broker needs --kafka-pid-file")
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.resume()  # never leave it paused; stopping it is its owner's business


@dataclass
class Stack:
    """Embedded PostgreSQL (one server, a database per service), Tansu, an SMTP sink and the
    services, all on ports nobody else is using."""

    root: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | ExternalBroker | None = None
    sink: SmtpSink | None = None
    external_broker: ExternalBroker | None = None  # used instead of an embedded Tansu
    private_key: str = ""
    foreign_private_key: str = ""  # signs "wrong key" tokens
    started_at: float = 0.0

    @classmethod
    def create(cls, root: Path | None = None) -> Stack:
        # Not under a 0700 pytest tmp dir: PostgreSQL runs as its own system user.
        root = root or Path(tempfile.mkdtemp(prefix="konsortio-reliability-"))
        (root / "logs").mkdir(parents=True, exist_ok=True)
        return cls(root=root)

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def mailbox(self) -> Path:
        return self.root / "mailbox"

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap

    @property
    def broker_name(self) -> str:
        return "Apache Kafka (external)" if self.external_broker else "Tansu (embedded)"

    def url(self, service: str) -> str:
        return self.services[service].url

    def service_urls(self) -> str:
        """``KONSORTIO_SERVICE_URLS`` with the ports this stack really uses (the launcher's
        helper writes the default ports, which only ``konsortio up`` holds)."""
        return ",".join(f"{name}={proc.url}" for name, proc in self.services.items())

    async def start(self, names: Iterable[str] | None = None) -> None:
        names = list(names or available_services())
        self.started_at = time.monotonic()
        keys = ensure_keys(self.root / "keys")
        self.private_key = keys.private_pem
        self.foreign_private_key, _ = generate_keypair()
        self.postgres = EmbeddedPostgres(self.root / "postgres")
        await asyncio.to_thread(self.postgres.start)
        await self.postgres.create_databases([database_name(name) for name in names])
        if self.external_broker is not None:
            self.broker = self.external_broker
        else:
            self.broker = EmbeddedBroker(free_port(), log_path=self.logs / "broker.log")
            await asyncio.to_thread(self.broker.start)
        self.sink = SmtpSink(free_port(), self.mailbox)
        self.sink.start()
        for name in names:
            port = free_port()
            env = service_environment(
                name,
                dsn=self.postgres.dsn(database_name(name)),
                bootstrap=self.broker.bootstrap,
                public_key_file=keys.public_file,
                port=port,
                smtp_port=self.sink.port,
                sink_dir=self.mailbox,
                data_dir=self.root,
            )
            if self.external_broker is not None:
                # Apache Kafka implements InitProducerId; Tansu (the launcher's case) does not.
                env["KONSORTIO_KAFKA_IDEMPOTENCE"] = "true"
            self.services[name] = ServiceProcess(name, port, env, self.logs / f"{name}.log")
        urls = self.service_urls()
        for proc in self.services.values():
            proc.env["KONSORTIO_SERVICE_URLS"] = urls
            proc.start()
        await asyncio.gather(*(self.wait_ready(name) for name in self.services))

    async def wait_ready(self, service: str, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Seconds until ``/health/ready`` answers 200; raises if the process dies or it
        takes longer than ``timeout_s``."""
        proc = self.services[service]
        began = time.monotonic()
        last = "no answer yet"
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() - began < timeout_s:
                if not proc.alive():
                    raise RuntimeError(f"{service} exited while starting; see {proc.log_path}")
                try:
                    response = await client.get(f"{proc.url}/health/ready")
                    if response.status_code == 200:
                        return time.monotonic() - began
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as error:
                    last = repr(error)
                await asyncio.sleep(0.1)
        raise TimeoutError(
            f"{service} not ready after {timeout_s}s (last: {last}); see {proc.log_path}"
        )

    async def restart_service(self, service: str) -> float:
        """Stop gracefully and start again; seconds until ready."""
        await asyncio.to_thread(self.services[service].stop)
        self.services[service].start()
        return await self.wait_ready(service)

    def consumer_session_timeout_ms(self) -> int:
        """The consumers' group session timeout in this stack: the environment's, or the kit's
        default. It bounds how long a killed consumer's partitions wait."""
        default = Settings.model_fields["consumer_session_timeout_ms"].default
        for proc in self.services.values():
            value = proc.env.get("KONSORTIO_CONSUMER_SESSION_TIMEOUT_MS")
            if value:
                return int(value)
        return int(default)

    def check_crashes(self) -> list[str]:
        found = []
        for name, proc in self.services.items():
            description = proc.check_crash()
            if description:
                found.append(f"{name}: {description}")
        return found

    def token(
        self,
        role: Role | str,
        isil: str | None = None,
        *,
        ttl: dt.timedelta = dt.timedelta(hours=2),
        now: dt.datetime | None = None,
        key: str | None = None,
    ) -> str:
        return issue_token(
            key or self.private_key,
            role=role,
            isil=isil,
            subject=f"reliability:{role}",
            ttl=ttl,
            now=now,
        )

    def stop(self) -> None:
        for proc in reversed(list(self.services.values())):
            proc.stop()
        if self.sink is not None:
            self.sink.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
