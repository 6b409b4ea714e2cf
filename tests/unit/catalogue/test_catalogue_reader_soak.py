"""Soak: the ingest's reader (``ingest._Reader``) run many times at once over whole and broken
ONIX files, the way concurrent batches run it, in a child process so that a native crash
(``free(): invalid pointer``, SIGABRT) fails this test with the faulthandler's trace instead of
taking pytest down.

lxml's parser and elements belong to the thread that made them. The reader used to advance one
iterparse from whichever worker thread was free; that aborted the process within a few dozen
loads of this shape. Now each batch's file is parsed, converted and closed on one thread."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROUNDS = 6
PRODUCTS = 200

SCRIPT = f"""
import asyncio, gc
from pathlib import Path
from bench.onix_generator import generate
from services.catalogue.ingest import IngestJob, _Reader

folder = Path(FOLDER)
whole = "".join(generate({PRODUCTS}, seed=5)).encode()
paths = {{
    "whole": folder / "whole.xml",
    "cut": folder / "cut.xml",
    "print": folder / "print.xml",
}}
paths["whole"].write_bytes(whole)
paths["cut"].write_bytes(whole[: len(whole) * 2 // 3])
# Every product a printed book: the converter rejects them all.
paths["print"].write_bytes(whole.replace(b"<ProductForm>EB<", b"<ProductForm>BC<")
                                .replace(b"<ProductForm>AJ<", b"<ProductForm>BC<"))

async def load(path: Path, stop_after: int | None) -> int:
    job = IngestJob("b", "c", "onix", "full", path, None, "https://x.example/{{isbn}}", 40)
    reader = _Reader(job)
    seen = 0
    try:
        while chunk := await reader.take(40):
            seen += len(chunk)
            await asyncio.to_thread(gc.collect)  # another thread frees what it can
            if stop_after is not None and seen >= stop_after:
                break  # an interrupted batch: the parser is dropped unfinished
    finally:
        await reader.close()
    return seen

async def main() -> None:
    for round_ in range({ROUNDS}):
        counts = await asyncio.gather(
            load(paths["print"], None),
            load(paths["whole"], None),
            load(paths["cut"], None),
            load(paths["whole"], 80 + round_),
        )
        assert counts[1] == {PRODUCTS}, counts
    print("soak ok")

asyncio.run(main())
"""


def test_concurrent_readers_over_whole_and_broken_onix_never_crash(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", SCRIPT.replace("FOLDER", repr(str(tmp_path)))],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "soak ok" in result.stdout
