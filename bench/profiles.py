"""Summaries of the py-spy profiles a ``--profile`` run leaves: per worker role, the functions
with the most samples on top of the stack (where the time is spent) and in it (what it is
spent under). py-spy's raw format is one collapsed stack per line with its sample count."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

TOP = 15
# "pipeline-consumer-3.txt" → "pipeline-consumer"
ROLE = re.compile(r"^(?P<role>.+)-\d+$")


def summarise(directory: Path) -> dict[str, Any]:
    by_role: dict[str, tuple[Counter[str], Counter[str], int]] = {}
    for path in sorted(directory.glob("*.txt")):
        match = ROLE.match(path.stem)
        role = match["role"] if match else path.stem
        own, under, total = by_role.get(role, (Counter(), Counter(), 0))
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            frames = stack.split(";")
            if any("importlib._bootstrap" in frame for frame in frames):
                continue  # start-up imports, not the work measured
            total += samples
            own[_short(frames[-1])] += samples
            for frame in {_short(f) for f in frames}:
                under[frame] += samples
        by_role[role] = (own, under, total)
    return {
        role: {
            "samples": total,
            "self": [
                {"share": round(n / total, 3), "frame": frame} for frame, n in own.most_common(TOP)
            ],
            "inclusive": [
                {"share": round(n / total, 3), "frame": frame}
                for frame, n in under.most_common(TOP * 3)
                if not _plumbing(frame)
            ][:TOP],
        }
        for role, (own, under, total) in by_role.items()
        if total
    }


def _short(frame: str) -> str:
    # "decode (kit/envelope.py:93)" with site-packages paths cut to the package.
    return re.sub(r"\(.*?site-packages/", "(", frame)


def _plumbing(frame: str) -> bool:
    """Frames every stack shares (the interpreter's and the event loop's)."""
    return any(
        marker in frame
        for marker in ("runpy", "asyncio/", "bench/worker.py", "<module>", "threading.py")
    )
