"""A tender's publication and the procurement decision may name the recorded decision that
approved them (a renewal must): the reference is checked, kept in the register beside the
decision and carried by tender-opened and tender-awarded v2; an unknown or wrong decision is
refused naming ``decision_id`` and nothing is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    in_evaluation,
    need_with_interest,
    ok,
    outbox,
    tender_body,
)

pytestmark = pytest.mark.integration


def problem_field(response: Any) -> str | None:
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json().get("errors") or [{}]
    return errors[0].get("field")


async def record_decision(procurement: Service, actors: Actors, tender_id: str) -> str:
    decision = ok(
        await procurement.client.post(
            "/decisions",
            json={
                "body": "steering-group",
                "decided_on": TODAY.isoformat(),
                "section": f"{uuid.uuid4().hex[:8]} §",
                "subject_kind": "tender",
                "subject_id": tender_id,
                "text": "The tender is approved.",
            },
            headers=actors.coordinator,
        ),
        201,
    )
    return decision["id"]


async def test_a_tender_is_published_on_a_named_decision(
    procurement: Service, actors: Actors
) -> None:
    need_id = await need_with_interest(procurement, actors)
    tender = ok(
        await procurement.client.post(
            "/tenders", json=tender_body([need_id]), headers=actors.procurement
        ),
        201,
    )
    other = ok(
        await procurement.client.post(
            "/tenders", json=tender_body([need_id]), headers=actors.procurement
        ),
        201,
    )
    about_other = await record_decision(procurement, actors, other["id"])
    path = f"/tenders/{tender['id']}/open"
    unknown = await procurement.client.post(
        path, json={"decision_id": "decision-none"}, headers=actors.procurement
    )
    assert (unknown.status_code, problem_field(unknown)) == (422, "decision_id")
    elsewhere = await procurement.client.post(
        path, json={"decision_id": about_other}, headers=actors.procurement
    )
    assert (elsewhere.status_code, problem_field(elsewhere)) == (409, "decision_id")
    still = ok(await procurement.client.get(f"/tenders/{tender['id']}", headers=actors.procurement))
    assert still["state"] == "draft"
    assert await outbox(procurement, tender["id"]) == []

    decision_id = await record_decision(procurement, actors, tender["id"])
    opened = ok(
        await procurement.client.post(
            path, json={"decision_id": decision_id}, headers=actors.procurement
        )
    )
    assert opened["state"] == "open"
    recorded = dict(await outbox(procurement, tender["id"]))
    assert recorded["tender-opened"]["decision_id"] == decision_id
    refs = await procurement.pool.fetch(
        "SELECT action, subject_id FROM decision_refs WHERE decision_id = $1", decision_id
    )
    assert [(r["action"], r["subject_id"]) for r in refs] == [("tender-published", tender["id"])]
    register = ok(
        await procurement.client.get(f"/decisions/{decision_id}", headers=actors.coordinator)
    )
    assert register["approved"] == [{"action": "tender-published", "subject_id": tender["id"]}]
    # Without a decision named, publication works as before and the event carries none.
    plain = ok(
        await procurement.client.post(f"/tenders/{other['id']}/open", headers=actors.procurement)
    )
    assert plain["state"] == "open"
    assert dict(await outbox(procurement, other["id"]))["tender-opened"]["decision_id"] is None


async def test_the_procurement_decision_names_the_approving_decision(
    procurement: Service, actors: Actors
) -> None:
    tender, bids = await in_evaluation(procurement, actors)
    for bid, score in zip(bids, (70, 90), strict=True):
        ok(
            await procurement.client.put(
                f"/tenders/{tender['id']}/bids/{bid['id']}/quality",
                json={"score": score},
                headers=actors.procurement,
            )
        )
        for target in ("ios", "koha"):
            ok(
                await procurement.client.post(
                    f"/tenders/{tender['id']}/bids/{bid['id']}/tests",
                    json={"target": target, "passed": True},
                    headers=actors.procurement,
                ),
                201,
            )
    path = f"/tenders/{tender['id']}/award"
    unknown = await procurement.client.post(
        path, json={"decision_id": "decision-none"}, headers=actors.procurement
    )
    assert (unknown.status_code, problem_field(unknown)) == (422, "decision_id")
    blank = await procurement.client.post(
        path, json={"decision_id": ""}, headers=actors.procurement
    )
    assert blank.status_code == 422
    assert (
        await procurement.pool.fetchval(
            "SELECT count(*) FROM awards WHERE tender_id = $1", tender["id"]
        )
        == 0
    )

    decision_id = await record_decision(procurement, actors, tender["id"])
    ok(
        await procurement.client.post(
            path, json={"decision_id": decision_id}, headers=actors.procurement
        )
    )
    awarded = [p for n, p in await outbox(procurement, tender["id"]) if n == "tender-awarded"]
    v2 = [p for p in awarded if "lots" in p]
    assert [p["decision_id"] for p in v2] == [decision_id]
