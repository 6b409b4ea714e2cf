"""The usage cost model on the real broker and database: procurement learns each library's
use of a per-loan agreement from usage-reported (a correction's later revision replaces the
figures, a redelivery changes nothing), refuses with a 409 naming the agreement and period
while it has no figures, and divides a closed billing period's cost by each participant's
share of use, to the cent; agreement-signed and invoice-lines-issued v2 name the model."""

from __future__ import annotations

import datetime as dt

import pytest
from aiokafka import AIOKafkaProducer

from contracts.usage import UsageReported
from kit.envelope import encode
from services.procurement import commands, domain
from services.procurement.governance import report as annual_report
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    add_member,
    agreement_body,
    bid_body,
    need_body,
    ok,
    opt_in,
    outbox,
    tender_body,
)

pytestmark = pytest.mark.integration

# The agreement starts on the first of next month: billing by use is by whole months.
START = (TODAY.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
MONTH_END = (START + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
MONTH = f"{START:%Y-%m}"


async def _per_loan_tender(procurement: Service, actors: Actors) -> str:
    proposer = await add_member(procurement)
    need = ok(
        await procurement.client.post(
            "/needs",
            json=need_body(accepted_licence_models=["per-loan"]),
            headers=actors.library(proposer),
        ),
        201,
    )
    criteria = {"price": 100, "quality": 0, "compatibility": 0}
    tender = ok(
        await procurement.client.post(
            "/tenders",
            json=tender_body([need["id"]], price_model="per-loan", criteria=criteria),
            headers=actors.procurement,
        ),
        201,
    )
    ok(await procurement.client.post(f"/tenders/{tender['id']}/open", headers=actors.procurement))
    ok(
        await procurement.client.post(
            f"/tenders/{tender['id']}/bids",
            json=bid_body("Loans Oy", 150, price_model="per-loan"),
            headers=actors.procurement,
        ),
        201,
    )
    after = dt.datetime.fromisoformat(tender["deadline"]) + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, tender["id"], after)
    ok(
        await procurement.client.post(
            f"/tenders/{tender['id']}/award", json={}, headers=actors.procurement
        )
    )
    return str(tender["id"])


def _usage(agreement_id: str, isil: str, loans: int, revision: int) -> UsageReported:
    return UsageReported(
        agreement_id=agreement_id,
        isil=isil,
        period=MONTH,
        report="SUPPLIER",
        source="supplier-upload",
        revision=revision,
        totals={"loans": loans},
        titles=10,
    )


async def test_a_per_loan_agreement_is_billed_by_each_librarys_share_of_loans(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    procurement, client = live_procurement, live_procurement.client
    tender_id = await _per_loan_tender(procurement, actors)
    period = {
        "start": START.isoformat(),
        "end": (START + dt.timedelta(days=364)).isoformat(),
        "cancellation_deadline": (START + dt.timedelta(days=270)).isoformat(),
    }
    # Per-capita cannot divide per-loan prices; usage can.
    per_capita = await client.post(
        "/agreements",
        json=agreement_body(tender_id, first_period=period, annual_cost_cents=1_200_000),
        headers=actors.coordinator,
    )
    assert per_capita.status_code == 409, per_capita.text
    assert "only usage fits" in per_capita.json()["errors"][0]["message"]
    agreement = ok(
        await client.post(
            "/agreements",
            json=agreement_body(
                tender_id,
                first_period=period,
                annual_cost_cents=1_200_000,
                cost_share={"model": "usage"},
            ),
            headers=actors.coordinator,
        ),
        201,
    )
    agreement_id = agreement["id"]
    signed = [
        p for name, p in await outbox(procurement, agreement_id) if name == "agreement-signed"
    ]
    assert [p.get("cost_share_model") for p in signed] == ["equal", None]
    assert signed[0]["cost_share"] is None and signed[1]["cost_share"]["model"] == "usage"

    a, b = await add_member(procurement), await add_member(procurement)
    for isil in (a, b):
        await opt_in(procurement, actors, agreement_id, isil, from_date=START.isoformat())

    # No figures yet: the table on a day of the month and the month's billing are refused.
    day = START + dt.timedelta(days=10)
    refused = await client.get(
        f"/agreements/{agreement_id}/cost-shares",
        params={"on": day.isoformat()},
        headers=actors.coordinator,
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()["errors"][0]
    assert problem["field"] == "usage"
    assert agreement_id in problem["message"] and MONTH in problem["message"]
    month = domain.BillingPeriod(START, MONTH_END)
    with pytest.raises(domain.NoUsageFigures, match=MONTH):
        await commands.close_billing_period(
            procurement.pool,
            agreement_id,
            month,
            today=MONTH_END + dt.timedelta(days=1),
            closed_by="test",
        )

    # The figures arrive from the usage service; b's first is delivered twice, and a's is
    # corrected by a second revision.
    first_b = encode(_usage(agreement_id, b, 100, 1), source="/konsortio/usage")
    messages = [
        encode(_usage(agreement_id, a, 300, 1), source="/konsortio/usage"),
        first_b,
        first_b,
        encode(_usage(agreement_id, a, 100, 2), source="/konsortio/usage"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
    finally:
        await producer.stop()

    async def corrected() -> bool:
        rows = await procurement.pool.fetch(
            "SELECT isil, revision, uses FROM usage_figures WHERE agreement_id = $1 ORDER BY isil",
            agreement_id,
        )
        return sorted((r["isil"], r["revision"], r["uses"]) for r in rows) == sorted(
            [(a, 2, 100), (b, 1, 100)]
        )

    await wait_for(corrected)

    closed = await commands.close_billing_period(
        procurement.pool,
        agreement_id,
        month,
        today=MONTH_END + dt.timedelta(days=1),
        closed_by="test",
    )
    shares = {line.isil: line.amount_cents for line in closed.lines}
    assert sum(shares.values()) == closed.cost_cents > 0
    # Equal loans after the correction: the cost is halved, to within the one odd cent.
    assert abs(shares[a] - shares[b]) <= 1
    issued = [
        p for name, p in await outbox(procurement, agreement_id) if name == "invoice-lines-issued"
    ]
    v1, v2 = issued
    assert v1["cost_share_model"] == "equal" and v1["cost_share"] is None
    assert v2["cost_share"]["model"] == "usage" and v2["usage_months"] == [MONTH]
    assert sum(line["amount_cents"] for line in v2["lines"]) == v2["cost_cents"]

    # The annual report shows each library its share of the usage-priced agreement, divided
    # by use as the cost-share table divides it (it showed nothing before).
    async with procurement.pool.acquire() as conn:
        reports = [await annual_report.library_report(conn, START.year, i) for i in (a, b)]
    lines = [
        next(line for line in r.agreements if line.agreement_id == agreement_id)
        for r in reports
        if r is not None
    ]
    assert sum(line.annual_share_cents for line in lines) == 1_200_000
    assert abs(lines[0].annual_share_cents - lines[1].annual_share_cents) <= 1
