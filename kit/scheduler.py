"""Periodic jobs: each runs in its own task until the service stops, a failure logged and the
next round tried on time (a job that raises must not stop the others or the service)."""

from __future__ import annotations

import asyncio
import contextlib

from kit.logging import get_logger
from kit.runtime import PeriodicJob, Runtime

log = get_logger(__name__)


async def run_periodically(runtime: Runtime, job: PeriodicJob) -> None:
    interval = job.interval_s or runtime.settings.scheduler_interval_s
    while not runtime.stopping.is_set():
        try:
            await job.run(runtime)
        except Exception as error:
            log.warning("periodic job failed", job=job.name, error=repr(error))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runtime.stopping.wait(), timeout=interval)


def start_jobs(runtime: Runtime, jobs: list[PeriodicJob]) -> None:
    runtime.tasks.extend(
        asyncio.create_task(run_periodically(runtime, job), name=job.name) for job in jobs
    )
