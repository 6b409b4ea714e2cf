"""Entry point of a benchmark child process: ``python -m bench.worker ROLE JSON``.

Only the module that defines the role is imported: a child's start-up (interpreter and imports,
a few seconds on a busy 2-core machine) should not pay for every other benchmark's imports."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from bench.procs import emit

Role = Callable[[dict[str, Any]], Awaitable[None] | None]

MODULES: dict[str, str] = {
    "raw-produce": "bench.pipeline",
    "raw-consume": "bench.pipeline",
    "pipeline-service": "bench.pipeline",
    "pipeline-consumer": "bench.pipeline",
    "minimum-writer": "bench.pipeline_minimum",
    "minimum-consumer": "bench.pipeline_minimum",
    "http-load": "bench.latency",
    "kit-load": "bench.latency",
    "command-bare": "bench.command",
    "command-http": "bench.command",
    "marc-prepare": "bench.catalogue",
    "catalogue-ingest": "bench.catalogue",
    "onix-convert": "bench.onix",
    "outreach-fanout": "bench.outreach",
    "coldstart": "bench.coldstart",
    "usage-bench": "bench.usage",
}


# Hand-written references that run on the loop the services run on (uvicorn picks uvloop).
ON_UVLOOP = {"command-bare"}


def role(name: str) -> Role:
    return importlib.import_module(MODULES[name]).CHILDREN[name]


def main() -> int:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    try:
        work = role(name)
        if asyncio.iscoroutinefunction(work):
            run = uvloop.run if name in ON_UVLOOP else asyncio.run
            run(work(args))
        else:
            work(args)  # CPU-bound work with no I/O to wait for
    except Exception as error:
        traceback.print_exc()
        emit("error", error=f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
