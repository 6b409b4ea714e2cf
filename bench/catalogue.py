"""Benchmark 3, catalogue ingest: MARC 21 records parsed, validated, normalised, deduplicated and
stored by the catalogue service's own command path (``commands.open_batch`` and
``commands.run_batch``: ``pipeline.process_stream`` in a worker thread, the dedup plan, and the
set-based writes of ``store``, all in one transaction, as an upload does after spooling).

The file comes from ``bench.marc_generator`` plus 1 % repeated titles (the same ISBN again with
other random content), so the dedup path does real merges.

Reference, same file, same run: pymarc's bare parse (``MARCReader`` with the reader options the
service uses, iterating the records and nothing else).

A further case, pathological titles: the consortium profile over records whose 16,000-character
titles end in thousands of ISBD separators and periods, against the same records with plain
titles of the same length (the reference), in the same run. Linear normalisation keeps the
ratio near 1; the former trimming loop was quadratic and made it hundreds.

The ingest runs in a process of its own, so its peak memory (``ru_maxrss``, which includes the
interpreter and every import) is its own; the file is written and parsed by another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import shutil
import time
from pathlib import Path
from typing import Any

from pymarc import Field, Indicators, MARCReader, Record, Subfield

from bench import marc_generator
from bench.infra import BenchInfra
from bench.procs import Child, children, command, emit
from bench.report import Row
from kit.db import apply_migrations, create_pool
from kit.gc_tuning import tune_gc
from services.catalogue import commands, domain, ingest
from services.catalogue.profile import apply_profile
from services.catalogue.settings import CatalogueSettings

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "catalogue" / "migrations"
DUPLICATE_SHARE = 0.01
GOAL_RATIO = 0.3
GOAL_RSS_MB = 300
PATHOLOGICAL_RECORDS = 300
PATHOLOGICAL_LENGTH = 16_000
GOAL_PATHOLOGICAL_RATIO = 5.0


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- children -------------------------------------------------------------------------------


def marc_prepare(args: dict[str, Any]) -> None:
    """Write the file, then time pymarc's bare parse of it (the reference)."""
    count, path = args["count"], Path(args["path"])
    rng = random.Random(7)
    repeats = sorted(rng.sample(range(count), int(count * DUPLICATE_SHARE)))
    emit("ready")
    written = 0
    with path.open("wb") as out:
        for record in marc_generator.generate(count, seed=0):
            out.write(record.as_marc())
            written += 1
            if written % 2_000 == 0:
                emit("progress", n=written)
        for number in repeats:  # the same title again, from another supplier feed
            out.write(marc_generator.generate_record(number, rng).as_marc())
    emit("generated", records=count + len(repeats), repeats=len(repeats), bytes=path.stat().st_size)

    started, cpu_started = time.perf_counter(), time.process_time()
    parsed = 0
    with path.open("rb") as stream:
        reader = MARCReader(
            stream, to_unicode=True, force_utf8=True, utf8_handling="replace", permissive=True
        )
        for record in reader:
            parsed += record is not None
            if parsed % 5_000 == 0:
                emit("progress", n=parsed)
    emit(
        "done",
        records=parsed,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu_started,
    )


async def catalogue_ingest(args: dict[str, Any]) -> None:
    pool = await create_pool(args["dsn"], max_size=4)
    await apply_migrations(pool, MIGRATIONS)
    collection = await commands.create_collection(
        pool,
        collection_id=None,
        title="Benchmark e-books",
        supplier="Esimerkkijakelu Oy",
        product="E-kirjat",
        material_types=["e-book", "e-audiobook"],
        created_by="bench",
    )
    job = ingest.IngestJob(
        batch_id=domain.new_id("batch"),
        collection_id=collection.id,
        fmt="marc",
        mode="full",
        path=Path(args["path"]),
        language=None,
        url_template=None,
        chunk_size=CatalogueSettings().catalogue_chunk_size,
    )
    source = Path(args["path"])
    await commands.open_batch(
        pool,
        job,
        filename=source.name,
        size_bytes=args["size"],
        sha256="0" * 64,
        created_by="bench",
    )
    tune_gc()  # as the catalogue service's start-up does (kit/app.py)
    rss_before = _peak_rss_mb()
    emit("ready")

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(0.3)
            processed = await pool.fetchval(
                "SELECT processed FROM batches WHERE id = $1", job.batch_id
            )
            emit("progress", n=processed or 0)

    reporter = asyncio.create_task(report_progress())
    started, cpu_started = time.perf_counter(), time.process_time()
    batch = await commands.run_batch(pool, job, collection)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started  # every thread of this process
    reporter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reporter
    stored = await pool.fetchval(
        "SELECT count(*) FROM records WHERE collection_id = $1", collection.id
    )
    emit(
        "done",
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        status=(batch or {}).get("status"),
        counts=(batch or {}).get("counts"),
        stored=stored,
        peak_rss_mb=_peak_rss_mb(),
        rss_before_mb=rss_before,
    )
    # The pool's PostgreSQL backends stay until the parent has read their CPU time (a backend
    # that exits takes its CPU time out of the server's total).
    await command()
    await pool.close()


# --- parent ---------------------------------------------------------------------------------


def _titled(number: int, title: str) -> Record:
    record = marc_generator.generate_record(number, random.Random(number))
    record.remove_fields("245")
    record.add_ordered_field(
        Field(tag="245", indicators=Indicators("1", "0"), subfields=[Subfield("a", title)])
    )
    return record


def pathological_titles() -> dict[str, Any]:
    """CPU seconds of the profile over records with pathological titles, and over the same
    records with plain titles of the same length (the reference); best of three each."""
    n = PATHOLOGICAL_LENGTH
    shapes = ("Otsikko" + " /" * (n // 2), "Otsikko" + "," * n, "Otsikko" + " ." * (n // 2))
    plain = "Otsikko " + "sana " * (n // 5)

    def best(titles: list[str]) -> float:
        runs = []
        for _ in range(3):
            records = [_titled(i, title) for i, title in enumerate(titles)]
            started = time.process_time()
            for record in records:
                apply_profile(record, "bench", in_place=True)
            runs.append(time.process_time() - started)
        return min(runs)

    bad = [shapes[i % len(shapes)] for i in range(PATHOLOGICAL_RECORDS)]
    pathological = best(bad)
    reference = best([plain] * PATHOLOGICAL_RECORDS)
    return {
        "records": PATHOLOGICAL_RECORDS,
        "title_chars": n,
        "seconds": round(pathological, 3),
        "reference_seconds": round(reference, 3),
        "ratio": round(pathological / reference, 2) if reference else None,
    }


async def _follow(child: Child, key: str, total: int, progress: Any, timeout_s: float) -> dict:
    done = asyncio.create_task(child.expect("done", timeout_s))
    while not done.done():
        progress(key, child.progress.get("n", 0), total)
        await asyncio.wait({done}, timeout=0.2)
    progress(key, total, total)
    return done.result()


async def run(infra: BenchInfra, count: int, progress: Any) -> dict[str, Any]:
    logs = infra.path("logs")
    path = infra.path("titles.mrc")
    preparer = await Child.start("marc-prepare", {"count": count, "path": str(path)}, logs)
    async with children(preparer):
        await preparer.expect("ready", 60)
        generating = asyncio.create_task(preparer.expect("generated", 600))
        while not generating.done():
            progress("MARC generate", preparer.progress.get("n", 0), count)
            await asyncio.wait({generating}, timeout=0.2)
        generated = generating.result()
        progress("MARC generate", count, count)
        total = generated["records"]
        parsed = await _follow(preparer, "pymarc parse (reference)", total, progress, 600)

    # run_batch removes its input when done, as it does with a spooled upload.
    spooled = infra.path("spool-titles.mrc")
    await asyncio.to_thread(shutil.copyfile, path, spooled)
    dsn = await infra.new_database("bench_catalogue")
    ingester = await Child.start(
        "catalogue-ingest",
        {"dsn": dsn, "path": str(spooled), "size": generated["bytes"]},
        logs,
    )
    async with children(ingester):
        await ingester.expect("ready", 120)
        meter = infra.meter()
        meter.watch("ingest", ingester.pid)
        before, clock = meter.sample(), time.monotonic()
        ingested = await _follow(ingester, "catalogue ingest", total, progress, 1200)
        cpu = meter.since(before, meter.sample(), time.monotonic() - clock)

    reference_per_s = parsed["records"] / parsed["seconds"]
    per_s = total / ingested["seconds"]
    progress("pathological titles", 0, 1)
    titles = await asyncio.to_thread(pathological_titles)
    progress("pathological titles", 1, 1)
    return {
        "pathological_titles": titles,
        "records": total,
        "repeated_titles": generated["repeats"],
        "file_mb": round(generated["bytes"] / 2**20, 1),
        "reference": {
            "records": parsed["records"],
            "seconds": round(parsed["seconds"], 2),
            "per_s": round(reference_per_s),
        },
        "ingest": {
            "status": ingested["status"],
            "counts": ingested["counts"],
            "stored": ingested["stored"],
            "seconds": round(ingested["seconds"], 2),
            "per_s": round(per_s),
            "peak_rss_mb": round(ingested["peak_rss_mb"], 1),
            "rss_before_mb": round(ingested["rss_before_mb"], 1),
        },
        "ratio": round(per_s / reference_per_s, 3),
        # CPU time per record, which moves less with the machine's other load than the rates:
        # the ingest process (all its threads) and PostgreSQL's share, against pymarc's parse.
        "cpu_us_per_record": {
            "pymarc_parse": round(parsed["cpu_seconds"] * 1e6 / parsed["records"], 1),
            "ingest_process": round(ingested["cpu_seconds"] * 1e6 / total, 1),
            "postgres": round(cpu.get("postgres", 0) * ingested["seconds"] * 1e6 / total, 1),
        },
        "cpu_ratio": round(
            parsed["cpu_seconds"] / parsed["records"] / (ingested["cpu_seconds"] / total), 3
        ),
        "cpu_cores_during_ingest": cpu,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    ingest_figures = result["ingest"]
    counts = ingest_figures["counts"] or {}
    return [
        Row(
            benchmark="3 catalogue",
            figure=f"MARC 21 ingest records/s ({result['records']:,} records)",
            value=ingest_figures["per_s"],
            unit="/s",
            reference="pymarc bare parse",
            reference_value=result["reference"]["per_s"],
            ratio=result["ratio"],
            goal=f"≥ {GOAL_RATIO} of pymarc",
            met=result["ratio"] >= GOAL_RATIO and ingest_figures["status"] == "done",
            note=(
                f"accepted {counts.get('accepted', 0):,} · duplicate "
                f"{counts.get('duplicate', 0):,} · rejected {counts.get('rejected', 0):,} · "
                f"stored {ingest_figures['stored']:,}"
                + (
                    f" · CPU per record: ingest process "
                    f"{result['cpu_us_per_record']['ingest_process']} µs, pymarc parse "
                    f"{result['cpu_us_per_record']['pymarc_parse']} µs (ratio "
                    f"{result['cpu_ratio']}), PostgreSQL "
                    f"{result['cpu_us_per_record']['postgres']} µs"
                    if "cpu_ratio" in result
                    else ""
                )
            ),
        ),
        Row(
            benchmark="3 catalogue",
            figure="ingest peak memory (RSS of the process)",
            value=ingest_figures["peak_rss_mb"],
            unit="MB",
            goal=f"< {GOAL_RSS_MB} MB",
            met=ingest_figures["peak_rss_mb"] < GOAL_RSS_MB,
            note=f"{ingest_figures['rss_before_mb']:.0f} MB before the batch started",
        ),
        *_pathological_rows(result),
    ]


def _pathological_rows(result: dict[str, Any]) -> list[Row]:
    titles = result.get("pathological_titles")
    if not titles or titles["ratio"] is None:
        return []
    return [
        Row(
            benchmark="3 catalogue",
            figure=(
                f"profile CPU, pathological {titles['title_chars']:,}-character titles "
                f"({titles['records']} records)"
            ),
            value=titles["seconds"],
            unit="s",
            reference="same records, plain titles of the same length",
            reference_value=titles["reference_seconds"],
            ratio=titles["ratio"],
            goal=f"≤ {GOAL_PATHOLOGICAL_RATIO} × plain (linear)",
            met=titles["ratio"] <= GOAL_PATHOLOGICAL_RATIO,
            note="titles ending in thousands of ISBD separators, commas or spaced periods",
        )
    ]


CHILDREN = {"marc-prepare": marc_prepare, "catalogue-ingest": catalogue_ingest}
