"""The bookkeeping after an SMTP server's 250 waits out a database restart instead of giving
up: giving up leaves the message claimed, and its lease then sends it a second time."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from services.outreach import mailer

RESTART_SYMPTOMS = [
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
    ConnectionRefusedError(111, "Connection refused"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
]


async def test_a_database_restart_between_the_reply_and_the_bookkeeping_is_waited_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failures = list(RESTART_SYMPTOMS)
    recorded: list[str] = []
    ours = {"id": -1}
    # The patch is process-wide: an outreach service the session still runs may settle its
    # own messages meanwhile, and those go to the real bookkeeping.
    real_record_outcome = mailer._record_outcome

    async def record_outcome(pool: Any, row: Any, status: Any, error: str) -> None:
        if row is not ours:
            return await real_record_outcome(pool, row, status, error)
        if failures:
            raise failures.pop(0)
        recorded.append(status)

    real_sleep = asyncio.sleep

    async def no_wait(delay: float) -> None:
        # The patch is process-wide (mailer.asyncio is asyncio): still yield to the loop, or
        # any other task sleeping meanwhile (a session-wide uvicorn's main loop) spins forever.
        await real_sleep(0)

    monkeypatch.setattr(mailer, "_record_outcome", record_outcome)
    monkeypatch.setattr(mailer.asyncio, "sleep", no_wait)
    await mailer._settle(None, ours, "sent")  # type: ignore[arg-type]  # _settle must fail before it uses the pool
    assert recorded == ["sent"] and not failures


async def test_a_real_failure_of_the_bookkeeping_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0

    ours = {"id": -1}
    real_record_outcome = mailer._record_outcome

    async def record_outcome(pool: Any, row: Any, status: Any, error: str) -> None:
        nonlocal calls
        if row is not ours:  # another outreach in the same process settling its own
            return await real_record_outcome(pool, row, status, error)
        calls += 1
        raise asyncpg.UniqueViolationError("duplicate key")

    monkeypatch.setattr(mailer, "_record_outcome", record_outcome)
    with pytest.raises(asyncpg.UniqueViolationError):
        await mailer._settle(None, ours, "sent")  # type: ignore[arg-type]  # _settle must fail before it uses the pool
    assert calls == 1
