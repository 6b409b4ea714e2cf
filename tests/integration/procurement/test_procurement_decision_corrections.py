"""Correcting the procurement decision on the real database and broker: an upheld appeal
stops signing until a correction; the corrected decision replaces the earlier one (a new
revision, served anew, a new standstill), is published as decision-corrected, and the
agreement is signed on it alone; once signed, no correction. And a tender divided into lots
whose one lot has no conforming bid: the other lot is decided, that lot discontinued.

The clock: a tender's deadline is an hour ahead in real time, so the decision and its
correction are made through the commands with an explicit ``now`` after it, and signing with
an explicit ``today``; the HTTP API is used for everything that does not need the clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kit.auth import Role
from services.procurement import commands, domain
from tests.conftest import Infra
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    Actors,
    add_member,
    agreement_body,
    bid_body,
    need_body,
    ok,
    open_tender,
    outbox,
    published,
    tender_body,
)

pytestmark = pytest.mark.integration

EU_VALUE = 500_000_00  # above the EU threshold: a 14-day standstill follows each service


async def _scored(procurement: Service, actors: Actors, tender_id: str, bid_id: str) -> None:
    ok(
        await procurement.client.put(
            f"/tenders/{tender_id}/bids/{bid_id}/quality",
            json={"score": 80},
            headers=actors.procurement,
        )
    )


async def _sign(
    procurement: Service, tender_id: str, today: dt.date
) -> commands.store.AgreementRecord:
    return await commands.sign_agreement(
        procurement.pool,
        tender_id=tender_id,
        title=None,
        first_period=domain.Period(today, today + dt.timedelta(days=364), today),
        extension_options=domain.ExtensionOptions(1, 12),
        annual_cost_cents=None,
        cost_share=domain.CostSharePolicy(domain.CostShareModel.PER_CAPITA),
        signed_on=today,
        today=today,
    )


async def test_a_corrected_decision_replaces_the_earlier_one_for_signing(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    procurement, client = live_procurement, live_procurement.client
    tender = await open_tender(procurement, actors, estimated_value_cents=EU_VALUE)
    tender_id = tender["id"]
    cheap, dear = [
        ok(
            await client.post(
                f"/tenders/{tender_id}/bids",
                json=bid_body(name, price),
                headers=actors.procurement,
            ),
            201,
        )["id"]
        for name, price in (("Cheap Books Oy", 9_000_000), ("Dear Books AB", 10_000_000))
    ]
    deadline = dt.datetime.fromisoformat(tender["deadline"])
    decided = deadline + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, tender_id, decided)
    for bid_id in (cheap, dear):
        await _scored(procurement, actors, tender_id, bid_id)
    _, (first,) = await commands.award_tender(
        procurement.pool, tender_id, now=decided, awarded_by="officer"
    )
    assert first.bid_id == cheap and first.revision == 1
    first_ends = first.standstill_ends_on
    assert first_ends == decided.date() + dt.timedelta(days=14)

    # The Market Court upholds an appeal: signing is refused until the decision is corrected.
    appeal = {"case_number": "MAO:77/2027", "lodged_on": str(decided.date()), "suspends": True}
    ok(
        await client.post(f"/tenders/{tender_id}/appeals", json=appeal, headers=actors.coordinator),
        201,
    )
    upheld_on = decided.date() + dt.timedelta(days=3)
    resolution = {"case_number": "MAO:77/2027", "outcome": "upheld", "resolved_on": str(upheld_on)}
    ok(
        await client.post(
            f"/tenders/{tender_id}/appeals/resolutions", json=resolution, headers=actors.coordinator
        )
    )
    with pytest.raises(domain.NotPermitted, match="correct the decision first"):
        await _sign(procurement, tender_id, first_ends)

    # Only the coordinator or the procurement officer corrects, and always with a reason.
    url = f"/tenders/{tender_id}/decision-corrections"
    isil = await add_member(procurement)
    denied = await client.post(url, json={"reason": "x"}, headers=actors.library(isil))
    assert denied.status_code == 403, denied.text
    blank = await client.post(url, json={"reason": "  "}, headers=actors.coordinator)
    assert blank.status_code == 422, blank.text
    assert blank.json()["errors"][0]["field"].endswith("reason")

    corrected_at = decided + dt.timedelta(days=5)
    # The steering group's decision that approved the correction, in the register.
    register = {
        "body": "steering-group",
        "decided_on": str(corrected_at.date()),
        "section": "7 §",
        "subject_kind": "tender",
        "subject_id": tender_id,
        "text": "The procurement decision is corrected as the Market Court ruled.",
    }
    recorded = ok(await client.post("/decisions", json=register, headers=actors.coordinator), 201)
    reason = "the Market Court found Cheap Books Oy lacks the Koha integration it claimed"
    decision = await commands.correct_decision(
        procurement.pool,
        tender_id,
        commands.CorrectionIn(
            reason=reason,
            rejections=(domain.Rejection(cheap, "rejected", "no Koha integration (MAO:77/2027)"),),
            decision_id=recorded["id"],
        ),
        now=corrected_at,
        corrected_by="coordinator",
    )
    (award,) = decision.awards
    assert (award.bid_id, award.revision) == (dear, 2)
    new_ends = corrected_at.date() + dt.timedelta(days=14)
    assert award.standstill_ends_on == new_ends

    awards = ok(await client.get(f"/tenders/{tender_id}/awards", headers=actors.procurement))
    assert [(a["bid_id"], a["revision"]) for a in awards] == [(dear, 2)]
    assert awards[0]["standstill_ends_on"] == str(new_ends)
    (history,) = ok(await client.get(url, headers=actors.procurement))
    assert history["revision"] == 2 and history["reason"] == reason
    assert history["decision_id"] == recorded["id"]
    # The upheld appeal is answered by the correction: it no longer blocks signing.
    (answered,) = ok(await client.get(f"/tenders/{tender_id}/appeals", headers=actors.procurement))
    assert answered["status"] == "upheld" and answered["blocks_signing"] is False
    assert [a["bid_id"] for a in history["superseded"]["awards"]] == [cheap]

    # The first decision's standstill has run out; the corrected one's has not.
    with pytest.raises(domain.NotPermitted, match="standstill"):
        await _sign(procurement, tender_id, new_ends - dt.timedelta(days=1))
    signed = await _sign(procurement, tender_id, new_ends)
    assert signed.agreement.bid_id == dear

    # Once the agreement is signed, the decision cannot be corrected any more.
    late = await client.post(url, json={"reason": "too late"}, headers=actors.procurement)
    assert late.status_code == 409, late.text
    assert "section 132" in late.json()["errors"][0]["message"]

    events = await published(infra, tender_id, wanted=6)
    names = [name for name, _ in events]
    assert names.count("decision-corrected") == 1
    assert names.index("decision-corrected") > names.index("appeal-resolved")
    payload = next(p for name, p in events if name == "decision-corrected")
    assert payload["revision"] == 2 and payload["replaces_revision"] == 1
    assert payload["reason"] == reason
    assert payload["changed_lots"] == ["1"]
    assert payload["lots"][0]["bid_id"] == dear
    assert payload["standstill_ends_on"] == str(new_ends)
    assert [r["bid_id"] for r in payload["rejected"]] == [cheap]
    assert payload["decision_id"] == recorded["id"]


async def _need(procurement: Service, actors: Actors, **body: Any) -> str:
    proposer = await add_member(procurement)
    need = ok(
        await procurement.client.post(
            "/needs", json=need_body(**body), headers=actors.library(proposer)
        ),
        201,
    )
    return str(need["id"])


async def test_a_lot_without_a_conforming_bid_is_discontinued_in_the_decision(
    procurement: Service, actors: Actors
) -> None:
    client = procurement.client
    books, audio = await _need(procurement, actors), await _need(procurement, actors)
    criteria = {"price": 100, "quality": 0, "compatibility": 0}
    lots = [
        {"id": "1", "title": "E-audiobooks", "need_ids": [books], "criteria": criteria},
        {"id": "2", "title": "More e-audiobooks", "need_ids": [audio], "criteria": criteria},
    ]
    tender = ok(
        await client.post(
            "/tenders", json=tender_body([books, audio], lots=lots), headers=actors.procurement
        ),
        201,
    )
    tender_id = tender["id"]
    ok(await client.post(f"/tenders/{tender_id}/open", headers=actors.procurement))
    winner = ok(
        await client.post(
            f"/tenders/{tender_id}/bids",
            json=bid_body("Books Oy", 1_000_000, lot_id="1"),
            headers=actors.procurement,
        ),
        201,
    )
    # Lot 2's only bid lacks the Koha integration every need of the lot requires.
    ok(
        await client.post(
            f"/tenders/{tender_id}/bids",
            json=bid_body("No Koha AB", 500_000, lot_id="2", supported_library_systems=["aurora"]),
            headers=actors.procurement,
        ),
        201,
    )
    after = dt.datetime.fromisoformat(tender["deadline"]) + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, tender_id, after)

    decided = ok(
        await client.post(f"/tenders/{tender_id}/award", json={}, headers=actors.procurement)
    )
    assert decided["lots"] == [{"lot_id": "1", "bid_id": winner["id"]}]
    (gone,) = decided["discontinued_lots"]
    assert gone["lot_id"] == "2" and "minimum requirements" in gone["ground"]
    (v2,) = [
        p for name, p in await outbox(procurement, tender_id) if "lots" in p and "rejected" in p
    ]
    assert [lot["lot_id"] for lot in v2["lots"]] == ["1"]
    assert [d["lot_id"] for d in v2["discontinued_lots"]] == ["2"]

    refused = await client.post(
        "/agreements", json=agreement_body(tender_id, lot_id="2"), headers=actors.coordinator
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["errors"][0]["field"] == "lot_id"
    assert "discontinued" in refused.json()["errors"][0]["message"]
    ok(
        await client.post(
            "/agreements", json=agreement_body(tender_id, lot_id="1"), headers=actors.coordinator
        ),
        201,
    )


async def test_the_lot_discontinued_role_check_holds(procurement: Service, actors: Actors) -> None:
    denied = await procurement.client.post(
        "/tenders/nope/decision-corrections",
        json={"reason": "x"},
        headers=actors(Role.LIBRARY, await add_member(procurement)),
    )
    assert denied.status_code == 403, denied.text


async def test_a_correction_may_revise_quality_scores_and_keeps_the_old_ranking(
    live_procurement: Service, actors: Actors
) -> None:
    procurement, client = live_procurement, live_procurement.client
    tender = await open_tender(procurement, actors)
    tender_id = tender["id"]
    cheap, dear = [
        ok(
            await client.post(
                f"/tenders/{tender_id}/bids", json=bid_body(name, price), headers=actors.procurement
            ),
            201,
        )["id"]
        for name, price in (("Cheap Books Oy", 9_000_000), ("Dear Books AB", 9_500_000))
    ]
    decided = dt.datetime.fromisoformat(tender["deadline"]) + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, tender_id, decided)
    for bid_id in (cheap, dear):
        await _scored(procurement, actors, tender_id, bid_id)
    _, (first,) = await commands.award_tender(
        procurement.pool, tender_id, now=decided, awarded_by="officer"
    )
    assert first.bid_id == cheap

    # A revision naming a bid of another tender is refused by name, and nothing is written.
    url = f"/tenders/{tender_id}/decision-corrections"
    wrong = await client.post(
        url,
        json={
            "reason": "the quality scores were swapped",
            "quality_scores": [{"bid_id": "bid-elsewhere", "score": 100}],
        },
        headers=actors.procurement,
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["errors"][0]["field"] == "quality_scores"
    assert ok(await client.get(url, headers=actors.procurement)) == []

    # The evaluators swapped the two bids' quality scores: the correction revises them and the
    # decision is made again on the corrected evaluation.
    revised = (
        domain.QualityScore(cheap, 10, "scores were entered against the wrong bid"),
        domain.QualityScore(dear, 100, "scores were entered against the wrong bid"),
    )
    decision = await commands.correct_decision(
        procurement.pool,
        tender_id,
        commands.CorrectionIn(reason="the quality scores were swapped", quality_scores=revised),
        now=decided + dt.timedelta(days=2),
        corrected_by="officer",
    )
    assert [(a.bid_id, a.revision) for a in decision.awards] == [(dear, 2)]
    scores = ok(await client.get(f"/tenders/{tender_id}/scores", headers=actors.procurement))
    assert {s["bid_id"]: s["rank"] for s in scores["items"]} == {dear: 1, cheap: 2}
    (history,) = ok(await client.get(url, headers=actors.procurement))
    (replaced,) = history["superseded"]["awards"]
    assert replaced["bid_id"] == cheap
    assert replaced["scores"][0]["bid_id"] == cheap  # the ranking the first decision was made on
