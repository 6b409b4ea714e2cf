"""The running dashboard on the real broker and database: events from the services move the
figures, the stream pushes them, a replay from the earliest offset rebuilds the same figures,
and the JSON API and pages answer bad input with problem details."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from contracts.catalogue import IngestCounts, TitlesIngested
from contracts.outreach import MessageDelivered
from contracts.procurement import AgreementLeft, AgreementSignedV2, CostShareV2
from services.dashboard import domain
from services.dashboard.app import build
from tests.conftest import Infra, consumer_ready, running, wait_for
from tests.integration.conftest import Service, library_body, register_and_join, unique_isil
from tests.integration.dashboard.support import (
    JOIN_TIMEOUT_S,
    DashboardUnderTest,
    agreement_in,
    joined,
    opted_in,
    publish,
    signed,
    unique,
)

pytestmark = pytest.mark.integration


async def feed_has(dashboard: DashboardUnderTest, name: str, key: str) -> dict[str, Any] | None:
    response = await dashboard.client.get(
        "/api/events", params={"type": name, "limit": 500, "lang": "en"}
    )
    return next((i for i in response.json()["items"] if i["key"] == key), None)


async def test_membership_commands_move_the_figures_without_showing_contacts(
    infra: Infra, membership: Service, dashboard: DashboardUnderTest
) -> None:
    before = await dashboard.figures()
    first, second = unique_isil("FI-Da"), unique_isil("FI-Db")
    email = f"secret.{first.lower()}@example.org"
    contact = [{"name": "Salainen Henkilö", "email": email, "role": "director", "language": "fi"}]
    # Each in a municipality of its own that no other test uses (membership accepts only codes
    # of Statistics Finland's classification): libraries sharing one count it once.
    await register_and_join(
        membership,
        infra,
        library_body(first, contact, population=40_000, municipalities=["019"]),
    )
    await register_and_join(
        membership,
        infra,
        library_body(second, population=60_000, municipalities=["047"]),
    )

    async def both_counted() -> dict[str, Any] | None:
        now = await dashboard.figures()
        added = now["members"]["population"] - before["members"]["population"]
        return now if added == 100_000 else None

    after = await wait_for(both_counted)
    assert after["members"]["active"] - before["members"]["active"] == 2
    assert after["members"]["population_share"] == domain.share(after["members"]["population"])
    item = await feed_has(dashboard, "member-joined", first)
    assert item is not None and item["service"] == "membership"
    history = (await dashboard.client.get("/api/events", params={"key": first})).json()
    assert history["total"] == 1 and history["items"][0]["event_id"] == item["event_id"]
    assert item["summary"] == f"Testikirjasto {first} joined (40,000 residents)"

    page = await dashboard.client.get("/", params={"lang": "en"})
    events = await dashboard.client.get("/api/events", params={"limit": 500})
    for text in (page.text, events.text):
        assert email not in text and "Salainen" not in text
    assert first in page.text


async def test_agreement_participation_and_coverage(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    agreement, a, b = unique("AG-"), unique_isil("FI-Pa"), unique_isil("FI-Pb")
    title = f"E-kirjat {agreement}"
    await publish(
        infra,
        [
            joined(a, 30_000),
            joined(b, 50_000),
            signed(agreement, title, 2_500_000),
            opted_in(agreement, a, title, 1),
            opted_in(agreement, b, title, 2),
        ],
    )

    # Membership and procurement are separate topics, so their events may arrive in either
    # order; coverage is computed when asked, so it is right once both have arrived.
    async def both_in() -> dict[str, Any] | None:
        found = agreement_in(await dashboard.figures(), agreement)
        return found if found and found["population"] == 80_000 else None

    row = await wait_for(both_in)
    assert row["participants"] == 2
    assert row["population_share"] == domain.share(80_000)
    assert (row["annual_cost_cents"], row["title"], row["active"]) == (2_500_000, title, True)

    await publish(
        infra,
        [
            AgreementLeft(
                agreement_id=agreement,
                isil=a,
                left_on=dt.date.today(),
                reason="opt-out",
                participants=1,
            )
        ],
    )

    async def one_left() -> dict[str, Any] | None:
        found = agreement_in(await dashboard.figures(), agreement)
        return found if found and found["participants"] == 1 else None

    row = await wait_for(one_left)
    assert row["population"] == 50_000


async def test_catalogue_quality_and_outreach_deliveries(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    collection, kind, campaign = unique("COL-"), unique("kind-"), unique("campaign-")
    counts = dict(updated=0, unchanged=0, duplicate=1, withdrawn=0, warnings=3)
    await publish(
        infra,
        [
            TitlesIngested(
                batch_id=unique("B-"),
                collection_id=collection,
                agreement_id=None,
                format="kbart",
                mode="full",
                counts=IngestCounts(received=20, accepted=15, rejected=4, **counts),
                records_in_collection=15,
            ),
            *[
                MessageDelivered(
                    delivery_id=900_000_000 + n,
                    kind=kind,
                    isil="FI-X",
                    cause_id=campaign,
                    status="sent" if n < 3 else "failed",
                    attempts=1,
                )
                for n in range(4)
            ],
        ],
    )

    async def arrived() -> dict[str, Any] | None:
        now = await dashboard.figures()
        by_kind = {k["kind"]: k for k in now["outreach"]["by_kind"]}
        collections = {c["collection_id"]: c for c in now["catalogue"]["items"]}
        counted = by_kind.get(kind, {})
        # Wait for all four deliveries, not just the first one that names the kind.
        if counted.get("sent", 0) + counted.get("failed", 0) == 4 and collection in collections:
            return {"kind": by_kind[kind], "collection": collections[collection]}
        return None

    found = await wait_for(arrived)
    assert found["kind"] == {"kind": kind, "sent": 3, "failed": 1}
    assert found["collection"]["records"] == 15
    assert found["collection"]["accepted_share"] == 0.8
    assert found["collection"]["warnings"] == 3

    # The four mails of one campaign are one feed item with their counts, not four items.
    grouping = {"key": campaign, "group_deliveries": "true", "lang": "en"}
    page = (await dashboard.client.get("/api/events", params=grouping)).json()
    assert page["total"] == 1
    [item] = page["items"]
    assert item["summary"] == f"Messages ({kind}): 3 sent, 1 failed"
    assert item["label"] == "Message delivery"
    assert item["event_id"] == f"deliveries:{kind}:{campaign}"
    hidden = await dashboard.client.get(
        "/api/events", params={**grouping, "hide_deliveries": "true"}
    )
    assert hidden.json()["total"] == 0
    # Without grouping, each mail is its own item (the feed keeps every event).
    each = await dashboard.client.get("/api/events", params={"type": "message-delivered"})
    assert each.json()["total"] >= 4
    page = await dashboard.client.get("/", params={"lang": "en", "hide_deliveries": "true"})
    assert campaign not in page.text and 'id="hide-deliveries"' in page.text


async def sse_messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse a text/event-stream into messages ({"event", "id", "data"} or comments)."""
    message: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if message:
                yield message
            message = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            field, _, value = line.partition(":")
            message[field] = value[1:] if value.startswith(" ") else value


async def next_feed_message(messages: AsyncIterator[dict[str, Any]], key: str) -> dict[str, Any]:
    async for message in messages:
        if message.get("event") == "feed" and json.loads(message["data"])["key"] == key:
            return message
    raise AssertionError("the stream ended")


async def test_the_stream_pushes_each_committed_event_and_resumes_after_last_event_id(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    isil = unique_isil("FI-S")
    async with dashboard.client.stream("GET", "/api/stream", params={"lang": "fi"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = sse_messages(response)
        assert await anext(messages) == {"comment": "connected"}
        await publish(infra, [joined(isil, 1_234)])
        message = await asyncio.wait_for(next_feed_message(messages, isil), timeout=20)
    item = json.loads(message["data"])
    assert message["id"] == str(item["seq"])
    assert item["name"] == "member-joined" and item["service"] == "membership"
    assert item["summary"] == f"Testikirjasto {isil} liittyi jäseneksi (1\u00a0234 asukasta)"

    # A browser that reconnects says which event it saw last, and gets what came after it.
    headers = {"Last-Event-ID": str(item["seq"] - 1)}
    async with dashboard.client.stream("GET", "/api/stream", headers=headers) as response:
        messages = sse_messages(response)
        first_feed = await asyncio.wait_for(
            anext(m async for m in messages if m.get("event") == "feed"), timeout=10
        )
    assert first_feed["id"] == message["id"]


async def test_a_replay_from_the_earliest_offset_yields_the_same_figures_and_survives_restart(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    # Something of our own in every figure, so the comparison is not of empty tables.
    agreement, isil = unique("AG-R"), unique_isil("FI-R")
    await publish(
        infra,
        [
            joined(isil, 7_000),
            signed(agreement, "Replay", 100),
            opted_in(agreement, isil, "Replay", 1),
        ],
    )
    await wait_for(lambda: _has_agreement(dashboard, agreement))

    dsn = await infra.new_database("dashreplay")
    settings = infra.settings("dashboard", dsn, consumer_group=unique("dashboard-replay-"))
    replica = build(settings)
    async with running(replica) as client:
        await consumer_ready(replica, timeout_s=JOIN_TIMEOUT_S)

        async def same() -> dict[str, Any] | None:
            mine, theirs = await dashboard.figures(), (await client.get("/api/figures")).json()
            # The feed as well as the figures: the last events of the replay (a delivery,
            # a dead letter) may change the feed and no figure.
            totals = [
                (await c.get("/api/events", params={"limit": 1})).json()["total"]
                for c in (dashboard.client, client)
            ]
            return theirs if mine == theirs and totals[0] == totals[1] else None

        # The whole history of the session's topics is replayed, and it grows with every test
        # before this one (and dead-letters the foreign events some tests publish).
        replayed = await wait_for(same, timeout_s=150)
    assert agreement_in(replayed, agreement)["participants"] == 1

    # Restarted on the same database, it shows the same figures before consuming anything.
    restarted = build(settings)
    async with running(restarted) as client:
        assert (await client.get("/api/figures")).json() == replayed


async def _has_agreement(dashboard: DashboardUnderTest, agreement: str) -> bool:
    found = agreement_in(await dashboard.figures(), agreement)
    return bool(found and found["participants"] == 1)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/events", {"service": "billing"}, "query.service"),
        ("/api/events", {"type": "Not A Name"}, "query.type"),
        ("/api/events", {"limit": 0}, "query.limit"),
        ("/api/events", {"lang": "de"}, "query.lang"),
        ("/api/events", {"hide_deliveries": "maybe"}, "query.hide_deliveries"),
        ("/api/stream", {"group_deliveries": "often"}, "query.group_deliveries"),
        ("/api/stream", {"after": -1}, "query.after"),
        ("/api/events", {"after": 2**63}, "query.after"),
        ("/api/events", {"key": ""}, "query.key"),
        ("/", {"lang": "de"}, "query.lang"),
        ("/fragments/figures", {"lang": ""}, "query.lang"),
    ],
)
async def test_bad_query_parameters_get_problem_details_naming_the_field(
    dashboard: DashboardUnderTest, path: str, params: dict[str, Any], field: str
) -> None:
    response = await dashboard.client.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_the_public_page_in_three_languages(dashboard: DashboardUnderTest) -> None:
    finnish = await dashboard.client.get("/")
    assert finnish.status_code == 200
    assert '<html lang="fi">' in finnish.text and "Tunnusluvut" in finnish.text
    assert "script-src 'self'" in finnish.headers["content-security-policy"]
    english = await dashboard.client.get("/", params={"lang": "en", "service": "membership"})
    assert '<html lang="en">' in english.text and "Key figures" in english.text
    assert '<option value="membership" selected>' in english.text
    swedish = await dashboard.client.get("/", params={"lang": "sv"})
    assert '<html lang="sv">' in swedish.text and "Nyckeltal" in swedish.text
    assert 'hreflang="fi"' in swedish.text and 'hreflang="en"' in swedish.text
    # Switching the language keeps the filters.
    filtered = await dashboard.client.get(
        "/", params={"lang": "sv", "service": "outreach", "hide_deliveries": "true"}
    )
    assert '"/?lang=fi&amp;service=outreach&amp;hide_deliveries=true"' in filtered.text
    fragment = await dashboard.client.get("/fragments/figures", params={"lang": "en"})
    assert fragment.text.lstrip().startswith('<h2 id="figures-heading">Key figures</h2>')
    script = await dashboard.client.get("/static/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    missing = await dashboard.client.get("/static/other.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_an_agreement_signed_in_both_versions_is_one_row_of_the_feed(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    """Procurement publishes agreement-signed v2 beside v1; the dashboard shows the fact once."""
    agreement = unique("AG-V2")
    first = signed(agreement, f"Kaksi versiota {agreement}", 1_000_000)
    second = AgreementSignedV2(
        **first.model_dump(include=set(AgreementSignedV2.model_fields), exclude_none=True)
        | {
            "lot_id": "1",
            "extension_months": 12,
            "cost_share": CostShareV2(model="per-capita"),
            "price_model": "annual-fee",
            "bid_id": f"B-{agreement}",
            "kl_reference": "",
        }
    )
    ids = await publish(infra, [first, second])

    async def both_handled() -> bool:
        rows = await dashboard.pool.fetch(
            "SELECT event_id FROM inbox WHERE event_id = ANY($1::text[])", ids
        )
        return len(rows) == 2

    await wait_for(both_handled)
    response = await dashboard.client.get(
        "/api/events", params={"type": "agreement-signed", "limit": 500, "lang": "en"}
    )
    rows = [item for item in response.json()["items"] if item["key"] == agreement]
    assert len(rows) == 1, rows
