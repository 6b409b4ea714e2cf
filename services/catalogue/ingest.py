"""Title-list ingest: a spooled upload, read record by record, into a collection.

The file is read in chunks (``chunk_size`` records): the pure pipeline (read → convert →
normalise → validate) and the dedup decisions run in a worker thread, so the event loop keeps
serving requests; each chunk is then written with one set-based statement per kind of change.
Memory holds one chunk and the quality report's bounded counters, never the file.

A batch is one database transaction: its records, findings, record-set changes, quality
report and events commit together, or nothing does. Only its status row (with progress) is
committed beforehand, so the upload can be watched. Two batches never run in one collection
at once (an advisory lock; the API refuses a second upload before spooling it).

Outcomes per record, as ``titles-ingested`` counts them:
- accepted: a title new to the collection (or one withdrawn before that comes back);
- updated: a title whose merged record differs from the stored one;
- unchanged: same content (re-ingesting a file changes nothing);
- duplicate: the title was already in this batch; the richer record is kept, URLs merged;
- rejected: unreadable, or an error against the consortium profile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from pymarc import Record

from contracts.catalogue import IngestCounts, RecordsAvailable, RecordsWithdrawn, TitlesIngested
from kit.logging import get_logger
from kit.outbox import record_event
from services.catalogue import domain, kimppa_store, licence_store, store
from services.catalogue.dedup import content_hash, resolve, stored_bytes
from services.catalogue.formats import marc21
from services.catalogue.formats.readers import Format
from services.catalogue.pipeline import Processed, process_stream
from services.catalogue.profile import Finding
from services.catalogue.quality import QualityReport, ReportOutcome

log = get_logger(__name__)
MAX_TEXT = 2000
OUTCOME_NAMES = ("accepted", "updated", "unchanged", "duplicate", "rejected")
MAX_TITLE = 500


class IngestFailed(Exception):
    """The batch could not run at all (not a bad record: those are findings)."""


class FullLoadRefused(IngestFailed):
    """A full load that may not withdraw (see ``domain.full_load_refusal``): the batch fails
    as a whole, storing and withdrawing nothing; its counts and top findings say why."""

    def __init__(self, reason: str, counts: dict[str, int], summary: dict[str, Any]) -> None:
        super().__init__(
            f"full load refused: {reason}; nothing was stored or withdrawn. Send the complete "
            "file again, or a coordinator may force the load (force=true)."
        )
        self.counts = counts
        self.summary = summary


@dataclass(frozen=True)
class IngestJob:
    batch_id: str
    collection_id: str
    fmt: Format
    mode: str
    path: Path
    language: str | None
    url_template: str | None
    chunk_size: int = 500
    force: bool = False  # a coordinator's explicit "withdraw even so" for a refused full load
    max_rejected_share: float = 0.5
    withdrawal_limit: domain.WithdrawalLimit = domain.NO_WITHDRAWAL_LIMIT
    agency: str = marc21.DEFAULT_AGENCY  # 040 $a/$d and 884 $q of converted records


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    counts: IngestCounts
    records_in_collection: int
    available: dict[str, int]
    withdrawn: dict[str, int]


def clean(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """PostgreSQL text and jsonb cannot hold NUL; supplier data sometimes does."""
    if text is None:
        return None
    return text.replace("\x00", "\ufffd")[:limit]


def record_title(record: Record) -> str:
    f245 = record.get("245")
    if f245 is None:
        return ""
    return " ".join(v.strip() for v in f245.get_subfields("a", "b") if v.strip())


# --- planning a chunk (pure, runs in a worker thread) -----------------------------------------


@dataclass
class _Pending:
    """The decided state of one title seen in this chunk."""

    key: str
    stored: store.StoredRecord | None
    record: Record | None  # None: unchanged from the stored bytes (parsed when needed)
    content_hash: str
    marc: bytes | None
    reference: str | None
    new: bool  # a title new to the collection, or a withdrawn one coming back
    changed: bool
    described: bool  # its description (all but the links) came from this batch

    def current(self) -> Record:
        if self.record is None:
            assert self.stored is not None
            self.record = Record(data=self.stored.marc, force_utf8=True)
        return self.record


@dataclass
class ChunkPlan:
    inserts: list[store.NewRecord] = field(default_factory=list)
    updates: list[store.ChangedRecord] = field(default_factory=list)
    reinstated: set[int] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)
    described: set[int] = field(default_factory=set)  # seen, and described by this batch
    findings: list[tuple[Any, ...]] = field(default_factory=list)


def _clean_findings(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    return tuple(Finding(f.severity, f.code, f.field, clean(f.message) or "") for f in findings)


def plan_chunk(
    items: list[Processed],
    existing: dict[str, store.StoredRecord],
    batch_id: str,
    report: QualityReport,
) -> ChunkPlan:
    """Decide each record's outcome against the stored records and the earlier records of
    the batch; count it in the report. No I/O."""
    plan = ChunkPlan()
    pending: dict[str, _Pending] = {}
    for item in items:
        reference = clean(item.reference, 200)
        findings = _clean_findings(item.findings)
        if findings:
            plan.findings += [
                (batch_id, item.position, reference, f.severity, f.code, f.field, f.message)
                for f in findings
            ]
        key = item.match_key
        if not item.accepted or item.record is None or key is None:
            report.add("rejected", findings, reference)
            stored = existing.get(key) if key else None
            if stored is not None and not stored.deleted:
                # The title is still on the supplier's list, only its record is bad this
                # time: a full load must not withdraw the good record we have.
                plan.seen.add(stored.id)
            continue
        try:
            outcome = _decide(item.record, key, reference, existing, pending, batch_id)
        except Exception as error:  # a record pymarc cannot serialise must not stop the batch
            problem = Finding(
                "error", "unserialisable-record", "record", clean(f"{error!r}", 500) or ""
            )
            plan.findings.append(
                (
                    batch_id,
                    item.position,
                    reference,
                    "error",
                    problem.code,
                    "record",
                    problem.message,
                )
            )
            report.add("rejected", (*findings, problem), reference)
            continue
        report.add(outcome, findings, reference)
    for entry in pending.values():
        if entry.stored is None:
            assert entry.marc is not None and entry.record is not None
            plan.inserts.append(
                store.NewRecord(
                    entry.key,
                    entry.content_hash,
                    entry.marc,
                    clean(record_title(entry.record), MAX_TITLE) or "",
                    entry.reference,
                )
            )
        elif entry.new or entry.changed:
            assert entry.marc is not None and entry.record is not None
            plan.updates.append(
                store.ChangedRecord(
                    entry.stored.id,
                    entry.content_hash,
                    entry.marc,
                    clean(record_title(entry.record), MAX_TITLE) or "",
                    entry.reference,
                    entry.described,
                )
            )
            if entry.new:
                plan.reinstated.add(entry.stored.id)
        else:
            plan.seen.add(entry.stored.id)
            if entry.described:
                plan.described.add(entry.stored.id)
    return plan


def _decide(
    incoming: Record,
    key: str,
    reference: str | None,
    existing: dict[str, store.StoredRecord],
    pending: dict[str, _Pending],
    batch_id: str,
) -> ReportOutcome:
    earlier = pending.get(key)
    if earlier is not None:
        # The same title twice in one chunk: merge into what the chunk already decided.
        current = earlier.current()
        resolution = resolve(current, incoming, seen_in_batch=True, same_delivery=earlier.described)
        earlier.described = earlier.described or resolution.incoming_kept
        if resolution.record is not current:
            marc = stored_bytes(resolution.record)  # first: it may refuse the merged record
            earlier.record = resolution.record
            earlier.content_hash = resolution.content_hash
            earlier.marc = marc
            earlier.changed = True
        return "duplicate"
    stored = existing.get(key)
    if stored is None or stored.deleted:
        resolution = resolve(None, incoming)
        pending[key] = _Pending(
            key,
            stored,
            incoming,
            resolution.content_hash,
            stored_bytes(incoming),
            reference,
            new=True,
            changed=True,
            described=True,
        )
        return "accepted"
    seen_in_batch = stored.seen_batch == batch_id
    described_by_batch = stored.base_batch == batch_id
    incoming_hash = content_hash(incoming)
    if incoming_hash == stored.content_hash:
        # The common re-ingest case: no need to parse the stored record to know. The stored
        # description is now also this delivery's (a later chunk's twin ranks against it).
        pending[key] = _Pending(
            key,
            stored,
            None,
            stored.content_hash,
            None,
            reference,
            new=False,
            changed=False,
            described=True,
        )
        return "duplicate" if seen_in_batch else "unchanged"
    existing_record = Record(data=stored.marc, force_utf8=True)
    resolution = resolve(
        existing_record,
        incoming,
        seen_in_batch=seen_in_batch,
        same_delivery=described_by_batch,
    )
    changed = resolution.record is not existing_record
    pending[key] = _Pending(
        key,
        stored,
        resolution.record,
        resolution.content_hash,
        stored_bytes(resolution.record) if changed else None,
        reference,
        new=False,
        changed=changed,
        described=described_by_batch or resolution.incoming_kept,
    )
    return resolution.outcome


class _Reader:
    """The batch's file, read and converted in ONE thread of its own.

    lxml's parser, its elements and the strings they share belong to the thread that made
    them: an iterparse advanced from whichever worker thread is free, or an unfinished one
    freed by the garbage collector in another thread, corrupts libxml2's heap and aborts the
    process (``free(): invalid pointer``). So the file is opened, parsed, converted and closed
    on one thread only, and only plain Python data (pymarc records, findings) leaves it."""

    def __init__(self, job: IngestJob) -> None:
        self._job = job
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-reader")
        self._stream: Any = None
        self._items: Iterator[Processed] | None = None

    def _open(self) -> None:
        self._stream = self._job.path.open("rb")
        self._items = process_stream(
            self._stream,
            self._job.fmt,
            collection_code=self._job.collection_id,
            default_language=self._job.language,
            url_template=self._job.url_template,
            agency=self._job.agency,
        )

    def _take(self, n: int) -> list[Processed]:
        if self._items is None:
            self._open()
        assert self._items is not None
        return list(itertools.islice(self._items, n))

    def _close(self) -> None:
        items, self._items = self._items, None
        if items is not None and hasattr(items, "close"):
            items.close()  # the parser is finalised here, on its own thread
        del items
        if self._stream is not None:
            self._stream.close()

    def take(self, n: int) -> asyncio.Future[list[Processed]]:
        return asyncio.get_running_loop().run_in_executor(self._thread, self._take, n)

    async def close(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        finally:
            self._thread.shutdown(wait=False)


# --- running a batch ---------------------------------------------------------------------------

Progress = Callable[[int], Awaitable[None]]
PROGRESS_EVERY_S = 1.0


async def _write_chunk(
    conn: asyncpg.Connection, job: IngestJob, chunk: list[Processed], report: QualityReport
) -> int:
    keys = sorted({item.match_key for item in chunk if item.match_key})
    existing = await store.records_by_keys(conn, job.collection_id, keys)
    plan = await asyncio.to_thread(plan_chunk, chunk, existing, job.batch_id, report)
    new_ids = await store.insert_records(conn, job.collection_id, job.batch_id, plan.inserts)
    await store.update_records(conn, job.batch_id, plan.updates)
    await store.mark_seen(conn, job.batch_id, plan.seen, plan.described)
    changes = [(record_id, "new") for record_id in new_ids.values()]
    changes += [(u.id, "new" if u.id in plan.reinstated else "changed") for u in plan.updates]
    await store.insert_batch_records(conn, job.batch_id, changes)
    await store.insert_findings(conn, plan.findings)
    return len(chunk)


async def run(
    conn: asyncpg.Connection,
    job: IngestJob,
    collection: store.Collection,
    progress: Progress,
) -> IngestResult:
    """Process the spooled file in ONE transaction on ``conn`` (the caller's)."""
    report = QualityReport()
    processed = 0
    rest_unread_at: int | None = None
    reported = time.monotonic()
    async with conn.transaction():
        if not await store.lock_for_ingest(conn, job.collection_id):
            raise IngestFailed("another batch is being ingested into this collection")
        reader = _Reader(job)
        # While the database works on one chunk, the reader's thread reads and profiles the
        # next: the CPU-bound part and the database round trips overlap.
        ahead = reader.take(job.chunk_size)
        try:
            while chunk := await ahead:
                ahead = reader.take(job.chunk_size)
                processed += await _write_chunk(conn, job, chunk, report)
                unread = next((item for item in chunk if item.rest_unread), None)
                if unread is not None and rest_unread_at is None:
                    rest_unread_at = unread.position
                if time.monotonic() - reported >= PROGRESS_EVERY_S:
                    await progress(processed)
                    reported = time.monotonic()
        finally:
            # A worker thread cannot be cancelled: let it finish, then close the file on it.
            await asyncio.gather(ahead, return_exceptions=True)
            await asyncio.shield(reader.close())
        await progress(processed)
        # A title this batch changed and then changed back (two products of it in the file)
        # is unchanged: re-delivering a file must not move any record's datestamp.
        await store.revert_unchanged(conn, job.collection_id, job.batch_id)
        # Each title counted once as accepted, updated or unchanged, at its first product; a
        # later product of it (in a later chunk too) may change or restore its record, so
        # what the batch did to each title is read back from its recorded changes.
        titles = sum(report.outcomes.get(o, 0) for o in ("accepted", "updated", "unchanged"))
        added, changed = await store.batch_change_counts(conn, job.batch_id)
        report.outcomes["accepted"] = added
        report.outcomes["updated"] = changed
        report.outcomes["unchanged"] = max(titles - added - changed, 0)
        withdrawn_titles = 0
        rejected = report.outcomes.get("rejected", 0)
        seen_any = report.total - rejected > 0
        refusal = None
        if job.mode == "full":
            active, missing = await store.titles_missing_from(conn, job.collection_id, job.batch_id)
            refusal = domain.full_load_refusal(
                received=report.total,
                rejected=rejected,
                rest_unread_at=rest_unread_at,
                max_rejected_share=job.max_rejected_share,
                active_titles=active,
                missing_titles=missing,
                withdrawal_limit=job.withdrawal_limit,
            )
            if refusal is not None and not job.force:
                summary = report.as_dict(top=20)
                summary.update(mode=job.mode, withdrawn=0, refused=refusal)
                counts_so_far = {
                    "received": report.total,
                    **{name: report.outcomes.get(name, 0) for name in OUTCOME_NAMES},
                    "withdrawn": 0,
                    "warnings": report.records_with_warnings,
                }
                raise FullLoadRefused(refusal, counts_so_far, summary)
        if job.mode == "full" and seen_any:
            # A full load whose every record failed says nothing about what the supplier
            # still offers, so it withdraws nothing, even when forced.
            withdrawn_titles = await store.withdraw_missing(conn, job.collection_id, job.batch_id)
        # The collection's row lock orders this against a library joining or leaving at
        # the same moment, so no library misses the new records or keeps withdrawn ones.
        await store.get_collection(conn, job.collection_id, lock=True)
        gained, lost = await store.distribute_batch(conn, job.collection_id, job.batch_id)
        if collection.agreement_id is not None:
            # Titles bought before their records arrived join their holders' sets now.
            today = dt.date.today()
            for isil in await licence_store.entitled_libraries(conn, collection.agreement_id):
                more, fewer = await licence_store.refresh_library_set(
                    conn, isil, job.collection_id, today
                )
                if more:
                    gained[isil] = gained.get(isil, 0) + more
                if fewer:
                    lost[isil] = lost.get(isil, 0) + fewer
        # Kimppa sets follow their libraries' sets: new holders, lost ones, changed records.
        await kimppa_store.restamp_changed(conn, job.collection_id, job.batch_id)
        for kimppa_id in await kimppa_store.kimppas_holding(conn, job.collection_id):
            await kimppa_store.sync_kimppa_records(conn, kimppa_id, job.collection_id)
        kimppa_of = await kimppa_store.kimppas_of(conn, sorted(gained))
        in_collection = await store.active_record_count(conn, job.collection_id)
        counts = IngestCounts(
            received=report.total,
            accepted=report.outcomes.get("accepted", 0),
            updated=report.outcomes.get("updated", 0),
            unchanged=report.outcomes.get("unchanged", 0),
            duplicate=report.outcomes.get("duplicate", 0),
            rejected=report.outcomes.get("rejected", 0),
            withdrawn=withdrawn_titles,
            warnings=report.records_with_warnings,
        )
        summary = report.as_dict(top=20)
        summary["mode"] = job.mode
        summary["withdrawn"] = withdrawn_titles
        if job.mode == "full" and not seen_any:
            summary["note"] = "no usable record in a full load: nothing was withdrawn"
        if refusal is not None:
            summary["forced"] = refusal  # what the coordinator overrode
        if rest_unread_at is not None:
            summary.setdefault(
                "note",
                f"the file breaks at record {rest_unread_at}: the rest of it was not read",
            )
        await store.finish_batch(conn, job.batch_id, processed, counts.model_dump(), summary)
        await record_event(
            conn,
            TitlesIngested(
                batch_id=job.batch_id,
                collection_id=job.collection_id,
                agreement_id=collection.agreement_id,
                format=job.fmt,
                mode=job.mode,
                counts=counts,
                records_in_collection=in_collection,
            ),
        )
        for isil, count in sorted(gained.items()):
            await record_event(
                conn,
                RecordsAvailable(
                    isil=isil,
                    collection_id=job.collection_id,
                    agreement_id=collection.agreement_id,
                    title=collection.title,
                    count=count,
                    reason="titles-added",
                    oai_set=domain.harvest_set(isil, kimppa_of.get(isil)),
                ),
            )
        for isil, count in sorted(lost.items()):
            await record_event(
                conn,
                RecordsWithdrawn(
                    isil=isil,
                    collection_id=job.collection_id,
                    agreement_id=collection.agreement_id,
                    count=count,
                    reason="titles-removed",
                ),
            )
    log.info(
        "batch ingested",
        batch_id=job.batch_id,
        collection_id=job.collection_id,
        **counts.model_dump(),
    )
    return IngestResult(job.batch_id, counts, in_collection, gained, lost)
