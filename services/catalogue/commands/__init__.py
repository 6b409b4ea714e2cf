"""Catalogue commands: load → domain rule → store → record the event, in one transaction.

The event handlers, the HTTP API and the scheduler all go through here. The per-library
record sets follow one rule (``domain.should_have_records``): ``reconcile`` compares what
should be with what has been applied, and applies the difference with its event. Handlers call
it at once; a periodic job calls it for dates that come later (an opt-in from next month, an
opt-out with notice)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from collections.abc import Sequence
from typing import Any

import asyncpg

from contracts.catalogue import RecordsAvailable, RecordsWithdrawn
from contracts.membership import MemberLeft
from contracts.procurement import (
    AgreementEnded,
    AgreementJoined,
    AgreementLeft,
    AgreementSigned,
    EntitlementsChanged,
)
from kit import rules as kit_rules
from kit.logging import get_logger
from kit.outbox import record_event
from services.catalogue import domain, ingest, kimppa_store, licence_store, store
from services.catalogue.commands import kimppa
from services.catalogue.domain import CatalogueRuleViolated

log = get_logger(__name__)
# Who runs a batch, for people reading it; the database session id decides liveness.
OWNER = f"{socket.gethostname()}:{os.getpid()}"
INTERRUPTED = (
    "interrupted: the service stopped before the batch finished; nothing of it was stored, "
    "upload the file again"
)


class NotFound(kit_rules.NotFound, LookupError):
    """The thing a request names (a collection, a batch) does not exist: 404."""

    def __init__(self, what: str, field: str) -> None:
        super().__init__(what, field=field)
        self.what = what


# --- collections ------------------------------------------------------------------------------


async def agreement_signed(conn: asyncpg.Connection, event: AgreementSigned) -> None:
    """An agreement's collection has the agreement's id, so a cataloguer who knows one knows
    the other."""
    created = await store.insert_collection(
        conn,
        collection_id=event.agreement_id,
        agreement_id=event.agreement_id,
        title=event.title,
        supplier=event.supplier.name,
        product=event.product,
        material_types=event.material_types,
        signed_on=event.signed_on,
        created_by="event:agreement-signed",
    )
    if not created:
        await store.complete_collection(
            conn,
            event.agreement_id,
            title=event.title,
            supplier=event.supplier.name,
            product=event.product,
            material_types=event.material_types,
            signed_on=event.signed_on,
        )
    await licence_store.set_licence(
        conn,
        event.agreement_id,
        post_cancellation_access=domain.post_cancellation_access(dict(event.licence_terms)),
        price_model=event.price_model,
    )


async def create_collection(
    pool: asyncpg.Pool,
    *,
    collection_id: str | None,
    title: str,
    supplier: str | None,
    product: str | None,
    material_types: Sequence[str],
    created_by: str,
) -> store.Collection:
    """A collection outside any agreement (open-access titles, a trial)."""
    collection_id = collection_id or domain.new_id("col")
    async with pool.acquire() as conn, conn.transaction():
        created = await store.insert_collection(
            conn,
            collection_id=collection_id,
            agreement_id=None,
            title=title,
            supplier=supplier,
            product=product,
            material_types=material_types,
            signed_on=None,
            created_by=created_by,
        )
        if not created:
            raise CatalogueRuleViolated(
                f"collection {collection_id} already exists", "id", status=409
            )
        collection = await store.get_collection(conn, collection_id)
    assert collection is not None
    return collection


# --- participation ----------------------------------------------------------------------------


async def agreement_joined(
    conn: asyncpg.Connection, event: AgreementJoined, today: dt.date
) -> None:
    # Events of one agreement arrive in order, so the collection normally exists; should the
    # catalogue have missed agreement-signed, the joining still gets a collection.
    await store.insert_collection(
        conn,
        collection_id=event.agreement_id,
        agreement_id=event.agreement_id,
        title=event.title,
        supplier=event.supplier.name,
        product=event.product,
        material_types=event.material_types,
        signed_on=None,
        created_by="event:agreement-joined",
    )
    await store.insert_participation(conn, event.agreement_id, event.isil, event.joined_on)
    await reconcile(conn, event.agreement_id, event.isil, today)


async def agreement_left(conn: asyncpg.Connection, event: AgreementLeft, today: dt.date) -> None:
    ended = domain.open_participation(
        await store.participations(conn, event.agreement_id, event.isil), event.left_on
    )
    if ended is not None:
        await store.set_left(conn, ended, event.left_on, event.reason)
    collection = await store.collection_of_agreement(conn, event.agreement_id)
    if collection is not None:
        await reconcile(conn, collection.id, event.isil, today)


async def agreement_ended(conn: asyncpg.Connection, event: AgreementEnded, today: dt.date) -> None:
    await store.end_open_participations(
        conn, left_on=event.effective_on, reason="agreement-ended", agreement_id=event.agreement_id
    )
    collection = await store.collection_of_agreement(conn, event.agreement_id)
    if collection is None:
        return
    await store.end_collection(conn, collection.id, event.effective_on, event.kind)
    for isil, collection_id in await store.participation_pairs(conn, collection_id=collection.id):
        await reconcile(conn, collection_id, isil, today)


async def member_left(conn: asyncpg.Connection, event: MemberLeft, today: dt.date) -> None:
    """A library that leaves the consortium leaves every agreement with it. Procurement says
    so too (agreement-left, membership-ended); whichever arrives first withdraws, the other
    finds nothing left to do."""
    isil = event.library.isil
    await store.end_open_participations(
        conn, left_on=event.effective_date, reason="membership-ended", isil=isil
    )
    for _, collection_id in await store.participation_pairs(conn, isil=isil):
        await reconcile(conn, collection_id, isil, today)


async def reconcile(
    conn: asyncpg.Connection, collection_id: str, isil: str, today: dt.date
) -> int | None:
    """Bring one library's set of one collection to what its participation and licences say
    today, with records-available or records-withdrawn. Returns the change in records (None:
    nothing to do). Locks the collection and the set, so replicas and a concurrent ingest
    agree.

    Participation gives the whole collection (unless the agreement sells titles one by one:
    ``domain.whole_collection``); entitlements give titles; when the library stops taking
    part, a licence with post-cancellation access keeps what it had, and titles whose
    entitlement survives leaving stay (``licence_store.refresh_library_set``)."""
    collection = await store.get_collection(conn, collection_id, lock=True)
    if collection is None:
        return None
    available = await store.lock_record_set(conn, isil, collection_id)
    pca, price_model = await licence_store.licence_of(conn, collection_id)
    participations = await store.collection_participations(conn, collection_id, isil)
    taking_part = domain.should_have_records(participations, collection.ended_on, today)
    should = taking_part and domain.whole_collection(price_model)
    changed = should != available
    if changed:
        await licence_store.set_record_set(
            conn, isil, collection_id, available=should, retained=available and pca
        )
    gained, lost = await licence_store.refresh_library_set(conn, isil, collection_id, today)
    if not changed and not gained and not lost:
        return None
    await kimppa.after_set_change(conn, [isil], collection_id)
    if (changed and should) or gained:
        oai_set = (await kimppa.harvest_sets(conn, [isil]))[isil]
        await record_event(
            conn,
            RecordsAvailable(
                isil=isil,
                collection_id=collection_id,
                agreement_id=collection.agreement_id,
                title=collection.title,
                count=gained,
                reason="agreement-joined" if changed and should else "titles-added",
                oai_set=oai_set,
            ),
        )
        log.info("records available", isil=isil, collection_id=collection_id, count=gained)
    if (changed and not should) or lost:
        reason: domain.WithdrawReason = (
            domain.withdraw_reason(participations, collection.ended_on, today)
            if not taking_part
            else "titles-removed"
        )
        await record_event(
            conn,
            RecordsWithdrawn(
                isil=isil,
                collection_id=collection_id,
                agreement_id=collection.agreement_id,
                count=lost,
                reason=reason,
            ),
        )
        log.info(
            "records withdrawn", isil=isil, collection_id=collection_id, count=lost, reason=reason
        )
    return gained - lost


async def entitlements_changed(
    conn: asyncpg.Connection, event: EntitlementsChanged, today: dt.date
) -> None:
    """Titles a library or a kimppa bought under an agreement were added or expired: the
    holder's set (a kimppa's: each of its libraries' sets, and so the kimppa's set) gains or
    loses them. An expired purchase withdraws its title only when no other unexpired
    purchase, nor the whole collection, still covers it."""
    isil, kimppa_id = domain.parse_holder(event.holder)
    if event.change == "added":
        await licence_store.upsert_entitlements(
            conn, event.agreement_id, event.holder, event.titles
        )
    else:
        await licence_store.expire_entitlements(
            conn, event.agreement_id, event.holder, event.titles
        )
    collection = await store.collection_of_agreement(conn, event.agreement_id)
    if collection is None:  # applied when the agreement's collection arrives
        return
    libraries = [isil] if isil else await kimppa_store.kimppa_members(conn, kimppa_id or "")
    for library in libraries:
        await reconcile(conn, collection.id, library, today)


async def libraries_moved(conn: asyncpg.Connection, isils: list[str], today: dt.date) -> None:
    """Libraries that joined or left a kimppa: titles their (old or new) kimppa holds follow
    them."""
    for isil in isils:
        for collection_id in await licence_store.collections_with_entitlements(conn, isil):
            await reconcile(conn, collection_id, isil, today)


async def reconcile_due(pool: asyncpg.Pool, today: dt.date) -> int:
    """Apply what dates have made due (an opt-in from a later day, an opt-out with notice,
    a scheduled end). Only pairs whose state differs are locked; safe with replicas."""
    async with pool.acquire() as conn:
        states = await store.pair_states(conn)
        price_models = await licence_store.price_models(conn)
    changed = 0
    for (isil, collection_id), (participations, ended_on, available) in states.items():
        should = domain.should_have_records(
            participations, ended_on, today
        ) and domain.whole_collection(price_models.get(collection_id))
        if should == available:
            continue
        async with pool.acquire() as conn, conn.transaction():
            if await reconcile(conn, collection_id, isil, today) is not None:
                changed += 1
    return changed


# --- batches ----------------------------------------------------------------------------------


async def check_can_ingest(pool: asyncpg.Pool, collection_id: str) -> store.Collection:
    """Before an upload is spooled: the collection exists and has no batch running."""
    collection = await store.get_collection(pool, collection_id)
    if collection is None:
        raise NotFound(f"no collection {collection_id}", "collection")
    running = await store.batch_in_progress(pool, collection_id)
    if running and await fail_orphaned_batches(pool, collection_id):
        running = await store.batch_in_progress(pool, collection_id)
    if running:
        raise CatalogueRuleViolated(
            f"batch {running} is still being ingested into {collection_id}; try again when it "
            "has finished",
            "collection",
            status=409,
        )
    return collection


async def open_batch(
    pool: asyncpg.Pool,
    job: ingest.IngestJob,
    *,
    filename: str | None,
    size_bytes: int,
    sha256: str,
    created_by: str,
) -> dict[str, Any]:
    try:
        await store.insert_batch(
            pool,
            batch_id=job.batch_id,
            collection_id=job.collection_id,
            fmt=job.fmt,
            mode=job.mode,
            filename=filename,
            size_bytes=size_bytes,
            sha256=sha256,
            language=job.language,
            url_template=job.url_template,
            created_by=created_by,
            force=job.force,
        )
    except asyncpg.UniqueViolationError as error:
        raise CatalogueRuleViolated(
            f"another batch is being ingested into {job.collection_id}; try again later",
            "collection",
            status=409,
        ) from error
    batch = await store.get_batch(pool, job.batch_id)
    assert batch is not None
    return batch


async def run_batch(
    pool: asyncpg.Pool, job: ingest.IngestJob, collection: store.Collection
) -> dict[str, Any] | None:
    """Run an opened batch to its end; the spooled file is removed whatever happens."""

    async def progress(processed: int) -> None:
        await store.record_progress(pool, job.batch_id, processed)

    try:
        async with pool.acquire() as conn:
            await store.claim_batch(conn, job.batch_id, OWNER)
            await ingest.run(conn, job, collection, progress)
    except asyncio.CancelledError:
        await asyncio.shield(store.fail_batch(pool, job.batch_id, INTERRUPTED))
        raise
    except ingest.FullLoadRefused as error:
        log.warning("full load refused", batch_id=job.batch_id, collection_id=job.collection_id)
        await store.fail_batch(
            pool,
            job.batch_id,
            str(error),
            counts=error.counts,
            report=error.summary,
            finding=("full-load-refused", "file"),
        )
    except ingest.IngestFailed as error:
        await store.fail_batch(pool, job.batch_id, str(error))
    except Exception as error:
        log.exception("batch failed", batch_id=job.batch_id)
        await store.fail_batch(pool, job.batch_id, f"the batch failed: {type(error).__name__}")
    finally:
        job.path.unlink(missing_ok=True)
    return await store.get_batch(pool, job.batch_id)


# A batch is claimed by the session that runs it within moments of its creation; one that is
# still unclaimed after this lost its process between the two.
UNCLAIMED_AFTER = dt.timedelta(minutes=1)


async def fail_orphaned_batches(pool: asyncpg.Pool, collection_id: str | None = None) -> int:
    """Fail the batches whose process is gone (see ``store.fail_orphaned_batches``): at
    start-up, periodically, and before an upload is refused because one is running."""
    failed = await store.fail_orphaned_batches(pool, UNCLAIMED_AFTER, collection_id)
    for batch_id in failed:
        log.warning("orphaned batch failed", batch_id=batch_id)
    return len(failed)
