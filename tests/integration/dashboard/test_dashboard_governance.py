"""Coming deadlines, the consortium agreement version's acceptance and the member surveys, on
the running dashboard fed through the real broker: events in, figures out on the JSON API and
on the page in each language; a decision published as both tender-awarded v1 and v2 counts
once, and events delivered again change nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.membership import AgreementVersionAccepted, AgreementVersionPublished
from contracts.procurement import (
    CancellationDeadlineApproaching,
    DecisionCorrected,
    LocalizedText,
    LotDecision,
    StandstillEnded,
    Supplier,
    SurveyClosed,
    SurveyOpened,
    TenderAwarded,
    TenderAwardedV2,
)
from kit.envelope import OutgoingMessage, encode
from tests.conftest import Infra, wait_for
from tests.integration.dashboard.support import DashboardUnderTest, unique

pytestmark = pytest.mark.integration

TODAY = dt.date.today()
SUPPLIER = Supplier(name="Ellibs Oy", country="FI")


async def send(infra: Infra, *messages: OutgoingMessage) -> list[str]:
    """Publish already-encoded events, so that sending one again redelivers the same id."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
    finally:
        await producer.stop()
    return [m.headers["ce_id"] for m in messages]


async def all_handled(dashboard: DashboardUnderTest, ids: list[str]) -> None:
    async def done() -> bool:
        rows = await dashboard.pool.fetch(
            "SELECT event_id FROM inbox WHERE event_id = ANY($1::text[])", ids
        )
        return len(rows) == len(set(ids))

    await wait_for(done, timeout_s=30)


async def governance(dashboard: DashboardUnderTest) -> dict[str, Any]:
    response = await dashboard.client.get("/api/governance")
    assert response.status_code == 200, response.text
    return response.json()


async def test_deadlines_acceptance_and_surveys_reach_the_api_and_the_page(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    agreement_id, tender_id, ended_tender = unique("AG-G"), unique("T-G"), unique("T-G")
    survey_open, survey_closed = unique("S-O"), unique("S-C")
    asked = [unique("FI-V"), unique("FI-V"), unique("FI-V")]
    version = f"{TODAY.isoformat()}-zz{unique('')}"  # sorts after any other version of today
    before = (await dashboard.figures())["procurement"]["tenders_awarded"]

    def approaching(days: int, deadline: dt.date) -> CancellationDeadlineApproaching:
        return CancellationDeadlineApproaching(
            agreement_id=agreement_id,
            title="E-kirjat Gov",
            supplier=SUPPLIER,
            product="Ellibs",
            cancellation_deadline=deadline,
            days_before=days,  # type: ignore[arg-type]  # one of 60, 30, 7 at run time
            period_end=deadline + dt.timedelta(days=90),
            renewals_left=0,
            annual_cost_cents=100_000,
            participants=asked,
        )

    decision_v1 = TenderAwarded(
        tender_id=tender_id,
        bid_id="B-1",
        supplier=SUPPLIER,
        product="Ellibs",
        total_score=91.5,
        overridden=False,
        title="E-äänikirjat Gov",
    )
    decision_v2 = TenderAwardedV2(
        tender_id=tender_id,
        title="E-äänikirjat Gov",
        procedure="open",
        threshold_class="eu",
        lots=[
            LotDecision(
                lot_id="1",
                bid_id="B-1",
                supplier=SUPPLIER,
                product="Ellibs",
                price_model="annual-fee",
                price_cents=100_000,
                total_score=91.5,
                bids_scored=2,
            )
        ],
        rejected=[],
        decided_at=dt.datetime.now(dt.UTC),
        served_at=dt.datetime.now(dt.UTC),
        standstill_ends_on=TODAY + dt.timedelta(days=14),
        bids=2,
    )
    other_v2 = decision_v2.model_copy(
        update={"tender_id": ended_tender, "title": "Päättynyt odotusaika"}
    )
    events = [
        approaching(60, TODAY + dt.timedelta(days=60)),
        approaching(30, TODAY + dt.timedelta(days=30)),
        decision_v1,
        decision_v2,
        other_v2,
        StandstillEnded(tender_id=ended_tender, ended_on=TODAY, bid_id="B-1", suspending_appeals=0),
        AgreementVersionAccepted(  # before its version: acceptances travel under another key
            isil=asked[0],
            agreement_version=version,
            decision_organ="Sivistyslautakunta",
            decision_date=TODAY,
            decision_section="§ 12",
            signatory_title="kirjastotoimenjohtaja",
        ),
        AgreementVersionPublished(
            agreement_version=version,
            valid_from=TODAY,
            document_name="konsortiosopimus.pdf",
            document_sha256="0" * 64,
            notice_months=6,
            notice_takes_effect="end-of-year",
            members_asked=asked,
        ),
        SurveyOpened(
            survey_id=survey_open,
            kind="renewal",
            title=LocalizedText(fi="Jatketaanko Ellibs?", sv="Fortsätter vi med Ellibs?"),
            opens_on=TODAY,
            closes_on=TODAY + dt.timedelta(days=20),
            audience=asked,
        ),
        SurveyOpened(
            survey_id=survey_closed,
            kind="opt-in",
            title=LocalizedText(fi="Liittyminen", sv="Anslutning"),
            opens_on=TODAY - dt.timedelta(days=30),
            closes_on=TODAY - dt.timedelta(days=1),
            audience=asked,
        ),
        SurveyClosed(
            survey_id=survey_closed,
            kind="opt-in",
            closes_on=TODAY - dt.timedelta(days=1),
            audience_size=3,
            answered=2,
        ),
    ]
    messages = [encode(e, source="/tests") for e in events]
    ids = await send(infra, *messages)
    await all_handled(dashboard, ids)
    # Everything delivered again, then one more acceptance to know the redeliveries are past.
    await send(infra, *messages)
    later = AgreementVersionAccepted(
        isil=asked[1],
        agreement_version=version,
        decision_organ="Kunnanhallitus",
        decision_date=TODAY,
        decision_section="§ 3",
        signatory_title="kunnanjohtaja",
    )
    await all_handled(dashboard, await send(infra, encode(later, source="/tests")))

    data = await governance(dashboard)
    mine = {(d["kind"], d["ref_id"]): d for d in data["deadlines"]}
    # The latest reminder's deadline; the standstill that ended is no longer coming.
    assert (
        mine[("cancellation", agreement_id)]["due_on"]
        == approaching(30, TODAY + dt.timedelta(days=30)).cancellation_deadline.isoformat()
    )
    assert mine[("standstill", tender_id)]["due_on"] == (TODAY + dt.timedelta(days=14)).isoformat()
    assert ("standstill", ended_tender) not in mine
    current = data["agreement_version"]
    assert current["agreement_version"] == version
    assert (current["asked"], current["accepted"]) == (3, 2)
    # Who has not accepted is for signed-in coordinators and operators, not the public.
    assert "not_accepted" not in current and asked[2] not in str(data)
    listing = "/api/governance/not-accepted"
    assert (await dashboard.client.get(listing)).status_code == 401
    library = {"Authorization": f"Bearer {infra.token('library', isil=asked[0])}"}
    assert (await dashboard.client.get(listing, headers=library)).status_code == 403
    for role in ("coordinator", "operator"):
        signed_in = {"Authorization": f"Bearer {infra.token(role)}"}
        answer = await dashboard.client.get(listing, headers=signed_in)
        assert answer.status_code == 200, answer.text
        assert answer.json()["agreement_version"] == version
        assert answer.json()["not_accepted"] == [asked[2]]
    surveys = {s["survey_id"]: s for s in data["surveys"]}
    assert surveys[survey_open]["status"] == "open"
    assert (surveys[survey_open]["answered"], surveys[survey_open]["audience_size"]) == (None, 3)
    assert surveys[survey_closed]["status"] == "closed"
    assert (surveys[survey_closed]["answered"], surveys[survey_closed]["audience_size"]) == (2, 3)
    # Two decisions: one published as v1 and v2, the other as v2 only, each delivered twice.
    # Counted in the read model by tender: other tests' decisions may land meanwhile, so the
    # figure is checked on this test's two tenders, one row each.
    rows = await dashboard.pool.fetch(
        "SELECT tender_id, status FROM tenders WHERE tender_id = ANY($1::text[])",
        [tender_id, ended_tender],
    )
    assert sorted((r["tender_id"], r["status"]) for r in rows) == sorted(
        [(tender_id, "awarded"), (ended_tender, "awarded")]
    )
    after = (await dashboard.figures())["procurement"]["tenders_awarded"]
    assert after >= before + 2

    expected = {
        "fi": ("Tulevat määräajat", "Sopimuksen irtisanominen", "Jatketaanko Ellibs?", "suljettu"),
        "sv": (
            "Kommande tidsfrister",
            "Uppsägning av avtal",
            "Fortsätter vi med Ellibs?",
            "stängd",
        ),
        "en": ("Coming deadlines", "Agreement cancellation", "Jatketaanko Ellibs?", "closed"),
    }
    for lang, words in expected.items():
        page = await dashboard.client.get("/", params={"lang": lang})
        assert page.status_code == 200, page.text
        for word in words:
            assert word in page.text, (lang, word)
        assert f'data-deadline="standstill:{tender_id}"' in page.text
        assert f'data-deadline="standstill:{ended_tender}"' not in page.text
        assert asked[2] not in page.text  # counts only (the feed shows who did accept)
        assert 'data-figure="agreement-version-not-accepted">1<' in page.text
        assert "2 / 3" in page.text


async def test_a_corrected_decision_brings_its_own_standstill_back(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    """A standstill that had passed comes again when the decision is corrected and served
    anew (hankintaoikaisu); the corrected decision's end date is the one shown."""
    tender_id = unique("T-corr")
    decided = [
        LotDecision(
            lot_id="1",
            bid_id="B-1",
            supplier=SUPPLIER,
            product="Ellibs",
            price_model="annual-fee",
            price_cents=100_000,
            total_score=90.0,
            bids_scored=2,
        )
    ]
    ended = StandstillEnded(tender_id=tender_id, ended_on=TODAY, bid_id="B-1", suspending_appeals=0)
    await all_handled(dashboard, await send(infra, encode(ended, source="/tests")))
    assert ("standstill", tender_id) not in {
        (d["kind"], d["ref_id"]) for d in (await governance(dashboard))["deadlines"]
    }

    new_end = TODAY + dt.timedelta(days=14)
    corrected = DecisionCorrected(
        tender_id=tender_id,
        title="Korjattu päätös",
        revision=2,
        replaces_revision=1,
        reason="a rejected bid met the minimum requirements after all",
        procedure="open",
        threshold_class="eu",
        lots=decided,
        discontinued_lots=[],
        rejected=[],
        corrected_at=dt.datetime.now(dt.UTC),
        served_at=dt.datetime.now(dt.UTC),
        standstill_ends_on=new_end,
        bids=2,
        changed_lots=["1"],
    )
    message = encode(corrected, source="/tests")
    await all_handled(dashboard, await send(infra, message, message))  # and a redelivery
    mine = {(d["kind"], d["ref_id"]): d for d in (await governance(dashboard))["deadlines"]}
    assert mine[("standstill", tender_id)]["due_on"] == new_end.isoformat()
