"""Outreach's SQL, parameters only, one module per group of tables:

- ``audience``: libraries and contacts (from membership's events), campaign audiences, and
  requests parked until a library is known;
- ``agreements``: agreements and participation (from procurement's events);
- ``deliveries``: the delivery log the sender works from;
- ``announcements``: what the Atom feed publishes;
- ``kits``: marketing-kit metadata (the files themselves are in ``storage.py``);
- ``campaigns``: campaign rows, their materialisation cursor and statistics.

Callers name the module: ``store.deliveries.queue(...)``."""

from services.outreach.store import (
    agreements,
    announcements,
    audience,
    campaigns,
    deliveries,
    kits,
)

__all__ = ["agreements", "announcements", "audience", "campaigns", "deliveries", "kits"]
