"""Catalogue ingest benchmark: a large MARC 21 file through the running service's HTTP API.

    python -m bench.catalogue_ingest                 # 100,000 records
    python -m bench.catalogue_ingest 20000 --out results/catalogue.json

What it does, all on this machine:
1. generates N realistic e-book records (bench/marc_generator.py) as one ISO 2709 file;
2. measures pymarc's bare parse rate of that file (MARCReader, nothing else) in this run,
   before, between and after the loads (the best of the three is the reference), so the
   ingest rate can be read as a ratio that depends less on the machine and its load;
3. starts an embedded PostgreSQL and the catalogue service as its own process
   (``konsortio run catalogue``; no broker is needed: its events wait in the outbox);
4. uploads the file as a raw body (streamed from disk) into a collection and waits for the
   batch, then uploads it again in full mode (every record unchanged: the re-ingest path);
5. reports records/s of each load (server-side: batch created → finished), the ratio to
   pymarc's bare parse rate, and the service process's peak resident memory (VmHWM), which
   must stay under 300 MB however large the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pymarc import MARCReader

from bench.marc_generator import write_file
from kit.auth import Role, generate_keypair, issue_token
from konsortio.stack import EmbeddedPostgres

BUDGET_MB = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bare_parse_rate(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with path.open("rb") as stream:
        count = sum(1 for _ in MARCReader(stream, to_unicode=True, force_utf8=True))
    return count, count / (time.perf_counter() - started)


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """VmHWM: the process's peak resident memory so far; VmRSS: now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def wait_live(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the catalogue service exited ({process.returncode})")
        try:
            if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the catalogue service did not come up")


def _chunks(path: Path) -> Any:
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            yield chunk


def load(client: httpx.Client, path: Path, collection: str, mode: str) -> dict[str, Any]:
    response = client.post(
        "/batches",
        params={"collection": collection, "mode": mode},
        content=_chunks(path),
        headers={"Content-Type": "application/marc"},
    )
    response.raise_for_status()
    batch = response.json()
    while batch["status"] == "processing":
        time.sleep(0.5)
        batch = client.get(f"/batches/{batch['id']}").json()
    if batch["status"] != "done":
        raise RuntimeError(f"batch failed: {batch['error']}")
    seconds = (
        datetime.fromisoformat(batch["finished_at"]) - datetime.fromisoformat(batch["created_at"])
    ).total_seconds()
    return {"batch": batch["id"], "counts": batch["counts"], "seconds": round(seconds, 2)}


def run(count: int, workdir: Path) -> dict[str, Any]:
    titles = workdir / "titles.mrc"
    print(f"generating {count:,} records…", file=sys.stderr)
    write_file(titles, count)
    parsed, bare_before = bare_parse_rate(titles)
    assert parsed == count
    postgres = EmbeddedPostgres(workdir / "pg")
    postgres.start()
    process: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(postgres.create_databases(["bench_catalogue"]))
        private_key, public_key = generate_keypair()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KONSORTIO_")}
        env.update(
            {
                "KONSORTIO_DATABASE_URL": postgres.dsn("bench_catalogue"),
                "KONSORTIO_HTTP_PORT": str(port),
                "KONSORTIO_JWT_PUBLIC_KEY": public_key,
                # Nothing listens there: the service keeps its events in the outbox.
                "KONSORTIO_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                "KONSORTIO_CATALOGUE_SPOOL_DIR": str(workdir / "spool"),
                "KONSORTIO_LOG_LEVEL": "WARNING",
            }
        )
        with (workdir / "catalogue.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "konsortio.cli", "run", "catalogue"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        wait_live(url, process)
        baseline = rss_mb(process.pid)
        token = issue_token(private_key, role=Role.CATALOGUER)
        with httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60, read=3600),
        ) as client:
            client.post(
                "/collections", json={"id": "bench", "title": "Benchmark"}
            ).raise_for_status()
            print("first load…", file=sys.stderr)
            first = load(client, titles, "bench", "delta")
            _, bare_between = bare_parse_rate(titles)
            print("re-ingest of the same file…", file=sys.stderr)
            again = load(client, titles, "bench", "full")
        peak = rss_mb(process.pid)
        now = rss_mb(process.pid, "VmRSS")
        _, bare_after = bare_parse_rate(titles)
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        postgres.stop()
    bare_rate = max(bare_before, bare_between, bare_after)
    result = {
        "records": count,
        "file_mb": round(titles.stat().st_size / 1024 / 1024, 1),
        "pymarc_bare_parse_per_s": round(bare_rate),
        "pymarc_bare_parse_samples": [round(r) for r in (bare_before, bare_between, bare_after)],
        "first_load": {
            **first,
            "records_per_s": round(count / first["seconds"]),
            "ratio_to_bare_parse": round(count / first["seconds"] / bare_rate, 3),
        },
        "reingest": {
            **again,
            "records_per_s": round(count / again["seconds"]),
            "ratio_to_bare_parse": round(count / again["seconds"] / bare_rate, 3),
        },
        "service_rss_mb": {
            "peak_after_start": round(baseline, 1),
            "peak": round(peak, 1),
            "at_end": round(now, 1),
        },
        "budget_mb": BUDGET_MB,
        "within_budget": peak < BUDGET_MB,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=100_000)
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="konsortio-bench-catalogue-") as tmp:
        result = run(args.count, Path(tmp))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if result["within_budget"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
