"""A tender divided into lots, on the real database and broker: bids per lot, scores per lot,
one decision with a different winner in each lot (tender-awarded v2 on the topic lists both),
and one agreement signed per lot."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.procurement import commands
from tests.conftest import Infra
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    Actors,
    add_member,
    agreement_body,
    bid_body,
    need_body,
    ok,
    published,
    tender_body,
)

pytestmark = pytest.mark.integration


async def _need(procurement: Service, actors: Actors, **body: Any) -> str:
    proposer = await add_member(procurement)
    need = ok(
        await procurement.client.post(
            "/needs", json=need_body(**body), headers=actors.library(proposer)
        ),
        201,
    )
    return str(need["id"])


async def _bid(
    procurement: Service, actors: Actors, tender_id: str, lot_id: str, supplier: str, **body: Any
) -> str:
    bid = ok(
        await procurement.client.post(
            f"/tenders/{tender_id}/bids",
            json=bid_body(supplier, lot_id=lot_id, **body),
            headers=actors.procurement,
        ),
        201,
    )
    assert bid["lot_id"] == lot_id
    return str(bid["id"])


async def test_a_tender_with_two_lots_gets_a_different_winner_per_lot(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    procurement = live_procurement
    client = procurement.client
    books = await _need(procurement, actors)
    audio = await _need(
        procurement,
        actors,
        material_type="e-book",
        accepted_licence_models=["per-title"],
        required_library_systems=[],
    )
    lots = [
        # Lot 1 on price alone; lot 2 mostly on quality, priced per title.
        {
            "id": "1",
            "title": "E-audiobooks",
            "need_ids": [books],
            "criteria": {"price": 100, "quality": 0, "compatibility": 0},
        },
        {
            "id": "2",
            "title": "E-books",
            "need_ids": [audio],
            "criteria": {"price": 10, "quality": 90, "compatibility": 0},
            "price_model": "per-title",
        },
    ]
    tender = ok(
        await client.post(
            "/tenders", json=tender_body([books, audio], lots=lots), headers=actors.procurement
        ),
        201,
    )
    assert tender["divided"] is True
    assert [(lot["id"], lot["price_model"]) for lot in tender["lots"]] == [
        ("1", "annual-fee"),
        ("2", "per-title"),
    ]
    tender_id = tender["id"]
    ok(await client.post(f"/tenders/{tender_id}/open", headers=actors.procurement))

    # A bid must name its lot, and price the lot's model.
    unnamed = await client.post(
        f"/tenders/{tender_id}/bids", json=bid_body("Nobody", 1_000), headers=actors.procurement
    )
    assert unnamed.status_code == 422, unnamed.text
    assert unnamed.json()["errors"][0]["field"] == "lot_id"
    wrong_model = await client.post(
        f"/tenders/{tender_id}/bids",
        json=bid_body("Nobody", 1_000, lot_id="2"),
        headers=actors.procurement,
    )
    assert wrong_model.status_code == 409, wrong_model.text
    assert wrong_model.json()["errors"][0]["field"] == "price_model"

    cheap_books = await _bid(procurement, actors, tender_id, "1", "Alpha", price_cents=8_000_000)
    await _bid(procurement, actors, tender_id, "1", "Beta", price_cents=9_000_000)
    per_title = {"price_model": "per-title"}
    weak_audio = await _bid(
        procurement, actors, tender_id, "2", "Alpha", price_cents=1_500, **per_title
    )
    strong_audio = await _bid(
        procurement, actors, tender_id, "2", "Beta", price_cents=3_000, **per_title
    )
    after_deadline = dt.datetime.fromisoformat(tender["deadline"]) + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, tender_id, after_deadline)
    for bid_id, score in ((weak_audio, 20), (strong_audio, 95)):
        ok(
            await client.put(
                f"/tenders/{tender_id}/bids/{bid_id}/quality",
                json={"score": score},
                headers=actors.procurement,
            )
        )

    scores = ok(await client.get(f"/tenders/{tender_id}/scores", headers=actors.procurement))
    assert [(lot["lot_id"], lot["recommended_bid_id"]) for lot in scores["lots"]] == [
        ("1", cheap_books),
        ("2", strong_audio),
    ]

    decision = ok(
        await client.post(f"/tenders/{tender_id}/award", json={}, headers=actors.procurement)
    )
    winners = [(lot["lot_id"], lot["bid_id"]) for lot in decision["lots"]]
    assert winners == [("1", cheap_books), ("2", strong_audio)]
    awards = ok(await client.get(f"/tenders/{tender_id}/awards", headers=actors.coordinator))
    assert [(a["lot_id"], a["bid_id"]) for a in awards] == winners
    lot_two = ok(await client.get(f"/tenders/{tender_id}/lots/2/award", headers=actors.coordinator))
    assert [s["bid_id"] for s in lot_two["scores"]] == [strong_audio, weak_audio]

    # On the topic: tender-opened with both lots, then the decision (v2, and v1 for old
    # readers) naming a different supplier per lot.
    events = await published(infra, tender_id, wanted=3)
    opened = next(payload for name, payload in events if name == "tender-opened")
    assert [lot["lot_id"] for lot in opened["lots"]] == ["1", "2"]
    (v2,) = [payload for name, payload in events if name == "tender-awarded" and "lots" in payload]
    assert [(d["lot_id"], d["bid_id"], d["supplier"]["name"]) for d in v2["lots"]] == [
        ("1", cheap_books, "Alpha"),
        ("2", strong_audio, "Beta"),
    ]

    # One agreement per lot: the lot must be named, and each lot is signed once.
    unnamed = await client.post(
        "/agreements", json=agreement_body(tender_id), headers=actors.coordinator
    )
    assert unnamed.status_code == 422, unnamed.text
    assert unnamed.json()["errors"][0]["field"] == "lot_id"
    first = ok(
        await client.post(
            "/agreements", json=agreement_body(tender_id, lot_id="1"), headers=actors.coordinator
        ),
        201,
    )
    second = ok(
        await client.post(
            "/agreements",
            json=agreement_body(tender_id, lot_id="2", annual_cost_cents=2_000_000),
            headers=actors.coordinator,
        ),
        201,
    )
    assert (first["lot_id"], first["bid_id"]) == ("1", cheap_books)
    assert (second["lot_id"], second["bid_id"]) == ("2", strong_audio)
    again = await client.post(
        "/agreements", json=agreement_body(tender_id, lot_id="2"), headers=actors.coordinator
    )
    assert again.status_code == 409, again.text
    signed = await published(infra, second["id"], wanted=1)
    assert signed[0][0] == "agreement-signed" and signed[0][1]["lot_id"] == "2"
