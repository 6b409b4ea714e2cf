"""The ingest streams: memory does not grow with the file. Two files, one four times the
other, are uploaded in chunks and ingested; the peak of memory Python allocates during the
larger one stays close to the smaller one's. (The 100,000-record measurement of the whole
process, against the 300 MB budget, is bench/catalogue_ingest.py.)"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.marc_generator import write_file
from tests.conftest import Infra
from tests.integration.catalogue.conftest import Actors, sign
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration


async def chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(64 * 1024):
            yield chunk


async def peak_while_ingesting(catalogue: Service, actors: Actors, path: Path) -> int:
    collection = await sign(catalogue)
    tracemalloc.start()
    try:
        response = await catalogue.client.post(
            "/batches",
            params={"collection": collection, "wait": "true", "mode": "full"},
            content=chunks(path),
            headers={**actors.cataloguer, "Content-Type": "application/marc"},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    return peak


async def test_ingest_memory_does_not_grow_with_the_file(
    catalogue: Service, actors: Actors, infra: Infra
) -> None:
    small, large = infra.tmp / "small.mrc", infra.tmp / "large.mrc"
    write_file(small, 400, seed=1)
    write_file(large, 1_600, seed=2)
    await peak_while_ingesting(catalogue, actors, small)  # warm caches and code paths
    small_peak = await peak_while_ingesting(catalogue, actors, small)
    large_peak = await peak_while_ingesting(catalogue, actors, large)
    assert large.stat().st_size > 4 * small.stat().st_size * 0.9
    assert large_peak < small_peak * 1.5 + 512 * 1024, (small_peak, large_peak)
