"""Agreements and who takes part in them, as procurement's events describe them."""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.outreach.store.connection import Conn


async def upsert_agreement(
    conn: asyncpg.Connection,
    agreement_id: str,
    *,
    title: str,
    product: str,
    supplier: str,
    signed_on: dt.date | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO agreements (agreement_id, title, product, supplier, signed_on)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (agreement_id) DO UPDATE SET
            title = EXCLUDED.title, product = EXCLUDED.product, supplier = EXCLUDED.supplier,
            signed_on = COALESCE(EXCLUDED.signed_on, agreements.signed_on), updated_at = now()
        """,
        agreement_id,
        title,
        product,
        supplier,
        signed_on,
    )


async def end_agreement(conn: asyncpg.Connection, agreement_id: str, effective_on: dt.date) -> None:
    """Every participation still open ends with the agreement."""
    await conn.execute(
        "UPDATE agreements SET ended_on = $2, updated_at = now() WHERE agreement_id = $1",
        agreement_id,
        effective_on,
    )
    await conn.execute(
        """
        UPDATE participations SET left_on = $2
        WHERE agreement_id = $1 AND (left_on IS NULL OR left_on > $2)
        """,
        agreement_id,
        effective_on,
    )


async def join_agreement(
    conn: asyncpg.Connection, agreement_id: str, isil: str, joined_on: dt.date
) -> None:
    # A re-join after an opt-out opens the participation again.
    await conn.execute(
        """
        INSERT INTO participations (agreement_id, isil, joined_on) VALUES ($1, $2, $3)
        ON CONFLICT (agreement_id, isil) DO UPDATE SET joined_on = EXCLUDED.joined_on,
            left_on = NULL
        """,
        agreement_id,
        isil,
        joined_on,
    )


async def leave_agreement(
    conn: asyncpg.Connection, agreement_id: str, isil: str, left_on: dt.date
) -> None:
    await conn.execute(
        """
        INSERT INTO participations (agreement_id, isil, joined_on, left_on)
        VALUES ($1, $2, $3, $3)
        ON CONFLICT (agreement_id, isil) DO UPDATE SET left_on = EXCLUDED.left_on
        """,
        agreement_id,
        isil,
        left_on,
    )


async def participants(conn: Conn, agreement_id: str, today: dt.date) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT isil FROM participations
        WHERE agreement_id = $1 AND (left_on IS NULL OR left_on > $2) ORDER BY isil
        """,
        agreement_id,
        today,
    )
    return [r["isil"] for r in rows]
