"""Kimppas from membership's events: which kimppa a library belongs to, and keeping each
kimppa's record set in step with its libraries' own sets.

- member-joined / member-updated: the library's name and kimppa (``library.kimppa``); a
  library without one harvests its own set ``library:<ISIL>``;
- kimppa-updated: the kimppa's name, library system, Melinda holding code and its libraries
  now (libraries no longer listed leave it).

Both kinds travel on membership's topic under different keys (ISIL, kimppa id), so either may
arrive first; each states the whole truth of what it names, and the last one applied wins.
When a library moves, the sets of its old and new kimppa are re-derived at once."""

from __future__ import annotations

import asyncpg

from contracts.membership import KimppaUpdated, Library
from services.catalogue import domain, kimppa_store


async def library_known(conn: asyncpg.Connection, library: Library) -> list[str]:
    """A member-joined or member-updated: the library's name and its kimppa now. Returns
    the library's ISIL if it moved between kimppas."""
    ref = library.kimppa
    if ref is not None:
        domain.check_kimppa_id(ref.id)
        await kimppa_store.upsert_kimppa(
            conn,
            ref.id,
            name=ref.name,
            library_system=ref.library_system,
            melinda_code=ref.melinda_code,
        )
    before = await kimppa_store.lock_library(conn, library.isil)
    after = ref.id if ref is not None else None
    await kimppa_store.upsert_library(
        conn,
        library.isil,
        name=library.names.fi,
        kimppa_id=after,
        kimppa_since=ref.since if ref is not None else None,
    )
    touched = domain.kimppas_touched({library.isil: before}, {library.isil: after})
    for kimppa_id in sorted(touched):
        await kimppa_store.sync_kimppa_records(conn, kimppa_id)
    return [library.isil] if touched else []


async def kimppa_updated(conn: asyncpg.Connection, event: KimppaUpdated) -> list[str]:
    """Returns the ISILs that joined or left the kimppa."""
    domain.check_kimppa_id(event.kimppa_id)
    await kimppa_store.upsert_kimppa(
        conn,
        event.kimppa_id,
        name=event.kimppa_name,
        library_system=event.library_system,
        melinda_code=event.melinda_code,
        contact_email=event.harvest_contact_email,
    )
    current = await kimppa_store.kimppa_members(conn, event.kimppa_id)
    listed = sorted(set(event.libraries))
    before: dict[str, str | None] = {}
    for isil in sorted(set(current) | set(listed)):
        before[isil] = await kimppa_store.lock_library(conn, isil)
    after: dict[str, str | None] = {isil: event.kimppa_id for isil in listed}
    for isil in current:
        if isil not in after:
            after[isil] = None
    for isil, kimppa_id in sorted(after.items()):
        if before.get(isil) != kimppa_id:
            await kimppa_store.set_library_kimppa(conn, isil, kimppa_id)
    for kimppa_id in sorted(domain.kimppas_touched(before, after)):
        await kimppa_store.sync_kimppa_records(conn, kimppa_id)
    return sorted(isil for isil, kimppa_id in after.items() if before.get(isil) != kimppa_id)


async def after_set_change(conn: asyncpg.Connection, isils: list[str], collection_id: str) -> None:
    """After libraries' own sets of a collection changed: their kimppas' sets follow."""
    kimppas = await kimppa_store.kimppas_of(conn, isils)
    for kimppa_id in sorted(set(kimppas.values())):
        await kimppa_store.sync_kimppa_records(conn, kimppa_id, collection_id)


async def harvest_sets(conn: asyncpg.Connection, isils: list[str]) -> dict[str, str]:
    """ISIL → the OAI-PMH set the library harvests."""
    kimppas = await kimppa_store.kimppas_of(conn, isils)
    return {isil: domain.harvest_set(isil, kimppas.get(isil)) for isil in isils}
