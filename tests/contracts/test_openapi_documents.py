"""The committed OpenAPI documents (docs/openapi/) are exactly what the services' apps describe:
a route, a field or a response changed without regenerating them fails here."""

from __future__ import annotations

import json

import pytest

from konsortio.openapi import OPENAPI_DIR, SERVICES, document


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_openapi_document_is_the_apps(service: str) -> None:
    committed = json.loads((OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8"))
    assert committed == document(service), (
        f"docs/openapi/{service}.json is stale: run `konsortio contracts openapi` (make schemas)"
    )


def test_every_service_has_its_document_and_nothing_else_is_there() -> None:
    assert sorted(p.stem for p in OPENAPI_DIR.glob("*.json")) == sorted(SERVICES)
