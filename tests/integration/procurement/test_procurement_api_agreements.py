"""Procurement's HTTP API from the award on: signing, renewal, termination, participation,
cost shares (JSON and CSV), the licence-term comparison and the read-only lists."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from kit.auth import Role
from services.procurement import commands
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    add_member,
    agreement_body,
    awarded,
    in_evaluation,
    ok,
    opt_in,
    outbox,
    signed_agreement,
    snapshot,
    unique_isil,
)
from tests.integration.procurement.test_procurement_api_tenders import problem_field

pytestmark = pytest.mark.integration
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize("role", [Role.PROCUREMENT, Role.LIBRARY, Role.CATALOGUER])
async def test_only_the_coordinator_signs_renews_and_terminates(
    procurement: Service, actors: Actors, role: Role
) -> None:
    tender, _ = await awarded(procurement, actors)
    agreement = await signed_agreement(procurement, actors)
    headers = actors(role, unique_isil() if role is Role.LIBRARY else None)
    before = await snapshot(procurement)
    for path, body in (
        ("/agreements", agreement_body(tender["id"])),
        (f"/agreements/{agreement['id']}/renewals", {}),
        (
            f"/agreements/{agreement['id']}/termination",
            {"effective_on": TODAY.isoformat(), "reason": "x"},
        ),
    ):
        response = await procurement.client.post(path, json=body, headers=headers)
        assert response.status_code == 403, path
    # A library acts only for itself, and other roles not at all.
    member = await add_member(procurement)
    before = await snapshot(procurement)
    response = await procurement.client.post(
        f"/agreements/{agreement['id']}/participants", json={"isil": member}, headers=headers
    )
    assert response.status_code == 403
    response = await procurement.client.post(
        f"/agreements/{agreement['id']}/participants/{member}/opt-out",
        json={"effective_on": TODAY.isoformat()},
        headers=headers,
    )
    assert response.status_code == 403
    assert await snapshot(procurement) == before


async def test_signing_needs_an_awarded_tender_and_sound_terms(
    procurement: Service, actors: Actors
) -> None:
    evaluated, _ = await in_evaluation(procurement, actors)
    tender, _ = await awarded(procurement, actors)
    t = tender["id"]
    period = agreement_body(t)["first_period"]
    before = await snapshot(procurement)
    cases = [
        (agreement_body(evaluated["id"]), 409, "state"),
        (agreement_body("tender-nope"), 404, "tender_id"),
        (
            agreement_body(t, first_period={**period, "end": (TODAY - DAY).isoformat()}),
            422,
            "period.end",
        ),
        (
            agreement_body(
                t, first_period={**period, "cancellation_deadline": (TODAY - DAY).isoformat()}
            ),
            422,
            "period.cancellation_deadline",
        ),
        (
            agreement_body(t, cost_share={"model": "per-capita", "base_fee_cents": 100}),
            422,
            "cost_share.base_fee_cents",
        ),
        (agreement_body(t, cost_share={"model": "by-loans"}), 422, "cost_share.model"),
        (agreement_body(t, annual_cost_cents=-1), 422, "annual_cost_cents"),
        (agreement_body(t, extension_options={"count": 21}), 422, "extension_options.count"),
        (
            agreement_body(t, signed_on=(TODAY + dt.timedelta(days=400)).isoformat()),
            422,
            "signed_on",
        ),
        (agreement_body(t, first_period={**period, "start": "9999-01-01"}), 422, None),
    ]
    for body, status, field in cases:
        response = await procurement.client.post(
            "/agreements", json=body, headers=actors.coordinator
        )
        assert response.status_code == status, (body, response.text)
        if field:
            assert problem_field(response) == field, response.text
    assert await snapshot(procurement) == before


async def test_the_agreement_inherits_the_awarded_bid_and_is_announced(
    procurement: Service, actors: Actors
) -> None:
    tender, bids = await awarded(procurement, actors)
    award = ok(
        await procurement.client.get(f"/tenders/{tender['id']}/award", headers=actors.coordinator)
    )
    winner = next(b for b in bids if b["id"] == award["bid_id"])
    body = agreement_body(
        tender["id"],
        title=None,
        cost_share={"model": "base-plus-per-capita", "base_fee_cents": 100_000},
    )
    agreement = ok(
        await procurement.client.post("/agreements", json=body, headers=actors.coordinator), 201
    )
    assert agreement["title"] == "E-audiobooks 2027-2029"  # the tender's, by default
    assert agreement["bid_id"] == winner["id"]
    assert agreement["supplier"] == winner["supplier"]
    assert agreement["product"] == winner["product"]
    assert agreement["material_types"] == ["e-audiobook"]
    assert agreement["licence_terms"] == winner["terms"]
    assert agreement["state"] == "active" and agreement["in_force"] is True
    assert agreement["extension_options"] == {"count": 2, "months": 12, "renewals_left": 2}
    assert agreement["expires_on"] == (TODAY + dt.timedelta(days=365)).isoformat()
    assert agreement["participants"] == 0
    assert agreement["opt_out_dates"] is None  # annual opt-out permitted: any date

    # v1, and v2 beside it (every cost model named in cost_share).
    [(name, payload), (name_v2, payload_v2)] = await outbox(procurement, agreement["id"])
    assert name == name_v2 == "agreement-signed"
    assert payload_v2["cost_share"]["model"] == "base-plus-per-capita"
    assert payload_v2["cost_share"]["base_fee_cents"] == 100_000 and payload_v2["lot_id"] == "1"
    assert (
        payload["tender_id"] == tender["id"] and payload["kl_reference"] == tender["kl_reference"]
    )
    assert payload["supplier"] == winner["supplier"] and payload["product"] == winner["product"]
    assert payload["material_types"] == ["e-audiobook"]
    assert payload["licence_terms"]["drm"] == {
        "type": "choice",
        "value": "readium-lcp",
        "note": "",
        "label": "DRM",
    }
    assert payload["periods"] == [agreement_body("x")["first_period"]]
    assert payload["annual_cost_cents"] == 10_000_000  # the awarded bid's fee
    assert payload["cost_share_model"] == "base-plus-per-capita"
    assert payload["base_fee_cents"] == 100_000
    assert payload["extension_options"] == 2 and payload["extension_months"] == 12

    response = await procurement.client.post(
        "/agreements", json=agreement_body(tender["id"]), headers=actors.coordinator
    )
    assert response.status_code == 409 and problem_field(response) == "tender_id"


# --- participation --------------------------------------------------------------------------


async def test_a_member_opts_in_for_itself_from_a_date(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors)
    a = agreement["id"]
    own, other = await add_member(procurement), await add_member(procurement)
    joined = await opt_in(procurement, actors, a, own)
    assert joined == {
        "agreement_id": a,
        "isil": own,
        "joined_on": TODAY.isoformat(),
        "left_on": None,
        "leave_reason": None,
        "participating_today": True,
    }
    later = (TODAY + dt.timedelta(days=30)).isoformat()
    on_behalf = ok(
        await procurement.client.post(
            f"/agreements/{a}/participants",
            json={"isil": other, "from_date": later},
            headers=actors.coordinator,
        ),
        201,
    )
    assert on_behalf["participating_today"] is False
    events = await outbox(procurement, a)
    assert [name for name, _ in events] == [
        "agreement-signed",
        "agreement-signed",  # v2 beside v1
        "agreement-joined",
        "agreement-joined",
    ]
    assert events[2][1]["isil"] == own and events[2][1]["participants"] == 1
    assert events[2][1]["title"] == agreement["title"]
    assert events[3][1]["joined_on"] == later and events[3][1]["participants"] == 2

    stranger, former = unique_isil(), await add_member(procurement)
    async with procurement.pool.acquire() as conn:
        await conn.execute("UPDATE members SET left_on = $2 WHERE isil = $1", former, TODAY + DAY)
    before = await snapshot(procurement)
    cases = [
        ({}, actors.library(own), 409, "isil"),  # twice
        ({"isil": other}, actors.library(own), 403, None),
        ({}, actors.library(stranger), 409, "isil"),
        ({"from_date": (TODAY + 2 * DAY).isoformat()}, actors.library(former), 409, "isil"),
        ({"from_date": (TODAY - DAY).isoformat()}, actors.library(stranger), 409, None),
        ({}, actors.coordinator, 422, "isil"),
        ({"from_date": "2031-01-01"}, actors.library(await add_member(procurement)), 409, None),
    ]
    for body, headers, status, field in cases:
        response = await procurement.client.post(
            f"/agreements/{a}/participants", json=body, headers=headers
        )
        assert response.status_code == status, (body, response.text)
        if field:
            assert problem_field(response) == field
    member = await add_member(procurement)
    response = await procurement.client.post(
        f"/agreements/{a}/participants",
        json={"from_date": (TODAY - DAY).isoformat()},
        headers=actors.library(member),
    )
    assert response.status_code == 409 and problem_field(response) == "from_date"
    response = await procurement.client.post(
        "/agreements/agreement-nope/participants", json={}, headers=actors.library(member)
    )
    assert response.status_code == 404
    assert await snapshot(procurement) == before

    page = ok(
        await procurement.client.get(
            f"/agreements/{a}/participants",
            params={"on": TODAY.isoformat()},
            headers=actors.procurement,
        )
    )
    assert [p["isil"] for p in page["items"]] == [own]
    page = ok(
        await procurement.client.get(
            f"/agreements/{a}/participants",
            params={"on": TODAY.isoformat(), "current": "true"},
            headers=actors.procurement,
        )
    )
    assert page["total"] == 2


async def test_with_annual_opt_out_a_library_leaves_on_any_date(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors)
    a = agreement["id"]
    now_leaving, later_leaving = await add_member(procurement), await add_member(procurement)
    for isil in (now_leaving, later_leaving):
        await opt_in(procurement, actors, a, isil)

    left = ok(
        await procurement.client.post(
            f"/agreements/{a}/participants/{now_leaving}/opt-out",
            json={"effective_on": TODAY.isoformat()},
            headers=actors.library(now_leaving),
        )
    )
    assert left["left_on"] == TODAY.isoformat() and left["leave_reason"] == "opt-out"
    assert left["participating_today"] is False
    name, payload = (await outbox(procurement, a))[-1]
    assert name == "agreement-left"
    assert (payload["isil"], payload["reason"], payload["participants"]) == (
        now_leaving,
        "opt-out",
        1,
    )

    # With notice: agreement-left is published on the date, by the scheduled job.
    on = TODAY + dt.timedelta(days=10)
    ok(
        await procurement.client.post(
            f"/agreements/{a}/participants/{later_leaving}/opt-out",
            json={"effective_on": on.isoformat()},
            headers=actors.coordinator,
        )
    )
    count = len(await outbox(procurement, a))
    assert await commands.announce_due_leaves(procurement.pool, on - DAY) == 0
    assert len(await outbox(procurement, a)) == count
    assert await commands.announce_due_leaves(procurement.pool, on) >= 1
    assert await commands.announce_due_leaves(procurement.pool, on) == 0  # once only
    name, payload = (await outbox(procurement, a))[-1]
    assert name == "agreement-left"
    assert (payload["isil"], payload["left_on"], payload["participants"]) == (
        later_leaving,
        on.isoformat(),
        0,
    )

    before = await snapshot(procurement)
    for isil, headers, status in (
        (now_leaving, actors.library(now_leaving), 409),  # no longer participates
        (later_leaving, actors.library(later_leaving), 409),  # notice already given
        (later_leaving, actors.library(now_leaving), 403),
    ):
        response = await procurement.client.post(
            f"/agreements/{a}/participants/{isil}/opt-out",
            json={"effective_on": TODAY.isoformat()},
            headers=headers,
        )
        assert response.status_code == status, response.text
    assert await snapshot(procurement) == before


async def test_without_annual_opt_out_a_library_leaves_only_at_a_period_end(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(
        procurement, actors, terms={"concurrent_users": 3, "annual_opt_out": "prohibited"}
    )
    period_end = TODAY + dt.timedelta(days=364)
    assert agreement["opt_out_dates"] == [(period_end + DAY).isoformat()]
    isil = await add_member(procurement)
    await opt_in(procurement, actors, agreement["id"], isil)
    before = await snapshot(procurement)
    response = await procurement.client.post(
        f"/agreements/{agreement['id']}/participants/{isil}/opt-out",
        json={"effective_on": (TODAY + dt.timedelta(days=30)).isoformat()},
        headers=actors.library(isil),
    )
    assert response.status_code == 409 and problem_field(response) == "effective_on"
    assert "annual opt-out is not permitted" in response.json()["detail"]
    assert await snapshot(procurement) == before
    scheduled = ok(
        await procurement.client.post(
            f"/agreements/{agreement['id']}/participants/{isil}/opt-out",
            json={"effective_on": (period_end + DAY).isoformat()},
            headers=actors.library(isil),
        )
    )
    assert scheduled["participating_today"] is True
    assert [n for n, _ in await outbox(procurement, agreement["id"])][-1] == "agreement-joined"


# --- cost shares ----------------------------------------------------------------------------


async def test_cost_shares_as_json_and_csv_sum_to_the_annual_cost(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors, annual_cost_cents=1_000_001)
    a = agreement["id"]
    members = [await add_member(procurement, population=p) for p in (10_000, 20_000, 30_000)]
    for isil in members:
        await opt_in(procurement, actors, a, isil)

    table = ok(
        await procurement.client.get(
            f"/agreements/{a}/cost-shares", headers=actors.library(members[0])
        )
    )
    assert table["model"] == "per-capita" and table["participants"] == 3
    assert table["total_cents"] == table["annual_cost_cents"] == 1_000_001
    shares = {row["isil"]: row["share_cents"] for row in table["items"]}
    # Quotas 166 666.83, 333 333.67 and 500 000.5: the floors leave 2 cents, which go to the
    # two largest remainders.
    assert shares == {members[0]: 166_667, members[1]: 333_334, members[2]: 500_000}
    assert next(r for r in table["items"] if r["isil"] == members[0])["share_eur"] == "1666.67"

    page = ok(
        await procurement.client.get(
            f"/agreements/{a}/cost-shares",
            params={"limit": 1, "offset": 2},
            headers=actors.coordinator,
        )
    )
    assert (page["total"], len(page["items"]), page["total_cents"]) == (3, 1, 1_000_001)
    before_start = ok(
        await procurement.client.get(
            f"/agreements/{a}/cost-shares",
            params={"on": (TODAY - DAY).isoformat()},
            headers=actors.coordinator,
        )
    )
    assert before_start["items"] == [] and before_start["total_cents"] == 0

    response = await procurement.client.get(
        f"/agreements/{a}/cost-shares.csv", headers=actors.coordinator
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["isil", "name", "population", "share_cents", "share_eur"]
    assert {r[0]: int(r[3]) for r in rows[1:]} == shares
    assert response.text.endswith("\r\n")
    assert (
        await procurement.client.get("/agreements/nope/cost-shares.csv", headers=actors.coordinator)
    ).status_code == 404


async def test_cost_shares_are_recomputed_when_participation_changes(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(
        procurement,
        actors,
        annual_cost_cents=900_000,
        cost_share={"model": "equal"},
    )
    a = agreement["id"]
    first, second, third = [await add_member(procurement) for _ in range(3)]

    async def shares() -> dict[str, int]:
        table = ok(
            await procurement.client.get(f"/agreements/{a}/cost-shares", headers=actors.coordinator)
        )
        assert table["total_cents"] in (0, 900_000)
        return {row["isil"]: row["share_cents"] for row in table["items"]}

    await opt_in(procurement, actors, a, first)
    assert list((await shares()).values()) == [900_000]
    await opt_in(procurement, actors, a, second)
    await opt_in(procurement, actors, a, third)
    assert sorted((await shares()).values()) == [300_000, 300_000, 300_000]
    ok(
        await procurement.client.post(
            f"/agreements/{a}/participants/{second}/opt-out",
            json={"effective_on": TODAY.isoformat()},
            headers=actors.library(second),
        )
    )
    assert sorted((await shares()).values()) == [450_000, 450_000]


async def test_base_fees_that_outgrow_the_annual_cost_refuse_the_opt_in(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(
        procurement,
        actors,
        annual_cost_cents=250_000,
        cost_share={"model": "base-plus-per-capita", "base_fee_cents": 100_000},
    )
    a = agreement["id"]
    small, large = (
        await add_member(procurement, population=1),
        await add_member(procurement, population=3),
    )
    await opt_in(procurement, actors, a, small)
    await opt_in(procurement, actors, a, large)
    table = ok(
        await procurement.client.get(f"/agreements/{a}/cost-shares", headers=actors.coordinator)
    )
    assert {r["isil"]: r["share_cents"] for r in table["items"]} == {
        small: 100_000 + 12_500,
        large: 100_000 + 37_500,
    }
    before = await snapshot(procurement)
    response = await procurement.client.post(
        f"/agreements/{a}/participants",
        json={},
        headers=actors.library(await add_member(procurement)),
    )
    assert response.status_code == 409 and problem_field(response) == "isil"
    assert await snapshot(procurement) == before


# --- renewal and termination --------------------------------------------------------------


async def test_renewal_opens_the_next_period_while_options_last(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors)
    path = f"/agreements/{agreement['id']}/renewals"
    decision = {"body": "steering-group", "decided_on": TODAY.isoformat(), "section": "1 §"}
    decision |= {"subject_kind": "agreement", "subject_id": agreement["id"], "text": "Renew."}
    approved = {
        "decision_id": ok(
            await procurement.client.post("/decisions", json=decision, headers=actors.coordinator),
            201,
        )["id"]
    }
    renewed = ok(await procurement.client.post(path, json=approved, headers=actors.coordinator))
    assert len(renewed["periods"]) == 2
    first, second = renewed["periods"]
    assert second["start"] == (dt.date.fromisoformat(first["end"]) + DAY).isoformat()
    assert renewed["extension_options"]["renewals_left"] == 1
    assert renewed["expires_on"] == (dt.date.fromisoformat(second["end"]) + DAY).isoformat()
    deadline = dt.date.fromisoformat(second["end"]) + dt.timedelta(days=400)  # after it ends
    response = await procurement.client.post(
        path,
        json={"cancellation_deadline": deadline.isoformat(), **approved},
        headers=actors.coordinator,
    )
    assert response.status_code == 422 and problem_field(response) == "period.cancellation_deadline"
    ok(await procurement.client.post(path, json=approved, headers=actors.coordinator))
    response = await procurement.client.post(path, json=approved, headers=actors.coordinator)
    assert response.status_code == 409 and problem_field(response) == "extension_options"
    final = ok(
        await procurement.client.get(f"/agreements/{agreement['id']}", headers=actors.coordinator)
    )
    assert final["periods"][:2] == renewed["periods"] and len(final["periods"]) == 3
    assert final["extension_options"]["renewals_left"] == 0


async def test_a_termination_is_scheduled_or_takes_effect_today(
    procurement: Service, actors: Actors
) -> None:
    later = await signed_agreement(procurement, actors)
    path = f"/agreements/{later['id']}/termination"
    effective = TODAY + dt.timedelta(days=200)
    scheduled = ok(
        await procurement.client.post(
            path,
            json={"effective_on": effective.isoformat(), "reason": "Supplier insolvent"},
            headers=actors.coordinator,
        )
    )
    assert scheduled["state"] == "active"
    assert scheduled["end"] == {
        "kind": "termination",
        "effective_on": effective.isoformat(),
        "reason": "Supplier insolvent",
        "scheduled": True,
    }
    assert [n for n, _ in await outbox(procurement, later["id"])] == ["agreement-signed"] * 2
    for url, body in (
        (path, {"effective_on": effective.isoformat(), "reason": "again"}),
        (f"/agreements/{later['id']}/renewals", {}),
    ):
        response = await procurement.client.post(url, json=body, headers=actors.coordinator)
        assert response.status_code == 409 and problem_field(response) == "end"

    now = await signed_agreement(procurement, actors)
    members = [await add_member(procurement) for _ in range(2)]
    for isil in members:
        await opt_in(procurement, actors, now["id"], isil)
    before = await snapshot(procurement)
    for body, status, field in (
        ({"effective_on": (TODAY - DAY).isoformat(), "reason": "x"}, 409, "effective_on"),
        ({"effective_on": "2099-01-01", "reason": "x"}, 409, "effective_on"),
        ({"effective_on": TODAY.isoformat(), "reason": ""}, 422, "reason"),
    ):
        response = await procurement.client.post(
            f"/agreements/{now['id']}/termination", json=body, headers=actors.coordinator
        )
        assert response.status_code == status, response.text
        assert problem_field(response) == field
    assert await snapshot(procurement) == before
    ended = ok(
        await procurement.client.post(
            f"/agreements/{now['id']}/termination",
            json={"effective_on": TODAY.isoformat(), "reason": "Breach of contract"},
            headers=actors.coordinator,
        )
    )
    assert ended["state"] == "ended" and ended["in_force"] is False
    assert ended["end"]["scheduled"] is False and ended["participants"] == 0
    events = await outbox(procurement, now["id"])
    assert [n for n, _ in events][-3:] == ["agreement-ended", "agreement-left", "agreement-left"]
    assert events[-3][1]["kind"] == "terminated" and events[-3][1]["reason"] == "Breach of contract"
    assert {e[1]["isil"] for e in events[-2:]} == set(members)
    assert {e[1]["reason"] for e in events[-2:]} == {"agreement-ended"}
    assert [e[1]["participants"] for e in events[-2:]] == [1, 0]
    for url, body, headers in (
        (
            f"/agreements/{now['id']}/termination",
            {"effective_on": TODAY.isoformat(), "reason": "x"},
            actors.coordinator,
        ),
        (
            f"/agreements/{now['id']}/participants",
            {},
            actors.library(await add_member(procurement)),
        ),
    ):
        response = await procurement.client.post(url, json=body, headers=headers)
        assert response.status_code == 409 and problem_field(response) == "state"


# --- comparison and lists -------------------------------------------------------------------


async def test_licence_terms_are_compared_across_agreements(
    procurement: Service, actors: Actors
) -> None:
    generous = await signed_agreement(
        procurement, actors, terms={"concurrent_users": 5, "text_and_data_mining": "permitted"}
    )
    strict = await signed_agreement(
        procurement,
        actors,
        terms={"concurrent_users": 1, "text_and_data_mining": "prohibited", "drm": "adobe-acs"},
    )
    ids = [generous["id"], strict["id"]]
    view = ok(
        await procurement.client.get(
            "/agreements/compare", params={"ids": ids}, headers=actors.library("FI-Any")
        )
    )
    assert [a["id"] for a in view["agreements"]] == sorted(ids)
    rows = {row["term"]: row for row in view["rows"]}
    assert len(rows) == 11
    assert rows["concurrent_users"]["most_favourable"] == [generous["id"]]
    assert rows["concurrent_users"]["values"][strict["id"]]["value"] == 1
    assert rows["text_and_data_mining"]["most_favourable"] == [generous["id"]]
    assert rows["drm"]["values"][generous["id"]] is None
    assert rows["drm"]["most_favourable"] == []
    response = await procurement.client.get(
        "/agreements/compare",
        params={"ids": [generous["id"], "agreement-nope"]},
        headers=actors.coordinator,
    )
    assert response.status_code == 404
    response = await procurement.client.get(
        "/agreements/compare",
        params={"ids": [f"a{i}" for i in range(21)]},
        headers=actors.coordinator,
    )
    assert response.status_code == 422
    everything = ok(
        await procurement.client.get(
            "/agreements/compare",
            params={"state": "active", "limit": 2},
            headers=actors.coordinator,
        )
    )
    assert len(everything["agreements"]) == 2 and everything["total"] >= 2


async def test_agreements_members_and_terms_are_listed_filtered_and_paged(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors)
    isil = await add_member(procurement, population=4321, system="Aurora 4")
    await opt_in(procurement, actors, agreement["id"], isil)
    mine = ok(
        await procurement.client.get(
            "/agreements", params={"participant": isil}, headers=actors.library(isil)
        )
    )
    assert [a["id"] for a in mine["items"]] == [agreement["id"]]
    assert mine["items"][0]["participants"] == 1
    filtered = ok(
        await procurement.client.get(
            "/agreements",
            params={
                "material_type": "e-audiobook",
                "state": "active",
                "supplier": "supplier",
                "limit": 1,
            },
            headers=actors.coordinator,
        )
    )
    assert filtered["total"] >= 1 and len(filtered["items"]) == 1
    assert (
        ok(
            await procurement.client.get(
                "/agreements", params={"material_type": "music"}, headers=actors.coordinator
            )
        )["total"]
        == 0
    )
    assert (
        await procurement.client.get("/agreements/nope", headers=actors.coordinator)
    ).status_code == 404

    members = ok(
        await procurement.client.get("/members", params={"q": isil}, headers=actors.coordinator)
    )
    [member] = members["items"]
    assert member["library_system"] == "aurora" and member["library_system_text"] == "Aurora 4"
    assert member["population"] == 4321 and member["active"] is True
    by_system = ok(
        await procurement.client.get(
            "/members",
            params={"library_system": "aurora", "active_on": TODAY.isoformat(), "limit": 500},
            headers=actors.coordinator,
        )
    )
    assert isil in {m["isil"] for m in by_system["items"]}

    catalogue = ok(await procurement.client.get("/licence-terms", headers=actors.library(isil)))
    assert [t["name"] for t in catalogue][:2] == ["concurrent_users", "loan_period_days"]
    drm = next(t for t in catalogue if t["name"] == "drm")
    assert drm["type"] == "choice" and "readium-lcp" in drm["choices"]
