"""Membership as the law and the libraries see it, on the real broker and PostgreSQL:
organisations and kimppas in the events, population from official figures, who may change
and see what, agreement versions and notice, and erasure of a former contact."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kit.auth import Role
from kit.logging import current_trace
from services.membership import agreement, population
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
SHIPPED = {m.code: m for _, m in population.shipped_figures()}
HELMET_CITIES = {
    # business ID, Finnish and Swedish name, municipality code
    "0201256-6": ("Helsingin kaupunki", "Helsingfors stad", "091"),
    "0101263-6": ("Espoon kaupunki", "Esbo stad", "049"),
    "0124610-9": ("Vantaan kaupunki", "Vanda stad", "092"),
}


def coordinator(infra: Infra) -> dict[str, str]:
    return auth(infra.token(Role.COORDINATOR))


async def put_organisation(membership: Service, infra: Infra, business_id: str) -> dict:
    name_fi, name_sv, code = HELMET_CITIES[business_id]
    response = await membership.client.put(
        f"/organisations/{business_id}",
        json={
            "business_id": business_id,
            "names": {"fi": name_fi, "sv": name_sv},
            "kind": "municipality",
            "municipalities": [code],
            "einvoice": {"ovt": f"0037{business_id.replace('-', '')}", "operator": "003723327487"},
        },
        headers=coordinator(infra),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def outbox_of(membership: Service, key: str) -> list[tuple[str, dict]]:
    rows = await membership.pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE key = $1 ORDER BY id", key
    )
    return [(r["event_type"].split(".")[-2], json.loads(bytes(r["payload"]))) for r in rows]


async def on_broker(infra: Infra, keys: set[str], wanted: int) -> list[Any]:
    """The records of ``keys`` on the membership topic, as the broker holds them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: list[Any] = []
    try:
        await consumer._client.force_metadata_update()
        topic = "konsortio.membership"
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=200)
            seen.extend(r for rs in batch.values() for r in rs if r.key and r.key.decode() in keys)
            return len(seen) >= wanted

        await wait_for(enough, 30)
    finally:
        await consumer.stop()
    return seen


async def test_a_kimppa_of_three_libraries_reaches_the_events_on_the_broker(
    infra: Infra, membership: Service
) -> None:
    kimppa = f"helmet-{uuid.uuid4().hex[:6]}"
    for business_id in HELMET_CITIES:
        organisation = await put_organisation(membership, infra, business_id)
        assert organisation["population"] == SHIPPED[HELMET_CITIES[business_id][2]].population
    response = await membership.client.put(
        f"/kimppas/{kimppa}",
        json={
            "name": "Helmet",
            "library_system": "Sierra",
            "harvest_contact_email": "helmet-harvest@example.org",
            "melinda_code": "HELMET",
        },
        headers=coordinator(infra),
    )
    assert response.status_code == 200, response.text
    isils = []
    for business_id, (_, _, code) in HELMET_CITIES.items():
        isil = unique_isil("FI-H")
        body = library_body(isil, municipalities=[code], organisation=business_id, kimppa=kimppa)
        del body["population"]
        await register_and_join(membership, infra, body)
        isils.append(isil)

    listed = (
        await membership.client.get(
            "/libraries", params={"kimppa": kimppa}, headers=coordinator(infra)
        )
    ).json()
    assert sorted(i["isil"] for i in listed["items"]) == sorted(isils)

    def of_type(records: list[Any], name: str) -> list[Any]:
        ce_type = f"fi.konsortio.membership.{name}.v1".encode()
        return [r for r in records if dict(r.headers)["ce_type"] == ce_type]

    async def all_published() -> list[Any] | None:
        # The relay publishes the events in turn: six records of these keys can be on the
        # broker before the last library's member-joined and the last kimppa-updated are.
        records = await on_broker(infra, {*isils, kimppa}, wanted=6)
        joined = {r.key.decode() for r in of_type(records, "member-joined")}
        kimppas = of_type(records, "kimppa-updated")
        last_kimppa = set(json.loads(kimppas[-1].value)["libraries"]) if kimppas else set()
        return records if joined >= set(isils) and last_kimppa >= set(isils) else None

    records = await wait_for(all_published, 60)
    joined = {r.key.decode(): json.loads(r.value) for r in of_type(records, "member-joined")}
    assert set(joined) == set(isils)
    for (business_id, (name_fi, _, code)), isil in zip(HELMET_CITIES.items(), isils, strict=True):
        library = joined[isil]["library"]
        assert library["organisation"]["business_id"] == business_id
        assert library["organisation"]["names"]["fi"] == name_fi
        assert library["kimppa"]["id"] == kimppa and library["kimppa"]["melinda_code"] == "HELMET"
        assert library["population"] == SHIPPED[code].population
        assert library["population_year"] == 2024 and library["population_exception"] is None
    organisations = (
        await membership.client.get("/organisations", headers=coordinator(infra))
    ).json()
    by_id = {o["business_id"]: o for o in organisations}
    for business_id, isil in zip(HELMET_CITIES, isils, strict=True):
        assert isil in by_id[business_id]["libraries"]
    kimppa_events = [
        json.loads(r.value)
        for r in records
        if dict(r.headers)["ce_type"] == b"fi.konsortio.membership.kimppa-updated.v1"
    ]
    assert sorted(kimppa_events[-1]["libraries"]) == sorted(isils)


async def test_a_library_editing_its_population_is_refused_and_nothing_changes(
    infra: Infra, membership: Service
) -> None:
    isil = unique_isil()
    body = library_body(isil, municipalities=["235"])
    del body["population"]
    await register_and_join(membership, infra, body)
    token = auth(infra.token(Role.LIBRARY, isil=isil))
    before = (
        await membership.pool.fetchrow("SELECT * FROM libraries WHERE isil = $1", isil),
        await outbox_of(membership, isil),
    )
    for change, field in (
        ({"population": 1}, "population"),
        ({"population": 1, "names": {"fi": "Uusi nimi"}}, "population"),
        ({"municipalities": ["235", "091"]}, "municipalities"),
        ({"organisation": "0201256-6"}, "organisation"),
        ({"kimppa": "helmet"}, "kimppa"),
        (
            {"population_exception": {"population": 1, "reason": "we say so"}},
            "population_exception",
        ),
    ):
        response = await membership.client.patch(f"/libraries/{isil}", json=change, headers=token)
        assert response.status_code == 403, response.text
        assert response.json()["errors"][0]["field"] == field
        assert field in response.json()["detail"]
    after = (
        await membership.pool.fetchrow("SELECT * FROM libraries WHERE isil = $1", isil),
        await outbox_of(membership, isil),
    )
    assert after == before
    assert before[0]["population"] == SHIPPED["235"].population


async def test_the_coordinator_records_a_documented_population_exception(
    infra: Infra, membership: Service
) -> None:
    isil = unique_isil()
    body = library_body(isil, municipalities=["091"])
    del body["population"]
    await register_and_join(membership, infra, body)
    response = await membership.client.patch(
        f"/libraries/{isil}", json={"population": 5_000}, headers=coordinator(infra)
    )
    assert response.status_code == 422 and "population_reason" in response.json()["detail"]
    reason = "serves the Vuosaari district only (joint authority agreement 2026)"
    response = await membership.client.patch(
        f"/libraries/{isil}",
        json={"population_exception": {"population": 5_000, "reason": reason}},
        headers=coordinator(infra),
    )
    assert response.status_code == 200, response.text
    assert response.json()["population"] == 5_000
    assert response.json()["population_exception"] == reason
    totals = (await membership.client.get("/members/totals", headers=coordinator(infra))).json()
    assert {"isil": isil, "population": 5_000, "reason": reason} in totals["population_exceptions"]
    _, updated = (await outbox_of(membership, isil))[-1]
    assert updated["library"]["population_exception"] == reason
    response = await membership.client.patch(
        f"/libraries/{isil}", json={"population_exception": None}, headers=coordinator(infra)
    )
    assert response.json()["population"] == SHIPPED["091"].population
    assert response.json()["population_exception"] is None


@pytest.mark.parametrize("role", [Role.LIBRARY, Role.CATALOGUER, Role.PROCUREMENT, Role.OPERATOR])
async def test_other_tokens_see_no_contact(infra: Infra, membership: Service, role: Role) -> None:
    isil = unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    email = f"aino.{isil.lower()}@example.org"
    token = auth(infra.token(role, isil=unique_isil() if role is Role.LIBRARY else None))
    one = await membership.client.get(f"/libraries/{isil}", headers=token)
    page = await membership.client.get("/libraries", params={"q": isil}, headers=token)
    members = await membership.client.get("/members", params={"limit": 500}, headers=token)
    for response in (one, page, members):
        assert response.status_code == 200
        assert email not in response.text and "Aino" not in response.text
    assert one.json()["contacts"] is None
    assert page.json()["items"][0]["contacts"] is None


async def test_the_coordinator_and_the_library_itself_see_the_contacts(
    infra: Infra, membership: Service
) -> None:
    isil = unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    for token in (infra.token(Role.COORDINATOR), infra.token(Role.LIBRARY, isil=isil)):
        one = await membership.client.get(f"/libraries/{isil}", headers=auth(token))
        assert one.json()["contacts"][0]["name"] == "Aino"


async def test_two_concurrent_patches_of_different_fields_both_survive(
    infra: Infra, membership: Service
) -> None:
    isil = unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    library_token = auth(infra.token(Role.LIBRARY, isil=isil))
    for round_ in range(5):
        name, system = f"Nimi {round_}", f"Koha {round_}"
        first, second = await asyncio.gather(
            membership.client.patch(
                f"/libraries/{isil}", json={"names": {"fi": name}}, headers=library_token
            ),
            membership.client.patch(
                f"/libraries/{isil}", json={"library_system": system}, headers=coordinator(infra)
            ),
        )
        assert (first.status_code, second.status_code) == (200, 200)
        row = await membership.pool.fetchrow(
            "SELECT names, library_system FROM libraries WHERE isil = $1", isil
        )
        assert (row["names"]["fi"], row["library_system"]) == (name, system)


class CountingPool:
    """The service's pool, counting the statements one request sends through it: those made
    under its correlation id, not the outbox relay's or a consumer's meanwhile."""

    def __init__(self, pool: Any, correlation_id: str) -> None:
        self.pool = pool
        self.correlation_id = correlation_id
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.pool, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):

            async def counted(*args: Any, **kwargs: Any) -> Any:
                if current_trace()[0] == self.correlation_id:
                    self.statements += 1
                return await attribute(*args, **kwargs)

            return counted
        return attribute


async def test_a_page_of_libraries_costs_the_same_statements_however_long(
    infra: Infra, membership: Service
) -> None:
    tag = unique_isil("FI-N")
    for n in range(6):
        await register_and_join(membership, infra, library_body(f"{tag}{n}"))
    runtime = membership.app.state.runtime
    counts = []
    for limit in (1, 6):
        correlation_id = f"page-{tag}-{limit}"
        counting = CountingPool(runtime.pool, correlation_id)
        runtime.pool = counting
        try:
            response = await membership.client.get(
                "/libraries",
                params={"q": tag, "limit": limit},
                headers={**coordinator(infra), "X-Correlation-ID": correlation_id},
            )
        finally:
            runtime.pool = counting.pool
        assert response.status_code == 200 and len(response.json()["items"]) == limit
        assert all(item["status"] == "member" for item in response.json()["items"])
        counts.append(counting.statements)
    assert counts == [1, 1]


async def test_population_figures_load_from_a_pxweb_csv_with_a_row_report(
    infra: Infra, membership: Service
) -> None:
    isil = unique_isil()
    body = library_body(isil, municipalities=["235"])
    del body["population"]
    await register_and_join(membership, infra, body)
    bad = '"Alue";"Väestö 31.12.2023"\n"091 Helsinki";"674963"\n"049 Espoo";"paljon"\n'
    before = await membership.pool.fetchval("SELECT count(*) FROM municipality_figures")
    response = await membership.client.post(
        "/municipalities/population",
        files={"file": ("11ra.csv", io.BytesIO(bad.encode()), "text/csv")},
        headers=coordinator(infra),
    )
    assert response.status_code == 422
    assert "row 3" in response.json()["detail"] and "'paljon'" in response.json()["detail"]
    assert await membership.pool.fetchval("SELECT count(*) FROM municipality_figures") == before

    # An earlier year: loaded, but the derived figures keep using the latest year.
    good = '"Alue";"Väestö 31.12.2023"\n"KOKO MAA";"5603851"\n"091 Helsinki";"674963"\n'
    response = await membership.client.post(
        "/municipalities/population",
        files={"file": ("11ra.csv", io.BytesIO(good.encode("cp1252")), "text/csv")},
        headers=coordinator(infra),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "year": 2023,
        "loaded": 1,
        "population": 674_963,
        "libraries_updated": 0,
        "problems": [],
    }
    listed = await membership.client.get(
        "/municipalities", params={"year": 2023}, headers=coordinator(infra)
    )
    assert [m["code"] for m in listed.json()["municipalities"]] == ["091"]

    # The latest year again, with Kauniainen's figure changed: the library's population follows.
    lines = ['"Alue";"Väestö 31.12.2024"'] + [
        f'"{m.code} {m.name_fi}";"{m.population + (1 if m.code == "235" else 0)}"'
        for m in SHIPPED.values()
    ]
    response = await membership.client.post(
        "/municipalities/population",
        files={"file": ("11ra.csv", io.BytesIO("\n".join(lines).encode()), "text/csv")},
        headers=coordinator(infra),
    )
    assert response.status_code == 200, response.text
    assert response.json()["libraries_updated"] >= 1
    library = (await membership.client.get(f"/libraries/{isil}", headers=coordinator(infra))).json()
    assert library["population"] == SHIPPED["235"].population + 1
    kind, updated = (await outbox_of(membership, isil))[-1]
    assert kind == "member-updated" and updated["library"]["population"] == library["population"]
    # Only the coordinator loads figures.
    response = await membership.client.post(
        "/municipalities/population",
        files={"file": ("11ra.csv", io.BytesIO(good.encode()), "text/csv")},
        headers=auth(infra.token(Role.LIBRARY, isil=isil)),
    )
    assert response.status_code == 403


async def test_an_agreement_version_is_published_accepted_and_binds_the_notice(
    infra: Infra, membership: Service
) -> None:
    version = f"v{uuid.uuid4().hex[:6]}"
    isil, other = unique_isil(), unique_isil()
    await register_and_join(membership, infra, library_body(isil))
    await register_and_join(membership, infra, library_body(other))
    document = b"%PDF-1.4 Yleisten kirjastojen konsortion konsortiosopimus " + version.encode()
    valid_from = dt.date(2000, 1, 1) + dt.timedelta(days=uuid.uuid4().int % 300_00)
    response = await membership.client.post(
        "/agreement-versions",
        files={"file": ("konsortiosopimus.pdf", io.BytesIO(document), "application/pdf")},
        data={
            "version": version,
            "valid_from": valid_from.isoformat(),
            "notice_months": "6",
            "notice_takes_effect": "end-of-year",
        },
        headers=coordinator(infra),
    )
    assert response.status_code == 201, response.text
    published = response.json()
    assert {isil, other} <= set(published["members_asked"])
    fetched = await membership.client.get(
        f"/agreement-versions/{version}/document", headers=coordinator(infra)
    )
    assert fetched.content == document
    assert fetched.headers["etag"].strip('"') == published["document_sha256"]
    waiting = await membership.client.get(
        f"/agreement-versions/{version}/not-accepted", headers=coordinator(infra)
    )
    assert {isil, other} <= {i["isil"] for i in waiting.json()["items"]}

    acceptance = {
        "version": version,
        "decision_organ": "Kaupunginhallitus",
        "decision_date": "2026-11-30",
        "decision_section": "§ 812",
        "signatory_name": "Katri Kirjastonjohtaja",
        "signatory_title": "kirjastotoimenjohtaja",
    }
    response = await membership.client.post(
        f"/libraries/{isil}/acceptances", json=acceptance, headers=coordinator(infra)
    )
    assert response.status_code == 201, response.text
    again = await membership.client.post(
        f"/libraries/{isil}/acceptances", json=acceptance, headers=coordinator(infra)
    )
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "version"
    waiting = await membership.client.get(
        f"/agreement-versions/{version}/not-accepted", headers=coordinator(infra)
    )
    names = {i["isil"] for i in waiting.json()["items"]}
    assert isil not in names and other in names
    kinds = [kind for kind, _ in await outbox_of(membership, isil)]
    assert "agreement-version-accepted" in kinds
    _, accepted = [e for e in await outbox_of(membership, isil) if e[0].startswith("agreement")][0]
    assert "signatory_name" not in accepted and "Katri" not in json.dumps(accepted)

    # Six months' notice, taking effect at the end of a year (the rule's cases are unit-tested).
    given = TODAY
    earliest = agreement.earliest_effective_date(
        agreement.Version(version, valid_from, 6, agreement.NoticeTakesEffect.END_OF_YEAR), given
    )
    assert earliest.month == 1 and earliest.day == 1
    response = await membership.client.post(
        f"/libraries/{isil}/notice",
        json={
            "effective_date": (earliest - dt.timedelta(days=1)).isoformat(),
            "given_on": given.isoformat(),
        },
        headers=coordinator(infra),
    )
    assert response.status_code == 409, response.text
    assert earliest.isoformat() in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "effective_date"
    response = await membership.client.post(
        f"/libraries/{isil}/notice",
        json={"effective_date": earliest.isoformat(), "given_on": given.isoformat()},
        headers=coordinator(infra),
    )
    assert response.status_code == 200, response.text
    history = (
        await membership.client.get(
            f"/libraries/{isil}/history", headers=auth(infra.token(Role.CATALOGUER))
        )
    ).json()
    assert history["acceptances"][0]["decision_section"] == "§ 812"
    assert history["acceptances"][0]["signatory_name"] == ""


async def test_a_former_contact_is_erased_everywhere_membership_holds_it(
    infra: Infra, membership: Service
) -> None:
    isil = unique_isil()
    email = f"aino.{isil.lower()}@example.org"
    await register_and_join(membership, infra, library_body(isil))
    new = [{"name": "Uusi", "email": "uusi@example.org", "role": "director", "language": "fi"}]
    await membership.client.put(
        f"/libraries/{isil}/contacts", json={"contacts": new}, headers=coordinator(infra)
    )
    assert email in json.dumps(await outbox_of(membership, isil))
    response = await membership.client.post(
        f"/libraries/{isil}/contacts/erasure",
        json={"email": email.upper()},
        headers=coordinator(infra),
    )
    assert response.status_code == 200 and response.json()["erased"] is True
    events = await outbox_of(membership, isil)
    assert email not in json.dumps(events) and "Aino" not in json.dumps(events)
    kind, erased = events[-1]
    assert kind == "contact-erased" and len(erased["email_sha256"]) == 64
    again = await membership.client.post(
        f"/libraries/{isil}/contacts/erasure", json={"email": email}, headers=coordinator(infra)
    )
    assert again.json()["erased"] is False
    denied = await membership.client.post(
        f"/libraries/{isil}/contacts/erasure",
        json={"email": email},
        headers=auth(infra.token(Role.LIBRARY, isil=isil)),
    )
    assert denied.status_code == 403


async def test_organisations_and_kimppa_membership_import_from_csv(
    infra: Infra, membership: Service
) -> None:
    text = (
        "business_id,name_fi,name_sv,kind,municipalities,einvoice_ovt,einvoice_operator\n"
        "0204819-8,Kauniaisten kaupunki,Grankulla stad,municipality,235,,\n"
        "0204819-7,Väärä tunnus,,municipality,235,,\n"
        "0201256-6,Helsingin kaupunki,Helsingfors stad,municipality,000,,\n"
    )
    response = await membership.client.post(
        "/organisations/import",
        files={"file": ("orgs.csv", io.BytesIO(text.encode()), "text/csv")},
        headers=coordinator(infra),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 1 and report["failed"] == 2
    assert {(e["row"], e["field"]) for e in report["errors"]} == {
        (3, "business_id"),
        (4, "municipalities"),
    }
    kimppa = f"keski-{uuid.uuid4().hex[:6]}"
    await membership.client.put(
        f"/kimppas/{kimppa}",
        json={"name": "Keski", "library_system": "Koha"},
        headers=coordinator(infra),
    )
    a, b = unique_isil(), unique_isil()
    libraries = (
        "isil,name_fi,municipalities,library_system,organisation,kimppa\n"
        f"{a},Kauniaisten kaupunginkirjasto,235,Koha,0204819-8,{kimppa}\n"
        f"{b},Toinen,235,Koha,0204819-8,no-such-kimppa\n"
    )
    response = await membership.client.post(
        "/libraries/import",
        files={"file": ("libraries.csv", io.BytesIO(libraries.encode()), "text/csv")},
        headers=coordinator(infra),
    )
    report = response.json()
    assert report["imported"] == 1 and report["errors"][0]["field"] == "kimppa"
    library = (await membership.client.get(f"/libraries/{a}", headers=coordinator(infra))).json()
    assert library["organisation"]["business_id"] == "0204819-8"
    assert library["kimppa"]["id"] == kimppa
    missing = await membership.client.get(f"/libraries/{b}", headers=coordinator(infra))
    assert missing.status_code == 404
