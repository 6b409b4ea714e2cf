"""Marketing-kit metadata in PostgreSQL; the files themselves are in ``storage.py``."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.outreach.domain import KitFile
from services.outreach.store.connection import Conn


async def create_kit(
    conn: Conn,
    *,
    title: str,
    description: str,
    product: str | None,
    agreement_id: str | None,
    onboarding: bool,
    created_by: str,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        INSERT INTO kits (id, title, description, product, agreement_id, onboarding, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *
        """,
        uuid.uuid4(),
        title,
        description,
        product,
        agreement_id,
        onboarding,
        created_by,
    )
    return dict(row)


async def get_kit(conn: Conn, kit_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM kits WHERE id = $1", kit_id)
    return dict(row) if row else None


async def list_kits(
    conn: Conn,
    *,
    product: str | None,
    agreement_id: str | None,
    onboarding: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where = """
        WHERE ($1::text IS NULL OR lower(product) = lower($1))
          AND ($2::text IS NULL OR agreement_id = $2)
          AND ($3::boolean IS NULL OR onboarding = $3)
    """
    total = await conn.fetchval(
        f"SELECT count(*) FROM kits {where}",  # noqa: S608 - constant, values are parameters
        product,
        agreement_id,
        onboarding,
    )
    rows = await conn.fetch(
        f"SELECT * FROM kits {where} ORDER BY created_at, id LIMIT $4 OFFSET $5",  # noqa: S608
        product,
        agreement_id,
        onboarding,
        limit,
        offset,
    )
    return [dict(r) for r in rows], total


async def add_file(
    conn: Conn,
    *,
    kit_id: uuid.UUID,
    language: str,
    category: str,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    uploaded_by: str,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """
        INSERT INTO kit_files (id, kit_id, language, category, filename, content_type, size,
                               sha256, uploaded_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *
        """,
        uuid.uuid4(),
        kit_id,
        language,
        category,
        filename,
        content_type,
        size,
        sha256,
        uploaded_by,
    )
    return dict(row)


async def files_of(conn: Conn, kit_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT * FROM kit_files WHERE kit_id = ANY($1::uuid[])
        ORDER BY kit_id, language, category, filename
        """,
        kit_ids,
    )
    return [dict(r) for r in rows]


async def get_file(conn: Conn, kit_id: uuid.UUID, file_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM kit_files WHERE kit_id = $1 AND id = $2", kit_id, file_id
    )
    return dict(row) if row else None


async def sha256_in_use(conn: Conn, sha256: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM kit_files WHERE sha256 = $1 LIMIT 1", sha256))


# What a message needs from kits: the onboarding kits, or the kits of one e-service.
KIT_FILES = """
    SELECT f.id::text AS id, f.kit_id::text AS kit_id, k.title AS kit_title, f.language,
           f.category, f.filename, f.content_type, f.size, f.sha256
    FROM kit_files f JOIN kits k ON k.id = f.kit_id
"""


def _kit_file(row: asyncpg.Record) -> KitFile:
    return KitFile(**dict(row))


async def onboarding_files(conn: Conn) -> list[KitFile]:
    rows = await conn.fetch(
        f"{KIT_FILES} WHERE k.onboarding ORDER BY k.created_at, k.id, f.category, f.filename"  # noqa: S608
    )
    return [_kit_file(r) for r in rows]


async def service_files(conn: Conn, agreement_id: str, product: str) -> list[KitFile]:
    """The kits of an e-service: those made for the agreement, and those for its product."""
    rows = await conn.fetch(
        f"""
        {KIT_FILES}
        WHERE k.agreement_id = $1 OR lower(k.product) = lower($2)
        ORDER BY k.created_at, k.id, f.category, f.filename
        """,  # noqa: S608 - constant SQL fragments, values are parameters
        agreement_id,
        product,
    )
    return [_kit_file(r) for r in rows]


async def kit_files_by_kit(conn: Conn, kit_id: uuid.UUID) -> list[KitFile]:
    rows = await conn.fetch(
        f"{KIT_FILES} WHERE k.id = $1 ORDER BY f.category, f.filename",  # noqa: S608
        kit_id,
    )
    return [_kit_file(r) for r in rows]
