"""Submitting a batch's new and changed records to Melinda, resumably.

A submission is one job per operation (creates, updates) with a row per record. A job runs
under a lease (so two replicas never run one job at once) and commits each step as it takes
it: the bulk job's correlation id as soon as Melinda gives it, each record as soon as it is
sent or answered. If the process dies or Melinda goes away, the lease runs out or the job is
postponed, and the next run (the scheduler's, or an explicit resume) continues from there:
records already sent are not sent again, a bulk job already opened is not opened again.

The one window left: a record sent whose "sent" mark did not commit is sent again on resume;
Melinda's duplicate detection reports the copy as DUPLICATE, and the record's result is
taken from the better of the two answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from pymarc import Field

from kit.logging import get_logger
from services.catalogue import domain, exports, store
from services.catalogue.domain import CatalogueRuleViolated
from services.catalogue.melinda import store as melinda_store
from services.catalogue.melinda.client import (
    FINAL_BULK_STATES,
    MelindaClient,
    MelindaRefused,
    MelindaUnavailable,
    Outcome,
)

log = get_logger(__name__)
PAGE = 100
RETRY_IN = dt.timedelta(seconds=30)
# When Melinda reports one record twice (a resend after a crash), the better answer wins.
PREFERENCE = ("created", "updated", "skipped", "duplicate", "invalid", "error")


@dataclass(frozen=True)
class MelindaDeps:
    client: Callable[[], MelindaClient] | None  # None: the adapter is not configured
    isil: str
    system_code: str | None = None  # SID $b
    lease: dt.timedelta = dt.timedelta(seconds=60)
    poll_interval_s: float = 2.0
    retry_in: dt.timedelta = RETRY_IN


async def create_jobs(
    pool: asyncpg.Pool, batch_id: str, mode: str, created_by: str
) -> list[dict[str, Any]]:
    async with pool.acquire() as conn, conn.transaction():
        batch = await store.get_batch(conn, batch_id)
        if batch is None:
            raise CatalogueRuleViolated(f"no batch {batch_id}", "batch_id", status=404)
        if batch["status"] != "done":
            raise CatalogueRuleViolated(
                f"batch {batch_id} is {batch['status']}; only a finished batch can be sent",
                "batch_id",
                status=409,
            )
        plan = await melinda_store.batch_plan(conn, batch_id)
        if not plan:
            raise CatalogueRuleViolated(
                f"batch {batch_id} has no new or changed records to send", "batch_id", status=409
            )
        job_ids = []
        for operation in ("create", "update"):
            if plan.get(operation):
                job_id = domain.new_id("mj")
                await melinda_store.insert_job(
                    conn,
                    job_id=job_id,
                    batch_id=batch_id,
                    mode=mode,
                    operation=operation,
                    created_by=created_by,
                )
                job_ids.append(job_id)
    return [job for job_id in job_ids if (job := await melinda_store.get_job(pool, job_id))]


def prepared(deps: MelindaDeps, job: dict[str, Any], item: melinda_store.JobRecord) -> Any:
    record = exports.melinda_record(
        item.marc,
        record_id=item.record_id,
        isil=deps.isil,
        corrected=job["operation"] == "update",
        system_code=deps.system_code,
    )
    if job["operation"] == "update" and item.melinda_id:
        # Melinda updates by its own control number, in 001 for bulk and the URL for single.
        record.add_ordered_field(Field(tag="001", data=item.melinda_id))
    return record


async def run_job(pool: asyncpg.Pool, deps: MelindaDeps, job_id: str) -> str | None:
    """Run (or resume) a job as far as it goes now; returns its status, or None when another
    process holds it."""
    if deps.client is None:
        return None
    job = await melinda_store.claim(pool, job_id, deps.lease)
    if job is None:
        return None
    client = deps.client()
    try:
        if job["mode"] == "single":
            await _run_single(pool, deps, client, job)
        else:
            await _run_bulk(pool, deps, client, job)
        await melinda_store.finish(pool, job_id)
    except MelindaUnavailable as error:
        log.warning("melinda unavailable; job postponed", job_id=job_id, error=str(error))
        await melinda_store.postpone(pool, job_id, str(error), deps.retry_in)
    except MelindaRefused as error:
        log.warning("melinda refused the job", job_id=job_id, error=str(error))
        await melinda_store.finish(pool, job_id, "failed", str(error))
    except asyncio.CancelledError:
        # The process is stopping: let the next run take over at once.
        await asyncio.shield(melinda_store.release(pool, job_id))
        raise
    finally:
        await client.aclose()
    done = await melinda_store.get_job(pool, job_id)
    return done["status"] if done else None


async def _run_single(
    pool: asyncpg.Pool, deps: MelindaDeps, client: MelindaClient, job: dict[str, Any]
) -> None:
    # 'sent' can only be left over from a bulk attempt; single mode answers each at once.
    while items := await melinda_store.records_in_status(pool, job["id"], "pending", PAGE):
        for item in items:
            record = prepared(deps, job, item)
            if job["operation"] == "update" and item.melinda_id:
                outcome = await client.update(item.melinda_id, record)
            else:
                outcome = await client.create(record)
            async with pool.acquire() as conn:
                await melinda_store.set_result(
                    conn,
                    job["id"],
                    item.record_id,
                    outcome.status,
                    outcome.melinda_id,
                    outcome.message,
                )
        await melinda_store.renew(pool, job["id"], deps.lease)


async def _run_bulk(
    pool: asyncpg.Pool, deps: MelindaDeps, client: MelindaClient, job: dict[str, Any]
) -> None:
    correlation_id = job["remote_id"]
    stage = job["stage"]
    if correlation_id is None:
        correlation_id = await client.open_bulk(job["operation"])
        stage = "sending"
        await melinda_store.set_stage(pool, job["id"], stage, remote_id=correlation_id)
    if stage in ("start", "sending"):
        while items := await melinda_store.records_in_status(pool, job["id"], "pending", PAGE):
            for item in items:
                try:
                    await client.add_to_bulk(correlation_id, prepared(deps, job, item))
                except MelindaRefused as error:
                    # Melinda would not take this one record into the job: say so, go on.
                    status = "invalid" if error.status in (400, 422) else "error"
                    async with pool.acquire() as conn:
                        await melinda_store.set_result(
                            conn, job["id"], item.record_id, status, None, error.message
                        )
                    continue
                await melinda_store.mark_sent(pool, job["id"], item.record_id)
            await melinda_store.renew(pool, job["id"], deps.lease)
        await client.close_bulk(correlation_id)
        stage = "waiting"
        await melinda_store.set_stage(pool, job["id"], stage)
    state = await client.bulk_state(correlation_id)
    while state not in FINAL_BULK_STATES:
        await melinda_store.set_stage(pool, job["id"], stage, remote_state=state)
        await melinda_store.renew(pool, job["id"], deps.lease)
        await asyncio.sleep(deps.poll_interval_s)
        state = await client.bulk_state(correlation_id)
    await melinda_store.set_stage(pool, job["id"], "collecting", remote_state=state)
    own = f"({deps.isil})"
    best: dict[int, Outcome] = {}
    for result in await client.bulk_results(correlation_id):
        for source_id in result.source_ids:
            if not source_id.startswith(own) or not source_id[len(own) :].isdigit():
                continue
            record_id = int(source_id[len(own) :])
            known = best.get(record_id)
            if known is None or PREFERENCE.index(result.outcome.status) < PREFERENCE.index(
                known.status
            ):
                best[record_id] = result.outcome
    async with pool.acquire() as conn:
        for record_id, outcome in best.items():
            await melinda_store.set_result(
                conn, job["id"], record_id, outcome.status, outcome.melinda_id, outcome.message
            )
    await melinda_store.unreported(pool, job["id"])


async def resume_due(pool: asyncpg.Pool, deps: MelindaDeps) -> int:
    """The scheduler's part: run every job that is waiting and not leased."""
    if deps.client is None:
        return 0
    ran = 0
    for job_id in await melinda_store.due_jobs(pool):
        if await run_job(pool, deps, job_id) is not None:
            ran += 1
    return ran


async def submit_record(
    pool: asyncpg.Pool, deps: MelindaDeps, record_id: int
) -> tuple[Outcome, str]:
    """Create or update one record in Melinda now (a cataloguer's correction)."""
    if deps.client is None:
        raise CatalogueRuleViolated("the Melinda adapter is not configured", "melinda", 503)
    row = await store.get_record(pool, record_id)
    if row is None:
        raise CatalogueRuleViolated(f"no record {record_id}", "record_id", status=404)
    if row["deleted"]:
        raise CatalogueRuleViolated(f"record {record_id} is withdrawn", "record_id", status=409)
    melinda_id = await melinda_store.melinda_id_of(pool, record_id)
    operation = "update" if melinda_id else "create"
    item = melinda_store.JobRecord(record_id, 1, melinda_id, row["marc"])
    record = prepared(deps, {"operation": operation}, item)
    client = deps.client()
    try:
        outcome = (
            await client.update(melinda_id, record) if melinda_id else await client.create(record)
        )
    finally:
        await client.aclose()
    if outcome.status in ("created", "updated") and outcome.melinda_id:
        await melinda_store.link(pool, record_id, outcome.melinda_id)
    return outcome, operation
