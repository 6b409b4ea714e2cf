"""Entry point of a benchmark child process: ``python -m bench.worker ROLE JSON``."""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from bench import catalogue, coldstart, latency, onix, outreach, pipeline
from bench.procs import emit

Role = Callable[[dict[str, Any]], Awaitable[None] | None]


def roles() -> dict[str, Role]:
    return {
        **pipeline.CHILDREN,
        **latency.CHILDREN,
        **catalogue.CHILDREN,
        **onix.CHILDREN,
        **outreach.CHILDREN,
        **coldstart.CHILDREN,
    }


def main() -> int:
    role, args = sys.argv[1], json.loads(sys.argv[2])
    try:
        work = roles()[role]
        if asyncio.iscoroutinefunction(work):
            asyncio.run(work(args))
        else:
            work(args)  # CPU-bound work with no I/O to wait for
    except Exception as error:
        traceback.print_exc()
        emit("error", error=f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
