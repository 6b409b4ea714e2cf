"""asyncpg pool and the migrations runner.

Migrations are numbered SQL files (``0001_name.sql``). The kit's own tables (outbox, inbox,
scheduled effects) come first, then the service's. Applied versions are recorded in
``schema_migrations``; an advisory lock makes two replicas starting at once apply each file
exactly once, and a second run applies nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import TracebackType

import asyncpg
from asyncpg.pool import PoolAcquireContext

from kit.logging import get_logger

KIT_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant will do; it only has to be the same in every replica of every service.
MIGRATION_LOCK_ID = 7_231_604_511

log = get_logger(__name__)

# The database is unreachable, restarting or shutting down: nothing is wrong with the work in
# hand, so the caller waits and tries again instead of failing it (or dead-lettering it). The
# one list: the HTTP error handlers (503), the consumer (wait, not an attempt) and the mailer
# all use it. ``ConnectionTerminated`` (below) is an InterfaceError, so it is in here too.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
# Seconds a caller is told to wait (HTTP ``Retry-After``) when the database is unavailable: a
# PostgreSQL restart takes about a second here, a failover some seconds.
RETRY_AFTER_S = 2


class ConnectionTerminated(asyncpg.ConnectionDoesNotExistError):  # type: ignore[misc]  # asyncpg: untyped
    """The server ended a pooled connection (a restart, an administrator's terminate) and
    asyncpg noticed it only as a protocol error on the next statement.

    PostgreSQL tells every backend's client ``FATAL 57P01`` before it closes the socket. On an
    idle pooled connection asyncpg reads that message outside any operation, puts the protocol
    in its error-consuming state and waits for a ReadyForQuery that never comes; until the
    socket's end is read (a later turn of the event loop) the connection still counts as open,
    so the pool can hand it out. The next statement then fails with ``InternalClientError:
    cannot switch to state N; another operation (2) is in progress`` and asyncpg aborts the
    connection. Nothing ran on the server and no other task holds the connection: it is a
    lost connection, reported as one, so every caller sees "database unavailable"."""


def _closed(proxy: asyncpg.Connection) -> bool:
    # A pool hands out proxies; one whose connection was terminated is already detached
    # (``_con`` is None) and refuses every call, is_closed() included.
    connection = getattr(proxy, "_con", proxy)
    return connection is None or connection.is_closed()


class _Acquire(PoolAcquireContext):  # type: ignore[misc]  # asyncpg is checked untyped (see pyproject)
    """``pool.acquire()``: reports a server-ended connection as lost, and never lets a failed
    reset of a connection whose work is finished undo that work."""

    __slots__ = ("generation",)

    async def __aenter__(self) -> asyncpg.Connection:
        assert isinstance(self.pool, Pool)
        self.generation = self.pool.generation
        return await super().__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        pool = self.pool
        assert isinstance(pool, Pool)
        connection = self.connection
        # Read before the release detaches the proxy. asyncpg aborts a connection whose
        # protocol state it finds broken (and a lost one detaches its proxy at once), so a
        # closed connection here means a lost one.
        closed = connection is not None and _closed(connection)
        lost = closed and isinstance(
            exc_val, (asyncpg.InternalClientError, *DATABASE_UNAVAILABLE_ERRORS)
        )
        if lost:
            pool.connection_lost(self.generation)
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        except (asyncpg.InternalClientError, *DATABASE_UNAVAILABLE_ERRORS) as error:
            # The release's reset found the connection dead; asyncpg has terminated it and
            # taken the slot back. If the caller's block succeeded, its work is done (a
            # transaction had committed before the release): failing it now would answer an
            # error for a command that happened.
            pool.connection_lost(self.generation)
            if exc_val is None:
                log.warning("pooled connection lost after its work", error=repr(error))
                return
            raise
        if lost and isinstance(exc_val, asyncpg.InternalClientError):
            raise ConnectionTerminated(f"the server ended the connection: {exc_val}") from exc_val


class Pool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg is checked untyped (see pyproject)
    """asyncpg's pool, with acquire's exit changed (see ``_Acquire``): a connection the server
    ended is reported as lost, and once one is found, every connection opened before is
    presumed ended too (a restart ends them all at once), so the pool replaces them on their
    next acquire instead of handing each out to fail."""

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return _Acquire(self, timeout)

    @property
    def generation(self) -> int:
        generation: int = self._generation
        return generation

    def connection_lost(self, generation: int) -> None:
        """A connection acquired in ``generation`` was found ended by the server. asyncpg
        closes and replaces connections of an older generation when they are next acquired
        or released; the first loss of a generation starts a new one, later reports of the
        same restart change nothing (connections opened since are fine)."""
        if generation == self._generation:
            self._generation += 1


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns come back as Python objects and go in as them, not as strings.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, max_size: int = 10) -> Pool:
    pool = Pool(
        dsn,
        min_size=1,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        command_timeout=30,
    )
    started: Pool = await pool
    return started


def migration_files(directory: Path, prefix: str) -> list[tuple[str, Path]]:
    """(version, path) for each numbered file, in order; version is ``prefix/0001_x``."""
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.iterdir() if MIGRATION_FILE.match(p.name))
    return [(f"{prefix}/{p.stem}", p) for p in files]


async def apply_migrations(pool: asyncpg.Pool, service_migrations: Path) -> list[str]:
    """Apply what is not applied yet, each file in its own transaction. Returns the versions."""
    plan = migration_files(KIT_MIGRATIONS, "kit") + migration_files(service_migrations, "service")
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, path in plan:
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                applied_now.append(version)
                log.info("migration applied", version=version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now


async def pending_migrations(pool: asyncpg.Pool, service_migrations: Path) -> list[str]:
    plan = migration_files(KIT_MIGRATIONS, "kit") + migration_files(service_migrations, "service")
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = (
            {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            if exists
            else set()
        )
    return [version for version, _ in plan if version not in done]
