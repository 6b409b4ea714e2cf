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


# Which benchmark each profiled role belongs to, for the summary's headings.
PATHS = {
    "raw-produce": "1 pipeline (reference)",
    "raw-consume": "1 pipeline (reference)",
    "pipeline-service": "1 pipeline: the writer and the outbox relay",
    "pipeline-consumer": "1 pipeline / 2 latency / 7 scaling: the kit's batch consumer",
    "membership-http": "2 latency: the membership service over HTTP",
    "http-load": "2 latency: HTTP load generator",
    "kit-load": "2 latency: kit-path load generator",
    "marc-prepare": "3 catalogue: MARC generation and pymarc's bare parse (reference)",
    "catalogue-ingest": "3 catalogue: the ingest",
    "onix-convert": "4 ONIX: conversion and lxml's bare parse (reference)",
    "outreach-fanout": "5 outreach: the campaign fan-out",
    "coldstart": "6 cold start",
}


def markdown(profiles: dict[str, Any], command: str, top: int = 12) -> str:
    """The summary as a page: per profiled process, where its samples were (self) and what
    they were under (inclusive, interpreter and event-loop frames left out)."""
    lines = [
        "# Where the time goes: py-spy profiles of every benchmark process",
        "",
        f"Written by `{command}` (py-spy record, 100 Hz, every child process of the run; "
        "the figures of a profiled run carry the sampler's cost and are not the README's). "
        "Shares are of the process's samples; *self* is the frame on top of the stack, "
        "*inclusive* any frame in it. The raw numbers are in `profile.json`.",
        "",
    ]
    for role, summary in sorted(profiles.items(), key=lambda item: PATHS.get(item[0], item[0])):
        lines += [f"## {role}: {PATHS.get(role, role)}", "", f"{summary['samples']} samples.", ""]
        lines += ["| self | frame | | inclusive | frame |", "| ---: | --- | --- | ---: | --- |"]
        own, under = summary["self"][:top], summary["inclusive"][:top]
        for index in range(max(len(own), len(under))):
            left = own[index] if index < len(own) else None
            right = under[index] if index < len(under) else None
            lines.append(
                "| "
                + (f"{left['share']:.1%} | `{left['frame']}`" if left else " | ")
                + " | | "
                + (f"{right['share']:.1%} | `{right['frame']}`" if right else " | ")
                + " |"
            )
        lines.append("")
    return "\n".join(lines)
