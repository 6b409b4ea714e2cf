"""Benchmark 4, ONIX 3.0 conversion: ``formats.read_onix`` (streaming iterparse, each
<Product> converted to a MARC 21 record by ``services/catalogue/formats/onix.py``) over a generated
supplier file (``bench.onix_generator``), and the whole ONIX path of the ingest pipeline
(``pipeline.process_stream``: conversion plus the consortium profile) as a second figure.

Reference, same file, same run, same process: lxml's bare ``iterparse`` of the <Product>
elements, clearing each as the service's reader does, converting nothing.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from lxml import etree

from bench import onix_generator
from bench.infra import BenchInfra
from bench.procs import Child, children, emit
from bench.report import Row
from services.catalogue.formats.readers import ParseFailure, read_onix
from services.catalogue.pipeline import process_stream

URL_TEMPLATE = "https://lainaa.example.fi/kirja/{isbn}"
PRODUCT = f"{{{onix_generator.NAMESPACE}}}Product"
GOAL_RATIO = 0.2  # conversions/s against the bare parse


def _bare_parse(path: Path) -> int:
    count = 0
    with path.open("rb") as stream:
        for _, element in etree.iterparse(stream, events=("end",), tag=PRODUCT):
            count += 1
            element.clear(keep_tail=False)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    return count


def _convert(path: Path) -> tuple[int, int]:
    records = failures = 0
    with path.open("rb") as stream:
        for item in read_onix(stream, url_template=URL_TEMPLATE):
            if isinstance(item, ParseFailure):
                failures += 1
            else:
                records += 1
    return records, failures


def _pipeline(path: Path) -> tuple[int, int]:
    accepted = rejected = 0
    with path.open("rb") as stream:
        for item in process_stream(
            stream, "onix", collection_code="bench", url_template=URL_TEMPLATE
        ):
            if item.accepted:
                accepted += 1
            else:
                rejected += 1
    return accepted, rejected


def _timed(work: Any, path: Path) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work(path)
    return result, time.perf_counter() - started


def onix_convert(args: dict[str, Any]) -> None:
    """Generate, then measure the three passes one after the other in this process."""
    path, count = Path(args["path"]), args["count"]
    emit("ready")
    onix_generator.write_file(path, count)
    emit("progress", n=1)
    parsed, parse_s = _timed(_bare_parse, path)
    emit("progress", n=2)
    (records, failures), convert_s = _timed(_convert, path)
    emit("progress", n=3)
    (accepted, rejected), pipeline_s = _timed(_pipeline, path)
    emit(
        "done",
        products=parsed,
        file_mb=round(path.stat().st_size / 2**20, 1),
        parse_s=parse_s,
        records=records,
        failures=failures,
        convert_s=convert_s,
        accepted=accepted,
        rejected=rejected,
        pipeline_s=pipeline_s,
    )


async def run(infra: BenchInfra, count: int, progress: Any) -> dict[str, Any]:
    child = await Child.start(
        "onix-convert",
        {"path": str(infra.path("titles.onix.xml")), "count": count},
        infra.path("logs"),
    )
    async with children(child):
        await child.expect("ready", 60)
        done = asyncio.create_task(child.expect("done", 900))
        while not done.done():
            progress("ONIX generate/parse/convert", child.progress.get("n", 0), 4)
            await asyncio.wait({done}, timeout=0.2)
        result = done.result()
    progress("ONIX generate/parse/convert", 4, 4)
    products = result["products"]
    reference_per_s = products / result["parse_s"]
    convert_per_s = products / result["convert_s"]
    pipeline_per_s = products / result["pipeline_s"]
    return {
        "products": products,
        "file_mb": result["file_mb"],
        "reference": {"seconds": round(result["parse_s"], 2), "per_s": round(reference_per_s)},
        "convert": {
            "records": result["records"],
            "refused": result["failures"],
            "seconds": round(result["convert_s"], 2),
            "per_s": round(convert_per_s),
        },
        "pipeline": {
            "accepted": result["accepted"],
            "rejected": result["rejected"],
            "seconds": round(result["pipeline_s"], 2),
            "per_s": round(pipeline_per_s),
        },
        "ratio": round(convert_per_s / reference_per_s, 3),
        "pipeline_ratio": round(pipeline_per_s / reference_per_s, 3),
    }


def rows(result: dict[str, Any]) -> list[Row]:
    reference = result["reference"]["per_s"]
    return [
        Row(
            benchmark="4 ONIX",
            figure=f"ONIX 3.0 → MARC 21 records/s ({result['products']:,} products)",
            value=result["convert"]["per_s"],
            unit="/s",
            reference="lxml bare iterparse",
            reference_value=reference,
            ratio=result["ratio"],
            goal=f"≥ {GOAL_RATIO} of lxml",
            met=result["ratio"] >= GOAL_RATIO,
            note=(
                f"{result['convert']['records']:,} converted · "
                f"{result['convert']['refused']:,} refused (printed books)"
            ),
        ),
        Row(
            benchmark="4 ONIX",
            figure="ONIX → profile (process_stream)",
            value=result["pipeline"]["per_s"],
            unit="/s",
            reference="lxml bare iterparse",
            reference_value=reference,
            ratio=result["pipeline_ratio"],
        ),
    ]


CHILDREN = {"onix-convert": onix_convert}
