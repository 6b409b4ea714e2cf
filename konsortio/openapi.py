"""The committed OpenAPI documents of every service's HTTP API (``docs/openapi/<service>.json``),
generated from the apps themselves so that they never drift from the code; a contract test
compares them with what the apps describe now."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

SERVICES = ("membership", "procurement", "catalogue", "outreach", "usage", "dashboard")
OPENAPI_DIR = Path(__file__).resolve().parents[1] / "docs" / "openapi"


def document(service: str) -> dict[str, Any]:
    """The service's OpenAPI document as its app builds it (default settings; nothing is
    connected: the document is made before any lifespan runs)."""
    from kit.settings import Settings

    build = importlib.import_module(f"services.{service}.app").build
    openapi: dict[str, Any] = build(Settings(service=service)).openapi()
    return openapi


def render(service: str) -> str:
    return json.dumps(document(service), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(out: Path = OPENAPI_DIR) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for service in SERVICES:
        path = out / f"{service}.json"
        path.write_text(render(service), encoding="utf-8")
        written.append(path)
    return written
