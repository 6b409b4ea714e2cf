"""An SMTP outage delays messages and never loses them: with this package's own aiosmtpd
server stopped, messages are queued and retried with backoff; when it is back, every message
arrives exactly once, and each is reported by exactly one message-delivered event."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from contracts.catalogue import RecordsAvailable
from tests.conftest import Infra, wait_for
from tests.integration.outreach.conftest import (
    BOUNCING,
    MailServer,
    Outreach,
    all_sent,
    contact,
    deliveries_of,
    joined,
    library,
    members_known,
    publish,
    unique_isil,
)

pytestmark = pytest.mark.integration


async def test_an_smtp_outage_delays_mail_and_every_message_arrives_exactly_once(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    isils = [unique_isil("FI-M") for _ in range(3)]
    libraries = [library(i, [contact(i, "Aino", "fi"), contact(i, "Sara", "sv")]) for i in isils]
    addresses = [c.email for lib in libraries for c in lib.contacts]
    mail_server.stop()
    try:
        causes = await publish(infra, *(joined(lib) for lib in libraries), times=2)
        await members_known(outreach_own, *isils)
        causes += await publish(
            infra,
            *(
                RecordsAvailable(
                    isil=i, collection_id="C-9", agreement_id=None, title="Uutuudet", count=7
                )
                for i in isils
            ),
            times=2,
        )

        async def waiting_for_smtp() -> bool:
            rows = [d for cause in causes for d in await deliveries_of(infra, outreach_own, cause)]
            return (
                len(rows) == 2 * len(addresses)
                and all(r["status"] in ("queued", "sending") for r in rows)
                and all("SMTP unavailable" in (r["last_error"] or "") for r in rows)
                and min(r["attempts"] for r in rows) >= 2  # retried, with backoff
            )

        await wait_for(waiting_for_smtp, timeout_s=30)
        assert not any(mail_server.to(address) for address in addresses)
    finally:
        mail_server.start()

    rows = []
    for cause in causes:
        rows += await all_sent(infra, outreach_own, cause, expected=2)  # one library's 2
    assert len(rows) == 2 * len(addresses)
    received = Counter(
        (address, message.kind) for address in addresses for message in mail_server.to(address)
    )
    assert received == Counter({(a, k): 1 for a in addresses for k in ("welcome", "notice")})

    payloads = [
        json.loads(bytes(r["payload"]))
        for r in await outreach_own.pool.fetch(
            "SELECT payload FROM outbox WHERE event_type LIKE '%.message-delivered.%'"
        )
    ]
    reported = Counter(p["delivery_id"] for p in payloads if p["cause_id"] in causes)
    assert reported == Counter({r["id"]: 1 for r in rows})
    assert all(p["attempts"] >= 2 for p in payloads if p["cause_id"] in causes)


async def test_a_permanently_refused_recipient_is_failed_with_the_reason_and_reported(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    isil = unique_isil("FI-F")
    good, gone = contact(isil, "Aino"), contact(isil, "Bounce", "sv")
    assert gone.email.startswith(BOUNCING)
    [cause] = await publish(infra, joined(library(isil, [good, gone])))

    async def settled() -> list[dict] | None:
        rows = await deliveries_of(infra, outreach_own, cause)
        return rows if {r["status"] for r in rows} == {"sent", "failed"} else None

    rows = {r["recipient"]: r for r in await wait_for(settled)}
    assert rows[gone.email]["attempts"] == 1  # no retries for a permanent refusal
    assert "550" in rows[gone.email]["last_error"]
    assert len(mail_server.to(good.email)) == 1 and not mail_server.to(gone.email)
    payloads = [
        json.loads(bytes(r["payload"]))
        for r in await outreach_own.pool.fetch(
            "SELECT payload FROM outbox WHERE event_type LIKE '%.message-delivered.%'"
        )
    ]
    outcomes = {p["delivery_id"]: p["status"] for p in payloads if p["cause_id"] == cause}
    assert outcomes == {rows[good.email]["id"]: "sent", rows[gone.email]["id"]: "failed"}


async def test_a_message_to_one_library_is_sent_before_a_backlog_of_bulk_mail(
    infra: Infra,
) -> None:
    # On a database of its own, with no sender running: what claim_due hands out first.
    from pathlib import Path

    from kit.db import apply_migrations, create_pool
    from services.outreach import store
    from services.outreach.domain import Mail, Recipient

    pool = await create_pool(await infra.new_database("outreach_order"))
    try:
        await apply_migrations(pool, Path(store.__file__).parents[1] / "migrations")

        def mail(kind: str, n: int) -> Mail:
            who = Recipient("FI-Q", f"r{n}.{kind}@example.org", "R", "fi")
            return Mail(kind, who, f"{kind} {n}", "text", "<p>html</p>")

        async with pool.acquire() as conn:
            await store.deliveries.queue(
                conn, "bulk", [mail("announcement", n) for n in range(30)], "x.test"
            )
            await store.deliveries.queue(
                conn, "campaign", [mail("campaign", n) for n in range(30)], "x.test"
            )
            await store.deliveries.queue(conn, "joined", [mail("welcome", 1)], "x.test")
            await store.deliveries.queue(conn, "asked", [mail("acceptance", 1)], "x.test")
            first = await store.deliveries.claim_due(conn, 3)
            rest = await store.deliveries.claim_due(conn, 100)
        # The claimed rows come back in no set order; which rows were claimed is the point.
        assert Counter(r["kind"] for r in first) == {
            "welcome": 1,
            "acceptance": 1,
            "announcement": 1,
        }
        assert Counter(r["kind"] for r in rest) == {"announcement": 29, "campaign": 30}
    finally:
        await pool.close()
