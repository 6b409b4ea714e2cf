"""Procurement's HTTP API up to the award: needs, interest, tenders, bids, compatibility tests,
quality scores, scores and the award. Every endpoint and role, bad input (nothing written),
state conflicts, and the events recorded in the outbox."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from kit.auth import Role
from services.procurement import commands
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    Actors,
    add_member,
    awarded,
    bid_body,
    in_evaluation,
    need_body,
    need_with_interest,
    ok,
    open_tender,
    outbox,
    signed_agreement,
    snapshot,
    tender_body,
    unique_isil,
)

pytestmark = pytest.mark.integration


def problem_field(response) -> str | None:  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json().get("errors") or [{}]
    return errors[0].get("field")


# --- authentication and roles ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwdw=="}],
)
async def test_every_call_needs_a_valid_token(procurement: Service, headers: dict) -> None:
    before = await snapshot(procurement)
    for method, path, body in (
        ("POST", "/needs", need_body(proposed_by="FI-Xyz")),
        ("POST", "/tenders", tender_body(["need-x"])),
        ("GET", "/needs", None),
        ("GET", "/agreements", None),
        ("GET", "/members", None),
    ):
        response = await procurement.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await snapshot(procurement) == before


@pytest.mark.parametrize("role", [Role.LIBRARY, Role.COORDINATOR, Role.CATALOGUER, Role.OPERATOR])
async def test_only_the_procurement_role_runs_tenders_bids_tests_and_awards(
    procurement: Service, actors: Actors, role: Role
) -> None:
    tender, bids = await in_evaluation(procurement, actors)
    draft = ok(
        await procurement.client.post(
            "/tenders", json=tender_body(tender["need_ids"]), headers=actors.procurement
        ),
        201,
    )
    headers = actors(role, unique_isil() if role is Role.LIBRARY else None)
    before = await snapshot(procurement)
    t, b = tender["id"], bids[0]["id"]
    calls = [
        ("POST", "/tenders", tender_body(tender["need_ids"])),
        ("PATCH", f"/tenders/{draft['id']}", {"title": "x"}),
        ("POST", f"/tenders/{draft['id']}/open", None),
        ("POST", f"/tenders/{t}/evaluation", None),
        ("POST", f"/tenders/{t}/cancel", {"reason": "x"}),
        ("POST", f"/tenders/{t}/bids", bid_body("X", 1)),
        ("POST", f"/tenders/{t}/bids/{b}/tests", {"target": "ios", "passed": True}),
        ("PUT", f"/tenders/{t}/bids/{b}/quality", {"score": 50}),
        ("POST", f"/tenders/{t}/award", {}),
    ]
    for method, path, body in calls:
        response = await procurement.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
    assert await snapshot(procurement) == before
    # Bids, tests and scores are confidential: procurement and the coordinator only.
    for path in (f"/tenders/{t}/bids", f"/tenders/{t}/bids/{b}", f"/tenders/{t}/tests"):
        status = (await procurement.client.get(path, headers=headers)).status_code
        assert status == (200 if role is Role.COORDINATOR else 403), path
    status = (await procurement.client.get(f"/tenders/{t}/scores", headers=headers)).status_code
    assert status == (200 if role is Role.COORDINATOR else 403)
    # The tender itself is public to every caller.
    assert (await procurement.client.get(f"/tenders/{t}", headers=headers)).status_code == 200


@pytest.mark.parametrize("role", [Role.PROCUREMENT, Role.CATALOGUER, Role.OPERATOR])
async def test_needs_and_interest_are_for_libraries_and_the_coordinator(
    procurement: Service, actors: Actors, role: Role
) -> None:
    member = await add_member(procurement)
    need_id = await need_with_interest(procurement, actors)
    before = await snapshot(procurement)
    headers = actors(role)
    response = await procurement.client.post(
        "/needs", json=need_body(proposed_by=member), headers=headers
    )
    assert response.status_code == 403
    response = await procurement.client.post(
        f"/needs/{need_id}/interest", json={"isil": member}, headers=headers
    )
    assert response.status_code == 403
    assert await snapshot(procurement) == before


# --- needs and interest -------------------------------------------------------------------


async def test_a_library_proposes_a_need_for_itself_only(
    procurement: Service, actors: Actors
) -> None:
    own, other = await add_member(procurement), await add_member(procurement)
    token = actors.library(own)
    need = ok(await procurement.client.post("/needs", json=need_body(), headers=token), 201)
    assert need["proposed_by"] == own
    assert need["material_type"] == "e-audiobook"
    assert need["required_devices"] == ["android", "ios"]
    assert need["interested"] == 0
    [(name, payload)] = await outbox(procurement, need["id"])
    assert name == "need-proposed"
    assert payload["proposed_by"] == own
    assert payload["required_library_systems"] == ["koha"]

    before = await snapshot(procurement)
    response = await procurement.client.post(
        "/needs", json=need_body(proposed_by=other), headers=token
    )
    assert response.status_code == 403
    assert await snapshot(procurement) == before

    # The coordinator proposes on a member's behalf, and must say for whom.
    response = await procurement.client.post("/needs", json=need_body(), headers=actors.coordinator)
    assert response.status_code == 422
    assert problem_field(response) == "proposed_by"
    on_behalf = ok(
        await procurement.client.post(
            "/needs", json=need_body(proposed_by=other), headers=actors.coordinator
        ),
        201,
    )
    assert on_behalf["proposed_by"] == other


async def test_bad_needs_are_refused_naming_the_field(procurement: Service, actors: Actors) -> None:
    member = await add_member(procurement)
    token = actors.library(member)
    before = await snapshot(procurement)
    for body, field in (
        (need_body(material_type="vinyl"), "material_type"),
        (need_body(accepted_licence_models=[]), "accepted_licence_models"),
        (need_body(accepted_licence_models=["lease"]), "accepted_licence_models.0"),
        (need_body(required_devices=["toaster"]), "required_devices.0"),
        (need_body(description=""), "description"),
        (need_body(description="   "), "description"),
        (need_body(description="nul\x00byte"), "description"),
        (need_body(required_library_systems=["koha"] * 7), "required_library_systems"),
    ):
        response = await procurement.client.post("/needs", json=body, headers=token)
        assert response.status_code == 422, (body, response.text)
        assert problem_field(response) == field
    assert await snapshot(procurement) == before


async def test_only_an_active_member_proposes_or_registers_interest(
    procurement: Service, actors: Actors
) -> None:
    stranger = unique_isil()
    former = await add_member(procurement, joined_on=dt.date.today() - dt.timedelta(days=400))
    async with procurement.pool.acquire() as conn:
        await conn.execute("UPDATE members SET left_on = CURRENT_DATE WHERE isil = $1", former)
    need_id = await need_with_interest(procurement, actors)
    before = await snapshot(procurement)
    for isil in (stranger, former):
        response = await procurement.client.post(
            "/needs", json=need_body(), headers=actors.library(isil)
        )
        assert response.status_code == 409, response.text
        assert problem_field(response) == "proposed_by"
        response = await procurement.client.post(
            f"/needs/{need_id}/interest", json={}, headers=actors.library(isil)
        )
        assert response.status_code == 409
        assert problem_field(response) == "isil"
    assert await snapshot(procurement) == before


async def test_interest_is_registered_once_with_an_optional_budget(
    procurement: Service, actors: Actors
) -> None:
    a, b = await add_member(procurement), await add_member(procurement)
    need_id = await need_with_interest(procurement, actors)
    interest = ok(
        await procurement.client.post(
            f"/needs/{need_id}/interest",
            json={"indicative_budget_cents": 250_000},
            headers=actors.library(a),
        ),
        201,
    )
    assert interest == {
        "need_id": need_id,
        "isil": a,
        "indicative_budget_cents": 250_000,
        "registered_on": dt.date.today().isoformat(),
    }
    ok(
        await procurement.client.post(
            f"/needs/{need_id}/interest", json={"isil": b}, headers=actors.coordinator
        ),
        201,
    )
    before = await snapshot(procurement)
    cases = [
        (need_id, {}, actors.library(a), 409, "isil"),  # twice
        (need_id, {"isil": b}, actors.library(a), 403, None),  # for another library
        (need_id, {"indicative_budget_cents": -1}, actors.library(a), 422, None),
        ("need-missing", {}, actors.library(a), 404, "need_id"),
        (need_id, {}, actors.coordinator, 422, "isil"),
    ]
    for target, body, headers, status, field in cases:
        response = await procurement.client.post(
            f"/needs/{target}/interest", json=body, headers=headers
        )
        assert response.status_code == status, (body, response.text)
        if field:
            assert problem_field(response) == field
    assert await snapshot(procurement) == before

    page = ok(await procurement.client.get(f"/needs/{need_id}/interest", headers=actors.library(a)))
    assert page["total"] == 2 and {i["isil"] for i in page["items"]} == {a, b}
    assert [name for name, _ in await outbox(procurement, need_id)] == [
        "need-proposed",
        "interest-registered",
        "interest-registered",
    ]


async def test_needs_are_listed_filtered_and_paged(procurement: Service, actors: Actors) -> None:
    member = await add_member(procurement)
    token = actors.library(member)
    for kind in ("e-book", "music", "music"):
        ok(
            await procurement.client.post(
                "/needs", json=need_body(material_type=kind), headers=token
            ),
            201,
        )
    page = ok(
        await procurement.client.get(
            "/needs", params={"proposed_by": member, "material_type": "music"}, headers=token
        )
    )
    assert page["total"] == 2 and {n["material_type"] for n in page["items"]} == {"music"}
    page = ok(
        await procurement.client.get(
            "/needs", params={"proposed_by": member, "limit": 1, "offset": 1}, headers=token
        )
    )
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (3, 1, 1, 1)
    need_id = page["items"][0]["id"]
    ok(await procurement.client.post(f"/needs/{need_id}/interest", json={}, headers=token), 201)
    page = ok(await procurement.client.get("/needs", params={"interested": member}, headers=token))
    assert [n["id"] for n in page["items"]] == [need_id]
    assert ok(await procurement.client.get(f"/needs/{need_id}", headers=token))["interested"] == 1
    assert (await procurement.client.get("/needs/nope", headers=token)).status_code == 404
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"material_type": "x"}):
        response = await procurement.client.get("/needs", params=params, headers=token)
        assert response.status_code == 422, params


# --- tenders ------------------------------------------------------------------------------


async def test_tender_creation_checks_weights_needs_and_deadline(
    procurement: Service, actors: Actors
) -> None:
    need_id = await need_with_interest(procurement, actors)
    before = await snapshot(procurement)
    naive = dt.datetime.now().replace(tzinfo=None) + dt.timedelta(days=1)
    cases = [
        (
            tender_body([need_id], criteria={"price": 50, "quality": 30, "compatibility": 10}),
            "criteria",
        ),
        (
            tender_body([need_id], criteria={"price": 150, "quality": 0, "compatibility": 0}),
            "criteria.price",
        ),
        (tender_body(["need-unknown"]), "need_ids"),
        (tender_body([]), "need_ids"),
        (tender_body([need_id, need_id]), "need_ids"),
        (tender_body([need_id], deadline=naive.isoformat()), "deadline"),
        (tender_body([need_id], deadline="0001-01-01T00:00:00+14:00"), "deadline"),
        (tender_body([need_id], kl_reference=""), "kl_reference"),
        (tender_body([need_id], price_model="barter"), "price_model"),
    ]
    for body, field in cases:
        response = await procurement.client.post("/tenders", json=body, headers=actors.procurement)
        assert response.status_code == 422, (body, response.text)
        assert problem_field(response) == field, response.text
    assert await snapshot(procurement) == before


async def test_a_draft_is_revised_then_opened_with_the_interested_libraries(
    procurement: Service, actors: Actors
) -> None:
    a, b = await add_member(procurement), await add_member(procurement)
    need_a = await need_with_interest(procurement, actors, [a])
    need_b = await need_with_interest(procurement, actors, [a, b])
    draft = ok(
        await procurement.client.post(
            "/tenders", json=tender_body([need_a]), headers=actors.procurement
        ),
        201,
    )
    assert draft["state"] == "draft" and draft["accepts_bids"] is False
    revised = ok(
        await procurement.client.patch(
            f"/tenders/{draft['id']}",
            json={"need_ids": [need_a, need_b], "title": "Revised"},
            headers=actors.procurement,
        )
    )
    assert revised["need_ids"] == [need_a, need_b] and revised["title"] == "Revised"
    response = await procurement.client.patch(
        f"/tenders/{draft['id']}", json={"title": None}, headers=actors.procurement
    )
    assert response.status_code == 422
    assert await outbox(procurement, draft["id"]) == []  # a draft is not news

    opened = ok(
        await procurement.client.post(f"/tenders/{draft['id']}/open", headers=actors.procurement)
    )
    assert opened["state"] == "open" and opened["accepts_bids"] is True
    [(name, payload)] = await outbox(procurement, draft["id"])
    assert name == "tender-opened"
    assert payload["interested_libraries"] == sorted([a, b])
    assert payload["need_ids"] == [need_a, need_b]
    assert payload["material_types"] == ["e-audiobook"]
    assert payload["criteria"] == {"price": 50, "quality": 30, "compatibility": 20}
    assert payload["kl_reference"] == draft["kl_reference"]

    for method, path, body in (
        ("POST", f"/tenders/{draft['id']}/open", None),
        ("PATCH", f"/tenders/{draft['id']}", {"title": "Too late"}),
    ):
        response = await procurement.client.request(
            method, path, json=body, headers=actors.procurement
        )
        assert response.status_code == 409, (method, path)
        assert problem_field(response) == "state"

    page = ok(
        await procurement.client.get(
            "/tenders", params={"need_id": need_b, "state": "open"}, headers=actors.library(a)
        )
    )
    assert [t["id"] for t in page["items"]] == [draft["id"]]
    assert (
        await procurement.client.get("/tenders/nope", headers=actors.procurement)
    ).status_code == 404


async def test_a_tender_whose_deadline_passed_cannot_be_opened(
    procurement: Service, actors: Actors
) -> None:
    need_id = await need_with_interest(procurement, actors)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    draft = ok(
        await procurement.client.post(
            "/tenders", json=tender_body([need_id], deadline=past), headers=actors.procurement
        ),
        201,
    )
    response = await procurement.client.post(
        f"/tenders/{draft['id']}/open", headers=actors.procurement
    )
    assert response.status_code == 409
    assert problem_field(response) == "deadline"
    assert await outbox(procurement, draft["id"]) == []


async def test_bids_only_before_the_deadline_and_evaluation_only_after(
    procurement: Service, actors: Actors
) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    tender = await open_tender(procurement, actors, deadline=soon.isoformat())
    ok(
        await procurement.client.post(
            f"/tenders/{tender['id']}/bids", json=bid_body("Early", 100), headers=actors.procurement
        ),
        201,
    )
    response = await procurement.client.post(
        f"/tenders/{tender['id']}/evaluation", headers=actors.procurement
    )
    assert response.status_code == 409 and problem_field(response) == "deadline"

    await asyncio.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    before = await snapshot(procurement)
    response = await procurement.client.post(
        f"/tenders/{tender['id']}/bids", json=bid_body("Late", 90), headers=actors.procurement
    )
    assert response.status_code == 409 and problem_field(response) == "submitted_at"
    assert await snapshot(procurement) == before
    evaluated = ok(
        await procurement.client.post(
            f"/tenders/{tender['id']}/evaluation", headers=actors.procurement
        )
    )
    assert evaluated["state"] == "evaluation"


async def test_bids_are_checked_and_show_what_they_lack(
    procurement: Service, actors: Actors
) -> None:
    tender = await open_tender(procurement, actors)
    path = f"/tenders/{tender['id']}/bids"
    before = await snapshot(procurement)
    cases = [
        (bid_body("X", 100, terms={"parking": 1}), 422, "terms"),
        (bid_body("X", 100, terms={"concurrent_users": 0}), 422, "terms.concurrent_users"),
        (bid_body("X", 100, terms={"drm": "chains"}), 422, "terms.drm"),
        (bid_body("X", 100, terms={"annual_opt_out": {"note": "?"}}), 422, "terms.annual_opt_out"),
        (bid_body("X", 0), 422, "price_cents"),
        (
            {**bid_body("X", 100), "supplier": {"name": "X", "country": "Sweden"}},
            422,
            "supplier.country",
        ),
        (bid_body("X", 100, price_model="per-loan"), 409, "price_model"),
    ]
    for body, status, field in cases:
        response = await procurement.client.post(path, json=body, headers=actors.procurement)
        assert response.status_code == status, (body, response.text)
        assert problem_field(response) == field, response.text
    assert await snapshot(procurement) == before

    bid = ok(
        await procurement.client.post(
            path,
            json=bid_body("Ellibs", 99_000, supported_devices=["web"], terms={}),
            headers=actors.procurement,
        ),
        201,
    )
    assert bid["shortfall"] == {
        "missing_devices": ["android", "ios"],
        "missing_library_systems": [],
        "needs_not_accepting_model": [],
    }
    assert bid["terms"] == {}
    full = ok(
        await procurement.client.post(
            path, json=bid_body("Storytel", 120_000), headers=actors.procurement
        ),
        201,
    )
    assert full["terms"]["loan_period_days"] == {
        "type": "number",
        "label": "Loan period (days)",
        "value": 21,
        "note": "renewable once",
    }
    assert full["terms"]["annual_opt_out"]["value"] == "permitted"
    page = ok(
        await procurement.client.get(path, params={"supplier": "story"}, headers=actors.coordinator)
    )
    assert [b["id"] for b in page["items"]] == [full["id"]]
    one = ok(await procurement.client.get(f"{path}/{bid['id']}", headers=actors.procurement))
    assert one["supplier"] == {"name": "Ellibs", "country": "SE"}
    assert (
        await procurement.client.get(f"{path}/bid-x", headers=actors.procurement)
    ).status_code == 404
    # Bids are never published: nothing but tender-opened is keyed by this tender.
    assert [name for name, _ in await outbox(procurement, tender["id"])] == ["tender-opened"]


async def test_a_draft_takes_no_bids(procurement: Service, actors: Actors) -> None:
    need_id = await need_with_interest(procurement, actors)
    draft = ok(
        await procurement.client.post(
            "/tenders", json=tender_body([need_id]), headers=actors.procurement
        ),
        201,
    )
    response = await procurement.client.post(
        f"/tenders/{draft['id']}/bids", json=bid_body("X", 100), headers=actors.procurement
    )
    assert response.status_code == 409 and problem_field(response) == "state"


# --- evaluation, scores and award ---------------------------------------------------------


async def test_tests_and_quality_are_recorded_only_during_evaluation(
    procurement: Service, actors: Actors
) -> None:
    tender = await open_tender(procurement, actors)
    bid = ok(
        await procurement.client.post(
            f"/tenders/{tender['id']}/bids", json=bid_body("X", 100), headers=actors.procurement
        ),
        201,
    )
    base = f"/tenders/{tender['id']}/bids/{bid['id']}"
    before = await snapshot(procurement)
    response = await procurement.client.post(
        f"{base}/tests", json={"target": "ios", "passed": True}, headers=actors.procurement
    )
    assert response.status_code == 409 and problem_field(response) == "state"
    response = await procurement.client.put(
        f"{base}/quality", json={"score": 50}, headers=actors.procurement
    )
    assert response.status_code == 409
    assert await snapshot(procurement) == before


async def test_compatibility_tests_per_device_and_library_system(
    procurement: Service, actors: Actors
) -> None:
    tender, bids = await in_evaluation(procurement, actors)
    base = f"/tenders/{tender['id']}/bids/{bids[0]['id']}/tests"
    first = ok(
        await procurement.client.post(
            base,
            json={"target": "koha", "passed": False, "notes": "SIP2 login fails"},
            headers=actors.procurement,
        ),
        201,
    )
    assert first["kind"] == "library-system" and first["passed"] is False
    ok(
        await procurement.client.post(
            base, json={"target": "ios", "passed": True}, headers=actors.procurement
        ),
        201,
    )
    # The supplier fixed it: the retest replaces the failure.
    ok(
        await procurement.client.post(
            base,
            json={"target": "koha", "passed": True, "notes": "fixed in 2.3"},
            headers=actors.procurement,
        ),
        201,
    )
    page = ok(
        await procurement.client.get(
            f"/tenders/{tender['id']}/tests",
            params={"bid_id": bids[0]["id"]},
            headers=actors.procurement,
        )
    )
    assert page["total"] == 2
    assert {(t["target"], t["passed"], t["notes"]) for t in page["items"]} == {
        ("ios", True, ""),
        ("koha", True, "fixed in 2.3"),
    }
    filtered = ok(
        await procurement.client.get(
            f"/tenders/{tender['id']}/tests",
            params={"target": "ios", "passed": "true"},
            headers=actors.coordinator,
        )
    )
    assert [t["target"] for t in filtered["items"]] == ["ios"]

    before = await snapshot(procurement)
    for body, status in (
        ({"target": "fax", "passed": True}, 422),
        ({"target": "ios", "passed": "perhaps"}, 422),
        ({"target": "ios"}, 422),
    ):
        response = await procurement.client.post(base, json=body, headers=actors.procurement)
        assert response.status_code == status, body
    response = await procurement.client.post(
        f"/tenders/{tender['id']}/bids/bid-nope/tests",
        json={"target": "ios", "passed": True},
        headers=actors.procurement,
    )
    assert response.status_code == 404
    assert await snapshot(procurement) == before


async def test_scores_follow_the_criteria_and_the_award_goes_to_the_top(
    procurement: Service, actors: Actors
) -> None:
    # Weights 50/30/20. Bid 0 costs 100 000 €, bid 1 costs 125 000 €.
    tender, bids = await in_evaluation(procurement, actors, prices=(10_000_000, 12_500_000))
    t = tender["id"]
    cheap, dear = bids[0]["id"], bids[1]["id"]
    # The tender's test matrix is what its need requires: ios, android and koha.
    for bid_id, quality, results in (
        (cheap, 60, (True, False, True)),
        (dear, 100, (True, True, True)),
    ):
        ok(
            await procurement.client.put(
                f"/tenders/{t}/bids/{bid_id}/quality",
                json={"score": quality, "rationale": "panel"},
                headers=actors.procurement,
            )
        )
        for target, passed in zip(("ios", "android", "koha"), results, strict=True):
            ok(
                await procurement.client.post(
                    f"/tenders/{t}/bids/{bid_id}/tests",
                    json={"target": target, "passed": passed},
                    headers=actors.procurement,
                ),
                201,
            )
    view = ok(await procurement.client.get(f"/tenders/{t}/scores", headers=actors.coordinator))
    by_id = {s["bid_id"]: s for s in view["items"]}
    # cheap: 50 + 0.6*30 + 2/3*20 = 81.33; dear: 40 + 30 + 20 = 90.
    assert by_id[cheap]["price_points"] == 50.0 and by_id[dear]["price_points"] == 40.0
    assert by_id[cheap]["quality_points"] == 18.0 and by_id[dear]["quality_points"] == 30.0
    assert by_id[cheap]["compatibility_points"] == 13.33
    assert by_id[cheap]["tests_recorded"] == by_id[dear]["tests_recorded"] == 3
    assert (by_id[cheap]["total"], by_id[dear]["total"]) == (81.33, 90.0)
    assert view["recommended_bid_id"] == dear and by_id[dear]["rank"] == 1
    assert view["award"] is None

    awarded_view = ok(
        await procurement.client.post(f"/tenders/{t}/award", json={}, headers=actors.procurement)
    )
    assert awarded_view["bid_id"] == dear and awarded_view["overridden"] is False
    assert awarded_view["justification"] is None
    assert [s["bid_id"] for s in awarded_view["scores"]] == [dear, cheap]
    tender_now = ok(await procurement.client.get(f"/tenders/{t}", headers=actors.procurement))
    assert tender_now["state"] == "awarded" and tender_now["awarded_bid_id"] == dear
    events = await outbox(procurement, t)
    # The decision (v2), and v1 beside it for its older readers.
    assert [name for name, _ in events] == ["tender-opened", "tender-awarded", "tender-awarded"]
    decision = events[1][1]
    assert decision["lots"][0]["bid_id"] == dear and decision["rejected"] == []
    assert decision["threshold_class"] == "below-national"
    assert decision["standstill_ends_on"] is None
    payload = events[-1][1]
    assert payload["bid_id"] == dear and payload["total_score"] == 90.0
    assert payload["overridden"] is False and payload["bids"] == 2
    assert payload["supplier"] == {"name": "Supplier 1", "country": "SE"}

    response = await procurement.client.post(
        f"/tenders/{t}/award", json={}, headers=actors.procurement
    )
    assert response.status_code == 409 and problem_field(response) == "state"
    public = ok(await procurement.client.get(f"/tenders/{t}/award", headers=actors.library("FI-X")))
    assert public["bid_id"] == dear


async def test_the_decision_follows_the_ranking_and_rejects_non_conforming_bids(
    procurement: Service, actors: Actors
) -> None:
    tender = await open_tender(procurement, actors)
    t = tender["id"]
    bids = {}
    for name, price, devices in (
        ("Cheap", 5_000_000, ["ios", "web"]),  # lacks android, which the need requires
        ("Fair", 10_000_000, ["ios", "android"]),
        ("Dear", 30_000_000, ["ios", "android"]),
    ):
        bids[name] = ok(
            await procurement.client.post(
                f"/tenders/{t}/bids",
                json=bid_body(name, price, supported_devices=devices),
                headers=actors.procurement,
            ),
            201,
        )["id"]
    after_deadline = dt.datetime.fromisoformat(tender["deadline"]) + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, t, after_deadline)
    response = await procurement.client.post(
        f"/tenders/{t}/award", json={}, headers=actors.procurement
    )
    assert response.status_code == 409 and problem_field(response) == "quality_score"
    for bid_id in bids.values():
        ok(
            await procurement.client.put(
                f"/tenders/{t}/bids/{bid_id}/quality",
                json={"score": 80},
                headers=actors.procurement,
            )
        )
    scores = ok(await procurement.client.get(f"/tenders/{t}/scores", headers=actors.procurement))
    assert {s["bid_id"] for s in scores["items"]} == {bids["Fair"], bids["Dear"]}

    before = await snapshot(procurement)
    for body in ({"bid_id": bids["Dear"], "justification": "we prefer it"}, {"bid_id": "x"}):
        response = await procurement.client.post(
            f"/tenders/{t}/award", json=body, headers=actors.procurement
        )
        assert response.status_code == 422, response.text
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    response = await procurement.client.post(
        f"/tenders/{t}/award", json={"served_at": future}, headers=actors.procurement
    )
    assert response.status_code == 422 and problem_field(response) == "served_at"
    assert await snapshot(procurement) == before

    response = await procurement.client.post(
        f"/tenders/{t}/rejections",
        json={"bid_id": bids["Fair"], "kind": "excluded", "ground": "unpaid taxes (section 81)"},
        headers=actors.coordinator,
    )
    assert response.status_code == 403
    ok(
        await procurement.client.post(
            f"/tenders/{t}/rejections",
            json={"bid_id": bids["Fair"], "kind": "excluded", "ground": "unpaid taxes (s. 81)"},
            headers=actors.procurement,
        ),
        201,
    )
    decision = ok(
        await procurement.client.post(f"/tenders/{t}/award", json={}, headers=actors.procurement)
    )
    assert decision["bid_id"] == bids["Dear"] and decision["overridden"] is False
    assert decision["awarded_by"].startswith("procurement:")
    grounds = {r["bid_id"]: r for r in decision["rejections"]}
    assert grounds[bids["Cheap"]]["automatic"] and "android" in grounds[bids["Cheap"]]["ground"]
    assert grounds[bids["Fair"]]["kind"] == "excluded" and not grounds[bids["Fair"]]["automatic"]
    assert [s["bid_id"] for s in decision["scores"]] == [bids["Dear"]]
    events = await outbox(procurement, t)
    v2 = events[1][1]
    assert {r["bid_id"] for r in v2["rejected"]} == {bids["Cheap"], bids["Fair"]}
    assert v2["lots"][0]["bid_id"] == bids["Dear"] and v2["bids"] == 3


async def test_a_tender_is_discontinued_with_a_reason_before_signing(
    procurement: Service, actors: Actors
) -> None:
    tender = await open_tender(procurement, actors)
    path = f"/tenders/{tender['id']}/cancel"
    response = await procurement.client.post(path, json={"reason": ""}, headers=actors.procurement)
    assert response.status_code == 422 and problem_field(response) == "reason"
    cancelled = ok(
        await procurement.client.post(
            path, json={"reason": "No compliant bids"}, headers=actors.procurement
        )
    )
    assert cancelled["state"] == "cancelled"
    assert cancelled["cancellation_reason"] == "No compliant bids"
    response = await procurement.client.post(
        path, json={"reason": "again"}, headers=actors.procurement
    )
    assert response.status_code == 409
    events = await outbox(procurement, tender["id"])
    assert [name for name, _ in events] == ["tender-opened", "tender-cancelled"]
    assert events[-1][1]["reason"] == "No compliant bids"

    # A decided procurement may still be discontinued, but not once the agreement is signed.
    decided, _ = await awarded(procurement, actors)
    discontinued = ok(
        await procurement.client.post(
            f"/tenders/{decided['id']}/cancel",
            json={"reason": "the budget was withdrawn"},
            headers=actors.procurement,
        )
    )
    assert discontinued["state"] == "cancelled"
    signed = await signed_agreement(procurement, actors)
    response = await procurement.client.post(
        f"/tenders/{signed['tender_id']}/cancel", json={"reason": "x"}, headers=actors.procurement
    )
    assert response.status_code == 409 and problem_field(response) == "tender_id"
