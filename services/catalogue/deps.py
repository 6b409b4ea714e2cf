"""What the catalogue's routes and jobs need besides the pool, built once in ``app.py`` and kept
as the runtime's dependencies; and a helper for work that outlives its request."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request

from kit.app import Runtime, runtime_of
from services.catalogue.melinda.jobs import MelindaDeps
from services.catalogue.settings import CatalogueSettings


@dataclass(frozen=True)
class CatalogueDeps:
    settings: CatalogueSettings
    melinda: MelindaDeps
    spool_dir: Path
    oai_token_key: bytes = b""  # signs OAI-PMH resumption tokens


def deps_of(request: Request) -> CatalogueDeps:
    return runtime_of(request).deps_as(CatalogueDeps)


def spawn(runtime: Runtime, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    """Run ``work`` in the background as one of the runtime's tasks, so that a graceful
    shutdown cancels it (an ingest then rolls back and its batch says it was interrupted)."""
    task = asyncio.create_task(work, name=name)
    runtime.tasks.append(task)

    def forget(done: asyncio.Task[Any]) -> None:
        if done in runtime.tasks:
            runtime.tasks.remove(done)

    task.add_done_callback(forget)
    return task
