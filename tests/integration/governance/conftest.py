"""Governance runs inside procurement: the tests use procurement's session apps and builders
(``live_procurement`` on the real broker, ``procurement`` with its outbox unpublished)."""

from __future__ import annotations

from tests.integration.procurement.conftest import (  # noqa: F401 - fixtures used by name
    actors,
    live_procurement,
    procurement,
)
