"""Konsortio's event contracts: the public interface between services.

Each producing service has its own module here; ``EVENTS_BY_TYPE`` maps every CloudEvents type
Konsortio knows to its payload model; ``decode`` turns a received Kafka record into the typed
event; ``contracts.resources`` gives the JSON Schemas and the AsyncAPI document.

The distribution ``konsortio-contracts`` has its own version. Events follow the compatibility
rules that ``tests/contracts`` enforces: within one event version only optional fields are
added; a breaking change is a new major *event* version (``...v2``) beside the old one. So the
distribution's minor version grows with every added event, event version or optional field,
and its major version only if an event version is ever withdrawn.
"""

from __future__ import annotations

from contracts import catalogue, membership, outreach, procurement, usage
from contracts.base import Event, dead_letter_topic, topic_for
from contracts.decoding import (
    DecodeError,
    Received,
    UnknownEventType,
    UnknownEventVersion,
    decode,
)

__version__ = "1.14.1"

ALL_EVENTS: tuple[type[Event], ...] = (
    *membership.EVENTS,
    *procurement.EVENTS,
    *catalogue.EVENTS,
    *outreach.EVENTS,
    *usage.EVENTS,
)
EVENTS_BY_TYPE: dict[str, type[Event]] = {event.ce_type(): event for event in ALL_EVENTS}
PRODUCERS: tuple[str, ...] = ("membership", "procurement", "catalogue", "outreach", "usage")
TOPICS: tuple[str, ...] = tuple(topic_for(p) for p in PRODUCERS)

__all__ = [
    "__version__",
    "ALL_EVENTS",
    "EVENTS_BY_TYPE",
    "PRODUCERS",
    "TOPICS",
    "DecodeError",
    "Event",
    "Received",
    "UnknownEventType",
    "UnknownEventVersion",
    "decode",
    "dead_letter_topic",
    "topic_for",
]
