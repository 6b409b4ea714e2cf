"""Harvesting over SUSHI from a real stand-in server, on the real broker and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kit.auth import Role
from services.usage.app import build
from services.usage.sushi_standin import SushiStandIn
from tests.conftest import Infra, running, wait_for
from tests.integration.conftest import Service, unique_isil
from tests.integration.usage.conftest import outbox_events, usage_settings

pytestmark = pytest.mark.integration


def auth(infra: Infra, role: Role = Role.COORDINATOR, isil: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {infra.token(role, isil)}"}


def new_agreement() -> str:
    return f"AG-{uuid.uuid4().hex[:8]}"


async def configure(
    client: Any, infra: Infra, standin: SushiStandIn, agreement: str, customers: dict[str, str]
) -> None:
    response = await client.put(
        f"/agreements/{agreement}/provider",
        json={
            "platform": "StandIn",
            "release": "5.1",
            "base_url": standin.url,
            "requestor_id": "konsortio",
            "api_key_ref": "env:KONSORTIO_TEST_SUSHI_KEY",
            "customers": customers,
            "price_per_loan_cents": 150,
        },
        headers=auth(infra),
    )
    assert response.status_code == 200, response.text
    assert "api_key_ref" not in response.json()


async def harvest(client: Any, infra: Infra, agreement: str, begin: str, end: str) -> None:
    response = await client.post(
        f"/agreements/{agreement}/harvests",
        json={"report": "TR", "begin": begin, "end": end},
        headers=auth(infra),
    )
    assert response.status_code == 202, response.text


async def counts(client: Any, infra: Infra, agreement: str) -> dict[str, int]:
    response = await client.get(f"/agreements/{agreement}/harvests", headers=auth(infra))
    return response.json()["counts"]


async def settled(client: Any, infra: Infra, agreement: str) -> dict[str, int]:
    async def check() -> dict[str, int] | None:
        c = await counts(client, infra, agreement)
        return c if not c.get("queued") and not c.get("running") else None

    return await wait_for(check, timeout_s=120)


async def test_a_year_for_20_libraries_then_a_reharvest_changes_nothing(
    infra: Infra, usage: Service, standin: SushiStandIn
) -> None:
    agreement = new_agreement()
    libraries = {unique_isil("FI-U"): f"cust-{uuid.uuid4().hex[:6]}" for _ in range(20)}
    await configure(usage.client, infra, standin, agreement, libraries)
    await harvest(usage.client, infra, agreement, "2025-01", "2025-12")
    assert await settled(usage.client, infra, agreement) == {"done": 240}

    revisions = await usage.pool.fetchval(
        "SELECT count(*) FROM usage_revisions WHERE agreement_id = $1", agreement
    )
    assert revisions == 240
    reported = await outbox_events(usage.pool, "usage-reported", agreement)
    assert len(reported) == 240

    # The figures are the stand-in's, recomputed independently of the harvest.
    isil, customer = next(iter(libraries.items()))
    expected = sum(
        standin.counts(customer, f"2025-{m:02d}", isbn)[1]
        for m in range(1, 13)
        for isbn, _, _ in standin.title_list()
    )
    response = await usage.client.get(
        f"/libraries/{isil}/usage",
        params={"from": "2025-01", "to": "2025-12", "metric": "Unique_Title_Requests"},
        headers=auth(infra, Role.LIBRARY, isil),
    )
    assert response.status_code == 200, response.text
    assert sum(row["total"] for row in response.json()["items"]) == expected

    # The same months again: every job runs, nothing is recorded.
    await harvest(usage.client, infra, agreement, "2025-01", "2025-12")
    assert await settled(usage.client, infra, agreement) == {"done": 240}
    assert (
        await usage.pool.fetchval(
            "SELECT count(*) FROM usage_revisions WHERE agreement_id = $1", agreement
        )
        == 240
    )
    assert len(await outbox_events(usage.pool, "usage-reported", agreement)) == 240

    # The provider corrects one library's figures: a new revision of that month only.
    standin.bumps[customer] = 1
    try:
        await harvest(usage.client, infra, agreement, "2025-03", "2025-03")
        await settled(usage.client, infra, agreement)
    finally:
        standin.bumps.pop(customer)
    rows = await usage.pool.fetch(
        """SELECT isil, revision FROM usage_revisions
            WHERE agreement_id = $1 AND revision > 1""",
        agreement,
    )
    assert [(r["isil"], r["revision"]) for r in rows] == [(isil, 2)]


async def test_a_queued_report_is_fetched_again_later(
    infra: Infra, usage: Service, standin: SushiStandIn
) -> None:
    agreement = new_agreement()
    isil, customer = unique_isil("FI-Q"), f"queued-{uuid.uuid4().hex[:6]}"
    standin.faults[customer] = "queued-once"
    await configure(usage.client, infra, standin, agreement, {isil: customer})
    await harvest(usage.client, infra, agreement, "2025-05", "2025-05")
    assert await settled(usage.client, infra, agreement) == {"done": 1}
    job = await usage.pool.fetchrow(
        "SELECT attempts, state FROM harvest_jobs WHERE agreement_id = $1", agreement
    )
    assert job["attempts"] == 2  # 1011 first, the report on the second request
    assert len(await outbox_events(usage.pool, "usage-reported", agreement)) == 1


async def test_no_usage_available_is_a_month_of_zero(
    infra: Infra, usage: Service, standin: SushiStandIn
) -> None:
    agreement = new_agreement()
    isil, customer = unique_isil("FI-Z"), f"nousage-{uuid.uuid4().hex[:6]}"
    standin.faults[customer] = "no-usage"
    await configure(usage.client, infra, standin, agreement, {isil: customer})
    await harvest(usage.client, infra, agreement, "2025-05", "2025-05")
    assert await settled(usage.client, infra, agreement) == {"done": 1}
    [event] = await outbox_events(usage.pool, "usage-reported", agreement)
    assert event["totals"] == {} and event["titles"] == 0


async def test_a_failing_provider_fails_the_job_with_an_event_and_can_be_retried(
    infra: Infra, usage: Service, standin: SushiStandIn
) -> None:
    agreement = new_agreement()
    isil, customer = unique_isil("FI-F"), f"fail-{uuid.uuid4().hex[:6]}"
    standin.faults[customer] = "fail"
    await configure(usage.client, infra, standin, agreement, {isil: customer})
    await harvest(usage.client, infra, agreement, "2025-01", "2025-03")
    assert await settled(usage.client, infra, agreement) == {"failed": 3}
    failed = await outbox_events(usage.pool, "usage-harvest-failed", agreement)
    assert sorted(e["period"] for e in failed) == ["2025-01", "2025-02", "2025-03"]
    assert all(e["attempts"] == 3 and "503" in e["reason"] for e in failed)

    standin.faults.pop(customer)
    response = await usage.client.post(
        f"/agreements/{agreement}/harvests/retry", headers=auth(infra)
    )
    assert response.json() == {"requeued": 3}
    assert await settled(usage.client, infra, agreement) == {"done": 3}


async def test_harvests_resume_after_a_restart(infra: Infra) -> None:
    slow = SushiStandIn(titles=10, slow_s=0.4)
    slow.start()
    try:
        dsn = await infra.new_database("usage_restart")
        settings = infra.settings("usage", dsn, consumer_group=f"usage-r-{uuid.uuid4().hex}")
        agreement = new_agreement()
        isil, customer = unique_isil("FI-S"), f"slow-{uuid.uuid4().hex[:6]}"
        slow.faults[customer] = "slow"
        app = build(settings, usage_settings(harvest_batch=1, harvest_lease_s=1.0))
        async with running(app) as client:
            await configure(client, infra, slow, agreement, {isil: customer})
            await harvest(client, infra, agreement, "2025-01", "2025-12")

            async def some_done() -> bool:
                return (await counts(client, infra, agreement)).get("done", 0) >= 2

            await wait_for(some_done, timeout_s=60)
        # Stopped mid-harvest: what was running is leased, the rest queued.
        app = build(settings, usage_settings(harvest_batch=4, harvest_lease_s=1.0))
        async with running(app) as client:
            left = await counts(client, infra, agreement)
            assert left.get("done", 0) < 12
            assert await settled(client, infra, agreement) == {"done": 12}
            revisions = await app.state.runtime.pool.fetchval(
                "SELECT count(*) FROM usage_revisions WHERE agreement_id = $1", agreement
            )
            assert revisions == 12
    finally:
        slow.stop()
