"""Every service that consumes events composes the kit's token-revoked handler, so each one
records a revocation in its own database; membership records it in the command itself. The
dashboard's own handler for the event (its live feed) still runs after the kit's."""

from __future__ import annotations

import importlib

import pytest

from contracts.membership import TokenRevoked
from kit.consumer import Reactions
from kit.revocation import react_to_revocations
from kit.settings import Settings

CONSUMERS = ("procurement", "catalogue", "outreach", "usage", "dashboard")


@pytest.mark.parametrize("service", CONSUMERS)
def test_every_consuming_service_records_revocations(service: str) -> None:
    build = importlib.import_module(f"services.{service}.app").build
    build(Settings(service=service, database_url="postgresql://nobody@127.0.0.1:1/none"))
    reactions = importlib.import_module(f"services.{service}.handlers").reactions
    handler = reactions.lookup(TokenRevoked.ce_type())
    assert handler is not None, f"{service} does not react to token-revoked"
    assert getattr(handler[1], "records_revocations", False)
    assert TokenRevoked.topic() in reactions.topics()


def test_composing_twice_wraps_once_and_keeps_the_earlier_handler() -> None:
    reactions = Reactions()

    async def feed(delivery: object, event: object) -> None:
        return None

    reactions.on(TokenRevoked)(feed)
    react_to_revocations(reactions)
    first = reactions.lookup(TokenRevoked.ce_type())
    react_to_revocations(reactions)
    assert reactions.lookup(TokenRevoked.ce_type()) == first
    assert first is not None and first[1] is not feed
