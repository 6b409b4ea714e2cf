"""SQL for records that follow licences (see migrations/0004_licences.sql).

``refresh_library_set`` is the one statement that brings a library's set of one collection to
what it should hold today (``domain.LICENCE_RULE`` says it in words) and returns what it
gained and lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.catalogue.store import LONG_S, Conn


async def set_licence(
    conn: asyncpg.Connection,
    collection_id: str,
    *,
    post_cancellation_access: bool,
    price_model: str | None,
) -> None:
    await conn.execute(
        """
        UPDATE collections SET post_cancellation_access = $2, price_model = $3 WHERE id = $1
        """,
        collection_id,
        post_cancellation_access,
        price_model,
    )


async def licence_of(conn: Conn, collection_id: str) -> tuple[bool, str | None]:
    row = await conn.fetchrow(
        "SELECT post_cancellation_access, price_model FROM collections WHERE id = $1",
        collection_id,
    )
    return (row["post_cancellation_access"], row["price_model"]) if row else (False, None)


async def set_record_set(
    conn: asyncpg.Connection, isil: str, collection_id: str, *, available: bool, retained: bool
) -> None:
    await conn.execute(
        """
        UPDATE record_sets SET available = $3, retained = $4, changed_at = clock_timestamp()
        WHERE isil = $1 AND collection_id = $2
        """,
        isil,
        collection_id,
        available,
        retained,
    )


async def upsert_entitlements(
    conn: asyncpg.Connection, agreement_id: str, holder: str, titles: Sequence[Any]
) -> None:
    """Titles added (a bulk load): new purchases, or a purchase loaded again with new terms."""
    await conn.executemany(
        """
        INSERT INTO entitlements (agreement_id, holder, isbn, acquired_on, order_reference,
                                  licence_model, expires_on, survives_leaving)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (agreement_id, holder, isbn, acquired_on, order_reference) DO UPDATE
            SET licence_model = excluded.licence_model, expires_on = excluded.expires_on,
                survives_leaving = excluded.survives_leaving, expired = false,
                changed_at = now()
        """,
        [
            (
                agreement_id,
                holder,
                t.isbn,
                t.acquired_on,
                t.order_reference,
                t.licence_model,
                t.expires_on,
                t.survives_leaving,
            )
            for t in titles
        ],
    )


async def expire_entitlements(
    conn: asyncpg.Connection, agreement_id: str, holder: str, titles: Sequence[Any]
) -> None:
    """Purchases that expired. One not heard of before is recorded as expired, so that a
    late 'added' of the same purchase cannot bring it back."""
    await conn.executemany(
        """
        INSERT INTO entitlements (agreement_id, holder, isbn, acquired_on, order_reference,
                                  licence_model, expires_on, survives_leaving, expired)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)
        ON CONFLICT (agreement_id, holder, isbn, acquired_on, order_reference) DO UPDATE
            SET expired = true, changed_at = now()
        """,
        [
            (
                agreement_id,
                holder,
                t.isbn,
                t.acquired_on,
                t.order_reference,
                t.licence_model,
                t.expires_on,
                t.survives_leaving,
            )
            for t in titles
        ],
    )


async def entitled_libraries(conn: Conn, agreement_id: str, holder: str | None = None) -> list[str]:
    """ISILs whose sets entitlements under an agreement reach: direct holders, and every
    library of a kimppa that holds titles (optionally of one holder only)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT e.holder AS isil FROM entitlements e
        WHERE e.agreement_id = $1 AND e.holder NOT LIKE 'kimppa:%'
          AND ($2::text IS NULL OR e.holder = $2)
        UNION
        SELECT l.isil FROM entitlements e
        JOIN libraries l ON 'kimppa:' || l.kimppa_id = e.holder
        WHERE e.agreement_id = $1 AND ($2::text IS NULL OR e.holder = $2)
        ORDER BY 1
        """,
        agreement_id,
        holder,
    )
    return [row["isil"] for row in rows]


async def kimppa_libraries(conn: Conn, kimppa_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT isil FROM libraries WHERE kimppa_id = $1 ORDER BY isil", kimppa_id
    )
    return [row["isil"] for row in rows]


async def ensure_record_set(conn: asyncpg.Connection, isil: str, collection_id: str) -> None:
    await conn.execute(
        """
        INSERT INTO record_sets (isil, collection_id, available) VALUES ($1, $2, false)
        ON CONFLICT DO NOTHING
        """,
        isil,
        collection_id,
    )


async def refresh_library_set(
    conn: asyncpg.Connection, isil: str, collection_id: str, today: dt.date
) -> tuple[int, int]:
    """Bring a library's set of one collection to what it should hold today; returns
    (records gained, records lost). A record should be there when it is current in the
    collection and
    - the set holds the whole collection (``record_sets.available``: the library takes part
      and the agreement is in force), or
    - the set is retained under post-cancellation access and the library holds it already, or
    - an unexpired entitlement of the library or of its kimppa covers the title (by ISBN)
      under the collection's agreement, and the library still takes part in the agreement,
      or the entitlement survives leaving (perpetual, post-cancellation access), or the
      licence grants post-cancellation access."""
    row = await conn.fetchrow(
        """
        WITH c AS (
            SELECT agreement_id, post_cancellation_access AS pca FROM collections WHERE id = $2
        ),
        rs AS (
            SELECT coalesce(bool_or(available), false) AS available,
                   coalesce(bool_or(retained), false) AS retained
            FROM record_sets WHERE isil = $1 AND collection_id = $2
        ),
        part AS (
            SELECT EXISTS (
                SELECT 1 FROM participations p, c
                WHERE p.agreement_id = c.agreement_id AND p.isil = $1 AND p.joined_on <= $3
                  AND (p.left_on IS NULL OR p.left_on > $3)
            ) AS taking_part
        ),
        holders AS (
            SELECT $1::text AS holder
            UNION ALL
            SELECT 'kimppa:' || kimppa_id FROM libraries
            WHERE isil = $1 AND kimppa_id IS NOT NULL
        ),
        entitled AS (
            SELECT DISTINCT e.isbn FROM entitlements e, c, part
            WHERE e.agreement_id = c.agreement_id
              AND e.holder IN (SELECT holder FROM holders)
              AND NOT e.expired AND (e.expires_on IS NULL OR e.expires_on > $3)
              AND (part.taking_part OR e.survives_leaving OR c.pca)
        ),
        desired AS (
            SELECT r.id FROM records r, rs
            WHERE r.collection_id = $2 AND NOT r.deleted
              AND (rs.available
                   OR r.match_key IN (SELECT isbn FROM entitled)
                   OR (rs.retained AND EXISTS (
                        SELECT 1 FROM library_records lr
                        WHERE lr.isil = $1 AND lr.record_id = r.id AND NOT lr.deleted)))
        ),
        gained AS (
            INSERT INTO library_records (isil, record_id, collection_id, deleted, datestamp)
            SELECT $1, d.id, $2, false, clock_timestamp() FROM desired d
            ON CONFLICT (isil, record_id) DO UPDATE
                SET deleted = false, datestamp = excluded.datestamp
                WHERE library_records.deleted
            RETURNING 1
        ),
        lost AS (
            UPDATE library_records lr SET deleted = true, datestamp = clock_timestamp()
            WHERE lr.isil = $1 AND lr.collection_id = $2 AND NOT lr.deleted
              AND lr.record_id NOT IN (SELECT id FROM desired)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gained) AS gained, (SELECT count(*) FROM lost) AS lost
        """,
        isil,
        collection_id,
        today,
        timeout=LONG_S,
    )
    return row["gained"], row["lost"]


async def price_models(conn: Conn) -> dict[str, str | None]:
    rows = await conn.fetch("SELECT id, price_model FROM collections WHERE price_model IS NOT NULL")
    return {row["id"]: row["price_model"] for row in rows}


async def collections_with_entitlements(conn: Conn, isil: str) -> list[str]:
    """Collections whose agreement has titles held by the library or by its kimppa (old or
    new: a library that left a kimppa is included while its set still has such records)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT c.id FROM entitlements e
        JOIN collections c ON c.agreement_id = e.agreement_id
        WHERE e.holder = $1
           OR e.holder IN (SELECT 'kimppa:' || kimppa_id FROM libraries
                           WHERE isil = $1 AND kimppa_id IS NOT NULL)
           OR (e.holder LIKE 'kimppa:%' AND EXISTS (
                SELECT 1 FROM library_records lr
                WHERE lr.isil = $1 AND lr.collection_id = c.id AND NOT lr.deleted))
        ORDER BY 1
        """,
        isil,
    )
    return [row["id"] for row in rows]
