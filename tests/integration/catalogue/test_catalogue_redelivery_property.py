"""Property: delivering any title list a second time changes nothing.

Hypothesis generates ONIX files in which products share ISBNs and record references (in one
chunk and across chunks), differ in title, description and URL, or repeat exactly; loads one
into a fresh collection after an earlier list, then loads it again, as is and reordered. The
later loads must count no accepted, updated or withdrawn title and move no datestamp.

The service runs on the test's event loop; hypothesis drives it from a worker thread and hands
each upload to that loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.catalogue.conftest import Actors, isbn, ok, sign, upload
from tests.integration.conftest import Service

# The service shares the process; its own use of `random` (e.g. retry jitter) is not the
# property's, so hypothesis's warning about the global random state is beside the point.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]
URL_TEMPLATE = "https://lainaa.example.fi/kirja/{isbn}"
T = TypeVar("T")

products = st.fixed_dictionaries(
    {
        "title": st.integers(0, 3),
        "reference": st.integers(0, 1),
        "description": st.sampled_from([None, "Tarina talvesta.", "Tarina kesästä."]),
        "url": st.sampled_from([None, None, "https://a.example.fi/1", "https://b.example.fi/2"]),
        "form": st.sampled_from(["EB", "EB", "AJ"]),
    }
)
# A title is (which ISBN, product details); few ISBNs and few variants, so duplicates, and
# equally rich duplicates that differ, are common.
titles = st.lists(st.tuples(st.integers(0, 4), products), min_size=1, max_size=60)


def onix(start: int, items: list[tuple[int, dict[str, Any]]]) -> bytes:
    body = []
    for number, product in items:
        detail = product["form"] + ("E101" if product["form"] == "EB" else "A103")
        description = (
            "<CollateralDetail><TextContent><TextType>03</TextType><ContentAudience>00"
            f"</ContentAudience><Text>{escape(product['description'])}</Text></TextContent>"
            "</CollateralDetail>"
            if product["description"]
            else ""
        )
        website = (
            f"<PublishingDetail><Publisher><PublishingRole>01</PublishingRole><PublisherName>"
            f"Aalto</PublisherName><Website><WebsiteRole>02</WebsiteRole><WebsiteLink>"
            f"{product['url']}</WebsiteLink></Website></Publisher></PublishingDetail>"
            if product["url"]
            else ""
        )
        body.append(
            f"<Product><RecordReference>ref-{start + number}-{product['reference']}"
            "</RecordReference><NotificationType>03</NotificationType><ProductIdentifier>"
            f"<ProductIDType>15</ProductIDType><IDValue>{isbn(start + number)}</IDValue>"
            "</ProductIdentifier><DescriptiveDetail><ProductComposition>00</ProductComposition>"
            f"<ProductForm>{product['form']}</ProductForm><ProductFormDetail>{detail[2:]}"
            "</ProductFormDetail><TitleDetail><TitleType>01</TitleType><TitleElement>"
            "<TitleElementLevel>01</TitleElementLevel><TitleText>Kirja "
            f"{product['title']}</TitleText></TitleElement></TitleDetail><Language>"
            "<LanguageRole>01</LanguageRole><LanguageCode>fin</LanguageCode></Language>"
            f"</DescriptiveDetail>{description}{website}</Product>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ONIXMessage release="3.0" '
        'xmlns="http://ns.editeur.org/onix/3.0/reference">' + "".join(body) + "</ONIXMessage>"
    ).encode()


async def state(catalogue: Service, actors: Actors, collection: str) -> list[tuple[Any, ...]]:
    page = ok(
        await catalogue.client.get(
            "/records",
            params={"collection": collection, "limit": 500, "include_deleted": "true"},
            headers=actors.coordinator,
        )
    )
    return sorted(
        (r["id"], r["match_key"], r["deleted"], r["datestamp"], r["changed_batch"])
        for r in page["items"]
    )


async def test_loading_any_file_again_changes_nothing(catalogue: Service, actors: Actors) -> None:
    loop = asyncio.get_running_loop()

    def on_loop(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)

    async def load(collection: str, content: bytes) -> dict[str, Any]:
        return await upload(
            catalogue, actors, collection, content, mode="full", url_template=URL_TEMPLATE
        )

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        earlier=titles,
        items=titles,
        order=st.randoms(use_true_random=False),
        start=st.integers(100, 9_900).map(lambda n: n * 100),
    )
    def property_(earlier: list[Any], items: list[Any], order: Any, start: int) -> None:
        collection = on_loop(sign(catalogue))
        on_loop(load(collection, onix(start, earlier)))
        content = onix(start, items)
        on_loop(load(collection, content))
        before = on_loop(state(catalogue, actors, collection))
        shuffled = list(items)
        order.shuffle(shuffled)
        for again in (content, content, onix(start, shuffled)):
            counts = on_loop(load(collection, again))["counts"]
            assert counts["accepted"] == counts["updated"] == counts["withdrawn"] == 0, counts
            assert counts["unchanged"] == len({number for number, _ in items}), counts
            assert on_loop(state(catalogue, actors, collection)) == before

    await asyncio.to_thread(property_)


# An example the property found: products of five titles that tie in richness, with links
# worded and ordered differently; the same list in another order changed a record.
FOUND_EARLIER = [
    (
        1,
        {
            "title": 3,
            "reference": 1,
            "description": "Tarina kesästä.",
            "url": "https://b.example.fi/2",
            "form": "EB",
        },
    ),
    (2, {"title": 1, "reference": 1, "description": None, "url": None, "form": "EB"}),
    (3, {"title": 1, "reference": 0, "description": "Tarina kesästä.", "url": None, "form": "EB"}),
    (2, {"title": 1, "reference": 1, "description": "Tarina talvesta.", "url": None, "form": "EB"}),
    (
        4,
        {
            "title": 0,
            "reference": 1,
            "description": "Tarina talvesta.",
            "url": "https://b.example.fi/2",
            "form": "AJ",
        },
    ),
    (0, {"title": 1, "reference": 0, "description": None, "url": None, "form": "EB"}),
    (4, {"title": 3, "reference": 0, "description": "Tarina talvesta.", "url": None, "form": "EB"}),
    (
        2,
        {
            "title": 1,
            "reference": 1,
            "description": "Tarina talvesta.",
            "url": "https://a.example.fi/1",
            "form": "EB",
        },
    ),
    (2, {"title": 1, "reference": 0, "description": "Tarina talvesta.", "url": None, "form": "EB"}),
    (
        1,
        {
            "title": 1,
            "reference": 0,
            "description": None,
            "url": "https://b.example.fi/2",
            "form": "EB",
        },
    ),
]
FOUND_ITEMS = [
    (
        1,
        {
            "title": 1,
            "reference": 1,
            "description": "Tarina kesästä.",
            "url": "https://a.example.fi/1",
            "form": "EB",
        },
    ),
    (
        4,
        {
            "title": 2,
            "reference": 0,
            "description": "Tarina kesästä.",
            "url": "https://a.example.fi/1",
            "form": "EB",
        },
    ),
    (
        2,
        {
            "title": 3,
            "reference": 0,
            "description": None,
            "url": "https://b.example.fi/2",
            "form": "EB",
        },
    ),
    (
        0,
        {
            "title": 0,
            "reference": 0,
            "description": "Tarina talvesta.",
            "url": "https://b.example.fi/2",
            "form": "AJ",
        },
    ),
    (1, {"title": 1, "reference": 1, "description": None, "url": None, "form": "EB"}),
    (0, {"title": 3, "reference": 1, "description": None, "url": None, "form": "EB"}),
    (
        4,
        {
            "title": 1,
            "reference": 1,
            "description": "Tarina kesästä.",
            "url": "https://a.example.fi/1",
            "form": "EB",
        },
    ),
    (
        3,
        {
            "title": 2,
            "reference": 0,
            "description": "Tarina kesästä.",
            "url": "https://a.example.fi/1",
            "form": "EB",
        },
    ),
    (3, {"title": 0, "reference": 1, "description": "Tarina kesästä.", "url": None, "form": "AJ"}),
    (1, {"title": 3, "reference": 0, "description": None, "url": None, "form": "AJ"}),
]


async def test_the_same_list_in_another_order_changes_nothing(
    catalogue: Service, actors: Actors
) -> None:
    start = 90_400
    collection = await sign(catalogue)

    async def load(items: list[tuple[int, dict[str, Any]]]) -> dict[str, int]:
        loaded = await upload(
            catalogue,
            actors,
            collection,
            onix(start, items),
            mode="full",
            url_template=URL_TEMPLATE,
        )
        return dict(loaded["counts"])

    await load(FOUND_EARLIER)
    await load(FOUND_ITEMS)
    before = await state(catalogue, actors, collection)
    for seed in range(40):
        shuffled = list(FOUND_ITEMS)
        random.Random(seed).shuffle(shuffled)
        counts = await load(shuffled)
        assert counts["accepted"] == counts["updated"] == counts["withdrawn"] == 0, (seed, counts)
        assert counts["unchanged"] == 5, (seed, counts)
        assert await state(catalogue, actors, collection) == before, seed
