"""One realistic example of every event type: shown on the event documentation page and in
the AsyncAPI document, and decoded by the packaging test in a clean environment. They are
built through the models, so an example that breaks its schema fails at import."""

from __future__ import annotations

import datetime as dt

from contracts import catalogue, membership, outreach, procurement, usage
from contracts.base import Event

_LIBRARY = membership.Library(
    isil="FI-Tro",
    names=membership.LibraryNames(fi="Tornion kirjasto", sv="Torneå bibliotek"),
    municipalities=["851"],
    population=21_000,
    library_system="Koha",
    library_type="municipal",
    contacts=[
        membership.Contact(
            name="Kirjastonjohtaja", email="kirjasto@example.org", role="director", language="fi"
        )
    ],
    kimppa=membership.KimppaRef(
        id="lapin-kirjasto", name="Lapin kirjasto", library_system="Koha", melinda_code="LAPIN"
    ),
    population_year=2024,
)
_ORGANISATION = membership.Organisation(
    business_id="0192435-2",
    names=membership.OrganisationNames(fi="Tornion kaupunki", sv="Torneå stad"),
    kind="municipality",
    municipalities=["851"],
    einvoice=membership.EInvoiceAddress(ovt="003701924352", operator="003721291126"),
    population=21_000,
    population_year=2024,
)
_SUPPLIER = procurement.Supplier(name="Ellibs Oy", country="FI")
_UTC = dt.UTC

EXAMPLES: tuple[Event, ...] = (
    membership.MemberJoined(library=_LIBRARY, joined_on=dt.date(2026, 1, 15), period=1),
    membership.MemberUpdated(library=_LIBRARY, is_member=True),
    membership.MemberLeft(
        library=_LIBRARY,
        effective_date=dt.date(2027, 1, 1),
        period=1,
        joined_on=dt.date(2026, 1, 15),
    ),
    membership.OrganisationUpdated(organisation=_ORGANISATION),
    membership.KimppaUpdated(
        kimppa_id="lapin-kirjasto",
        kimppa_name="Lapin kirjasto",
        library_system="Koha",
        melinda_code="LAPIN",
        harvest_contact_email="kimppa@example.org",
        libraries=["FI-Tro", "FI-Kemi"],
    ),
    membership.PopulationFiguresLoaded(
        year=2024,
        municipalities=308,
        population=5_635_971,
        source="Statistics Finland, population 31.12.2024 (PxWeb 11ra)",
    ),
    membership.AgreementVersionPublished(
        agreement_version="2027",
        valid_from=dt.date(2027, 1, 1),
        document_name="konsortiosopimus-2027.pdf",
        document_sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        notice_months=6,
        notice_takes_effect="end-of-year",
        members_asked=["FI-Tro", "FI-Kemi"],
    ),
    membership.AgreementVersionAccepted(
        isil="FI-Tro",
        agreement_version="2027",
        business_id="0192435-2",
        decision_organ="Sivistyslautakunta",
        decision_date=dt.date(2026, 11, 18),
        decision_section="§ 42",
        signatory_title="Sivistysjohtaja",
    ),
    membership.ContactErased(
        isil="FI-Tro",
        email_sha256="b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
        erased_on=dt.date(2026, 12, 1),
    ),
    membership.TokenRevoked(
        jti="0f8e2c4a9b7d4e1f8a3c5b6d7e9f0a1b",
        expires_at=dt.datetime(2026, 12, 31, 12, 0, tzinfo=dt.UTC),
        reason="the laptop holding the token was stolen",
        revoked_at=dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC),
    ),
    procurement.NeedProposed(
        need_id="need-2026-001",
        proposed_by="FI-Tro",
        material_type="e-book",
        description="Finnish-language e-books for adults and young readers",
        accepted_licence_models=["annual-fee", "per-loan"],
        required_devices=["ios", "android", "web"],
        required_library_systems=["koha"],
        proposed_on=dt.date(2026, 2, 1),
    ),
    procurement.InterestRegistered(
        need_id="need-2026-001", isil="FI-Kemi", indicative_budget_cents=250_000
    ),
    procurement.TenderOpened(
        tender_id="tender-2026-001",
        title="E-books 2027-2029",
        kl_reference="KL-2026-17",
        deadline=dt.datetime(2026, 4, 30, 12, 0, tzinfo=_UTC),
        need_ids=["need-2026-001"],
        material_types=["e-book"],
        interested_libraries=["FI-Tro", "FI-Kemi"],
        criteria={"price": 50, "quality": 30, "compatibility": 20},
        price_model="annual-fee",
        lots=[
            procurement.TenderLot(
                lot_id="1",
                title="E-books 2027-2029",
                need_ids=["need-2026-001"],
                criteria={"price": 50, "quality": 30, "compatibility": 20},
                price_model="annual-fee",
            )
        ],
        decision_id="decision-2026-0a1b2c3d",
    ),
    procurement.TenderAwarded(
        tender_id="tender-2026-001",
        bid_id="bid-0003",
        supplier=_SUPPLIER,
        product="Ellibs Library",
        total_score=87.5,
        overridden=False,
        title="E-books 2027-2029",
        recommended_bid_id="bid-0003",
        price_model="annual-fee",
        price_cents=4_800_000,
        bids=3,
    ),
    procurement.TenderAwardedV2(
        tender_id="tender-2026-001",
        title="E-books 2027-2029",
        procedure="open",
        threshold_class="eu",
        lots=[
            procurement.LotDecision(
                lot_id="1",
                bid_id="bid-0003",
                supplier=_SUPPLIER,
                product="Ellibs Library",
                price_model="annual-fee",
                price_cents=4_800_000,
                total_score=87.5,
                bids_scored=2,
            )
        ],
        rejected=[
            procurement.RejectedBid(
                bid_id="bid-0002",
                supplier=procurement.Supplier(name="Example Books Ltd", country="GB"),
                kind="rejected",
                ground="no integration with the Quria library system (a minimum requirement)",
            )
        ],
        decided_at=dt.datetime(2026, 5, 20, 10, 0, tzinfo=_UTC),
        served_at=dt.datetime(2026, 5, 20, 12, 0, tzinfo=_UTC),
        standstill_ends_on=dt.date(2026, 6, 4),
        bids=3,
        decision_id="decision-2026-4e5f6a7b",
    ),
    procurement.DecisionCorrected(
        tender_id="tender-2026-001",
        title="E-books 2027-2029",
        revision=2,
        replaces_revision=1,
        reason="the scoring of bid-0003 counted a test that was not in the published matrix",
        procedure="open",
        threshold_class="eu",
        lots=[
            procurement.LotDecision(
                lot_id="1",
                bid_id="bid-0003",
                supplier=_SUPPLIER,
                product="Ellibs Library",
                price_model="annual-fee",
                price_cents=4_800_000,
                total_score=87.5,
                bids_scored=2,
            )
        ],
        rejected=[
            procurement.RejectedBid(
                bid_id="bid-0002",
                supplier=procurement.Supplier(name="Example Books Ltd", country="GB"),
                kind="rejected",
                ground="no integration with the Quria library system (a minimum requirement)",
            )
        ],
        corrected_at=dt.datetime(2026, 6, 1, 9, 0, tzinfo=_UTC),
        served_at=dt.datetime(2026, 6, 1, 10, 0, tzinfo=_UTC),
        standstill_ends_on=dt.date(2026, 6, 15),
        discontinued_lots=[],
        changed_lots=[],
        bids=3,
        decision_id="decision-2026-4e5f6a7b",
    ),
    procurement.AppealLodged(
        tender_id="tender-2026-001",
        case_number="MAO:123/2026",
        lodged_on=dt.date(2026, 6, 1),
        suspends=True,
        title="E-books 2027-2029",
    ),
    procurement.AppealResolved(
        tender_id="tender-2026-001",
        case_number="MAO:123/2026",
        outcome="dismissed",
        resolved_on=dt.date(2026, 8, 14),
        title="E-books 2027-2029",
    ),
    procurement.QuestionAnswered(
        tender_id="tender-2026-001",
        question_id="q-1",
        question="Must the service support EPUB 3 fixed layout?",
        answer="Yes, for picture books; it is a minimum requirement of the need.",
        answered_at=dt.datetime(2026, 4, 10, 9, 0, tzinfo=_UTC),
        title="E-books 2027-2029",
    ),
    procurement.StandstillEnded(
        tender_id="tender-2026-001",
        ended_on=dt.date(2026, 6, 4),
        bid_id="bid-0003",
        suspending_appeals=0,
        title="E-books 2027-2029",
    ),
    procurement.TenderCancelled(
        tender_id="tender-2026-002", reason="No compliant bids", title="Streaming video"
    ),
    procurement.AgreementSigned(
        agreement_id="agreement-2026-001",
        tender_id="tender-2026-001",
        title="E-books 2027-2029",
        supplier=_SUPPLIER,
        product="Ellibs Library",
        material_types=["e-book"],
        licence_terms={
            "concurrent_users": procurement.TermValue(
                type="number", value=3, label="Concurrent users"
            )
        },
        periods=[
            procurement.AgreementPeriod(
                start=dt.date(2027, 1, 1),
                end=dt.date(2028, 12, 31),
                cancellation_deadline=dt.date(2028, 9, 30),
            )
        ],
        extension_options=1,
        annual_cost_cents=4_800_000,
        cost_share_model="per-capita",
        signed_on=dt.date(2026, 6, 1),
        extension_months=12,
        price_model="annual-fee",
        bid_id="bid-0003",
        kl_reference="KL-2026-17",
        lot_id="1",
        cost_share=procurement.CostShare(model="per-capita"),
    ),
    procurement.AgreementSignedV2(
        agreement_id="agreement-2026-002",
        tender_id="tender-2026-001",
        lot_id="2",
        title="E-audiobooks 2027-2029",
        supplier=_SUPPLIER,
        product="Ellibs Audio",
        material_types=["e-audiobook"],
        licence_terms={
            "concurrent_users": procurement.TermValue(
                type="number", value=1, label="Concurrent users"
            )
        },
        periods=[
            procurement.AgreementPeriod(
                start=dt.date(2027, 1, 1),
                end=dt.date(2028, 12, 31),
                cancellation_deadline=dt.date(2028, 9, 30),
            )
        ],
        extension_options=1,
        extension_months=12,
        annual_cost_cents=3_000_000,
        cost_share=procurement.CostShareV2(model="usage"),
        signed_on=dt.date(2026, 6, 1),
        price_model="per-loan",
        bid_id="bid-0007",
        kl_reference="KL-2026-17",
    ),
    procurement.AgreementEnded(
        agreement_id="agreement-2026-001",
        kind="expired",
        effective_on=dt.date(2029, 1, 1),
        title="E-books 2027-2029",
    ),
    procurement.AgreementJoined(
        agreement_id="agreement-2026-001",
        isil="FI-Tro",
        joined_on=dt.date(2027, 1, 1),
        title="E-books 2027-2029",
        supplier=_SUPPLIER,
        product="Ellibs Library",
        participants=12,
        material_types=["e-book"],
    ),
    procurement.AgreementLeft(
        agreement_id="agreement-2026-001",
        isil="FI-Tro",
        left_on=dt.date(2028, 1, 1),
        reason="opt-out",
        participants=11,
        title="E-books 2027-2029",
    ),
    procurement.InvoiceLinesIssued(
        agreement_id="agreement-2026-001",
        title="E-books 2027-2029",
        period_start=dt.date(2027, 1, 1),
        period_end=dt.date(2027, 12, 31),
        cost_cents=4_800_000,
        cost_share_model="per-capita",
        cost_share=procurement.CostShare(
            model="population-bands",
            bands=[
                procurement.PopulationBand(up_to=5_000, points=1),
                procurement.PopulationBand(up_to=50_000, points=3),
                procurement.PopulationBand(up_to=None, points=8),
            ],
        ),
        lines=[
            procurement.InvoiceLine(
                payer_id="0192435-2",
                payer_name="Tornion kaupunki",
                business_id="0192435-2",
                e_invoice_address="003701924352",
                isil="FI-Tro",
                description="E-books 2027-2029, 1.1.-31.12.2027",
                days=365,
                amount_cents=4_800_000,
            )
        ],
    ),
    procurement.InvoiceLinesIssuedV2(
        agreement_id="agreement-2026-002",
        title="E-audiobooks 2027-2029",
        period_start=dt.date(2027, 1, 1),
        period_end=dt.date(2027, 3, 31),
        cost_cents=739_726,
        cost_share=procurement.CostShareV2(model="usage"),
        usage_months=["2027-01", "2027-02", "2027-03"],
        lines=[
            procurement.InvoiceLine(
                payer_id="0192435-2",
                payer_name="Tornion kaupunki",
                business_id="0192435-2",
                e_invoice_address="003701924352",
                isil="FI-Tro",
                description="E-audiobooks 2027-2029, 1.1.-31.3.2027, 1 240 of 1 240 loans",
                days=90,
                amount_cents=739_726,
            )
        ],
    ),
    procurement.CancellationDeadlineApproaching(
        agreement_id="agreement-2026-001",
        title="E-books 2027-2029",
        supplier=_SUPPLIER,
        product="Ellibs Library",
        cancellation_deadline=dt.date(2027, 9, 30),
        days_before=30,
        period_end=dt.date(2027, 12, 31),
        renewals_left=2,
        annual_cost_cents=4_800_000,
        participants=["FI-Tro", "FI-Kemi"],
    ),
    procurement.EntitlementsChanged(
        agreement_id="agreement-2026-001",
        holder="kimppa:lapin-kirjasto",
        change="added",
        titles=[
            procurement.TitleEntitlement(
                isbn="9789510476543",
                licence_model="one-copy-one-user",
                copies=3,
                acquired_on=dt.date(2027, 1, 15),
                order_reference="PO-2027-0042",
                survives_leaving=True,
            )
        ],
    ),
    procurement.DecisionRecorded(
        decision_id="decision-2026-014",
        body="steering-group",
        decided_on=dt.date(2026, 11, 20),
        section="14 §",
        subject_kind="agreement",
        subject_id="agreement-2026-001",
        text="The steering group approves using the first extension option.",
        attachments=[
            procurement.DecisionAttachment(
                name="minutes-2026-11-20.pdf",
                sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                size=48_213,
                media_type="application/pdf",
            )
        ],
    ),
    procurement.SurveyOpened(
        survey_id="survey-2026-003",
        kind="renewal",
        title=procurement.LocalizedText(
            fi="Jatketaanko e-kirjasopimusta 2028?", sv="Förnyas e-boksavtalet 2028?"
        ),
        opens_on=dt.date(2026, 12, 1),
        closes_on=dt.date(2026, 12, 31),
        agreement_id="agreement-2026-001",
        decision_id="decision-2026-014",
        audience=["FI-Tro", "FI-Hki"],
    ),
    procurement.SurveyReminderDue(
        survey_id="survey-2026-003",
        title=procurement.LocalizedText(
            fi="Jatketaanko e-kirjasopimusta 2028?", sv="Förnyas e-boksavtalet 2028?"
        ),
        closes_on=dt.date(2026, 12, 31),
        not_answered=["FI-Hki"],
    ),
    procurement.SurveyClosed(
        survey_id="survey-2026-003",
        kind="renewal",
        closes_on=dt.date(2026, 12, 31),
        audience_size=2,
        answered=1,
        agreement_id="agreement-2026-001",
        opted_in=["FI-Tro"],
        results=[
            procurement.SurveyQuestionResult(
                question_id="renew",
                kind="single",
                text=procurement.LocalizedText(
                    fi="Osallistutteko seuraavalla kaudella?", sv="Deltar ni under nästa period?"
                ),
                answered=1,
                options=[
                    procurement.SurveyOptionCount(
                        option_id="yes",
                        label=procurement.LocalizedText(fi="Kyllä", sv="Ja"),
                        count=1,
                    ),
                    procurement.SurveyOptionCount(
                        option_id="no",
                        label=procurement.LocalizedText(fi="Ei", sv="Nej"),
                        count=0,
                    ),
                ],
            ),
            procurement.SurveyQuestionResult(
                question_id="loans",
                kind="number",
                text=procurement.LocalizedText(fi="Lainoja vuodessa", sv="Lån per år"),
                answered=1,
                mean=1250.0,
            ),
        ],
    ),
    procurement.AnnualReportPublished(
        isil="FI-Tro",
        year=2026,
        url="/reports/annual/2026?isil=FI-Tro&format=html",
        pdf_url="/reports/annual/2026?isil=FI-Tro&format=pdf",
    ),
    catalogue.TitlesIngested(
        batch_id="batch-0042",
        collection_id="collection-ellibs",
        agreement_id="agreement-2026-001",
        format="onix",
        mode="delta",
        counts=catalogue.IngestCounts(
            received=120,
            accepted=100,
            updated=12,
            unchanged=5,
            duplicate=1,
            rejected=2,
            withdrawn=0,
            warnings=3,
        ),
        records_in_collection=18_450,
    ),
    catalogue.RecordsAvailable(
        isil="FI-Tro",
        collection_id="collection-ellibs",
        agreement_id="agreement-2026-001",
        title="E-books 2027-2029",
        count=18_450,
        reason="agreement-joined",
        oai_set="kimppa:lapin-kirjasto",
    ),
    catalogue.RecordsWithdrawn(
        isil="FI-Tro",
        collection_id="collection-ellibs",
        agreement_id="agreement-2026-001",
        count=18_450,
        reason="agreement-left",
    ),
    outreach.MessageDelivered(
        delivery_id=981,
        kind="welcome",
        isil="FI-Tro",
        cause_id="0b6f7c1e-6d0f-4c59-9a43-1c1f3b0c2d11",
        status="sent",
        attempts=1,
    ),
    outreach.CampaignSent(
        campaign_id="campaign-2026-03",
        title="New e-book agreement",
        audience="library_system=Koha",
        recipients=40,
        sent=39,
        failed=1,
        finished_at=dt.datetime(2026, 6, 2, 9, 30, tzinfo=_UTC),
    ),
    outreach.AnnouncementPublished(
        announcement_id="announcement-2026-07",
        title="Uusi e-kirjasopimus",
        language="fi",
        published_at=dt.datetime(2026, 6, 2, 9, 0, tzinfo=_UTC),
    ),
    outreach.UsageDigestSubscriptionChanged(
        isil="FI-Tro",
        email_sha256="5d41402abc4b2a76b9719d911017c592" + "5d41402abc4b2a76b9719d911017c592",
        subscribed=False,
    ),
    usage.UsageReported(
        agreement_id="agreement-2026-001",
        isil="FI-Tro",
        period="2026-05",
        report="TR_B1",
        source="sushi",
        revision=1,
        totals={"Total_Item_Requests": 412, "Unique_Title_Requests": 298},
        titles=173,
    ),
    usage.UsageHarvestFailed(
        agreement_id="agreement-2026-001",
        isil="FI-Kemi",
        period="2026-05",
        report="TR",
        job_id=88,
        attempts=5,
        reason="the SUSHI server answered 503 five times",
        sushi_code=None,
    ),
    usage.InvoiceDiscrepancyFound(
        agreement_id="agreement-2026-002",
        isil="FI-Tro",
        period_from="2026-01",
        period_to="2026-06",
        loans=1_204,
        price_per_loan_cents=150,
        expected_cents=180_600,
        invoiced_cents=195_000,
        difference_cents=14_400,
        tolerance_cents=1_000,
    ),
)
EXAMPLES_BY_TYPE: dict[str, Event] = {example.ce_type(): example for example in EXAMPLES}


def example_record(event: Event, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    """The Kafka headers and value Konsortio publishes for ``event`` (binary content mode)."""
    event_id = event_id or f"example-{event.ce_type()}"
    headers = {
        "ce_id": event_id,
        "ce_source": f"/konsortio/{event.producer}",
        "ce_type": event.ce_type(),
        "ce_specversion": "1.0",
        "ce_time": "2026-06-02T09:30:00Z",
        "ce_correlationid": event_id,
        "content-type": "application/json",
    }
    return headers, event.model_dump_json().encode()
