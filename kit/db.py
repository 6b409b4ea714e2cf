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

import asyncpg

from kit.logging import get_logger

KIT_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant will do; it only has to be the same in every replica of every service.
MIGRATION_LOCK_ID = 7_231_604_511

log = get_logger(__name__)

# The database is unreachable, restarting or shutting down: nothing is wrong with the work in
# hand, so the caller waits and tries again instead of failing it (or dead-lettering it).
DATABASE_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns come back as Python objects and go in as them, not as strings.
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=1, max_size=max_size, init=_init_connection, command_timeout=30
    )


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
