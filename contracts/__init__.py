"""Konsortio's event contracts: the public interface between services.

Each producing service has its own module here; ``EVENTS_BY_TYPE`` maps every CloudEvents type
Konsortio knows to its payload model.
"""

from __future__ import annotations

from contracts import catalogue, membership, outreach, procurement, usage
from contracts.base import Event, dead_letter_topic, topic_for

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
    "ALL_EVENTS",
    "EVENTS_BY_TYPE",
    "PRODUCERS",
    "TOPICS",
    "Event",
    "dead_letter_topic",
    "topic_for",
]
