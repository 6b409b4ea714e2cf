"""Every service's API docs load their scripts and styles from the service itself (assets
shipped in the fastapi-offline package), never from a CDN: the docs must work on a network
with no way out. The dashboard stands in for every service: the kit's app factory does this."""

from __future__ import annotations

import re

import httpx
import pytest

from kit.app import DOCS_ASSETS
from kit.settings import Settings
from services.dashboard.app import build

URL = re.compile(r"""(?:src|href|url|spec-url)\s*[:=]\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_nothing_from_elsewhere(page: str) -> None:
    app = build(Settings(database_url="postgresql://unused/unused"))
    transport = httpx.ASGITransport(app=app)  # no lifespan: no database or broker needed
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        html = (await client.get(page)).text
        urls = URL.findall(html)
        assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls)
        assert "/openapi.json" in urls
        assets = [url for url in urls if url.startswith(DOCS_ASSETS)]
        assert any(url.endswith(".js") for url in assets)
        for url in assets:
            response = await client.get(url)
            assert response.status_code == 200 and len(response.content) > 1000, url
