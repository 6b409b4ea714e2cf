"""The benchmark harness's code paths on tiny counts, on its own embedded PostgreSQL and broker:
correctness only (nothing lost, nothing duplicated, everything stored), never speed."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bench import catalogue, onix, pipeline, replay
from bench.infra import BenchInfra, bench_infra

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(os.environ.get("KONSORTIO_TEST_KAFKA_BOOTSTRAP")),
        reason="the benchmark runs on its own embedded broker",
    ),
]


def quiet(_key: str, _done: float, _total: float) -> None:
    pass


@pytest.fixture(scope="module")
async def infra() -> AsyncIterator[BenchInfra]:
    async with bench_infra() as started:
        yield started


async def test_pipeline_applies_every_event_once_even_when_republished(
    infra: BenchInfra,
) -> None:
    result: dict[str, Any] = await pipeline.measure_pipeline(
        infra, 600, quiet, replicas=1, per_transaction=50, relay_batch=100, max_records=100
    )
    assert result["effects"] == 600
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["republished"] == 6
    assert result["duplicates_skipped"] == 6


async def test_marc_ingest_stores_every_title_once(infra: BenchInfra) -> None:
    result = await catalogue.run(infra, 200, quiet)
    assert result["ingest"]["status"] == "done"
    counts = result["ingest"]["counts"]
    assert counts["received"] == result["records"] == 202  # 1 % repeated titles
    assert counts["accepted"] == 200 and counts["duplicate"] == 2
    assert result["ingest"]["stored"] == 200
    assert result["reference"]["records"] == 202


async def test_onix_conversion_reads_every_product(infra: BenchInfra) -> None:
    result = await onix.run(infra, 150, quiet)
    assert result["products"] == 150
    converted = result["convert"]
    assert converted["records"] + converted["refused"] == 150
    assert result["pipeline"]["accepted"] == converted["records"]


def test_an_external_broker_runs_only_the_broker_benchmarks() -> None:
    from bench.cli import main

    # Scaling and cold start start Tansu brokers of their own: refused, not silently on Tansu.
    assert main(["--kafka-bootstrap", "127.0.0.1:1", "--only", "scaling"]) == 2


async def test_a_replay_finds_every_record_in_the_inbox_on_both_paths(infra: BenchInfra) -> None:
    result = await replay.run(infra, 120, quiet)
    assert result["first_pass"]["outcomes"] == {"handled": 120}
    assert result["batches"]["outcomes"] == {"duplicate": 120}
    assert result["one_at_a_time"]["outcomes"] == {"duplicate": 120}
    assert result["raw_read"]["records"] == 120
    assert replay.rows(result)[0].reference_value == result["one_at_a_time"]["records_per_s"]
