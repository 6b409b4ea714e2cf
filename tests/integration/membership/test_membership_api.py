"""Membership through its HTTP API: every endpoint and role, bad input, and the events it
publishes, checked from the outside on the real broker."""

from __future__ import annotations

import datetime as dt
import io
import json

import jwt
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kit.auth import Role, generate_keypair, issue_token
from services.membership import commands
from tests.conftest import Infra, wait_for
from tests.integration.conftest import (
    Service,
    auth,
    library_body,
    register_and_join,
    unique_isil,
)

pytestmark = pytest.mark.integration
TODAY = dt.date.today()


async def count(membership: Service, table: str) -> int:
    queries = {
        "libraries": "SELECT count(*) FROM libraries",
        "outbox": "SELECT count(*) FROM outbox",
        "periods": "SELECT count(*) FROM membership_periods",
    }
    return await membership.pool.fetchval(queries[table])


async def events_for(membership: Service, isil: str) -> list[tuple[str, dict]]:
    rows = await membership.pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE key = $1 ORDER BY id", isil
    )
    return [(r["event_type"].split(".")[-2], json.loads(bytes(r["payload"]))) for r in rows]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        ({"Authorization": "Basic dXNlcjpwdw=="}, 401),
    ],
)
async def test_writes_without_a_valid_token_are_refused(
    membership: Service, headers: dict, status: int
) -> None:
    before = await count(membership, "libraries")
    response = await membership.client.post(
        "/libraries", json=library_body(unique_isil()), headers=headers
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(membership, "libraries") == before


async def test_expired_tampered_and_foreign_tokens_are_refused(
    infra: Infra, membership: Service
) -> None:
    expired = issue_token(
        infra.private_key, role=Role.COORDINATOR, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    foreign_key, _ = generate_keypair()
    foreign = issue_token(foreign_key, role=Role.COORDINATOR)
    good = infra.token(Role.LIBRARY, isil="FI-Xyz")
    claims = jwt.decode(good, options={"verify_signature": False})
    header, _, signature = good.split(".")
    forged_claims = jwt.utils.base64url_encode(
        json.dumps({**claims, "role": "coordinator"}).encode()
    ).decode()
    tampered = f"{header}.{forged_claims}.{signature}"
    for token, needle in ((expired, "expired"), (foreign, "invalid"), (tampered, "invalid")):
        response = await membership.client.post(
            "/libraries", json=library_body(unique_isil()), headers=auth(token)
        )
        assert response.status_code == 401, token
        assert needle in response.json()["detail"]


@pytest.mark.parametrize("role", [Role.PROCUREMENT, Role.CATALOGUER, Role.OPERATOR])
async def test_only_the_coordinator_registers_admits_and_records_notice(
    infra: Infra, membership: Service, role: Role
) -> None:
    isil = unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    token = auth(infra.token(role))
    denied = [
        await membership.client.post("/libraries", json=library_body(unique_isil()), headers=token),
        await membership.client.post(
            f"/libraries/{isil}/membership",
            json={"signed_on": TODAY.isoformat(), "signatory": "X"},
            headers=token,
        ),
        await membership.client.post(
            f"/libraries/{isil}/notice", json={"effective_date": TODAY.isoformat()}, headers=token
        ),
        await membership.client.patch(f"/libraries/{isil}", json={"population": 1}, headers=token),
    ]
    assert [r.status_code for r in denied] == [403, 403, 403, 403]
    # Reading is open to every role.
    assert (await membership.client.get(f"/libraries/{isil}", headers=token)).status_code == 200


async def test_a_library_edits_its_own_details_and_contacts_only(
    infra: Infra, membership: Service
) -> None:
    own, other = unique_isil(), unique_isil()
    await register_and_join(membership, infra, library_body(own))
    await register_and_join(membership, infra, library_body(other))
    token = auth(infra.token(Role.LIBRARY, isil=own))

    response = await membership.client.patch(
        f"/libraries/{own}", json={"library_system": "Aurora"}, headers=token
    )
    assert response.status_code == 200, response.text
    assert response.json()["library_system"] == "Aurora"
    contacts = [{"name": "Uusi", "email": "uusi@example.org", "role": "director", "language": "sv"}]
    response = await membership.client.put(
        f"/libraries/{own}/contacts", json={"contacts": contacts}, headers=token
    )
    assert response.status_code == 200
    assert response.json()["contacts"][0]["language"] == "sv"

    for method, path, body in (
        ("PATCH", f"/libraries/{other}", {"population": 1}),
        ("PUT", f"/libraries/{other}/contacts", {"contacts": contacts}),
        ("POST", "/libraries", library_body(unique_isil())),
    ):
        response = await membership.client.request(method, path, json=body, headers=token)
        assert response.status_code == 403, (method, path)

    types = [name for name, _ in await events_for(membership, own)]
    assert types == ["member-joined", "member-updated", "member-updated"]
    _, updated = (await events_for(membership, own))[-1]
    assert updated["is_member"] is True
    assert updated["library"]["contacts"][0]["email"] == "uusi@example.org"
    assert updated["library"]["library_system"] == "Aurora"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"isil": "FI Tro"}, "isil"),
        ({"isil": "fi-Tro"}, "isil"),
        ({"municipalities": ["91"]}, "municipalities"),
        ({"municipalities": []}, "municipalities"),
        ({"municipalities": ["000"]}, "municipalities"),
        ({"municipalities": ["091", "164"]}, "municipalities"),  # Jalasjärvi, merged in 2016
        ({"organisation": "0201256-5"}, "organisation"),
        ({"organisation": "9999999-9"}, "organisation"),
        ({"kimppa": "no-such-kimppa"}, "kimppa"),
        ({"population": -5}, "population"),
        ({"population": "many"}, "population"),
        ({"names": {"sv": "Bara svenska"}}, "names.fi"),
        (
            {"contacts": [{"name": "A", "email": "no-at-sign", "role": "r", "language": "fi"}]},
            "contacts.0.email",
        ),
        (
            {"contacts": [{"name": "A", "email": "a@b.fi", "role": "r", "language": "en"}]},
            "contacts.0.language",
        ),
    ],
)
async def test_bad_input_gets_a_422_naming_the_field_and_writes_nothing(
    infra: Infra, membership: Service, change: dict, field: str
) -> None:
    before = (await count(membership, "libraries"), await count(membership, "outbox"))
    body = {**library_body(unique_isil()), **change}
    response = await membership.client.post(
        "/libraries", json=body, headers=auth(infra.token(Role.COORDINATOR))
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert field in [error["field"] for error in problem["errors"]]
    assert field in problem["detail"]
    for code in change.get("municipalities", []):
        if code in ("000", "164"):
            assert f"'{code}'" in problem["detail"]
    assert (await count(membership, "libraries"), await count(membership, "outbox")) == before


async def test_missing_field_and_malformed_json_are_422(infra: Infra, membership: Service) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    body = library_body(unique_isil())
    del body["library_system"]
    response = await membership.client.post("/libraries", json=body, headers=coordinator)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "library_system"
    response = await membership.client.post(
        "/libraries",
        content=b'{"isil": ',
        headers={**coordinator, "content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_lifecycle_rules_are_409_and_write_nothing(infra: Infra, membership: Service) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    isil = unique_isil()
    response = await membership.client.post(
        "/libraries", json=library_body(isil), headers=coordinator
    )
    assert response.status_code == 201
    again = await membership.client.post("/libraries", json=library_body(isil), headers=coordinator)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "isil"

    notice = await membership.client.post(
        f"/libraries/{isil}/notice",
        json={"effective_date": TODAY.isoformat()},
        headers=coordinator,
    )
    assert notice.status_code == 409 and "not a member" in notice.json()["detail"]

    join = {"signed_on": (TODAY - dt.timedelta(days=10)).isoformat(), "signatory": "J"}
    assert (
        await membership.client.post(
            f"/libraries/{isil}/membership", json=join, headers=coordinator
        )
    ).status_code == 201
    before = await count(membership, "outbox")
    twice = await membership.client.post(
        f"/libraries/{isil}/membership", json=join, headers=coordinator
    )
    assert twice.status_code == 409 and "already a member" in twice.json()["detail"]
    early = await membership.client.post(
        f"/libraries/{isil}/notice",
        json={"effective_date": (TODAY - dt.timedelta(days=20)).isoformat()},
        headers=coordinator,
    )
    assert early.status_code == 409
    assert early.json()["errors"][0]["field"] == "effective_date"
    assert await count(membership, "outbox") == before
    missing = await membership.client.post(
        "/libraries/FI-Nope/membership", json=join, headers=coordinator
    )
    assert missing.status_code == 404


async def test_a_future_notice_fires_on_its_date_and_rejoining_opens_a_new_period(
    infra: Infra, membership: Service
) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    isil = unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    effective = TODAY + dt.timedelta(days=30)
    response = await membership.client.post(
        f"/libraries/{isil}/notice",
        json={"effective_date": effective.isoformat()},
        headers=coordinator,
    )
    assert response.status_code == 200 and response.json()["left"] is False
    assert [n for n, _ in await events_for(membership, isil)] == ["member-joined"]
    history = await membership.client.get(f"/libraries/{isil}/history", headers=coordinator)
    assert history.json()["status"] == "leaving"

    # The date lives in the database: whichever process runs the job on that day (after any
    # number of restarts) makes the library leave, exactly once.
    assert await commands.apply_due_leaves(membership.pool, effective - dt.timedelta(days=1)) >= 0
    assert [n for n, _ in await events_for(membership, isil)] == ["member-joined"]
    await commands.apply_due_leaves(membership.pool, effective)
    await commands.apply_due_leaves(membership.pool, effective)
    names = [n for n, _ in await events_for(membership, isil)]
    assert names == ["member-joined", "member-left"]
    _, left = (await events_for(membership, isil))[-1]
    assert left["effective_date"] == effective.isoformat()
    assert left["library"]["contacts"] and left["period"] == 1

    rejoin = await membership.client.post(
        f"/libraries/{isil}/membership",
        json={"signed_on": effective.isoformat(), "signatory": "Uusi johtaja"},
        headers=coordinator,
    )
    assert rejoin.status_code == 201 and rejoin.json()["number"] == 2
    periods = (
        await membership.client.get(f"/libraries/{isil}/history", headers=coordinator)
    ).json()["periods"]
    assert [(p["number"], p["left"]) for p in periods] == [(1, True), (2, False)]


async def test_members_on_a_date_and_totals(infra: Infra, membership: Service) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    early, late = unique_isil(), unique_isil()
    await register_and_join(
        membership,
        infra,
        library_body(early, municipalities=["992", "179"], population=1000),
        signed_on=dt.date(2001, 1, 1),
    )
    await register_and_join(
        membership,
        infra,
        library_body(late, municipalities=["992"], population=500),
        signed_on=dt.date(2001, 6, 1),
    )
    on = await membership.client.get(
        "/members", params={"on": "2001-03-01", "limit": 500}, headers=coordinator
    )
    isils = {item["isil"] for item in on.json()["items"]}
    assert early in isils and late not in isils
    totals = (
        await membership.client.get(
            "/members/totals", params={"on": "2001-07-01"}, headers=coordinator
        )
    ).json()
    by_code = {m["municipality"]: m for m in totals["by_municipality"]}
    # Both figures are coordinator-stated exceptions: municipality 992 counts the larger share
    # (each municipality once), not the two libraries' sum.
    assert by_code["992"]["libraries"] >= 2 and by_code["992"]["population"] >= 500
    assert by_code["179"]["libraries"] >= 1
    assert totals["population"] >= 1000 and 0 < totals["share_of_finland"] < 1


async def test_list_filters_and_paging(infra: Infra, membership: Service) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    tag = unique_isil("FI-Q")
    for n in range(3):
        await register_and_join(
            membership,
            infra,
            library_body(f"{tag}{n}", library_system="Sierra", municipalities=["148"]),
        )
    page = await membership.client.get(
        "/libraries",
        params={"q": tag, "library_system": "Sierra", "municipality": "148", "limit": 2},
        headers=coordinator,
    )
    body = page.json()
    assert body["total"] == 3 and len(body["items"]) == 2
    rest = await membership.client.get(
        "/libraries", params={"q": tag, "limit": 2, "offset": 2}, headers=coordinator
    )
    assert [i["isil"] for i in rest.json()["items"]] == [f"{tag}2"]
    bad = await membership.client.get("/libraries", params={"limit": 0}, headers=coordinator)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.limit"


async def test_csv_import_registers_good_rows_and_reports_bad_ones(
    infra: Infra, membership: Service
) -> None:
    a, b = unique_isil(), unique_isil()
    csv_text = (
        "isil,name_fi,name_sv,municipalities,population,library_system,contact_name,"
        "contact_email,contact_role,contact_language\n"
        f"{a},Kirjasto A,,091;092,1000,Koha,Aino,aino@a.fi,director,fi\n"
        "bad isil,Kirjasto B,,091,1000,Koha,,,,\n"
        f"{b},Kirjasto C,Bibliotek C,49,-1,Koha,,,,\n"
        f"{b}x,Kirjasto D,,000,,Koha,,,,\n"
        f"{a},Duplicate,,091,,Koha,,,,\n"
    )
    before = await count(membership, "libraries")
    response = await membership.client.post(
        "/libraries/import",
        files={"file": ("libraries.csv", io.BytesIO(csv_text.encode()), "text/csv")},
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 1 and report["failed"] == 4
    by_row = {}
    for error in report["errors"]:
        by_row.setdefault(error["row"], set()).add(error["field"])
    assert by_row[3] == {"isil"}
    assert by_row[4] == {"municipalities", "population"}
    assert by_row[5] == {"municipalities"}  # 000 is in no year's classification
    assert by_row[6] == {"isil"}
    assert await count(membership, "libraries") == before + 1


async def test_an_import_that_is_not_multipart_is_refused_as_its_media_type(
    infra: Infra, membership: Service
) -> None:
    before = await count(membership, "libraries")
    response = await membership.client.post(
        "/libraries/import",
        content=b"isil,name_fi\nFI-Json,Kirjasto\n",
        headers={**auth(infra.token(Role.COORDINATOR)), "content-type": "text/csv"},
    )
    assert response.status_code == 415, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "content-type"
    assert "multipart/form-data" in problem["detail"]
    assert await count(membership, "libraries") == before


async def test_events_reach_the_broker_in_order_with_the_state_consumers_need(
    infra: Infra, membership: Service
) -> None:
    isil = unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    await membership.client.post(
        f"/libraries/{isil}/notice",
        json={"effective_date": TODAY.isoformat()},
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        topic = "konsortio.membership"
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen: list = []

        async def ours() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            seen.extend(r for records in batch.values() for r in records if r.key == isil.encode())
            return len(seen) >= 2

        await wait_for(ours)
    finally:
        await consumer.stop()
    headers = [dict(r.headers) for r in seen]
    assert [h["ce_type"] for h in headers] == [
        b"fi.konsortio.membership.member-joined.v1",
        b"fi.konsortio.membership.member-left.v1",
    ]
    assert all(
        h["ce_specversion"] == b"1.0" and h["content-type"] == b"application/json" for h in headers
    )
    joined = json.loads(seen[0].value)
    library = joined["library"]
    assert {"isil", "names", "municipalities", "population", "library_system", "contacts"} <= set(
        library
    )
    assert library["contacts"][0]["language"] == "fi"
    assert json.loads(seen[1].value)["effective_date"] == TODAY.isoformat()
