"""The monthly usage digest on the real broker, database and SMTP server: one digest per
library and closed month to each contact in their language, none for an open month, none
twice when events are redelivered or corrected, and none after a contact opts out (through the
API or the unsubscribe link in a digest)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest

from contracts.usage import UsageReported
from kit.auth import Role
from services.outreach import usage_digest
from tests.conftest import Infra, wait_for
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
    publish,
    signed,
    unique_isil,
)

pytestmark = pytest.mark.integration


def month_back(months: int) -> str:
    day = dt.date.today().replace(day=1)
    for _ in range(months):
        day = (day - dt.timedelta(days=1)).replace(day=1)
    return f"{day:%Y-%m}"


def reported(agreement: str, isil: str, period: str, uses: int, revision: int = 1) -> UsageReported:
    return UsageReported(
        agreement_id=agreement,
        isil=isil,
        period=period,
        report="TR",
        source="sushi",
        revision=revision,
        totals={"Unique_Title_Requests": uses},
        titles=4,
    )


async def digests(outreach: Outreach, isil: str) -> list[tuple[str, int]]:
    rows = await outreach.pool.fetch(
        "SELECT to_char(period, 'YYYY-MM') AS m, mails FROM usage_digests WHERE isil = $1"
        " ORDER BY period",
        isil,
    )
    return [(r["m"], r["mails"]) for r in rows]


async def test_one_digest_per_library_and_closed_month_in_each_language_and_opt_out(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    isil = unique_isil("FI-Ud")
    aino, sara = contact(isil, "Aino", "fi"), contact(isil, "Sara", "sv")
    agreement = f"AG-{uuid.uuid4().hex[:6]}"
    await publish(infra, joined(library(isil, [aino, sara])), signed(agreement, "e-book"))
    await members_known(outreach_own, isil)
    last, open_month = month_back(1), month_back(0)

    # Last month's figures, every event delivered twice; a correction (revision 2) replaces
    # the first figures; this month's are not sent while the month is open.
    ids = await publish(
        infra,
        reported(agreement, isil, last, 40),
        reported(agreement, isil, last, 55, revision=2),
        reported(agreement, isil, open_month, 9),
        times=2,
    )
    for event_id in ids:
        await handled(outreach_own, event_id)

    async def both() -> bool:
        return bool(
            mail_server.to(aino.email, "usage-digest")
            and mail_server.to(sara.email, "usage-digest")
        )

    await wait_for(both)
    [fi] = mail_server.to(aino.email, "usage-digest")
    [sv] = mail_server.to(sara.email, "usage-digest")
    assert fi.language == "fi" and "käyttö" in fi.subject and "55 käyttökertaa" in fi.text
    assert sv.language == "sv" and "Användning" in sv.subject and "55 användningar" in sv.text
    assert await digests(outreach_own, isil) == [(last, 2)]

    # A later correction of a month already sent, and a redelivery, send nothing more.
    more = await publish(infra, reported(agreement, isil, last, 60, revision=3), times=2)
    await handled(outreach_own, more[0])
    # A round of the job itself (as the periodic job runs it) finds nothing due.
    runtime = outreach_own.app.state.runtime
    assert await usage_digest.run_round(runtime.pool, runtime.deps, TODAY) == 0
    assert len(mail_server.to(aino.email, "usage-digest")) == 1
    assert len(mail_server.to(sara.email, "usage-digest")) == 1

    # Sara unsubscribes through her digest's link (a form: opening the link alone does not).
    link = re.search(r"https?://\S+/usage-digest/unsubscribe\?token=([\w-]+)", sv.text)
    assert link, sv.text
    token = link.group(1)
    form = await outreach_own.client.get("/usage-digest/unsubscribe", params={"token": token})
    assert form.status_code == 200 and "<form" in form.text
    done = await outreach_own.client.post("/usage-digest/unsubscribe", data={"token": token})
    assert done.status_code == 200, done.text
    bad = await outreach_own.client.post("/usage-digest/unsubscribe", data={"token": "x" * 20})
    assert bad.status_code == 404 and bad.json()["errors"][0]["field"] == "token"

    # Aino is opted out by her library through the API; another library may not do it.
    other = infra.token(Role.LIBRARY, isil="FI-Other")
    body = {"email": aino.email.upper(), "subscribed": False}
    url = f"/libraries/{isil}/usage-digest/subscription"
    refused = await outreach_own.client.put(url, json=body, headers=auth(other))
    assert refused.status_code == 403
    invalid = await outreach_own.client.put(
        url, json={"email": "not-an-address", "subscribed": False},
        headers=auth(infra.token(Role.COORDINATOR)),
    )  # fmt: skip
    assert invalid.status_code == 422 and "email" in invalid.text
    own = await outreach_own.client.put(
        url, json=body, headers=auth(infra.token(Role.LIBRARY, isil=isil))
    )
    assert own.status_code == 200 and own.json() == {"isil": isil, "subscribed": False}

    # The month before last closes with both opted out: recorded, nothing sent.
    earlier = await publish(infra, reported(agreement, isil, month_back(2), 7))
    await handled(outreach_own, earlier[0])
    await wait_for(lambda: _has(outreach_own, isil, month_back(2)))
    assert (month_back(2), 0) in await digests(outreach_own, isil)
    assert len(mail_server.to(aino.email, "usage-digest")) == 1
    assert len(mail_server.to(sara.email, "usage-digest")) == 1


async def _has(outreach: Outreach, isil: str, month: str) -> bool:
    return bool(
        await outreach.pool.fetchval(
            "SELECT 1 FROM usage_digests WHERE isil = $1 AND to_char(period, 'YYYY-MM') = $2",
            isil,
            month,
        )
    )


async def test_opting_out_and_back_in_is_an_event_with_the_address_hash_only(
    infra: Infra, outreach_own: Outreach
) -> None:
    isil = unique_isil("FI-Us")
    address = f"Tiina.{uuid.uuid4().hex[:6]}@Example.org"
    url = f"/libraries/{isil}/usage-digest/subscription"
    library_token = auth(infra.token(Role.LIBRARY, isil=isil))

    async def subscribe(subscribed: bool) -> None:
        body = {"email": address, "subscribed": subscribed}
        response = await outreach_own.client.put(url, json=body, headers=library_token)
        assert response.status_code == 200, response.text

    # Off twice, on twice: only the changes are events.
    for subscribed in (False, False, True, True):
        await subscribe(subscribed)
    # Off again through the unsubscribe link of a digest.
    async with outreach_own.pool.acquire() as conn:
        token = await usage_digest._link_token(conn, isil, usage_digest.email_hash(address))
    done = await outreach_own.client.post("/usage-digest/unsubscribe", data={"token": token})
    assert done.status_code == 200, done.text
    assert await usage_digest.opted_out(outreach_own.pool, isil, usage_digest.email_hash(address))

    async def published() -> list[Any] | None:
        rows = await outreach_own.pool.fetch(
            """SELECT payload, sent_at FROM outbox
                WHERE event_type LIKE '%.usage-digest-subscription-changed.v1' AND key = $1
                ORDER BY id""",
            isil,
        )
        return rows if rows and all(r["sent_at"] for r in rows) else None

    rows = await wait_for(published)
    payloads = [json.loads(bytes(r["payload"])) for r in rows]
    assert [p["subscribed"] for p in payloads] == [False, True, False]
    assert {p["isil"] for p in payloads} == {isil}
    assert {p["email_sha256"] for p in payloads} == {usage_digest.email_hash(address)}
    for row in rows:
        assert address.lower().split("@")[0].encode() not in bytes(row["payload"]).lower()
