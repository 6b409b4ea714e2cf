"""SQL of kimppas and of their record sets (see migrations/0003_kimppa.sql).

A kimppa's set is derived from its member libraries' own sets: ``sync_kimppa_records`` brings
``kimppa_records`` to what ``library_records`` says, one item per record with the ISILs that
hold it. Every caller that changes a member library's set, or who belongs to a kimppa, calls
it in the same transaction. It first locks the kimppa's row, so two transactions that change
two libraries of one kimppa at once each see the other's committed change (READ COMMITTED
takes a new snapshot per statement), and the last one to commit leaves the set right."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.catalogue.store import LONG_S, Conn


@dataclass(frozen=True)
class Kimppa:
    id: str
    name: str
    library_system: str
    melinda_code: str | None
    contact_email: str | None


def _kimppa(row: Any) -> Kimppa:
    return Kimppa(
        row["id"], row["name"], row["library_system"], row["melinda_code"], row["contact_email"]
    )


async def upsert_kimppa(
    conn: asyncpg.Connection,
    kimppa_id: str,
    *,
    name: str,
    library_system: str,
    melinda_code: str | None,
    contact_email: str | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO kimppas (id, name, library_system, melinda_code, contact_email)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (id) DO UPDATE
            SET name = excluded.name, library_system = excluded.library_system,
                melinda_code = coalesce(excluded.melinda_code, kimppas.melinda_code),
                contact_email = coalesce(excluded.contact_email, kimppas.contact_email),
                updated_at = now()
        """,
        kimppa_id,
        name,
        library_system,
        melinda_code,
        contact_email,
    )


async def get_kimppa(conn: Conn, kimppa_id: str) -> Kimppa | None:
    row = await conn.fetchrow("SELECT * FROM kimppas WHERE id = $1", kimppa_id)
    return _kimppa(row) if row else None


async def lock_library(conn: asyncpg.Connection, isil: str) -> str | None:
    """Lock a library's row (if known) and return its kimppa id."""
    return await conn.fetchval("SELECT kimppa_id FROM libraries WHERE isil = $1 FOR UPDATE", isil)


async def upsert_library(
    conn: asyncpg.Connection,
    isil: str,
    *,
    name: str,
    kimppa_id: str | None,
    kimppa_since: dt.date | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO libraries (isil, name, kimppa_id, kimppa_since) VALUES ($1, $2, $3, $4)
        ON CONFLICT (isil) DO UPDATE
            SET name = excluded.name, kimppa_id = excluded.kimppa_id,
                kimppa_since = excluded.kimppa_since, updated_at = now()
        """,
        isil,
        name,
        kimppa_id,
        kimppa_since,
    )


async def set_library_kimppa(conn: asyncpg.Connection, isil: str, kimppa_id: str | None) -> None:
    """Put a library in a kimppa (or take it out). A library not heard of yet is named by its
    ISIL until its member-joined or member-updated brings its name."""
    await conn.execute(
        """
        INSERT INTO libraries (isil, name, kimppa_id) VALUES ($1, $1, $2)
        ON CONFLICT (isil) DO UPDATE SET kimppa_id = excluded.kimppa_id, updated_at = now()
        """,
        isil,
        kimppa_id,
    )


async def kimppa_members(conn: Conn, kimppa_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT isil FROM libraries WHERE kimppa_id = $1 ORDER BY isil", kimppa_id
    )
    return [row["isil"] for row in rows]


async def kimppa_of(conn: Conn, isil: str) -> Kimppa | None:
    row = await conn.fetchrow(
        """
        SELECT k.* FROM libraries l JOIN kimppas k ON k.id = l.kimppa_id WHERE l.isil = $1
        """,
        isil,
    )
    return _kimppa(row) if row else None


async def kimppas_of(conn: Conn, isils: list[str]) -> dict[str, str]:
    """ISIL → kimppa id, for those of ``isils`` that are in a kimppa."""
    rows = await conn.fetch(
        """
        SELECT isil, kimppa_id FROM libraries
        WHERE isil = ANY($1::text[]) AND kimppa_id IS NOT NULL
        """,
        isils,
    )
    return {row["isil"]: row["kimppa_id"] for row in rows}


async def sync_kimppa_records(
    conn: asyncpg.Connection, kimppa_id: str, collection_id: str | None = None
) -> int:
    """Bring a kimppa's set (of one collection, or all) to what its libraries' sets hold now;
    returns how many of its items changed. An item is deleted only when no library of the
    kimppa holds its record any more; its datestamp moves whenever its holders change."""
    await conn.execute("SELECT 1 FROM kimppas WHERE id = $1 FOR UPDATE", kimppa_id)
    return await conn.fetchval(
        """
        WITH held AS (
            SELECT lr.record_id, min(lr.collection_id) AS collection_id,
                   coalesce(array_agg(lr.isil ORDER BY lr.isil) FILTER (WHERE NOT lr.deleted),
                            '{}') AS holders
            FROM library_records lr
            JOIN libraries l ON l.isil = lr.isil AND l.kimppa_id = $1
            WHERE ($2::text IS NULL OR lr.collection_id = $2)
            GROUP BY lr.record_id
        ),
        target AS (
            SELECT record_id, collection_id, holders FROM held
            UNION ALL
            SELECT kr.record_id, kr.collection_id, '{}'::text[]
            FROM kimppa_records kr
            WHERE kr.kimppa_id = $1 AND ($2::text IS NULL OR kr.collection_id = $2)
              AND NOT kr.deleted
              AND NOT EXISTS (SELECT 1 FROM held h WHERE h.record_id = kr.record_id)
        ),
        changed AS (
            INSERT INTO kimppa_records (kimppa_id, record_id, collection_id, holders, deleted,
                                        datestamp)
            SELECT $1, t.record_id, t.collection_id, t.holders, cardinality(t.holders) = 0,
                   clock_timestamp()
            FROM target t
            WHERE cardinality(t.holders) > 0
               OR EXISTS (SELECT 1 FROM kimppa_records k
                          WHERE k.kimppa_id = $1 AND k.record_id = t.record_id)
            ON CONFLICT (kimppa_id, record_id) DO UPDATE
                SET holders = excluded.holders, deleted = excluded.deleted,
                    datestamp = excluded.datestamp
                WHERE kimppa_records.holders IS DISTINCT FROM excluded.holders
            RETURNING 1
        )
        SELECT count(*) FROM changed
        """,
        kimppa_id,
        collection_id,
        timeout=LONG_S,
    )


async def restamp_changed(conn: asyncpg.Connection, collection_id: str, batch_id: str) -> None:
    """Records a batch changed get a new datestamp in every kimppa set that holds them, as
    they do in the libraries' own sets."""
    await conn.execute(
        """
        UPDATE kimppa_records kr SET datestamp = clock_timestamp()
        FROM records r
        WHERE r.collection_id = $1 AND r.changed_batch = $2 AND NOT r.deleted
          AND kr.record_id = r.id AND NOT kr.deleted
        """,
        collection_id,
        batch_id,
        timeout=LONG_S,
    )


async def kimppas_holding(conn: Conn, collection_id: str) -> list[str]:
    """Kimppas with a member library that has (or had) a set of the collection."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT l.kimppa_id FROM record_sets rs
        JOIN libraries l ON l.isil = rs.isil
        WHERE rs.collection_id = $1 AND l.kimppa_id IS NOT NULL
        UNION
        SELECT DISTINCT kimppa_id FROM kimppa_records WHERE collection_id = $1
        ORDER BY 1
        """,
        collection_id,
    )
    return [row["kimppa_id"] for row in rows]


async def set_names(conn: Conn) -> tuple[list[Kimppa], list[tuple[str, str]]]:
    """Kimppas, and (ISIL, name) of the libraries with a set of their own (not in a kimppa)."""
    kimppas = [_kimppa(r) for r in await conn.fetch("SELECT * FROM kimppas ORDER BY id")]
    libraries = await conn.fetch(
        """
        SELECT DISTINCT rs.isil, coalesce(l.name, rs.isil) AS name
        FROM record_sets rs LEFT JOIN libraries l ON l.isil = rs.isil
        WHERE l.kimppa_id IS NULL
        ORDER BY rs.isil
        """
    )
    return kimppas, [(row["isil"], row["name"]) for row in libraries]


async def library_name(conn: Conn, isil: str) -> str | None:
    return await conn.fetchval("SELECT name FROM libraries WHERE isil = $1", isil)
