"""A lawful procurement end to end, on the real broker and PostgreSQL: publish, bids, the
rejection of a non-conforming bid, the decision, the standstill, an appeal that blocks
signing, its resolution, and signing at the awarded price, with the events read back from
the broker.

Days pass in the commands' ``today`` argument, as the other tests let the deadline pass."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from services.procurement import commands, domain
from tests.conftest import Infra
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    add_member,
    agreement_body,
    bid_body,
    need_with_interest,
    ok,
    opt_in,
    published,
    signed_agreement,
    tender_body,
)

pytestmark = pytest.mark.integration


def problem_field(response) -> str | None:  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json().get("errors") or [{}]
    return errors[0].get("field")


async def test_an_eu_class_tender_from_publication_to_signing(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    procurement = live_procurement
    client = procurement.client
    need_id = await need_with_interest(procurement, actors)
    body = tender_body(
        [need_id],
        estimated_value_cents=330_000_00,  # three years at 110 000 €: the EU class
        procedure="open",
        purchasing_body={"name": "Hansel Oy", "business_id": "0988084-1"},
    )
    tender = ok(await client.post("/tenders", json=body, headers=actors.procurement), 201)
    assert tender["threshold_class"] == "eu" and tender["purchasing_body"]["name"] == "Hansel Oy"
    t = tender["id"]
    for content in (b"Invitation, draft 1", b"Invitation, final"):
        ok(
            await client.put(
                f"/tenders/{t}/documents/invitation-to-tender",
                content=content,
                headers={**actors.procurement, "content-type": "text/plain"},
            )
        )
    ok(await client.post(f"/tenders/{t}/open", headers=actors.procurement))
    response = await client.put(
        f"/tenders/{t}/documents/price-form",
        content=b"late",
        headers={**actors.procurement, "content-type": "text/csv"},
    )
    assert response.status_code == 409  # published conditions are frozen
    final = await client.get(
        f"/tenders/{t}/documents/invitation-to-tender/2", headers=actors.library("FI-X")
    )
    assert final.content == b"Invitation, final"

    # A supplier's question, answered to every bidder before the deadline.
    asked = ok(
        await client.post(
            f"/tenders/{t}/questions",
            json={"asked_by": "Cheap Audio Oy", "question": "Is Quria integration required?"},
            headers=actors.procurement,
        ),
        201,
    )
    ok(
        await client.put(
            f"/tenders/{t}/questions/{asked['id']}/answer",
            json={"answer": "Koha is required; Quria is not."},
            headers=actors.procurement,
        )
    )
    public = ok(await client.get(f"/tenders/{t}/questions", headers=actors.library("FI-X")))
    assert public[0]["answer"] and "asked_by" not in public[0]

    lacking = bid_body("Cheap Audio", 9_000_000, supported_library_systems=["aurora"])
    fair = bid_body("Storytel AB", 11_000_000)
    ids = [
        ok(await client.post(f"/tenders/{t}/bids", json=b, headers=actors.procurement), 201)["id"]
        for b in (lacking, fair)
    ]
    after_deadline = dt.datetime.fromisoformat(tender["deadline"]) + dt.timedelta(seconds=1)
    await commands.start_evaluation(procurement.pool, t, after_deadline)
    for bid_id in ids:
        ok(
            await client.put(
                f"/tenders/{t}/bids/{bid_id}/quality",
                json={"score": 75},
                headers=actors.procurement,
            )
        )
    decision = ok(await client.post(f"/tenders/{t}/award", json={}, headers=actors.procurement))
    assert decision["bid_id"] == ids[1]
    assert [r["bid_id"] for r in decision["rejections"]] == [ids[0]]
    ends = dt.date.fromisoformat(decision["standstill_ends_on"])
    served_on = dt.datetime.fromisoformat(decision["served_at"]).date()
    assert ends == served_on + dt.timedelta(days=14)

    # Signing is refused during the standstill.
    response = await client.post("/agreements", json=agreement_body(t), headers=actors.coordinator)
    assert response.status_code == 409 and problem_field(response) == "signed_on"

    appeal = ok(
        await client.post(
            f"/tenders/{t}/appeals",
            json={
                "case_number": "MAO:77/2027",
                "lodged_on": served_on.isoformat(),
                "suspends": True,
            },
            headers=actors.coordinator,
        ),
        201,
    )
    assert appeal["blocks_signing"] is True
    response = await client.post(
        f"/tenders/{t}/appeals",
        json={"case_number": "MAO:77/2027", "lodged_on": served_on.isoformat(), "suspends": True},
        headers=actors.coordinator,
    )
    assert response.status_code == 409 and problem_field(response) == "case_number"

    async def sign(day: dt.date) -> commands.store.AgreementRecord:
        return await commands.sign_agreement(
            procurement.pool,
            tender_id=t,
            title=None,
            first_period=domain.Period(TODAY, TODAY + dt.timedelta(days=364), TODAY),
            extension_options=domain.ExtensionOptions(2, 12),
            annual_cost_cents=None,
            cost_share=domain.CostSharePolicy("per-capita"),
            signed_on=day,
            today=day,
        )

    # The standstill's end is announced once, naming the appeal that still blocks signing.
    assert await commands.announce_ended_standstills(procurement.pool, ends) >= 1
    assert await commands.announce_ended_standstills(procurement.pool, ends) == 0

    # After the standstill, the pending suspending appeal still blocks signing.
    with pytest.raises(domain.NotPermitted) as caught:
        await sign(ends)
    assert caught.value.field == "appeals"

    resolved = ok(
        await client.post(
            f"/tenders/{t}/appeals/resolutions",
            json={
                "case_number": "MAO:77/2027",
                "outcome": "dismissed",
                "resolved_on": ends.isoformat(),
            },
            headers=actors.coordinator,
        )
    )
    assert resolved["status"] == "dismissed" and resolved["blocks_signing"] is False

    record = await sign(ends)
    assert record.agreement.annual_cost_cents == 11_000_000  # the awarded bid's price
    assert record.agreement.signed_on == ends

    tender_events = await published(infra, t, wanted=7)
    names = [name for name, _ in tender_events]
    assert names == [
        "tender-opened",
        "question-answered",
        "tender-awarded",
        "tender-awarded",
        "appeal-lodged",
        "standstill-ended",
        "appeal-resolved",
    ]
    answered = tender_events[1][1]
    assert answered["answer"] == "Koha is required; Quria is not."
    assert "Cheap Audio" not in str(answered)
    assert tender_events[5][1]["suspending_appeals"] == 1
    tender_events = [tender_events[0], *tender_events[2:5], tender_events[6]]
    opened, v2, v1 = (payload for _, payload in tender_events[:3])
    assert opened["threshold_class"] == "eu" and opened["tie_break"]
    [published_doc] = opened["documents"]
    assert published_doc["version"] == 2
    assert published_doc["sha256"] == hashlib.sha256(b"Invitation, final").hexdigest()
    assert v2["lots"][0]["bid_id"] == ids[1] and v2["standstill_ends_on"] == ends.isoformat()
    assert v2["rejected"][0]["bid_id"] == ids[0] and "aurora" not in v2["rejected"][0]["ground"]
    assert v1["bid_id"] == ids[1] and v1["overridden"] is False
    assert tender_events[3][1]["suspends"] is True
    assert tender_events[4][1]["outcome"] == "dismissed"
    a = record.agreement.id
    # A fetch may bring more of the agreement's events at once (its deadline reminders too).
    records = await published(infra, a, wanted=1)
    assert records[0][0] == "agreement-signed"
    signed = records[0][1]
    assert signed["annual_cost_cents"] == 11_000_000

    # Two libraries of the same size take part: one all year, one from its last 31 days.
    whole_year, december = await add_member(procurement), await add_member(procurement)
    await opt_in(procurement, actors, a, whole_year)
    last_month = TODAY + dt.timedelta(days=334)
    await opt_in(procurement, actors, a, december, from_date=last_month.isoformat())
    year = domain.BillingPeriod(TODAY, TODAY + dt.timedelta(days=364))
    response = await client.post(
        f"/agreements/{a}/billing-periods",
        json={"start": year.start.isoformat(), "end": year.end.isoformat()},
        headers=actors.coordinator,
    )
    assert response.status_code == 409 and problem_field(response) == "end"  # not yet ended
    billed = await commands.close_billing_period(
        procurement.pool, a, year, today=year.end + dt.timedelta(days=1), closed_by="test"
    )
    by_isil = {line.isil: line for line in billed.lines}
    assert (by_isil[whole_year].days, by_isil[december].days) == (365, 31)
    assert sum(line.amount_cents for line in billed.lines) == billed.cost_cents
    full, part = by_isil[whole_year].amount_cents, by_isil[december].amount_cents
    assert abs(part * 365 - full * 31) <= 365  # 31/365 of the full share, to the cent
    with pytest.raises(domain.DuplicateEntry):
        await commands.close_billing_period(
            procurement.pool, a, year, today=year.end + dt.timedelta(days=1), closed_by="test"
        )
    response = await client.get(
        f"/agreements/{a}/billing-periods/{year.start.isoformat()}/invoice-lines.csv",
        headers=actors.coordinator,
    )
    assert response.status_code == 200
    assert response.text.splitlines()[0].startswith("payer_id,payer_name,business_id")
    agreement_events = await published(infra, a, wanted=4)
    name, issued = agreement_events[-1]
    assert name == "invoice-lines-issued" and issued["cost_cents"] == billed.cost_cents
    assert sum(line["amount_cents"] for line in issued["lines"]) == issued["cost_cents"]


async def test_cancellation_deadline_reminders_go_out_once_each(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    agreement = await signed_agreement(live_procurement, actors)
    a = agreement["id"]
    deadline = dt.date.fromisoformat(agreement["periods"][0]["cancellation_deadline"])
    pool = live_procurement.pool
    # The other tests' agreements share the database, so count only this one's events.
    for before in (61, 60, 60, 45, 30, 7, 7, 0):
        await commands.send_due_reminders(pool, deadline - dt.timedelta(days=before))
    events = await published(infra, a, wanted=4)
    reminders = [p for name, p in events if name == "cancellation-deadline-approaching"]
    assert [r["days_before"] for r in reminders] == [60, 30, 7]
    assert all(r["cancellation_deadline"] == deadline.isoformat() for r in reminders)
    rows = await pool.fetchval("SELECT count(*) FROM reminders_sent WHERE agreement_id = $1", a)
    assert rows == 3


async def test_entitlements_load_from_kbart_expire_by_date_and_export(
    infra: Infra, live_procurement: Service, actors: Actors
) -> None:
    client = live_procurement.client
    agreement = await signed_agreement(live_procurement, actors)
    a = agreement["id"]
    isil = await add_member(live_procurement)
    ends = TODAY + dt.timedelta(days=90)
    kbart = (
        "publication_title\tonline_identifier\taccess_type\tlicence_model\tcopies\t"
        "expires_on\torder_reference\n"
        "Tuntematon sotilas\t978-951-0-12345-4\tF\tone-copy-one-user\t2\t\tPO-1\n"
        f"=Kalevala\t9789510000007\tP\tone-copy-one-user-time-limited\t1\t{ends}\tPO-1\n"
        "Seitsemän veljestä\t9789510000014\tP\tsimultaneous-use\tunlimited\t\tPO-2\n"
    )
    path = f"/agreements/{a}/entitlements"
    response = await client.post(
        path,
        params={"holder": isil},
        content=kbart.replace("9789510000014", "97895100000"),
        headers={**actors.coordinator, "content-type": "text/tab-separated-values"},
    )
    assert response.status_code == 422 and "line 4" in response.text  # nothing half-written
    assert (await client.get(path, headers=actors.coordinator)).json() == []
    response = await client.post(
        path,
        params={"holder": isil},
        content=kbart,
        headers={**actors.library(isil), "content-type": "text/tab-separated-values"},
    )
    assert response.status_code == 403
    loaded = ok(
        await client.post(
            path,
            params={"holder": isil},
            content=kbart,
            headers={**actors.coordinator, "content-type": "text/tab-separated-values"},
        ),
        201,
    )
    by_isbn = {e["isbn"]: e for e in loaded}
    assert by_isbn["9789510000014"]["copies"] == "unlimited"
    assert by_isbn["9789510123454"]["survives_leaving"] is True

    export = await client.get(
        "/holdings.kbart", params={"holder": isil}, headers=actors.coordinator
    )
    assert export.status_code == 200
    rows = [line.split("\t") for line in export.text.splitlines()]
    assert rows[0][0] == "publication_title" and len(rows) == 4

    assert await commands.expire_due_entitlements(live_procurement.pool, ends) >= 1
    assert await commands.expire_due_entitlements(live_procurement.pool, ends) == 0
    events = await published(infra, a, wanted=3)
    changes = [p for name, p in events if name == "entitlements-changed"]
    assert [c["change"] for c in changes] == ["added", "expired"]
    assert [t["isbn"] for t in changes[1]["titles"]] == ["9789510000007"]
