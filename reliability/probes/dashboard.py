"""Dashboard: its live feed as a read model (every event the load caused appears exactly once),
and who may call what: the page, figures, feed and stream are public (DESIGN.md: it streams
to browsers); the operator view and API are for operators and the coordinator."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from reliability.probes.base import (
    OPERATIONS,
    PUBLIC,
    STAFF,
    AuthzContext,
    EffectContext,
    EffectReport,
    Endpoint,
    Probe,
    RequestSpec,
)

PAGE = 500


def _sign_in(ctx: AuthzContext) -> RequestSpec:
    # The operator view's sign-in takes the token as a form field; the matrix fills it in.
    return RequestSpec("/operator/session", data={"lang": "fi"}, form_token="token")


async def _feed(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(1000):
        response = await client.get(
            f"{url}/api/events", params={"limit": PAGE, "offset": page * PAGE}
        )
        response.raise_for_status()
        body = response.json()
        items += body["items"]
        if len(items) >= body["total"] or not body["items"]:
            break
    return items


async def effects(ctx: EffectContext) -> EffectReport:
    report = EffectReport()
    feed = Counter(item["event_id"] for item in await _feed(ctx.client, ctx.stack.url("dashboard")))
    for records in ctx.events.values():
        for record in records:
            event_id = str(record.header("ce_id"))
            report.expected += 1
            seen = feed[event_id]
            if seen == 0:
                report.lost.append(f"feed: {record.header('ce_type')} {event_id} missing")
            elif seen > 1:
                report.duplicated.append(f"feed: {event_id} appears {seen} times")
            else:
                report.observed += 1
    report.figures = {"feed_entries_checked": report.expected, "feed_size": sum(feed.values())}
    return report


ENDPOINTS = (
    *(Endpoint(method, path, PUBLIC) for method, path in OPERATIONS),
    Endpoint("GET", "/", PUBLIC),
    Endpoint("GET", "/fragments/figures", PUBLIC),
    Endpoint("GET", "/api/figures", PUBLIC),
    Endpoint("GET", "/api/events", PUBLIC),
    # Coming deadlines, how many have accepted the agreement version, surveys: served without
    # any token check (as the other public figures); which members have not accepted is for
    # the coordinator and operators.
    Endpoint("GET", "/api/governance", PUBLIC),
    Endpoint("GET", "/api/governance/not-accepted", STAFF),
    # Each survey's answer counts per question (no library's own answers): public as above.
    Endpoint("GET", "/surveys", PUBLIC),
    Endpoint("GET", "/api/stream", PUBLIC),
    Endpoint("GET", "/static/{name}", PUBLIC),
    Endpoint("GET", "/api/operator", STAFF),
    Endpoint("GET", "/operator", STAFF),
    Endpoint("POST", "/operator/session", STAFF, _sign_in),
    Endpoint("POST", "/operator/logout", PUBLIC, lambda ctx: RequestSpec("/operator/logout")),
)

PROBE = Probe(
    name="dashboard",
    endpoints=ENDPOINTS,
    effects=effects,
    path_samples={"name": lambda ctx: "dashboard.css"},
)
