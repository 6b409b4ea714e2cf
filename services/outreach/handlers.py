"""What outreach reacts to. Each handler runs inside the consumer's inbox transaction, so the
audience change, the queued messages, the feed entry and their events commit together with
the event's inbox row; a redelivered event is skipped by the inbox, and the deliveries'
unique key (cause, recipient, kind) would stop a second message anyway. The sender
(``mailer.py``) delivers queued messages afterwards, so an SMTP outage only delays them.

- member-joined      → audience; welcome message with the onboarding kit
- member-updated     → audience (contacts, names, library system)
- member-left        → off the audience from its effective date
- agreement-signed   → announcement to all active members, a draft campaign, a feed entry
- agreement-joined   → participation; the e-service's marketing kit to that library
- agreement-left     → participation ends
- agreement-ended    → every participation ends
- tender-opened      → invitation to comment, to the interested member libraries
- records-available  → "new e-materials" notice to that library
- agreement-version-published → a request to accept it, to each member asked, in its language
  (asks to a library not heard of yet wait in parked_requests until its member-joined)
- contact-erased     → the address is forgotten: audience, queued messages, delivery log
- survey-opened      → an invitation to answer, to each library asked, in its language
- survey-reminder-due → one reminder to each library that has not answered yet
- annual-report-published → a link to the library's annual report, to its contacts
- usage-reported     → the month's figures for the monthly usage digest (usage_digest.py)
- cancellation-deadline-approaching → a reminder (60, 30 and 7 days before) to the
  coordinator's address and to the contacts of every participating library
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from contracts.catalogue import RecordsAvailable
from contracts.membership import (
    AgreementVersionPublished,
    ContactErased,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
)
from contracts.procurement import (
    AgreementEnded,
    AgreementJoined,
    AgreementLeft,
    AgreementSigned,
    AnnualReportPublished,
    CancellationDeadlineApproaching,
    SurveyOpened,
    SurveyReminderDue,
    TenderOpened,
)
from contracts.usage import UsageReported
from kit.consumer import Delivery, Reactions
from kit.logging import current_trace, get_logger
from services.outreach import commands, domain, store, usage_digest
from services.outreach.deps import OutreachDeps
from services.outreach.domain import LANGUAGES, AudienceFilter, Recipient

log = get_logger(__name__)
reactions = Reactions()

# Draft campaigns made from an event get an id derived from it, so the draft is one per event.
DRAFT_NAMESPACE = uuid.UUID("6f1d3c1e-7a51-4c0e-9d7e-3b2f0b8e5a11")


def _today(delivery: Delivery) -> dt.date:
    """Today by the service's clock (the deps carry it), so tests set the date they need."""
    deps: OutreachDeps = delivery.deps
    return deps.clock.today()


async def _queue(
    delivery: Delivery,
    kind: str,
    recipients: list[Recipient],
    context: dict[str, object],
    files: list[domain.KitFile] | None = None,
    *,
    cause_id: str | None = None,
    correlation_id: str | None = None,
) -> int:
    deps: OutreachDeps = delivery.deps
    mails = domain.compose(
        deps.renderer,
        kind,
        domain.unique_recipients(recipients),
        context,
        files,
        file_url=deps.file_url,
        attachment_max_bytes=deps.attachment_max_bytes,
    )
    if correlation_id is None:
        correlation_id = current_trace()[0] or delivery.envelope.correlation_id
    return await store.deliveries.queue(
        delivery.conn,
        cause_id or delivery.envelope.id,
        mails,
        deps.mail_domain,
        correlation_id=correlation_id,
    )


# --- membership --------------------------------------------------------------------------------


@reactions.on(MemberJoined)
async def welcome_new_member(delivery: Delivery, event: MemberJoined) -> None:
    await store.audience.upsert_library(
        delivery.conn, event.library, is_member=True, member_since=event.joined_on
    )
    await _send_parked_requests(delivery, event.library.isil)
    await _queue(
        delivery,
        "welcome",
        domain.recipients_of(event.library),
        {"library": event.library.model_dump(), "joined_on": event.joined_on},
        await store.kits.onboarding_files(delivery.conn),
    )


@reactions.on(MemberUpdated)
async def keep_contacts_current(delivery: Delivery, event: MemberUpdated) -> None:
    await store.audience.upsert_library(
        delivery.conn, event.library, is_member=event.is_member, keep_dates=True
    )
    await _send_parked_requests(delivery, event.library.isil)


@reactions.on(MemberLeft)
async def remove_from_audience(delivery: Delivery, event: MemberLeft) -> None:
    # member-left is emitted on the effective date; should one arrive early, the library
    # stays in the audience until that date (the audience queries compare left_on).
    await store.audience.upsert_library(
        delivery.conn,
        event.library,
        is_member=event.effective_date > _today(delivery),
        left_on=event.effective_date,
    )


def _acceptance_context(event: AgreementVersionPublished) -> dict[str, object]:
    version = event.model_dump(mode="json")
    version["valid_from"] = event.valid_from
    return {"version": version}


@reactions.on(AgreementVersionPublished)
async def ask_to_accept_the_agreement_version(
    delivery: Delivery, event: AgreementVersionPublished
) -> None:
    queued = await _ask_libraries(
        delivery, "acceptance", event.members_asked, _acceptance_context(event), event=event
    )
    log.info(
        "agreement version acceptance requested",
        agreement_version=event.agreement_version,
        messages=queued,
    )


@reactions.on(ContactErased)
async def forget_erased_contact(delivery: Delivery, event: ContactErased) -> None:
    changed = await store.deliveries.forget_contact(delivery.conn, event.isil, event.email_sha256)
    log.info("contact erased", isil=event.isil, deliveries_redacted=changed)


# --- procurement -------------------------------------------------------------------------------


def _agreement_context(event: AgreementSigned) -> dict[str, object]:
    current = event.periods[0] if event.periods else None
    return {
        "agreement_id": event.agreement_id,
        "title": event.title,
        "product": event.product,
        "supplier": event.supplier.name,
        "material_types": list(event.material_types),
        "signed_on": event.signed_on,
        "start": current.start if current else None,
        "end": current.end if current else None,
    }


@reactions.on(AgreementSigned)
async def announce_agreement(delivery: Delivery, event: AgreementSigned) -> None:
    deps: OutreachDeps = delivery.deps
    conn = delivery.conn
    agreement = _agreement_context(event)
    await store.agreements.upsert_agreement(
        conn,
        event.agreement_id,
        title=event.title,
        product=event.product,
        supplier=event.supplier.name,
        signed_on=event.signed_on,
    )
    queued = await _queue(
        delivery,
        "announcement",
        await store.audience.member_recipients(conn, _today(delivery)),
        {"agreement": agreement, "feed_url": deps.feed_url},
    )
    # A draft for the coordinator to review, preview and send: the e-service, told to the
    # libraries' patrons through every member.
    subject: dict[str, str] = {
        lang: deps.renderer.snippet("agreement_campaign.subject", lang, {"agreement": agreement})
        for lang in LANGUAGES
    }
    body: dict[str, str] = {
        lang: deps.renderer.snippet("agreement_campaign.body", lang, {"agreement": agreement})
        for lang in LANGUAGES
    }
    audience = AudienceFilter(kind="all")
    kit_files = await store.kits.service_files(conn, event.agreement_id, event.product)
    await store.campaigns.create(
        conn,
        campaign_id=uuid.uuid5(DRAFT_NAMESPACE, delivery.envelope.id),
        title=f"{event.product}: {event.title}",
        audience=audience.model_dump(),
        audience_text=audience.describe(),
        subject=subject,
        body=body,
        kit_id=uuid.UUID(kit_files[0].kit_id) if kit_files else None,
        origin="agreement-signed",
        agreement_id=event.agreement_id,
        created_by="event:agreement-signed",
    )
    await commands.publish_announcement(
        conn,
        cause_id=delivery.envelope.id,
        versions={
            lang: (
                deps.renderer.snippet("agreement_feed.title", lang, {"agreement": agreement}),
                deps.renderer.snippet("agreement_feed.summary", lang, {"agreement": agreement}),
            )
            for lang in LANGUAGES
        },
        link=None,
        published_at=delivery.envelope.time or delivery.deps.clock.now(),
    )
    log.info("agreement announced", agreement_id=event.agreement_id, messages=queued)


@reactions.on(AgreementJoined)
async def send_marketing_kit(delivery: Delivery, event: AgreementJoined) -> None:
    conn = delivery.conn
    await store.agreements.join_agreement(conn, event.agreement_id, event.isil, event.joined_on)
    files = await store.kits.service_files(conn, event.agreement_id, event.product)
    library = await store.audience.active_library(conn, event.isil, _today(delivery))
    if not files or library is None:
        # Nothing to send yet (no kit for this e-service) or nobody to send it to.
        log.info(
            "no marketing kit sent",
            agreement_id=event.agreement_id,
            isil=event.isil,
            reason="no kit" if not files else "not in the audience",
        )
        return
    await _queue(
        delivery,
        "kit",
        await store.audience.library_recipients(conn, event.isil, _today(delivery)),
        {
            "library": library,
            "agreement": {
                "agreement_id": event.agreement_id,
                "title": event.title,
                "product": event.product,
                "supplier": event.supplier.name,
                "joined_on": event.joined_on,
            },
            "kits_url": delivery.deps.kits_url,
        },
        files,
    )


@reactions.on(AgreementLeft)
async def end_participation(delivery: Delivery, event: AgreementLeft) -> None:
    await store.agreements.leave_agreement(
        delivery.conn, event.agreement_id, event.isil, event.left_on
    )


@reactions.on(AgreementEnded)
async def end_agreement(delivery: Delivery, event: AgreementEnded) -> None:
    await store.agreements.end_agreement(delivery.conn, event.agreement_id, event.effective_on)


@reactions.on(TenderOpened)
async def invite_to_comment(delivery: Delivery, event: TenderOpened) -> None:
    conn = delivery.conn
    tender = {
        "title": event.title,
        "kl_reference": event.kl_reference,
        "deadline": event.deadline,
        "material_types": list(event.material_types),
    }
    for isil in dict.fromkeys(event.interested_libraries):
        library = await store.audience.active_library(conn, isil, _today(delivery))
        if library is None:
            continue  # interest from a library that is no longer a member
        await _queue(
            delivery,
            "invitation",
            await store.audience.library_recipients(conn, isil, _today(delivery)),
            {"library": library, "tender": tender},
        )


# --- catalogue ---------------------------------------------------------------------------------


@reactions.on(RecordsAvailable)
async def notice_new_materials(delivery: Delivery, event: RecordsAvailable) -> None:
    conn = delivery.conn
    library = await store.audience.active_library(conn, event.isil, _today(delivery))
    if library is None or event.count == 0:
        return
    await _queue(
        delivery,
        "notice",
        await store.audience.library_recipients(conn, event.isil, _today(delivery)),
        {
            "library": library,
            "collection": {
                "collection_id": event.collection_id,
                "agreement_id": event.agreement_id,
                "title": event.title,
                "count": event.count,
                "oai_set": event.oai_set,
            },
        },
    )


# --- governance (procurement's surveys) --------------------------------------------------------


async def _ask_libraries(
    delivery: Delivery,
    kind: str,
    isils: list[str],
    context: dict[str, object],
    *,
    event: AgreementVersionPublished | SurveyOpened | AnnualReportPublished | None = None,
) -> int:
    """Queue ``kind`` to each library's contacts. With ``event``, a library outreach has not
    heard of yet is parked: its member-joined travels on another topic and may come later,
    and the request is then sent from the event as it would have been now."""
    queued = 0
    for isil in isils:
        library = await store.audience.active_library(delivery.conn, isil, _today(delivery))
        if library is None:
            if event is not None and not await store.audience.is_known_library(delivery.conn, isil):
                await store.audience.park_request(
                    delivery.conn,
                    isil,
                    delivery.envelope.id,
                    kind,
                    event.model_dump(mode="json"),
                    current_trace()[0] or delivery.envelope.correlation_id,
                )
            continue  # a former member, or one not heard of yet (parked above)
        queued += await _queue(
            delivery,
            kind,
            await store.audience.library_recipients(delivery.conn, isil, _today(delivery)),
            {"library": library, **context},
        )
    return queued


def _survey_context(event: SurveyOpened) -> dict[str, object]:
    survey = event.model_dump(mode="json")
    survey.update(opens_on=event.opens_on, closes_on=event.closes_on)
    return {"survey": survey}


def _report_context(event: AnnualReportPublished) -> dict[str, object]:
    return {"report": event.model_dump(mode="json")}


# What a parked request is composed from: its kind's event and context.
_PARKABLE: dict[str, tuple[type[Any], Callable[[Any], dict[str, object]]]] = {
    "acceptance": (AgreementVersionPublished, _acceptance_context),
    "survey": (SurveyOpened, _survey_context),
    "annual-report": (AnnualReportPublished, _report_context),
}


async def _send_parked_requests(delivery: Delivery, isil: str) -> None:
    conn = delivery.conn
    library = await store.audience.active_library(conn, isil, _today(delivery))
    parked = sorted(
        await store.audience.take_parked_requests(conn, isil), key=lambda r: r["parked_at"]
    )
    if library is None:
        return  # known now and not a member: the requests are dropped, as they would have been
    for request in parked:
        model, context_of = _PARKABLE[request["kind"]]
        context = context_of(model.model_validate(request["event"]))
        await _queue(
            delivery,
            request["kind"],
            await store.audience.library_recipients(conn, isil, _today(delivery)),
            {"library": library, **context},
            cause_id=request["cause_id"],
            correlation_id=request["correlation_id"],
        )
        log.info("parked request sent", isil=isil, kind=request["kind"])


@reactions.on(SurveyOpened)
async def invite_to_answer_the_survey(delivery: Delivery, event: SurveyOpened) -> None:
    queued = await _ask_libraries(
        delivery, "survey", event.audience, _survey_context(event), event=event
    )
    log.info("survey invitations queued", survey_id=event.survey_id, messages=queued)


@reactions.on(SurveyReminderDue)
async def remind_to_answer_the_survey(delivery: Delivery, event: SurveyReminderDue) -> None:
    # Procurement publishes this once per survey; the inbox and the deliveries' unique key
    # (cause, recipient, kind) keep a redelivery from reminding twice.
    survey = event.model_dump(mode="json")
    survey.update(closes_on=event.closes_on)
    queued = await _ask_libraries(
        delivery, "survey-reminder", event.not_answered, {"survey": survey}
    )
    log.info("survey reminders queued", survey_id=event.survey_id, messages=queued)


@reactions.on(AnnualReportPublished)
async def send_the_annual_report_link(delivery: Delivery, event: AnnualReportPublished) -> None:
    queued = await _ask_libraries(
        delivery, "annual-report", [event.isil], _report_context(event), event=event
    )
    log.info("annual report link queued", isil=event.isil, year=event.year, messages=queued)


@reactions.on(UsageReported)
async def keep_usage_figures(delivery: Delivery, event: UsageReported) -> None:
    await usage_digest.record(delivery, event)


# --- agreements' cancellation deadlines --------------------------------------------------------


def _euros(cents: int) -> str:
    """1234567 -> "12 345,67" (the Finnish and Swedish way: space thousands, decimal comma)."""
    whole, part = divmod(cents, 100)
    return f"{whole:,}".replace(",", "\u00a0") + f",{part:02d}"


def _coordinator(deps: OutreachDeps) -> list[Recipient]:
    if not deps.coordinator_email:
        return []
    return [
        Recipient(
            isil="",
            email=domain.normalise_email(deps.coordinator_email),
            name="",
            language=deps.coordinator_language,
        )
    ]


@reactions.on(CancellationDeadlineApproaching)
async def remind_of_the_cancellation_deadline(
    delivery: Delivery, event: CancellationDeadlineApproaching
) -> None:
    # Procurement publishes one event per agreement and reminder (60, 30 and 7 days before);
    # each is its own cause, so each is mailed once to each recipient, however often delivered.
    agreement = event.model_dump(mode="json")
    agreement.update(
        supplier=event.supplier.name,
        cancellation_deadline=event.cancellation_deadline,
        period_end=event.period_end,
        annual_cost=_euros(event.annual_cost_cents),
    )
    context: dict[str, object] = {"agreement": agreement}
    queued = await _queue(
        delivery, "cancellation-deadline", _coordinator(delivery.deps), {"library": None, **context}
    )
    queued += await _ask_libraries(
        delivery, "cancellation-deadline", list(dict.fromkeys(event.participants)), context
    )
    log.info(
        "cancellation deadline reminders queued",
        agreement_id=event.agreement_id,
        days_before=event.days_before,
        messages=queued,
    )
