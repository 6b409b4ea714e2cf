"""Catalogue HTTP API: roles, and bad input answered with a 4xx that names the field, with
nothing written (no batch row, no spooled file left behind)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kit.auth import Role
from tests.conftest import Infra, wait_for
from tests.integration.catalogue.conftest import (
    UPLOAD_LIMIT,
    Actors,
    base_number,
    join,
    marc_file,
    marc_records,
    ok,
    sign,
    unique_isil,
    upload,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration


def problem_field(response: object) -> str | None:
    body = response.json()  # type: ignore[attr-defined]  # present at run time; the declared type is wider
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]  # present at run time; the declared type is wider
    errors = body.get("errors") or [{}]
    return errors[0].get("field")


async def batches_of(catalogue: Service, collection: str) -> int:
    return await catalogue.pool.fetchval(
        "SELECT count(*) FROM batches WHERE collection_id = $1", collection
    )


async def spooled_files(catalogue: Service, infra: Infra) -> list[Path]:
    """Spool files left behind, once other tests' background batches have finished."""

    async def idle() -> bool:
        return not await catalogue.pool.fetchval(
            "SELECT count(*) FROM batches WHERE status = 'processing'"
        )

    await wait_for(idle)
    return list((infra.tmp / "catalogue-spool").glob("batch-*"))


async def test_only_a_cataloguer_ingests(catalogue: Service, actors: Actors) -> None:
    collection = await sign(catalogue)
    content = marc_file(marc_records([base_number()]))
    url = f"/batches?collection={collection}"
    no_token = await catalogue.client.post(url, content=content)
    assert no_token.status_code == 401
    for headers in (actors.coordinator, actors.library(unique_isil()), actors.role(Role.OPERATOR)):
        response = await catalogue.client.post(
            url, content=content, headers={**headers, "Content-Type": "application/marc"}
        )
        assert response.status_code == 403, response.text
    assert await batches_of(catalogue, collection) == 0


async def test_multipart_upload_keeps_a_harmless_file_name(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    content = marc_file(marc_records([base_number()]))
    response = await catalogue.client.post(
        "/batches",
        params={"collection": collection, "wait": "true"},
        files={"file": ("Ellibs tammikuu 2027.mrc", content, "application/marc")},
        headers=actors.cataloguer,
    )
    batch = ok(response)
    assert batch["filename"] == "Ellibs tammikuu 2027.mrc"
    assert batch["format"] == "marc" and batch["counts"]["accepted"] == 1


@pytest.mark.parametrize(
    "name",
    # (A Windows path "C:\\x\\y.mrc" never arrives whole: the multipart parser keeps "y.mrc".)
    ["../../etc/passwd", "..", ".hidden.mrc", "kirjat\u202egpj.mrc", "rivi\nvaihto"],
)
async def test_malicious_file_names_are_refused(
    catalogue: Service, actors: Actors, infra: Infra, name: str
) -> None:
    collection = await sign(catalogue)
    content = marc_file(marc_records([base_number()]))
    if "\n" in name:
        # A line break cannot travel in a multipart header (httpx escapes it); as the raw
        # body's filename parameter it can.
        response = await catalogue.client.post(
            "/batches",
            params={"collection": collection, "filename": name},
            content=content,
            headers={**actors.cataloguer, "Content-Type": "application/marc"},
        )
        assert response.status_code == 422 and problem_field(response) == "filename"
    else:
        response = await catalogue.client.post(
            "/batches",
            params={"collection": collection},
            files={"file": (name, content, "application/octet-stream")},
            headers=actors.cataloguer,
        )
        assert response.status_code == 422, response.text
        assert problem_field(response) == "file.filename"
    assert await batches_of(catalogue, collection) == 0
    assert await spooled_files(catalogue, infra) == []


@pytest.mark.parametrize("content_type", ["image/png", "application/json", None])
async def test_wrong_content_type_is_415(
    catalogue: Service, actors: Actors, content_type: str | None
) -> None:
    collection = await sign(catalogue)
    headers = dict(actors.cataloguer)
    if content_type:
        headers["Content-Type"] = content_type
    response = await catalogue.client.post(
        "/batches", params={"collection": collection}, content=b"{}", headers=headers
    )
    assert response.status_code == 415, response.text
    assert problem_field(response) == "content-type"
    assert await batches_of(catalogue, collection) == 0


async def test_too_large_uploads_are_413_declared_or_streamed(
    catalogue: Service, actors: Actors, infra: Infra
) -> None:
    collection = await sign(catalogue)
    too_big = b"0" * (UPLOAD_LIMIT + 1)
    headers = {**actors.cataloguer, "Content-Type": "application/octet-stream"}
    declared = await catalogue.client.post(
        "/batches", params={"collection": collection}, content=too_big, headers=headers
    )
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(UPLOAD_LIMIT // (256 * 1024) + 2):
            yield b"0" * (256 * 1024)

    streamed = await catalogue.client.post(
        "/batches", params={"collection": collection}, content=chunks(), headers=headers
    )
    assert streamed.status_code == 413
    assert await batches_of(catalogue, collection) == 0
    assert await spooled_files(catalogue, infra) == []


async def test_unreadable_files_and_bad_parameters_name_the_field(
    catalogue: Service, actors: Actors, infra: Infra
) -> None:
    collection = await sign(catalogue)
    headers = {**actors.cataloguer, "Content-Type": "text/plain"}

    async def post(content: bytes, **params: str) -> tuple[int, str | None]:
        response = await catalogue.client.post(
            "/batches",
            params={"collection": collection, **params},
            content=content,
            headers=headers,
        )
        return response.status_code, problem_field(response)

    assert await post(b"hello, these are not titles") == (422, "file")
    assert await post(b"") == (422, "file")
    assert await post(b"x", language="klingon") == (422, "language")
    assert await post(b"x", url_template="ftp://x/{isbn}") == (422, "url_template")
    assert await post(b"x", url_template="https://x/{title}") == (422, "url_template")
    assert await post(b"x", mode="sometimes") == (422, "query.mode")
    assert await post(b"x", format="pdf") == (422, "query.format")
    unknown = await catalogue.client.post(
        "/batches", params={"collection": "no-such"}, content=b"x", headers=headers
    )
    assert unknown.status_code == 404 and problem_field(unknown) == "collection"
    bad_id = await catalogue.client.post(
        "/batches", params={"collection": "../x"}, content=b"x", headers=headers
    )
    assert bad_id.status_code == 422 and problem_field(bad_id) == "query.collection"
    assert await batches_of(catalogue, collection) == 0
    assert await spooled_files(catalogue, infra) == []


async def test_one_batch_at_a_time_per_collection(catalogue: Service, actors: Actors) -> None:
    collection = await sign(catalogue)
    # A batch in progress (its row is committed before its records are processed).
    await catalogue.pool.execute(
        """
        INSERT INTO batches (id, collection_id, format, mode, size_bytes, sha256, status,
                             created_by)
        VALUES ($1, $2, 'marc', 'delta', 1, 'x', 'processing', 'test')
        """,
        f"busy-{collection}",
        collection,
    )
    response = await catalogue.client.post(
        "/batches",
        params={"collection": collection},
        content=marc_file(marc_records([base_number()])),
        headers={**actors.cataloguer, "Content-Type": "application/marc"},
    )
    assert response.status_code == 409 and problem_field(response) == "collection"
    await catalogue.pool.execute("DELETE FROM batches WHERE id = $1", f"busy-{collection}")


async def test_background_batch_reports_progress_then_counts(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    start = base_number()
    batch = await upload(
        catalogue, actors, collection, marc_file(marc_records(range(start, start + 90))), wait=False
    )
    assert batch["status"] == "processing"

    async def finished() -> dict | None:
        current = ok(
            await catalogue.client.get(f"/batches/{batch['id']}", headers=actors.cataloguer)
        )
        return current if current["status"] != "processing" else None

    done = await wait_for(finished)
    assert done["status"] == "done" and done["processed"] == 90
    listed = ok(
        await catalogue.client.get(
            "/batches", params={"collection": collection}, headers=actors.coordinator
        )
    )
    assert [b["id"] for b in listed["items"]] == [batch["id"]]


async def test_libraries_read_only_their_own_sets(catalogue: Service, actors: Actors) -> None:
    collection = await sign(catalogue)
    mine, other = unique_isil(), unique_isil()
    await join(catalogue, collection, mine)
    start = base_number()
    batch = await upload(
        catalogue, actors, collection, marc_file(marc_records(range(start, start + 2)))
    )
    library = actors.library(mine)

    assert (
        await catalogue.client.get(f"/libraries/{mine}/collections", headers=library)
    ).status_code == 200
    assert (
        await catalogue.client.get(f"/libraries/{other}/collections", headers=library)
    ).status_code == 403
    assert (
        await catalogue.client.get(f"/libraries/{other}/export", headers=library)
    ).status_code == 403
    assert (
        await catalogue.client.get(f"/libraries/{mine}/export", headers=library)
    ).status_code == 200
    assert (await catalogue.client.get("/batches", headers=library)).status_code == 403
    assert (
        await catalogue.client.get(f"/batches/{batch['id']}/report", headers=library)
    ).status_code == 403
    assert (await catalogue.client.get("/records", headers=library)).status_code == 403
    assert (
        await catalogue.client.get(f"/collections/{collection}/export", headers=library)
    ).status_code == 403

    record_id = await catalogue.pool.fetchval(
        "SELECT id FROM records WHERE collection_id = $1 LIMIT 1", collection
    )
    assert (await catalogue.client.get(f"/records/{record_id}", headers=library)).status_code == 200
    stranger = actors.library(other)
    assert (
        await catalogue.client.get(f"/records/{record_id}", headers=stranger)
    ).status_code == 404

    # The coordinator sees everything.
    coordinator = actors.coordinator
    for url in (
        f"/libraries/{mine}/collections",
        f"/libraries/{mine}/export",
        "/batches",
        f"/batches/{batch['id']}/report",
        f"/collections/{collection}/libraries",
        f"/records/{record_id}",
    ):
        assert (await catalogue.client.get(url, headers=coordinator)).status_code == 200, url


async def test_oai_harvesters_authenticate_with_the_token(
    catalogue: Service, actors: Actors, infra: Infra
) -> None:
    isil, other = unique_isil(), unique_isil()
    params = {"verb": "Identify"}
    assert (await catalogue.client.get("/oai", params=params)).status_code == 401
    token = infra.token(Role.LIBRARY, isil)
    basic = base64.b64encode(f"koha:{token}".encode()).decode()
    as_basic = await catalogue.client.get(
        "/oai", params=params, headers={"Authorization": f"Basic {basic}"}
    )
    assert as_basic.status_code == 200 and b"<Identify>" in as_basic.content
    own = await catalogue.client.get(
        "/oai",
        params={"verb": "ListRecords", "metadataPrefix": "marc21", "set": f"library:{isil}"},
        headers=actors.library(isil),
    )
    assert own.status_code == 200
    foreign = await catalogue.client.get(
        "/oai",
        params={"verb": "ListRecords", "metadataPrefix": "marc21", "set": f"library:{other}"},
        headers=actors.library(isil),
    )
    assert foreign.status_code == 403 and problem_field(foreign) == "set"
    collection_set = await catalogue.client.get(
        "/oai",
        params={"verb": "ListIdentifiers", "metadataPrefix": "marc21", "set": "collection:x"},
        headers=actors.library(isil),
    )
    assert collection_set.status_code == 403
    operator = await catalogue.client.get("/oai", params=params, headers=actors.role(Role.OPERATOR))
    assert operator.status_code == 403
    wrong_form = await catalogue.client.post(
        "/oai",
        content=b'{"verb": "Identify"}',
        headers={**actors.coordinator, "Content-Type": "application/json"},
    )
    assert wrong_form.status_code == 415
