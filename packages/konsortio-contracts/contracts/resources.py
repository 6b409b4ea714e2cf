"""The committed JSON Schemas and AsyncAPI document, read as package data, so that they are
there wherever the distribution is installed (a wheel, a zip, an editable checkout)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _schemas() -> Any:
    return resources.files("contracts") / "schemas"


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic and message."""
    document: dict[str, Any] = json.loads(
        (_schemas() / "asyncapi.json").read_text(encoding="utf-8")
    )
    return document


def schema(ce_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event type, e.g.
    ``fi.konsortio.membership.member-joined.v1``."""
    path = _schemas() / f"{ce_type}.json"
    if not path.is_file():
        raise KeyError(f"no schema for event type {ce_type!r}")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def schema_names() -> list[str]:
    """Every event type that has a committed schema."""
    return sorted(
        entry.name.removesuffix(".json")
        for entry in _schemas().iterdir()
        if entry.name.endswith(".json") and entry.name != "asyncapi.json"
    )
