"""Benchmark: the usage service's harvest and upload paths.

- **Harvest**: SUSHI title reports (COUNTER 5.1 JSON) for L libraries × 12 months from the
  stand-in server, through ``commands.harvest_round`` (HTTP, pydantic models, staging, digest,
  revision, outbox). Reference, same reports, same run: ``json.loads`` of the fetched bodies and
  a count of their monthly figures.
- **Upload**: a COUNTER 5.1 tabular TR (TSV, one month) of N rows through
  ``commands.ingest`` (streamed into a staging table in one transaction). Reference, same
  file, same run: ``csv.reader`` over it. The child's peak resident memory is reported: the
  upload streams, so it must stay under 300 MB whatever N is.
- **Workbook upload**: the same report as an .xlsx of N/10 rows through the same pipeline
  (openpyxl read-only, values and formulas read in lockstep). Reference, same file, same run:
  one bare openpyxl read-only pass over its values. The peak memory after it is reported too.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import resource
import time
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook, load_workbook

from bench.infra import BenchInfra
from bench.procs import Child, children, emit
from bench.report import Row
from kit.db import apply_migrations, create_pool
from services.usage import commands, store, xlsx
from services.usage.sushi import SushiClient
from services.usage.sushi_standin import SushiStandIn, isbn13

MIGRATIONS = Path(__file__).parent.parent / "services" / "usage" / "migrations"
MEMORY_GOAL_MB = 300


def _write_tsv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as out:
        out.write("Report_Name\tTitle Report\nReport_ID\tTR\nRelease\t5.1\n\n")
        out.write(
            "Title\tPublisher\tISBN\tData_Type\tAccess_Type\tMetric_Type\t"
            "Reporting_Period_Total\tJan-2025\n"
        )
        for n in range(rows):
            metric = "Total_Item_Requests" if n % 2 else "Unique_Title_Requests"
            count = n % 37
            out.write(
                f"Kirja {n // 2}\tKustantamo\t{isbn13(n // 2)}\tBook\tControlled\t{metric}\t"
                f"{count}\t{count}\n"
            )


def _write_xlsx(path: Path, rows: int) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for line in (["Report_Name", "Title Report"], ["Report_ID", "TR"], ["Release", "5.1"], []):
        sheet.append(line)
    sheet.append(
        ["Title", "Publisher", "ISBN", "Data_Type", "Access_Type", "Metric_Type",
         "Reporting_Period_Total", "Jan-2025"]
    )  # fmt: skip
    for n in range(rows):
        metric = "Total_Item_Requests" if n % 2 else "Unique_Title_Requests"
        count = n % 37
        sheet.append(
            [f"Kirja {n // 2}", "Kustantamo", isbn13(n // 2), "Book", "Controlled", metric,
             count, count]
        )  # fmt: skip
    book.save(path)


def _bare_xlsx(path: Path) -> int:
    facts = 0
    book = load_workbook(path, read_only=True, data_only=True)
    for row in book.worksheets[0].iter_rows(values_only=True):
        if len(row) == 8 and isinstance(row[7], int):
            facts += 1
    book.close()
    return facts


def _bare_csv(path: Path) -> int:
    facts = 0
    with path.open(newline="") as stream:
        for row in csv.reader(stream, delimiter="\t"):
            if len(row) == 8 and row[7].isdigit():
                facts += 1
    return facts


async def usage_bench(args: dict[str, Any]) -> None:
    dsn, path, rows, libraries = args["dsn"], Path(args["path"]), args["rows"], args["libraries"]
    pool = await create_pool(dsn, 4)
    await apply_migrations(pool, MIGRATIONS)
    emit("ready")

    # Harvest.
    standin = SushiStandIn(titles=200)
    standin.start()
    customers = {f"FI-B{n:03d}": f"cust-{n}" for n in range(libraries)}
    async with pool.acquire() as conn:
        await store.put_provider(
            conn,
            "AG-bench",
            {
                "platform": "StandIn", "release": "5.1", "base_url": standin.url,
                "requestor_id": "bench", "api_key_ref": None, "reports": ["TR"],
                "customers": customers, "price_per_loan_cents": None,
            },
        )  # fmt: skip
        periods = [dt.date(2025, m, 1) for m in range(1, 13)]
        await store.enqueue(conn, "AG-bench", sorted(customers), "TR", periods)
    client = SushiClient()
    policy = commands.HarvestPolicy(batch=50)
    started = time.perf_counter()
    while await commands.harvest_round(pool, client.report, policy):
        pass
    harvest_s = time.perf_counter() - started
    harvested = await pool.fetchval("SELECT count(*) FROM usage_facts")
    emit("progress", n=1)
    bodies = []
    async with httpx.AsyncClient() as http:
        for customer in customers.values():
            for month in range(1, 13):
                response = await http.get(
                    f"{standin.url}/reports/tr",
                    params={"customer_id": customer, "begin_date": f"2025-{month:02d}",
                            "end_date": f"2025-{month:02d}"},
                )  # fmt: skip
                bodies.append(response.content)
    await client.close()
    standin.stop()
    started = time.perf_counter()
    parsed = 0
    for body in bodies:
        for item in json.loads(body)["Report_Items"]:
            for ap in item["Attribute_Performance"]:
                for by_month in ap["Performance"].values():
                    parsed += len(by_month)
    json_s = time.perf_counter() - started
    emit("progress", n=2)

    # Upload.
    _write_tsv(path, rows)
    file_mb = round(path.stat().st_size / 2**20, 1)  # noqa: ASYNC240
    started = time.perf_counter()
    csv_facts = _bare_csv(path)
    csv_s = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    # The service reads an upload the same way: a file object, line by line.
    with path.open(newline="") as stream:  # noqa: ASYNC230 - a bench child, nothing else runs
        layout, body_rows = commands.counter_rows(stream, "\t")
        report = await commands.ingest(
            pool,
            agreement_id="AG-upload",
            isil="FI-Bup",
            report_id="TR",
            source="counter-upload",
            layout=layout,
            rows=body_rows,
        )
    upload_s = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    # Workbook upload.
    book_path = path.with_suffix(".xlsx")
    _write_xlsx(book_path, max(rows // 10, 1000))
    started = time.perf_counter()
    xlsx_bare_facts = _bare_xlsx(book_path)
    xlsx_bare_s = time.perf_counter() - started
    started = time.perf_counter()
    with book_path.open("rb") as stream:  # noqa: ASYNC230 - a bench child, nothing else runs
        layout, body_rows = commands.counter_table(xlsx.rows(stream, book_path.name))
        book_report = await commands.ingest(
            pool,
            agreement_id="AG-upload-xlsx",
            isil="FI-Bup",
            report_id="TR",
            source="counter-upload",
            layout=layout,
            rows=body_rows,
        )
    xlsx_s = time.perf_counter() - started
    xlsx_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await pool.close()
    emit(
        "done",
        harvest_jobs=libraries * 12,
        harvest_facts=harvested,
        harvest_s=harvest_s,
        json_facts=parsed,
        json_s=json_s,
        upload_rows=report.rows,
        upload_facts=report.facts,
        upload_errors=report.error_count,
        upload_s=upload_s,
        csv_facts=csv_facts,
        csv_s=csv_s,
        peak_mb=round(peak_kb / 1024, 1),
        peak_before_upload_mb=round(rss_before / 1024, 1),
        file_mb=file_mb,
        xlsx_rows=book_report.rows,
        xlsx_facts=book_report.facts,
        xlsx_errors=book_report.error_count,
        xlsx_s=xlsx_s,
        xlsx_bare_facts=xlsx_bare_facts,
        xlsx_bare_s=xlsx_bare_s,
        xlsx_mb=round(book_path.stat().st_size / 2**20, 1),  # noqa: ASYNC240
        xlsx_peak_mb=round(xlsx_peak_kb / 1024, 1),
    )


async def run(infra: BenchInfra, rows: int, libraries: int, progress: Any) -> dict[str, Any]:
    dsn = await infra.new_database("usage")
    child = await Child.start(
        "usage-bench",
        {"dsn": dsn, "path": str(infra.path("usage-tr.tsv")), "rows": rows,
         "libraries": libraries},
        infra.path("logs"),
    )  # fmt: skip
    async with children(child):
        await child.expect("ready", 120)
        done = asyncio.create_task(child.expect("done", 1800))
        while not done.done():
            progress("usage harvest/upload", child.progress.get("n", 0), 3)
            await asyncio.wait({done}, timeout=0.2)
        r = done.result()
    progress("usage harvest/upload", 3, 3)
    harvest_per_s = r["harvest_facts"] / r["harvest_s"]
    json_per_s = r["json_facts"] / r["json_s"]
    upload_per_s = r["upload_facts"] / r["upload_s"]
    csv_per_s = r["csv_facts"] / r["csv_s"]
    xlsx_per_s = r["xlsx_facts"] / r["xlsx_s"]
    xlsx_bare_per_s = r["xlsx_bare_facts"] / r["xlsx_bare_s"]
    return {
        **{k: v for k, v in r.items() if k != "event"},
        "harvest_per_s": round(harvest_per_s),
        "json_per_s": round(json_per_s),
        "harvest_ratio": round(harvest_per_s / json_per_s, 4),
        "upload_per_s": round(upload_per_s),
        "csv_per_s": round(csv_per_s),
        "upload_ratio": round(upload_per_s / csv_per_s, 4),
        "xlsx_per_s": round(xlsx_per_s),
        "xlsx_bare_per_s": round(xlsx_bare_per_s),
        "xlsx_ratio": round(xlsx_per_s / xlsx_bare_per_s, 4),
    }


def rows(result: dict[str, Any]) -> list[Row]:
    return [
        Row(
            benchmark="usage",
            figure=f"SUSHI harvest facts/s ({result['harvest_jobs']} library-months)",
            value=result["harvest_per_s"],
            unit="/s",
            reference="json.loads of the same reports",
            reference_value=result["json_per_s"],
            ratio=result["harvest_ratio"],
            note=f"{result['harvest_facts']:,} facts",
        ),
        Row(
            benchmark="usage",
            figure=f"COUNTER TSV upload facts/s ({result['upload_rows']:,} rows)",
            value=result["upload_per_s"],
            unit="/s",
            reference="csv.reader of the same file",
            reference_value=result["csv_per_s"],
            ratio=result["upload_ratio"],
            note=f"{result['file_mb']} MB file",
        ),
        Row(
            benchmark="usage",
            figure=f"peak memory, {result['upload_rows']:,}-row upload",
            value=result["peak_mb"],
            unit="MB",
            goal=f"< {MEMORY_GOAL_MB} MB",
            met=result["peak_mb"] < MEMORY_GOAL_MB,
            note=f"{result['peak_before_upload_mb']} MB before the upload",
        ),
        Row(
            benchmark="usage",
            figure=f"COUNTER .xlsx upload facts/s ({result['xlsx_rows']:,} rows)",
            value=result["xlsx_per_s"],
            unit="/s",
            reference="openpyxl read-only pass over the same file",
            reference_value=result["xlsx_bare_per_s"],
            ratio=result["xlsx_ratio"],
            note=f"{result['xlsx_mb']} MB file",
        ),
        Row(
            benchmark="usage",
            figure=f"peak memory after the {result['xlsx_rows']:,}-row .xlsx upload",
            value=result["xlsx_peak_mb"],
            unit="MB",
            goal=f"< {MEMORY_GOAL_MB} MB",
            met=result["xlsx_peak_mb"] < MEMORY_GOAL_MB,
        ),
    ]


CHILDREN = {"usage-bench": usage_bench}
