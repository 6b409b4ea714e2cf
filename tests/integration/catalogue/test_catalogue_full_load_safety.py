"""Data safety of title-list loads on the real database: a full load of a file that ends early
(or whose records are mostly rejected) is refused whole unless a coordinator forces it; a file
with two products of one title re-delivered changes nothing; a batch whose process died is
failed at once instead of blocking its collection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from pymarc.marcxml import record_to_xml

from bench.onix_generator import generate as generate_onix
from services.catalogue import commands, domain, store
from services.catalogue.formats.kbart import KBART_COLUMNS
from tests.integration.catalogue.conftest import (
    Actors,
    base_number,
    isbn,
    marc_file,
    marc_records,
    ok,
    sign,
    upload,
)
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
TITLES = 30
URL_TEMPLATE = "https://lainaa.example.fi/kirja/{isbn}"


# --- files of each format, whole and cut short -------------------------------------------------


def marc_content(start: int) -> bytes:
    return marc_file(marc_records(range(start, start + TITLES)))


def marcxml_content(start: int) -> bytes:
    body = b"".join(
        record_to_xml(r, namespace=True) for r in marc_records(range(start, start + TITLES))
    )
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + body + b"</collection>\n"
    )


def onix_content(start: int) -> bytes:
    # The generator numbers its products from 0; a collection of its own keeps them apart.
    del start
    return "".join(generate_onix(TITLES, seed=3)).encode()


def kbart_content(start: int) -> bytes:
    lines = ["\t".join(KBART_COLUMNS)]
    for number in range(start, start + TITLES):
        row = dict.fromkeys(KBART_COLUMNS, "")
        row.update(
            publication_title=f"Verkkokirja numero {number}",
            online_identifier=isbn(number),
            title_url=f"https://kbart.example.fi/title/{number}",
            first_author="Virtanen, Aino",
            title_id=f"k{number}",
            publisher_name="Kustannus Aalto",
            publication_type="monograph",
            date_monograph_published_online="2025",
            access_type="P",
        )
        lines.append("\t".join(row[c] for c in KBART_COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def cut(content: bytes, fmt: str) -> bytes:
    """The first 60 % of a file, cut inside a record (a broken transfer)."""
    at = len(content) * 6 // 10
    if fmt == "marc":
        while content[at - 1 : at] == b"\x1d":
            at += 7
    if fmt == "kbart":
        at = content.rindex(b"\n", 0, at) + 12  # inside a row's title
    return content[:at]


BUILDERS: dict[str, Callable[[int], bytes]] = {
    "marc": marc_content,
    "marcxml": marcxml_content,
    "onix": onix_content,
    "kbart": kbart_content,
}


def extra(fmt: str) -> dict[str, str]:
    if fmt == "kbart":
        return {"language": "fin"}
    if fmt == "onix":
        return {"url_template": URL_TEMPLATE}
    return {}


async def post(
    catalogue: Service, headers: dict[str, str], collection: str, content: bytes, **params: Any
) -> Any:
    return await catalogue.client.post(
        "/batches",
        params={"collection": collection, "wait": "true", **params},
        content=content,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )


async def current_records(catalogue: Service, actors: Actors, collection: str) -> list[dict]:
    page = ok(
        await catalogue.client.get(
            "/records",
            params={"collection": collection, "limit": 500, "include_deleted": "true"},
            headers=actors.coordinator,
        )
    )
    return page["items"]


async def findings(catalogue: Service, actors: Actors, batch_id: str) -> str:
    response = await catalogue.client.get(
        f"/batches/{batch_id}/findings.csv", headers=actors.coordinator
    )
    return ok(response).decode()


# --- a full load only withdraws after reading the whole file ----------------------------------


@pytest.mark.parametrize("fmt", ["onix", "marcxml", "marc", "kbart"])
async def test_a_full_load_of_a_file_cut_short_is_refused_and_withdraws_nothing(
    catalogue: Service, actors: Actors, fmt: str
) -> None:
    collection = await sign(catalogue)
    whole = BUILDERS[fmt](base_number())
    first = await upload(catalogue, actors, collection, whole, mode="full", **extra(fmt))
    assert first["counts"]["rejected"] < TITLES // 2
    before = await current_records(catalogue, actors, collection)
    assert before and not any(r["deleted"] for r in before)

    response = await post(
        catalogue, actors.cataloguer, collection, cut(whole, fmt), mode="full", **extra(fmt)
    )
    batch = ok(response)
    assert batch["status"] == "failed", batch
    assert "full load refused" in batch["error"] and "ends early" in batch["error"]
    assert batch["counts"]["withdrawn"] == 0 and batch["force"] is False
    assert await current_records(catalogue, actors, collection) == before  # nothing touched
    report = ok(
        await catalogue.client.get(f"/batches/{batch['id']}/report", headers=actors.coordinator)
    )
    assert "ends early" in report["refused"]
    assert "full-load-refused" in await findings(catalogue, actors, batch["id"])

    # An add-only load of the same broken file keeps what it could read and withdraws nothing.
    delta = await upload(catalogue, actors, collection, cut(whole, fmt), mode="delta", **extra(fmt))
    assert delta["counts"]["withdrawn"] == 0 and delta["counts"]["rejected"] >= 1
    assert "rest of it was not read" in delta["report"]["note"]
    assert "rest of file unread" in await findings(catalogue, actors, delta["id"])
    after = await current_records(catalogue, actors, collection)
    assert [(r["id"], r["deleted"], r["datestamp"]) for r in after] == [
        (r["id"], r["deleted"], r["datestamp"]) for r in before
    ]


async def test_only_a_coordinator_may_force_a_refused_full_load(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    whole = marc_content(base_number())
    await upload(catalogue, actors, collection, whole, mode="full")
    broken = cut(whole, "marc")

    refused = await post(
        catalogue, actors.cataloguer, collection, broken, mode="full", force="true"
    )
    assert refused.status_code == 403 and "coordinator" in refused.text
    not_forcing = await post(catalogue, actors.coordinator, collection, broken, mode="full")
    assert not_forcing.status_code == 403

    forced = ok(
        await post(catalogue, actors.coordinator, collection, broken, mode="full", force="true")
    )
    assert forced["status"] == "done" and forced["force"] is True
    assert forced["counts"]["withdrawn"] > 0  # the coordinator said the list is all there is
    assert "ends early" in forced["report"]["forced"]
    deleted = [r for r in await current_records(catalogue, actors, collection) if r["deleted"]]
    assert len(deleted) == forced["counts"]["withdrawn"]


async def test_a_full_load_that_rejects_too_much_is_refused(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    start = base_number()
    await upload(catalogue, actors, collection, marc_content(start), mode="full")
    records = marc_records(range(start, start + 10))
    for record in records[:6]:
        record.remove_fields("020")  # no identifier: rejected; 6 of 10 is over the 50 %
    batch = ok(
        await post(catalogue, actors.cataloguer, collection, marc_file(records), mode="full")
    )
    assert batch["status"] == "failed"
    assert "6 of 10 records (60%) were rejected" in batch["error"]
    assert batch["counts"]["rejected"] == 6 and batch["counts"]["withdrawn"] == 0
    assert not any(r["deleted"] for r in await current_records(catalogue, actors, collection))


async def test_a_full_load_that_would_withdraw_a_fifth_of_the_titles_is_refused(
    catalogue: Service, actors: Actors
) -> None:
    """A list cut exactly between two records reads as complete; the share it would withdraw
    gives it away. The limit is the service's default: 20 % of 100 titles or more."""
    collection = await sign(catalogue)
    start = base_number()
    records = marc_records(range(start, start + 120))
    await upload(catalogue, actors, collection, marc_file(records), mode="full")

    # Cut at a record boundary: 90 of the 120 titles, 25 % missing.
    shorter = marc_file(records[:90])
    batch = ok(await post(catalogue, actors.cataloguer, collection, shorter, mode="full"))
    assert batch["status"] == "failed", batch
    assert "withdraw 30 of the collection's 120 titles (25%)" in batch["error"]
    assert batch["counts"]["withdrawn"] == 0
    assert not any(r["deleted"] for r in await current_records(catalogue, actors, collection))

    # A supplier's list that really drops titles: 100 of 120 (17 %) is withdrawn as usual...
    usual = ok(
        await post(catalogue, actors.cataloguer, collection, marc_file(records[:100]), mode="full")
    )
    assert usual["status"] == "done" and usual["counts"]["withdrawn"] == 20
    # ...and a coordinator may force a larger cut they know to be the supplier's whole list.
    seventy = marc_file(records[:70])
    forced = ok(
        await post(catalogue, actors.coordinator, collection, seventy, mode="full", force="true")
    )
    assert forced["status"] == "done" and forced["counts"]["withdrawn"] == 30
    assert "withdraw 30 of the collection's 100 titles" in forced["report"]["forced"]


# --- re-delivering a file changes nothing -------------------------------------------------------


def twin_products(number: int) -> bytes:
    """Two products of one title (same ISBN and record reference), equally rich, differing in
    content, each without a URL (the template makes the same one for both)."""

    def product(title: str) -> str:
        return f"""<Product><RecordReference>ref-{number}</RecordReference>
          <NotificationType>03</NotificationType>
          <ProductIdentifier><ProductIDType>15</ProductIDType><IDValue>{isbn(number)}</IDValue>
          </ProductIdentifier>
          <DescriptiveDetail><ProductComposition>00</ProductComposition>
            <ProductForm>EB</ProductForm><ProductFormDetail>E101</ProductFormDetail>
            <TitleDetail><TitleType>01</TitleType><TitleElement>
              <TitleElementLevel>01</TitleElementLevel><TitleText>{title}</TitleText>
            </TitleElement></TitleDetail>
            <Language><LanguageRole>01</LanguageRole><LanguageCode>fin</LanguageCode></Language>
          </DescriptiveDetail></Product>"""

    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ONIXMessage release="3.0" xmlns="http://ns.editeur.org/onix/3.0/reference">'
        f"{product('Talvi saaressa')}{product('Kesä saaressa')}</ONIXMessage>"
    ).encode()


async def test_redelivering_a_file_with_two_products_of_one_title_changes_nothing(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    content = twin_products(base_number())
    first = await upload(
        catalogue, actors, collection, content, mode="full", url_template=URL_TEMPLATE
    )
    assert first["counts"]["accepted"] == 1 and first["counts"]["duplicate"] == 1
    before = await current_records(catalogue, actors, collection)
    for _ in range(2):
        again = await upload(
            catalogue, actors, collection, content, mode="full", url_template=URL_TEMPLATE
        )
        assert again["counts"]["updated"] == 0 and again["counts"]["accepted"] == 0
        assert again["counts"]["unchanged"] == 1 and again["counts"]["duplicate"] == 1
        assert await current_records(catalogue, actors, collection) == before


# --- a batch whose process died never blocks its collection -----------------------------------


async def test_a_batch_whose_process_died_is_failed_at_once(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    batch_id = domain.new_id("batch")
    await store.insert_batch(
        catalogue.pool,
        batch_id=batch_id,
        collection_id=collection,
        fmt="marc",
        mode="full",
        filename=None,
        size_bytes=1,
        sha256="0" * 64,
        language=None,
        url_template=None,
        created_by="test",
    )
    # A process claims the batch on its own database session, then dies mid-way.
    dying = await asyncpg.connect(catalogue.dsn)
    await store.claim_batch(dying, batch_id, "dead-host:4242")
    assert await commands.fail_orphaned_batches(catalogue.pool) == 0  # its owner still lives
    await dying.close()

    # The next upload finds the orphan failed at once (no 409 for minutes).
    async def accepted() -> dict[str, Any]:
        return await upload(catalogue, actors, collection, marc_content(base_number()))

    batch = await asyncio.wait_for(accepted(), timeout=60)
    assert batch["status"] == "done"
    orphan = ok(await catalogue.client.get(f"/batches/{batch_id}", headers=actors.coordinator))
    assert orphan["status"] == "failed" and "interrupted" in orphan["error"]
    assert orphan["owner"] == "dead-host:4242"
    assert "batch-interrupted" in await findings(catalogue, actors, batch_id)


async def test_a_running_batch_is_owned_and_an_unclaimed_one_fails_after_a_while(
    catalogue: Service,
) -> None:
    collection = await sign(catalogue)
    batch_id = domain.new_id("batch")
    await store.insert_batch(
        catalogue.pool,
        batch_id=batch_id,
        collection_id=collection,
        fmt="marc",
        mode="delta",
        filename=None,
        size_bytes=1,
        sha256="0" * 64,
        language=None,
        url_template=None,
        created_by="test",
    )
    assert await commands.fail_orphaned_batches(catalogue.pool, collection) == 0  # just made
    await catalogue.pool.execute(
        "UPDATE batches SET created_at = now() - interval '2 minutes' WHERE id = $1", batch_id
    )
    assert await commands.fail_orphaned_batches(catalogue.pool, collection) == 1
