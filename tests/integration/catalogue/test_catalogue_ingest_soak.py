"""Soak through the running service: ONIX title lists with a URL template, full mode, loaded
again and again into collections whose first load rejected every product, two collections at
a time, interleaved with lists cut short. The service once aborted (``free(): invalid
pointer``) on such a second load, when one batch's lxml parser was advanced from several
threads; every load must now end, in this process, with its batch done or refused."""

from __future__ import annotations

import asyncio

import pytest

from bench.onix_generator import generate
from tests.integration.catalogue.conftest import Actors, ok, sign
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
ROUNDS = 3
PRODUCTS = 100
URL_TEMPLATE = "https://lainaa.example.fi/kirja/{isbn}"


def files() -> tuple[bytes, bytes, bytes]:
    whole = "".join(generate(PRODUCTS, seed=11)).encode()
    printed = whole.replace(b"<ProductForm>EB<", b"<ProductForm>BC<").replace(
        b"<ProductForm>AJ<", b"<ProductForm>BC<"
    )
    return whole, printed, whole[: len(whole) // 2]


async def load(catalogue: Service, actors: Actors, collection: str, content: bytes) -> dict:
    response = await catalogue.client.post(
        "/batches",
        params={
            "collection": collection,
            "mode": "full",
            "url_template": URL_TEMPLATE,
            "wait": "true",
        },
        content=content,
        headers={**actors.cataloguer, "Content-Type": "application/xml"},
    )
    return ok(response)


async def test_repeated_onix_loads_after_an_all_rejected_one_never_crash(
    catalogue: Service, actors: Actors
) -> None:
    whole, printed, cut = files()

    async def one_collection() -> None:
        collection = await sign(catalogue)
        first = await load(catalogue, actors, collection, printed)
        assert first["status"] == "failed" and first["counts"]["rejected"] == PRODUCTS
        for round_ in range(ROUNDS):
            batch = await load(catalogue, actors, collection, whole)
            assert batch["status"] == "done", batch
            assert batch["counts"]["withdrawn"] == 0
            if round_:
                assert batch["counts"]["accepted"] == batch["counts"]["updated"] == 0
            refused = await load(catalogue, actors, collection, cut)
            assert refused["status"] == "failed" and "ends early" in refused["error"]

    await asyncio.gather(one_collection(), one_collection())
