"""``konsortio catalogue ingest`` and ``report`` against the session's catalogue, served over
real HTTP on 127.0.0.1 (uvicorn in the test's event loop; the CLI runs in a thread)."""

from __future__ import annotations

import asyncio
import csv
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from kit.auth import Role
from services.catalogue.cli import app
from tests.conftest import Infra, wait_for
from tests.integration.catalogue.conftest import (
    FIXTURES,
    base_number,
    isbn,
    sign,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def served(catalogue: Service) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            catalogue.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, timeout_s=10, interval_s=0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def cli(*args: str) -> object:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args))


async def test_ingest_uploads_with_progress_and_prints_the_report(
    catalogue: Service, infra: Infra, served: str, tmp_path: Path
) -> None:
    collection = await sign(catalogue)
    token = infra.token(Role.CATALOGUER)
    result = await cli(
        "ingest",
        str(FIXTURES / "onix_sample.xml"),
        "--collection",
        collection,
        "--url",
        served,
        "--token",
        token,
    )
    assert result.exit_code == 1, result.output  # the print product is rejected
    assert "accepted" in result.output and "resolver-access-url" in result.output
    batch_id = await catalogue.pool.fetchval(
        "SELECT id FROM batches WHERE collection_id = $1", collection
    )
    assert batch_id in result.output

    report_file = tmp_path / "findings.csv"
    shown = await cli(
        "report",
        batch_id,
        "--csv",
        str(report_file),
        "--fields",
        "--url",
        served,
        "--token",
        token,
    )
    assert shown.exit_code == 0, shown.output
    rows = list(csv.DictReader(report_file.open()))
    assert {row["code"] for row in rows} >= {"resolver-access-url", "unreadable-record"}
    assert "core fields over 3 new or changed records" in shown.output
    # 97.4 %: one translation in the sample names no original title, so it has no 240.
    assert "core fields as Melinda takes them: 97.4%" in shown.output


async def test_a_clean_kbart_list_exits_0(
    catalogue: Service, infra: Infra, served: str, tmp_path: Path
) -> None:
    collection = await sign(catalogue)
    kbart = tmp_path / "lista.tsv"
    kbart.write_text(
        "publication_title\tonline_identifier\ttitle_url\tfirst_author\tpublisher_name\n"
        f"Kesä\t{isbn(base_number())}\thttps://lainaa.example.fi/k/1\tLaine, Ulla\tAalto\n"
    )
    result = await cli(
        "ingest",
        str(kbart),
        "--collection",
        collection,
        "--language",
        "fin",
        "--mode",
        "full",
        "--url",
        served,
        "--token",
        infra.token(Role.CATALOGUER),
    )
    assert result.exit_code == 0, result.output


async def test_refusals_exit_2_with_the_reason(
    catalogue: Service, infra: Infra, served: str, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is no title list")
    collection = await sign(catalogue)
    unknown = await cli(
        "ingest",
        str(junk),
        "--collection",
        "no-such-collection",
        "--url",
        served,
        "--token",
        infra.token(Role.CATALOGUER),
    )
    assert unknown.exit_code == 2 and "no collection" in unknown.output
    unreadable = await cli(
        "ingest",
        str(junk),
        "--collection",
        collection,
        "--url",
        served,
        "--token",
        infra.token(Role.CATALOGUER),
    )
    assert unreadable.exit_code == 2 and "format" in unreadable.output
    wrong_role = await cli(
        "ingest",
        str(junk),
        "--collection",
        collection,
        "--url",
        served,
        "--token",
        infra.token(Role.COORDINATOR),
    )
    assert wrong_role.exit_code == 2 and "403" in wrong_role.output
