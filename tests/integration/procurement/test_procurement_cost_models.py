"""Cost models through the API on the real database: population bands divide an annual fee
exactly, a rate per resident charges a per-title budget, and a model that does not fit the
price model is refused with a 409 naming both (nothing written)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

import pytest

from services.procurement import commands, domain
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    add_member,
    agreement_body,
    awarded,
    bid_body,
    count_rows,
    need_body,
    ok,
    opt_in,
    outbox,
    tender_body,
)

pytestmark = pytest.mark.integration

BANDS = [
    {"up_to": 5_000, "points": 1},
    {"up_to": 50_000, "points": 3},
    {"up_to": None, "points": 8},
]


async def test_a_rate_per_resident_does_not_fit_an_annual_fee(
    procurement: Service, actors: Actors
) -> None:
    tender, _ = await awarded(procurement, actors)
    before = await count_rows(procurement, "agreements")
    refused = await procurement.client.post(
        "/agreements",
        json=agreement_body(
            tender["id"], cost_share={"model": "per-resident", "rate_per_resident_cents": "35"}
        ),
        headers=actors.coordinator,
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert "per-resident" in problem["detail"] and "annual-fee" in problem["detail"]
    assert problem["errors"][0]["field"] == "cost_share.model"
    assert await count_rows(procurement, "agreements") == before


@pytest.mark.parametrize(
    ("cost_share", "field"),
    [
        ({"model": "per-resident"}, "cost_share.rate_per_resident_cents"),
        ({"model": "per-resident", "rate_per_resident_cents": "0.125"}, "rate_per_resident_cents"),
        ({"model": "population-bands"}, "cost_share.bands"),
        ({"model": "per-capita", "bands": BANDS}, "cost_share.bands"),
        ({"model": "population-bands", "bands": BANDS[:1]}, "cost_share.bands"),
    ],
)
async def test_a_cost_model_takes_exactly_its_own_parameters(
    procurement: Service, actors: Actors, cost_share: dict[str, Any], field: str
) -> None:
    tender, _ = await awarded(procurement, actors)
    refused = await procurement.client.post(
        "/agreements",
        json=agreement_body(tender["id"], cost_share=cost_share),
        headers=actors.coordinator,
    )
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["errors"][0]["field"]


async def test_population_bands_divide_the_annual_fee_by_band_points(
    procurement: Service, actors: Actors
) -> None:
    tender, _ = await awarded(procurement, actors)
    agreement = ok(
        await procurement.client.post(
            "/agreements",
            json=agreement_body(
                tender["id"],
                cost_share={"model": "population-bands", "bands": BANDS},
                annual_cost_cents=1_200_000,
                price_amendment="the consortium's budgeted share",
            ),
            headers=actors.coordinator,
        ),
        201,
    )
    assert agreement["cost_share"] == {
        "model": "population-bands",
        "base_fee_cents": 0,
        "bands": BANDS,
    }
    small = await add_member(procurement, population=4_000)
    middle = await add_member(procurement, population=20_000)
    large = await add_member(procurement, population=650_000)
    for isil in (small, middle, large):
        await opt_in(procurement, actors, agreement["id"], isil)
    table = ok(
        await procurement.client.get(
            f"/agreements/{agreement['id']}/cost-shares", headers=actors.coordinator
        )
    )
    shares = {item["isil"]: item["share_cents"] for item in table["items"]}
    assert shares == {small: 100_000, middle: 300_000, large: 800_000}
    assert table["total_cents"] == 1_200_000 == table["annual_cost_cents"]
    # v1 and, beside it, v2 (which names every cost model).
    [(name, signed), (_, signed_v2)] = [
        e for e in await outbox(procurement, agreement["id"]) if e[0] == "agreement-signed"
    ]
    assert signed_v2["cost_share"]["model"] == "population-bands"
    assert signed["cost_share"]["model"] == "population-bands"
    assert signed["cost_share_model"] == "per-capita"  # the nearest older form


async def _per_title_tender(procurement: Service, actors: Actors) -> str:
    proposer = await add_member(procurement)
    need = ok(
        await procurement.client.post(
            "/needs",
            json=need_body(accepted_licence_models=["per-title"]),
            headers=actors.library(proposer),
        ),
        201,
    )
    tender = ok(
        await procurement.client.post(
            "/tenders",
            json=tender_body(
                [need["id"]],
                price_model="per-title",
                criteria={"price": 100, "quality": 0, "compatibility": 0},
            ),
            headers=actors.procurement,
        ),
        201,
    )
    ok(await procurement.client.post(f"/tenders/{tender['id']}/open", headers=actors.procurement))
    ok(
        await procurement.client.post(
            f"/tenders/{tender['id']}/bids",
            json=bid_body("Gamma", 2_500, price_model="per-title"),
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


async def test_a_rate_per_resident_charges_a_per_title_budget_and_bills_it_exactly(
    procurement: Service, actors: Actors
) -> None:
    tender_id = await _per_title_tender(procurement, actors)
    agreement = ok(
        await procurement.client.post(
            "/agreements",
            json=agreement_body(
                tender_id,
                cost_share={"model": "per-resident", "rate_per_resident_cents": "35.5"},
                annual_cost_cents=5_000_000,
            ),
            headers=actors.coordinator,
        ),
        201,
    )
    assert agreement["cost_share"]["rate_per_resident_cents"] == "35.5"
    towns = [await add_member(procurement, population=p) for p in (20_001, 7_333)]
    for isil in towns:
        await opt_in(procurement, actors, agreement["id"], isil)
    table = ok(
        await procurement.client.get(
            f"/agreements/{agreement['id']}/cost-shares", headers=actors.coordinator
        )
    )
    # 35.5 cents a resident a year: 20,001 residents 710,035.5 cents, 7,333 residents
    # 260,321.5; the total 970,357 is what the rate charges, each share within a cent.
    assert table["total_cents"] == 970_357
    shares = {i["isil"]: i["share_cents"] for i in table["items"]}
    assert shares[towns[0]] in (710_035, 710_036) and shares[towns[1]] in (260_321, 260_322)

    # Thirty days billed once they have passed: what the rate charges for them, to the cent.
    period = domain.BillingPeriod(TODAY, TODAY + dt.timedelta(days=29))
    closed = await commands.close_billing_period(
        procurement.pool,
        agreement["id"],
        period,
        today=period.end + dt.timedelta(days=1),
        closed_by="test",
    )
    exact = Fraction(355, 10) * (20_001 + 7_333) * 30 / period.year_days()
    assert abs(closed.cost_cents - exact) <= Fraction(1, 2)
    assert sum(line.amount_cents for line in closed.lines) == closed.cost_cents
    issued = [
        e for e in await outbox(procurement, agreement["id"]) if e[0] == "invoice-lines-issued"
    ]
    assert issued[-1][1]["cost_share"] == {
        "model": "per-resident",
        "base_fee_cents": 0,
        "rate_per_resident_cents": "35.50",
        "bands": None,
    }
