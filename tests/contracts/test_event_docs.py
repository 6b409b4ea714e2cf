"""The event documentation page is built from the AsyncAPI document and schemas that ship in
konsortio-contracts: every event, with its producer, topic, key, meaning, payload fields and
example, in Finnish and English, and nothing that would be fetched from elsewhere."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi import FastAPI

from contracts import ALL_EVENTS, resources
from contracts.examples import EXAMPLES_BY_TYPE
from kit.errors import install_error_handlers
from services.dashboard import event_docs


@pytest.fixture
async def client() -> httpx.AsyncClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(event_docs.router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dashboard"
    ) as client:
        yield client


@pytest.mark.parametrize("lang", ["fi", "en"])
async def test_every_event_is_documented(client: httpx.AsyncClient, lang: str) -> None:
    response = await client.get("/events", params={"lang": lang})
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert f'<html lang="{lang}">' in page
    for event in ALL_EVENTS:
        anchor = event.ce_type().replace(".", "-")
        article = page.split(f'id="{anchor}"', 1)[1].split("</article>", 1)[0]
        assert event.ce_type() in article
        assert f"<code>{event.topic()}</code>" in article
        assert f"<code>{event.key_field}</code>" in article
        meaning = (
            event_docs.MEANING_FI[event.ce_type()]
            if lang == "fi"
            else (event.__doc__ or "").strip().splitlines()[0]
        )
        assert meaning.replace("'", "&#39;") in article
        for name in event.model_fields:
            assert f"<code>{name}</code>" in article, (event.ce_type(), name)
        example = EXAMPLES_BY_TYPE[event.ce_type()].key()
        assert example in article


async def test_finnish_and_english_differ_and_link_to_each_other(
    client: httpx.AsyncClient,
) -> None:
    fi = (await client.get("/events")).text
    en = (await client.get("/events?lang=en")).text
    assert "Konsortion tapahtumat" in fi and "Sisällön skeema" in fi
    assert "Konsortio events" in en and "Payload schema" in en
    assert 'href="/events?lang=en"' in fi and 'href="/events?lang=fi"' in en


async def test_a_language_it_does_not_have_is_a_clear_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/events?lang=de")
    assert response.status_code == 422
    assert "lang" in response.text


async def test_everything_the_page_loads_is_served_by_the_dashboard(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/events")).text
    references = re.findall(r'(?:href|src)="([^"#]+)"', page)
    assert references
    for reference in references:
        assert reference.startswith("/"), f"fetched from elsewhere: {reference}"
        assert (await client.get(reference)).status_code == 200, reference
    assert "<script" not in page
    document = (await client.get("/events/asyncapi.json")).json()
    assert document == resources.asyncapi()
    assert json.dumps(document)
