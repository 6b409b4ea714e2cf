"""Outreach's HTTP API, one router per area:

- ``deliveries``: the audience, the delivery log and (in development) the SMTP sink's mailbox;
- ``kits``: marketing kits and their files;
- ``campaigns``: campaigns, their preview, sending and statistics;
- ``feed``: announcements and the Atom feed;
- ``usage_digest``: a library's subscription to its monthly usage digest."""

from fastapi import APIRouter

from services.outreach.api import campaigns, deliveries, feed, kits, usage_digest

ROUTERS: list[APIRouter] = [
    deliveries.router,
    kits.router,
    campaigns.router,
    feed.router,
    usage_digest.router,
]
