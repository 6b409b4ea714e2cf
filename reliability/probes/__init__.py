"""Per-service knowledge, and discovery of what each service consumes.

Add ``reliability/probes/<service>.py`` with a ``PROBE`` when a service lands; until then the
service still gets every generic check and its endpoints show up as undeclared.
"""

from __future__ import annotations

import importlib

from kit.consumer import Reactions
from reliability.probes.base import Probe

KNOWN = ("membership", "procurement", "catalogue", "outreach", "dashboard", "usage")


def probe_for(service: str) -> Probe:
    if service not in KNOWN:
        return Probe(name=service)
    try:
        module = importlib.import_module(f"reliability.probes.{service}")
    except ModuleNotFoundError:
        return Probe(name=service)
    return module.PROBE


def reactions_of(service: str) -> Reactions | None:
    """A service's ``reactions`` from its ``handlers.py`` (the service guide's convention)."""
    try:
        module = importlib.import_module(f"services.{service}.handlers")
    except ModuleNotFoundError:
        return None
    reactions = getattr(module, "reactions", None)
    return reactions if isinstance(reactions, Reactions) else None


def consumed_topics(service: str) -> list[str]:
    reactions = reactions_of(service)
    return reactions.topics() if reactions else []


def handled_types(service: str) -> list[str]:
    reactions = reactions_of(service)
    return sorted(model.ce_type() for model in reactions.event_types()) if reactions else []
