"""The operator view: who may see it, and what it reports from the real stack (health and outbox
backlog scraped over HTTP, consumer lag from the broker, dead letters from the .dlq topics)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from kit.auth import Role
from kit.envelope import encode
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service, auth, unique_isil
from tests.integration.dashboard.support import DashboardUnderTest, joined, serve

pytestmark = pytest.mark.integration


async def test_the_operator_api_needs_an_operator_or_coordinator(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    anonymous = await dashboard.client.get("/api/operator")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["field"] == "authorization"
    forged = await dashboard.client.get("/api/operator", headers=auth("not-a-token"))
    assert forged.status_code == 401
    library = await dashboard.client.get(
        "/api/operator", headers=auth(infra.token(Role.LIBRARY, "FI-Tro"))
    )
    assert library.status_code == 403
    for role in (Role.OPERATOR, Role.COORDINATOR):
        allowed = await dashboard.client.get("/api/operator", headers=auth(infra.token(role)))
        assert allowed.status_code == 200, allowed.text


async def test_the_operator_report_shows_health_backlog_lag_and_dead_letters(
    infra: Infra, membership: Service, outreach: Service, dashboard: DashboardUnderTest
) -> None:
    # A message no consumer can read: the dashboard dead-letters it, then reads it back.
    isil = unique_isil("FI-Q")
    good = encode(joined(isil, 1), source="/tests")
    headers = [(k, v.encode()) for k, v in dict(good.headers, ce_id=f"bad-{isil}").items()]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            good.topic, b'{"library": ', key=isil.encode(), headers=headers
        )
    finally:
        await producer.stop()

    operator = auth(infra.token(Role.OPERATOR))
    ports = dashboard.scrape_ports
    async with serve(membership.app, ports["membership"]), serve(outreach.app, ports["outreach"]):

        async def reported() -> dict[str, Any] | None:
            report = (await dashboard.client.get("/api/operator", headers=operator)).json()
            reasons = [
                d for d in report["latest_dead_letters"] if d["consumer_group"] == "dashboard"
            ]
            # Outreach reads the same message: wait until it has committed past it too, or
            # its group has no committed partition to report yet.
            groups = {g["group"]: g for g in report["lag"]}
            outreach_topics = {p["topic"] for p in groups.get("outreach", {}).get("partitions", [])}
            dead = any("malformed JSON" in (d["reason"] or "") for d in reasons)
            return report if dead and "konsortio.membership" in outreach_topics else None

        report = await wait_for(reported, timeout_s=20)

    services = {s["service"]: s for s in report["services"]}
    assert services["dashboard"]["status"] == "ready" and services["dashboard"]["url"] is None
    assert services["membership"]["status"] == "ready"
    assert services["membership"]["checks"] == {
        "database": True,
        "migrations": True,
        "broker": True,
    }
    assert isinstance(services["membership"]["outbox_backlog"], int)
    assert services["outreach"]["status"] == "ready"
    assert services["procurement"]["status"] == "unreachable"  # nothing listens on its port

    lag = {g["group"]: g for g in report["lag"]}
    assert set(lag) >= {"membership", "procurement", "catalogue", "outreach", "dashboard"}
    mine = lag["dashboard"]["partitions"]
    assert {p["topic"] for p in mine} >= {"konsortio.membership", "konsortio.catalogue"}
    assert all(p["end"] >= (p["committed"] or 0) and p["lag"] >= 0 for p in mine)
    assert {p["topic"] for p in lag["outreach"]["partitions"]} >= {"konsortio.membership"}
    assert lag["membership"]["partitions"] == []  # membership consumes nothing
    assert report["lag_error"] is None

    counts = {
        (d["original_topic"], d["consumer_group"]): d["count"] for d in report["dead_letters"]
    }
    assert counts[("konsortio.membership", "dashboard")] >= 1
    assert all("@" not in (d["reason"] or "") for d in report["latest_dead_letters"])


async def test_the_operator_page_signs_in_with_a_token_cookie(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    client = dashboard.client
    page = await client.get("/operator", params={"lang": "en"})
    assert page.status_code == 401
    assert '<label for="token">Token</label>' in page.text

    refused = await client.post(
        "/operator/session",
        data={"token": infra.token(Role.LIBRARY, "FI-Tro"), "lang": "en"},
    )
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    assert "set-cookie" not in refused.headers

    missing = await client.post("/operator/session", data={"lang": "en"})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["token"]

    bearer = infra.token(Role.OPERATOR)
    signed_in = await client.post("/operator/session", data={"token": bearer, "lang": "fi"})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/operator?lang=fi"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    session = signed_in.cookies["konsortio_operator_session"]
    # The cookie is a short-lived dashboard session, not the bearer token: it is no token at
    # any service, and a tampered one is refused.
    assert session != bearer and bearer.split(".")[1] not in session
    assert "Max-Age=900" in cookie
    as_bearer = await client.get("/api/operator", headers={"authorization": f"Bearer {session}"})
    assert as_bearer.status_code == 401
    payload, _, mac = session.partition(".")
    forged = f"{payload}.{mac[::-1]}"
    async with httpx.AsyncClient(
        base_url=dashboard.url, cookies={"konsortio_operator_session": forged}
    ) as browser:
        assert (await browser.get("/api/operator")).status_code == 401

    cookies = {"konsortio_operator_session": session}
    async with httpx.AsyncClient(base_url=dashboard.url, cookies=cookies) as browser:
        view = await browser.get("/operator", params={"lang": "fi"})
    assert view.status_code == 200
    assert "Kuluttajien viive" in view.text and "Palveluiden tila" in view.text

    signed_out = await client.post("/operator/logout", data={"lang": "en"})
    assert signed_out.status_code == 303
    assert 'konsortio_operator_session=""' in signed_out.headers["set-cookie"]
