"""Campaigns: the coordinator creates, previews, schedules and sends them to an audience
filter; sending runs in the background with progress and statistics, ends with
campaign-sent, and a send that crashes between batches resumes with no duplicate and no gap."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest

from contracts.procurement import AgreementLeft
from kit.auth import Role
from kit.settings import KafkaSettings
from konsortio.stack import free_port
from services.outreach import store
from services.outreach.app import build
from tests.conftest import Infra, running, wait_for
from tests.integration.conftest import auth
from tests.integration.outreach.conftest import (
    TODAY,
    MailServer,
    Outreach,
    contact,
    handled,
    joined,
    library,
    members_known,
    opted_in,
    outreach_settings,
    publish,
    unique_isil,
)

pytestmark = pytest.mark.integration


def coordinator(infra: Infra) -> dict[str, str]:
    return auth(infra.token(Role.COORDINATOR))


def campaign_body(audience: dict[str, Any], tag: str) -> dict[str, Any]:
    return {
        "title": f"Kampanja {tag}",
        "audience": audience,
        "subject": {"fi": f"Lue e-kirjoja {tag}", "sv": f"Läs e-böcker {tag}"},
        "body": {
            "fi": "Kirjastossa on uusia e-kirjoja.\n\nKerro asiakkaillesi!",
            "sv": "Biblioteket har nya e-böcker.\n\nBerätta för dina kunder!",
        },
    }


async def sent_campaign(client: Any, infra: Infra, campaign_id: str, timeout_s: float = 30) -> Any:
    async def done() -> dict[str, Any] | None:
        response = await client.get(
            f"/campaigns/{campaign_id}/progress", headers=auth(infra.token(Role.OPERATOR))
        )
        body = response.json()
        return body if body["status"] == "sent" else None

    return await wait_for(done, timeout_s, interval_s=0.2)


async def campaign_sent_events(pool: Any, campaign_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE event_type LIKE '%.campaign-sent.%' AND key = $1",
        campaign_id,
    )
    return [json.loads(bytes(r["payload"])) for r in rows]


async def test_create_preview_schedule_and_send_to_each_kind_of_audience(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    tag = uuid.uuid4().hex[:6]
    system = f"Sys{tag}"
    a, b, c = unique_isil("FI-Ca"), unique_isil("FI-Cb"), unique_isil("FI-Cc")
    libs = {
        a: library(a, [contact(a, "Aino", "fi"), contact(a, "Sara", "sv")], system=system),
        b: library(b, [contact(b, "Eero", "fi")], system=system.upper(), municipalities=["978"]),
        c: library(c, [contact(c, "Olli", "fi")], municipalities=["978"]),
    }
    await publish(infra, *(joined(lib) for lib in libs.values()))
    await members_known(outreach_own, *libs)
    agreement_id = f"AG-{uuid.uuid4().hex[:6]}"
    await publish(
        infra, opted_in(agreement_id, a, "Ei pakettia"), opted_in(agreement_id, c, "Ei pakettia")
    )
    [left] = await publish(
        infra,
        AgreementLeft(
            agreement_id=agreement_id, isil=c, left_on=TODAY, reason="opt-out", participants=1
        ),
    )
    await handled(outreach_own, left)
    client, headers = outreach_own.client, coordinator(infra)

    created = await client.post(
        "/campaigns",
        json=campaign_body({"kind": "library_system", "library_systems": [system.lower()]}, tag),
        headers=headers,
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert (campaign["status"], campaign["audience_text"]) == (
        "draft",
        f"library system: {system.lower()}",
    )

    preview = (await client.post(f"/campaigns/{campaign['id']}/preview", headers=headers)).json()
    assert preview["fi"]["sample"] and preview["sv"]["sample"]
    assert preview["fi"]["recipient"]["isil"] in (a, b)
    assert preview["sv"]["recipient"]["isil"] == a
    assert preview["fi"]["subject"] == f"Lue e-kirjoja {tag}"
    assert preview["sv"]["subject"] == f"Läs e-böcker {tag}"
    assert "<p>Berätta för dina kunder!</p>" in preview["sv"]["html"]

    past = await client.post(
        f"/campaigns/{campaign['id']}/schedule",
        json={"send_at": "2020-01-01T08:00:00Z"},
        headers=headers,
    )
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "send_at"
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    scheduled = await client.post(
        f"/campaigns/{campaign['id']}/schedule", json={"send_at": later}, headers=headers
    )
    assert scheduled.status_code == 200 and scheduled.json()["status"] == "scheduled"
    edit = await client.patch(
        f"/campaigns/{campaign['id']}", json={"title": "Uusi"}, headers=headers
    )
    assert edit.status_code == 409 and edit.json()["errors"][0]["field"] == "status"

    sending = await client.post(f"/campaigns/{campaign['id']}/send", headers=headers)
    assert sending.status_code == 202, sending.text
    progress = await sent_campaign(client, infra, campaign["id"])
    assert (progress["recipients"], progress["sent"], progress["failed"]) == (3, 3, 0)
    assert progress["percent"] == 100.0 and progress["done"]
    expected = {ct.email for isil in (a, b) for ct in libs[isil].contacts}
    for address in expected:
        [mail] = mail_server.to(address, "campaign")
        assert mail.subject == (
            f"Läs e-böcker {tag}" if mail.language == "sv" else f"Lue e-kirjoja {tag}"
        )
    assert not mail_server.to(libs[c].contacts[0].email, "campaign")
    [event] = await wait_for(lambda: campaign_sent_events(outreach_own.pool, campaign["id"]))
    assert (event["recipients"], event["sent"], event["failed"]) == (3, 3, 0)
    assert event["audience"] == f"library system: {system.lower()}"
    again = await client.post(f"/campaigns/{campaign['id']}/send", headers=headers)
    assert again.status_code == 409

    # The participants of an agreement: a joined, c joined and left.
    to_participants = await client.post(
        "/campaigns",
        json=campaign_body({"kind": "agreement", "agreement_id": agreement_id}, tag + "p"),
        headers=headers,
    )
    participants_id = to_participants.json()["id"]
    await client.post(f"/campaigns/{participants_id}/send", headers=headers)
    progress = await sent_campaign(client, infra, participants_id)
    assert (progress["recipients"], progress["sent"]) == (2, 2)
    assert {m.rcpt_to[0] for m in mail_server.received if m.subject.endswith(tag + "p")} == {
        ct.email for ct in libs[a].contacts
    }

    # Municipalities: every library serving 978 (b and c here, maybe others from elsewhere).
    by_place = await client.post(
        "/campaigns",
        json=campaign_body({"kind": "municipalities", "municipalities": ["978"]}, tag + "m"),
        headers=headers,
    )
    sample = (
        await client.post(f"/campaigns/{by_place.json()['id']}/preview", headers=headers)
    ).json()["fi"]["recipient"]["isil"]
    serves = await outreach_own.pool.fetchval(
        "SELECT '978' = ANY(municipalities) FROM audience_libraries WHERE isil = $1", sample
    )
    assert serves
    cancelled = await client.post(f"/campaigns/{by_place.json()['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"audience": {"kind": "agreement"}}, "audience"),
        ({"audience": {"kind": "municipalities", "municipalities": ["9"]}}, "audience"),
        ({"subject": {"fi": "kaksi\nriviä"}}, "subject.fi"),
        ({"subject": {"fi": ""}}, "subject.fi"),
        ({"body": {"fi": "x" * 20_001}}, "body.fi"),
        ({"kit_id": str(uuid.uuid4())}, "kit_id"),
        ({"title": ""}, "title"),
    ],
)
async def test_bad_campaigns_are_refused_naming_the_field(
    infra: Infra, outreach_own: Outreach, body: dict[str, Any], field: str
) -> None:
    request = {**campaign_body({"kind": "all"}, "x"), **body}
    before = await outreach_own.pool.fetchval("SELECT count(*) FROM campaigns")
    response = await outreach_own.client.post(
        "/campaigns", json=request, headers=coordinator(infra)
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await outreach_own.pool.fetchval("SELECT count(*) FROM campaigns") == before


async def test_only_the_coordinator_runs_campaigns(infra: Infra, outreach_own: Outreach) -> None:
    body = campaign_body({"kind": "all"}, "r")
    for role, isil in ((Role.LIBRARY, "FI-Tro"), (Role.PROCUREMENT, None), (Role.OPERATOR, None)):
        response = await outreach_own.client.post(
            "/campaigns", json=body, headers=auth(infra.token(role, isil))
        )
        assert response.status_code == 403
    missing = await outreach_own.client.get(
        f"/campaigns/{uuid.uuid4()}", headers=coordinator(infra)
    )
    assert missing.status_code == 404


# --- a crash between batches, then a resume -----------------------------------------------------

LIBRARIES = 300  # two contacts each; one address is shared by two libraries: 599 addresses
BATCH = 50


async def test_a_campaign_send_that_crashes_between_batches_resumes_without_duplicates_or_gaps(
    infra: Infra, mail_server: MailServer
) -> None:
    """Two outreach instances in turn on one database (no broker: nothing here needs one, and
    the events they record wait in the outbox). The first stalls after its third batch and is
    stopped there, which cancels its campaign task mid-send while its mailer is busy; the
    second resumes from the stored cursor."""
    tag = uuid.uuid4().hex[:6]
    dsn = await infra.new_database("outreach_crash")
    unreachable = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    settings = infra.settings("outreach", dsn, kafka=unreachable)
    mail = outreach_settings(infra, mail_server, campaign_batch_size=BATCH, mail_batch_size=20)
    libraries = [
        library(
            f"FI-Z{tag}{n:03d}",
            [contact(f"Z{tag}{n:03d}", "Aino", "fi"), contact(f"Z{tag}{n:03d}", "Sara", "sv")],
            system=f"Crash{tag}",
        )
        for n in range(LIBRARIES)
    ]
    shared = libraries[0].contacts[0]
    libraries[1] = libraries[1].model_copy(update={"contacts": [shared, libraries[1].contacts[1]]})
    addresses = {ct.email for lib in libraries for ct in lib.contacts}
    assert len(addresses) == 2 * LIBRARIES - 1

    stalled, never = asyncio.Event(), asyncio.Event()

    async def stall_after_third_batch(_campaign_id: uuid.UUID, batches: int) -> None:
        if batches == 3:
            stalled.set()
            await never.wait()  # until the instance is stopped: the task is cancelled here

    first = build(settings, mail, after_campaign_batch=stall_after_third_batch)
    async with running(first) as client:
        async with first.state.runtime.pool.acquire() as conn, conn.transaction():
            for lib in libraries:
                await store.audience.upsert_library(conn, lib, is_member=True, member_since=TODAY)
        created = await client.post(
            "/campaigns",
            json=campaign_body({"kind": "library_system", "library_systems": [f"crash{tag}"]}, tag),
            headers=coordinator(infra),
        )
        campaign_id = created.json()["id"]
        assert (
            await client.post(f"/campaigns/{campaign_id}/send", headers=coordinator(infra))
        ).status_code == 202
        await wait_for(stalled.is_set)

        def ours() -> list[Any]:
            return [m for m in mail_server.received if m.subject.endswith(tag)]

        await wait_for(lambda: len(ours()) >= 40)  # the mailer is busy when the crash comes
        mid_send = await client.get(
            f"/campaigns/{campaign_id}/progress", headers=auth(infra.token(Role.OPERATOR))
        )
    mid = mid_send.json()
    assert mid["status"] == "sending" and not mid["done"]
    assert (mid["batches"], mid["materialised"], mid["recipients"]) == (
        3,
        3 * BATCH - 1,  # the shared address is queued once
        len(addresses),
    )

    conn = await asyncpg.connect(dsn)
    try:
        state = await conn.fetchrow(
            "SELECT status, batches, materialised, materialised_at FROM campaigns WHERE id = $1",
            uuid.UUID(campaign_id),
        )
        queued_before = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE cause_id = $1", campaign_id
        )
        in_flight = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE cause_id = $1 AND status = 'sending'",
            campaign_id,
        )
    finally:
        await conn.close()
    assert state["status"] == "sending" and state["materialised_at"] is None
    assert queued_before == 3 * BATCH - 1 and in_flight == 0  # the stop handed claims back
    sent_before = len(ours())
    assert 0 < sent_before < len(addresses)

    second = build(settings, mail)
    async with running(second) as client:
        progress = await sent_campaign(client, infra, campaign_id, timeout_s=60)
        pool = second.state.runtime.pool
        assert (progress["sent"], progress["failed"]) == (len(addresses), 0)
        assert progress["batches"] == -(-(2 * LIBRARIES) // BATCH)  # resumed, not restarted
        rows = await pool.fetch(
            "SELECT recipient FROM deliveries WHERE cause_id = $1 AND kind = 'campaign'",
            campaign_id,
        )
        [event] = await campaign_sent_events(pool, campaign_id)
        delivered = [
            json.loads(bytes(r["payload"]))["delivery_id"]
            for r in await pool.fetch(
                "SELECT payload FROM outbox WHERE event_type LIKE '%.message-delivered.%'"
            )
        ]
    assert Counter(r["recipient"] for r in rows) == Counter(addresses)  # no gap, no duplicate
    received = Counter(m.rcpt_to[0] for m in ours())
    assert received == Counter(addresses), "every address exactly once at the SMTP server"
    assert (event["recipients"], event["sent"], event["failed"]) == (len(addresses),) * 2 + (0,)
    assert len(delivered) == len(set(delivered)) == len(addresses)
