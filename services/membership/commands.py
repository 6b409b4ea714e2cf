"""Membership commands: load, apply the domain rule, store, and record the event, all in one
transaction. The HTTP API, the CSV import and the scheduler all go through here."""

from __future__ import annotations

import datetime as dt

import asyncpg

from contracts.membership import Library, MemberJoined, MemberLeft, MemberUpdated
from kit.outbox import record_event
from services.membership import domain, store

SOURCE = "/konsortio/membership"


class LibraryNotFound(LookupError):
    pass


async def _locked(conn: asyncpg.Connection, isil: str) -> Library:
    library = await store.get_library(conn, isil, for_update=True)
    if library is None:
        raise LibraryNotFound(isil)
    return library


async def register(pool: asyncpg.Pool, library: Library) -> Library:
    async with pool.acquire() as conn, conn.transaction():
        if await store.get_library(conn, library.isil) is not None:
            raise domain.MembershipRuleViolated(
                f"library {library.isil} is already registered", "isil"
            )
        await store.insert_library(conn, library)
    return library


async def update_details(pool: asyncpg.Pool, library: Library, today: dt.date) -> Library:
    async with pool.acquire() as conn, conn.transaction():
        await _locked(conn, library.isil)
        await store.update_library(conn, library)
        periods = await store.periods(conn, library.isil)
        await record_event(
            conn,
            MemberUpdated(
                library=library,
                is_member=domain.status(periods, today)
                in (domain.Status.MEMBER, domain.Status.LEAVING),
            ),
            source=SOURCE,
        )
    return library


async def join(
    pool: asyncpg.Pool, isil: str, *, signed_on: dt.date, signatory: str
) -> domain.Period:
    async with pool.acquire() as conn, conn.transaction():
        library = await _locked(conn, isil)
        period = domain.join(
            await store.periods(conn, isil), signed_on=signed_on, signatory=signatory
        )
        await store.insert_period(conn, isil, period)
        await record_event(
            conn,
            MemberJoined(library=library, joined_on=signed_on, period=period.number),
            source=SOURCE,
        )
    return period


async def give_notice(
    pool: asyncpg.Pool, isil: str, *, effective_date: dt.date, given_on: dt.date
) -> domain.Period:
    """Record notice; if it takes effect today or earlier, the library leaves now, otherwise
    the scheduler makes it leave on the date (the date is in the database, so a restart in
    between changes nothing)."""
    async with pool.acquire() as conn, conn.transaction():
        library = await _locked(conn, isil)
        period = domain.give_notice(
            await store.periods(conn, isil), effective_date=effective_date, given_on=given_on
        )
        await store.record_notice(conn, isil, period)
        if domain.leave_is_due(period, given_on):
            await _leave(conn, library, period)
    return period


async def _leave(conn: asyncpg.Connection, library: Library, period: domain.Period) -> None:
    assert period.leaves_on is not None
    await store.mark_left(conn, library.isil, period.number)
    await record_event(
        conn,
        MemberLeft(
            library=library,
            effective_date=period.leaves_on,
            period=period.number,
            joined_on=period.joined_on,
        ),
        source=SOURCE,
    )


async def apply_due_leaves(pool: asyncpg.Pool, today: dt.date) -> int:
    """Make every library whose notice has taken effect leave. Safe with several replicas."""
    applied = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = await store.claim_due_leaves(conn, today, limit=100)
            for isil, number in due:
                library = await _locked(conn, isil)
                period = next(p for p in await store.periods(conn, isil) if p.number == number)
                await _leave(conn, library, period)
        applied += len(due)
        if len(due) < 100:
            return applied
