"""Decisions and member surveys on real PostgreSQL and the real broker: a renewal survey's
binding answers become participations when it closes, the libraries that have not answered
are reminded once, and bad answers are refused naming the problem."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import uuid
from typing import Any

import pytest

from services.procurement.governance import commands
from tests.conftest import Infra
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    add_member,
    outbox,
    published,
    signed_agreement,
)

pytestmark = pytest.mark.integration

CLOSES = TODAY + dt.timedelta(days=5)
STARTS = TODAY + dt.timedelta(days=30)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem_field(response: Any) -> str | None:
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json().get("errors") or [{}]
    return errors[0].get("field")


def renewal_survey(agreement_id: str, libraries: list[str]) -> dict[str, Any]:
    return {
        "kind": "renewal",
        "title_fi": "Jatketaanko sopimusta?",
        "title_sv": "Förnyas avtalet?",
        "opens_on": TODAY.isoformat(),
        "closes_on": CLOSES.isoformat(),
        "audience": "libraries",
        "libraries": libraries,
        "agreement_id": agreement_id,
        "participation_from": STARTS.isoformat(),
        "questions": [
            {
                "id": "renew",
                "kind": "single",
                "fi": "Osallistutteko seuraavalla kaudella?",
                "sv": "Deltar ni under nästa period?",
                "options": [
                    {"id": "yes", "fi": "Kyllä", "sv": "Ja"},
                    {"id": "no", "fi": "Ei", "sv": "Nej"},
                ],
                "binding_option": "yes",
            },
            {"id": "loans", "kind": "number", "fi": "Lainat", "sv": "Lån", "required": False},
            {"id": "note", "kind": "text", "fi": "Huomio", "sv": "Anmärkning", "required": False},
        ],
    }


async def test_a_renewal_survey_turns_binding_answers_into_participation(
    live_procurement: Service, actors: Actors, infra: Infra
) -> None:
    service = live_procurement
    agreement = await signed_agreement(service, actors)
    libraries = sorted([await add_member(service) for _ in range(10)])
    survey = ok(
        await service.client.post(
            "/surveys",
            json=renewal_survey(agreement["id"], libraries),
            headers=actors.coordinator,
        ),
        201,
    )
    assert survey["state"] == "open" and survey["audience"] == libraries
    yes, silent = libraries[:7], libraries[7:]
    for isil in yes:
        # A first answer, then a replacing one: only the last counts.
        url = f"/surveys/{survey['id']}/answers/{isil}"
        ok(
            await service.client.put(
                url, json={"answers": {"renew": "no"}}, headers=actors.library(isil)
            )
        )
        ok(
            await service.client.put(
                url,
                json={"answers": {"renew": "yes", "note": "=1+1"}},
                headers=actors.library(isil),
            )
        )

    # Three days before the close the silent three are reminded, once.
    assert await commands.run_due(service.pool, CLOSES - dt.timedelta(days=3)) == 1
    assert await commands.run_due(service.pool, CLOSES - dt.timedelta(days=2)) == 0
    recorded = await outbox(service, survey["id"])
    assert [name for name, _ in recorded] == ["survey-opened", "survey-reminder-due"]
    assert recorded[1][1]["not_answered"] == silent

    # The day after closes_on the survey closes and the seven opt in from STARTS.
    assert await commands.run_due(service.pool, CLOSES + dt.timedelta(days=1)) == 1
    assert await commands.run_due(service.pool, CLOSES + dt.timedelta(days=1)) == 0
    closed = dict(await outbox(service, survey["id"]))["survey-closed"]
    assert closed["opted_in"] == yes and closed["not_applied"] == {}
    assert (closed["audience_size"], closed["answered"]) == (10, 7)
    # The close publishes the counts per question (never who, never free text).
    results = {r["question_id"]: r for r in closed["results"]}
    assert [(o["option_id"], o["count"]) for o in results["renew"]["options"]] == [
        ("yes", 7),
        ("no", 0),
    ]
    assert results["renew"]["text"]["fi"] == "Osallistutteko seuraavalla kaudella?"
    assert (results["note"]["answered"], results["loans"]["answered"]) == (7, 0)
    assert results["loans"]["mean"] is None and "=1+1" not in str(closed)
    rows = await service.pool.fetch(
        "SELECT isil, joined_on FROM participations WHERE agreement_id = $1 ORDER BY isil",
        agreement["id"],
    )
    assert [(r["isil"], r["joined_on"]) for r in rows] == [(i, STARTS) for i in yes]
    joined = [
        p["isil"] for n, p in await outbox(service, agreement["id"]) if n == "agreement-joined"
    ]
    assert sorted(joined) == yes

    # All of it reached the broker.
    on_broker = await published(infra, survey["id"], 3)
    assert [n for n, _ in on_broker] == ["survey-opened", "survey-reminder-due", "survey-closed"]
    on_broker = await published(infra, agreement["id"], 8)
    assert sorted(p["isil"] for n, p in on_broker if n == "agreement-joined") == yes

    # After the close an answer is refused, naming why; results stay readable.
    late = await service.client.put(
        f"/surveys/{survey['id']}/answers/{silent[0]}",
        json={"answers": {"renew": "yes"}},
        headers=actors.library(silent[0]),
    )
    assert late.status_code == 409 and problem_field(late) == "closes_on"
    results = ok(
        await service.client.get(f"/surveys/{survey['id']}/results", headers=actors.coordinator)
    )
    assert results["binding_yes"] == yes and results["not_answered"] == silent
    assert results["questions"][0]["counts"] == {"yes": 7, "no": 0}
    text = (
        await service.client.get(
            f"/surveys/{survey['id']}/results?format=csv", headers=actors.coordinator
        )
    ).text
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["isil", "renew", "loans", "note"]
    assert table[1] == [yes[0], "yes", "", "'=1+1"]


async def test_bad_answers_are_refused_naming_the_problem(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors)
    libraries = sorted([await add_member(procurement) for _ in range(2)])
    outsider = await add_member(procurement)
    survey = ok(
        await procurement.client.post(
            "/surveys",
            json=renewal_survey(agreement["id"], libraries),
            headers=actors.coordinator,
        ),
        201,
    )
    url = f"/surveys/{survey['id']}/answers/{{}}"
    cases = [
        (libraries[0], {"renew": ["yes"]}, 422, "answers.renew"),
        (libraries[0], {"renew": "perhaps"}, 422, "answers.renew"),
        (libraries[0], {"renew": "yes", "loans": "many"}, 422, "answers.loans"),
        (libraries[0], {"renew": "yes", "note": 3}, 422, "answers.note"),
        (libraries[0], {"loans": 4}, 422, "answers.renew"),
        (libraries[0], {"renew": "yes", "colour": "red"}, 422, "answers.colour"),
        (outsider, {"renew": "yes"}, 409, "isil"),
    ]
    for isil, answers, status, field in cases:
        response = await procurement.client.put(
            url.format(isil), json={"answers": answers}, headers=actors.library(isil)
        )
        assert (response.status_code, problem_field(response)) == (status, field), answers
    # A library answers only for itself; the coordinator makes surveys, libraries do not.
    response = await procurement.client.put(
        url.format(libraries[1]),
        json={"answers": {"renew": "yes"}},
        headers=actors.library(libraries[0]),
    )
    assert response.status_code == 403
    response = await procurement.client.post(
        "/surveys",
        json=renewal_survey(agreement["id"], libraries),
        headers=actors.library(libraries[0]),
    )
    assert response.status_code == 403
    # Nothing half-written: no answer is stored.
    assert (
        await procurement.pool.fetchval(
            "SELECT count(*) FROM survey_answers WHERE survey_id = $1", survey["id"]
        )
        == 0
    )
    # A survey that cannot work is refused naming the field.
    body = renewal_survey(agreement["id"], libraries)
    body["participation_from"] = TODAY.isoformat()
    response = await procurement.client.post("/surveys", json=body, headers=actors.coordinator)
    assert (response.status_code, problem_field(response)) == (422, "participation_from")
    body = renewal_survey(agreement["id"], [*libraries, "FI-Nobody"])
    response = await procurement.client.post("/surveys", json=body, headers=actors.coordinator)
    assert (response.status_code, problem_field(response)) == (409, "libraries")
    # An agreement that was never signed: 404 naming the field, and nothing recorded.
    surveys_before = await procurement.pool.fetchval("SELECT count(*) FROM surveys")
    body = renewal_survey("agreement-never-signed", libraries)
    response = await procurement.client.post("/surveys", json=body, headers=actors.coordinator)
    assert (response.status_code, problem_field(response)) == (404, "agreement_id")
    assert await procurement.pool.fetchval("SELECT count(*) FROM surveys") == surveys_before


async def test_a_renewal_names_a_recorded_decision_about_that_agreement(
    procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(procurement, actors)
    other = await signed_agreement(procurement, actors)
    minutes = b"%PDF-1.4 minutes of the steering group"
    section = f"{uuid.uuid4().hex[:8]} §"
    decision = ok(
        await procurement.client.post(
            "/decisions",
            json={
                "body": "steering-group",
                "decided_on": TODAY.isoformat(),
                "section": section,
                "subject_kind": "agreement",
                "subject_id": agreement["id"],
                "text": "The first extension option is used.",
                "attachments": [
                    {
                        "name": "minutes.pdf",
                        "content_base64": base64.b64encode(minutes).decode(),
                    }
                ],
            },
            headers=actors.coordinator,
        ),
        201,
    )
    sha = hashlib.sha256(minutes).hexdigest()
    assert [a["sha256"] for a in decision["attachments"]] == [sha]
    file = await procurement.client.get(
        decision["attachments"][0]["url"], headers=actors.coordinator
    )
    assert file.status_code == 200 and file.content == minutes
    assert file.headers["content-type"] == "application/pdf"
    assert file.headers["content-disposition"] == "attachment; filename*=UTF-8''minutes.pdf"
    assert file.headers["x-content-type-options"] == "nosniff"
    # A type the register does not take is refused by name, and nothing is recorded.
    html = await procurement.client.post(
        "/decisions",
        json={
            "body": "steering-group",
            "decided_on": TODAY.isoformat(),
            "section": f"{section}-html",
            "subject_kind": "agreement",
            "subject_id": agreement["id"],
            "text": "A page to run in the browser.",
            "attachments": [
                {
                    "name": "page.html",
                    "media_type": "text/html",
                    "content_base64": base64.b64encode(b"<script>1</script>").decode(),
                }
            ],
        },
        headers=actors.coordinator,
    )
    assert (html.status_code, problem_field(html)) == (422, "attachments.0.media_type")
    register = await procurement.client.get(
        "/decisions", params={"subject_id": agreement["id"]}, headers=actors.coordinator
    )
    assert [d["section"] for d in register.json()["items"]] == [section]
    recorded = await outbox(procurement, decision["id"])
    assert [n for n, _ in recorded] == ["decision-recorded"]
    assert recorded[0][1]["attachments"][0]["sha256"] == sha

    path = f"/agreements/{agreement['id']}/renewals"
    missing = await procurement.client.post(path, json={}, headers=actors.coordinator)
    assert (missing.status_code, problem_field(missing)) == (422, "decision_id")
    unknown = await procurement.client.post(
        path, json={"decision_id": "decision-none"}, headers=actors.coordinator
    )
    assert (unknown.status_code, problem_field(unknown)) == (422, "decision_id")
    elsewhere = await procurement.client.post(
        f"/agreements/{other['id']}/renewals",
        json={"decision_id": decision["id"]},
        headers=actors.coordinator,
    )
    assert (elsewhere.status_code, problem_field(elsewhere)) == (409, "decision_id")
    unchanged = ok(
        await procurement.client.get(f"/agreements/{agreement['id']}", headers=actors.coordinator)
    )
    assert len(unchanged["periods"]) == 1
    renewed = ok(
        await procurement.client.post(
            path, json={"decision_id": decision["id"]}, headers=actors.coordinator
        )
    )
    assert len(renewed["periods"]) == 2
    # The same body, day and section cannot be recorded twice.
    again = await procurement.client.post(
        "/decisions",
        json={
            "body": "steering-group",
            "decided_on": TODAY.isoformat(),
            "section": section,
            "subject_kind": "agreement",
            "subject_id": agreement["id"],
            "text": "Again.",
        },
        headers=actors.coordinator,
    )
    assert (again.status_code, problem_field(again)) == (409, "section")
