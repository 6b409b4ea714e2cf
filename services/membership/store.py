"""Membership SQL, with parameters only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from contracts.membership import Library
from services.membership.domain import Period

LIBRARY_COLUMNS = """
    l.isil, l.names, l.municipalities, l.population, l.library_system, l.library_type,
    l.kirkanta_id, l.contacts
"""


def _library(row: asyncpg.Record) -> Library:
    return Library(
        isil=row["isil"],
        names=row["names"],
        municipalities=list(row["municipalities"]),
        population=row["population"],
        library_system=row["library_system"],
        library_type=row["library_type"],
        kirkanta_id=row["kirkanta_id"],
        contacts=row["contacts"],
    )


def _period(row: asyncpg.Record) -> Period:
    return Period(
        number=row["number"],
        joined_on=row["joined_on"],
        signatory=row["signatory"],
        notice_given_on=row["notice_given_on"],
        leaves_on=row["leaves_on"],
        left=row["left_at"] is not None,
    )


async def insert_library(conn: asyncpg.Connection, library: Library) -> None:
    await conn.execute(
        """
        INSERT INTO libraries (isil, names, municipalities, population, library_system,
                               library_type, kirkanta_id, contacts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        library.isil,
        library.names.model_dump(),
        library.municipalities,
        library.population,
        library.library_system,
        library.library_type,
        library.kirkanta_id,
        [c.model_dump() for c in library.contacts],
    )


async def update_library(conn: asyncpg.Connection, library: Library) -> None:
    await conn.execute(
        """
        UPDATE libraries SET names = $2, municipalities = $3, population = $4,
               library_system = $5, library_type = $6, kirkanta_id = $7, contacts = $8,
               updated_at = now()
        WHERE isil = $1
        """,
        library.isil,
        library.names.model_dump(),
        library.municipalities,
        library.population,
        library.library_system,
        library.library_type,
        library.kirkanta_id,
        [c.model_dump() for c in library.contacts],
    )


async def get_library(
    conn: asyncpg.Connection | asyncpg.Pool, isil: str, *, for_update: bool = False
) -> Library | None:
    # Locking the library row serialises commands on one library (join, notice, update).
    query = f"SELECT {LIBRARY_COLUMNS} FROM libraries l WHERE l.isil = $1"  # noqa: S608
    if for_update:
        query += " FOR UPDATE"
    row = await conn.fetchrow(query, isil)
    return _library(row) if row else None


async def periods(conn: asyncpg.Connection | asyncpg.Pool, isil: str) -> list[Period]:
    rows = await conn.fetch(
        "SELECT * FROM membership_periods WHERE isil = $1 ORDER BY number", isil
    )
    return [_period(row) for row in rows]


async def insert_period(conn: asyncpg.Connection, isil: str, period: Period) -> None:
    await conn.execute(
        """
        INSERT INTO membership_periods (isil, number, joined_on, signatory)
        VALUES ($1, $2, $3, $4)
        """,
        isil,
        period.number,
        period.joined_on,
        period.signatory,
    )


async def record_notice(conn: asyncpg.Connection, isil: str, period: Period) -> None:
    await conn.execute(
        """
        UPDATE membership_periods SET notice_given_on = $3, leaves_on = $4
        WHERE isil = $1 AND number = $2
        """,
        isil,
        period.number,
        period.notice_given_on,
        period.leaves_on,
    )


async def mark_left(conn: asyncpg.Connection, isil: str, number: int) -> None:
    await conn.execute(
        "UPDATE membership_periods SET left_at = now() WHERE isil = $1 AND number = $2",
        isil,
        number,
    )


async def claim_due_leaves(
    conn: asyncpg.Connection, today: dt.date, limit: int = 100
) -> list[tuple[str, int]]:
    """Periods whose notice takes effect by ``today``. SKIP LOCKED lets replicas share."""
    rows = await conn.fetch(
        """
        SELECT isil, number FROM membership_periods
        WHERE left_at IS NULL AND leaves_on IS NOT NULL AND leaves_on <= $1
        ORDER BY leaves_on, isil
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        today,
        limit,
    )
    return [(row["isil"], row["number"]) for row in rows]


@dataclass(frozen=True)
class LibraryFilter:
    text: str | None = None
    municipality: str | None = None
    library_system: str | None = None
    member_on: dt.date | None = None  # only libraries that are members on this day


async def list_libraries(
    conn: asyncpg.Connection | asyncpg.Pool, where: LibraryFilter, *, limit: int, offset: int
) -> tuple[list[Library], int]:
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    # Only fixed condition texts are joined; every value is a parameter.
    if where.text:
        pattern = arg(f"%{where.text}%")
        conditions.append(f"(l.isil ILIKE {pattern} OR l.names::text ILIKE {pattern})")
    if where.municipality:
        conditions.append(f"{arg(where.municipality)} = ANY (l.municipalities)")
    if where.library_system:
        conditions.append(f"l.library_system = {arg(where.library_system)}")
    if where.member_on:
        day = arg(where.member_on)
        # Fixed text; the day is a parameter.
        member_on_day = (
            "EXISTS (SELECT 1 FROM membership_periods p WHERE p.isil = l.isil"  # noqa: S608
            f" AND p.joined_on <= {day} AND (p.leaves_on IS NULL OR {day} < p.leaves_on))"
        )
        conditions.append(member_on_day)
    where_sql = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    total = await conn.fetchval(f"SELECT count(*) FROM libraries l {where_sql}", *args)  # noqa: S608
    rows = await conn.fetch(
        f"SELECT {LIBRARY_COLUMNS} FROM libraries l {where_sql} "  # noqa: S608
        f"ORDER BY l.isil LIMIT {arg(limit)} OFFSET {arg(offset)}",
        *args,
    )
    return [_library(row) for row in rows], total


async def members_on(conn: asyncpg.Connection | asyncpg.Pool, day: dt.date) -> list[Library]:
    rows = await conn.fetch(
        f"""
        SELECT {LIBRARY_COLUMNS} FROM libraries l
        WHERE EXISTS (SELECT 1 FROM membership_periods p WHERE p.isil = l.isil
                      AND p.joined_on <= $1 AND (p.leaves_on IS NULL OR $1 < p.leaves_on))
        ORDER BY l.isil
        """,  # noqa: S608
        day,
    )
    return [_library(row) for row in rows]
