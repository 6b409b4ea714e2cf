"""What the dashboard reacts to: every event Konsortio publishes.

Each handler runs inside the kit's inbox transaction: it updates the read model, adds the
event to the live feed, and the feed's NOTIFY reaches browsers only once all of it commits.
Payloads are read from the event's JSON through ``domain``'s tolerant readers, so a producer
adding or reshaping an optional field never dead-letters a fact here.
"""

from __future__ import annotations

import datetime as dt

from contracts import ALL_EVENTS
from contracts.base import Event
from contracts.catalogue import RecordsAvailable, RecordsWithdrawn, TitlesIngested
from contracts.membership import MemberJoined, MemberLeft, MemberUpdated
from contracts.outreach import AnnouncementPublished, CampaignSent, MessageDelivered
from contracts.procurement import (
    AgreementEnded,
    AgreementJoined,
    AgreementLeft,
    AgreementSigned,
    AgreementSignedV2,
    InterestRegistered,
    InvoiceLinesIssuedV2,
    NeedProposed,
    TenderAwarded,
    TenderCancelled,
    TenderOpened,
)
from contracts.usage import InvoiceDiscrepancyFound, UsageHarvestFailed, UsageReported
from kit.consumer import Delivery, Reactions
from services.dashboard import domain, governance, store, usage
from services.dashboard.domain import get, integer, text

reactions = Reactions()


async def add_to_feed(delivery: Delivery, event: Event, group_id: str | None = None) -> None:
    """Every event enters the feed, whether or not it moves a figure."""
    envelope = delivery.envelope
    kind = domain.parse_type(envelope.type)
    try:
        key = event.key()
    except AttributeError:  # a reshaped payload moved the key field
        key = envelope.key or ""
    await store.append_feed(
        delivery.conn,
        store.FeedEntry(
            event_id=envelope.id,
            event_type=envelope.type,
            producer=kind.producer,
            name=kind.name,
            key=key[:200],
            occurred_at=envelope.time or dt.datetime.now(dt.UTC),
            details=domain.feed_details(kind.name, envelope.data),
            group_id=group_id,
        ),
    )


# --- membership --------------------------------------------------------------------------------


@reactions.on(MemberJoined)
async def member_joined(delivery: Delivery, event: MemberJoined) -> None:
    data = delivery.envelope.data
    if library := domain.library_facts(data):
        period = domain.joined_period(data, library.isil)
        await store.upsert_member(delivery.conn, library, is_member=True, period=period.period)
        await store.record_period(delivery.conn, period)
    await add_to_feed(delivery, event)


@reactions.on(MemberUpdated)
async def member_updated(delivery: Delivery, event: MemberUpdated) -> None:
    data = delivery.envelope.data
    if library := domain.library_facts(data):
        is_member = get(data, "is_member")
        await store.upsert_member(
            delivery.conn, library, is_member=is_member is not False, period=None
        )
    await add_to_feed(delivery, event)


@reactions.on(MemberLeft)
async def member_left(delivery: Delivery, event: MemberLeft) -> None:
    data = delivery.envelope.data
    if library := domain.library_facts(data):
        period = domain.left_period(data, library.isil)
        await store.upsert_member(delivery.conn, library, is_member=False, period=period.period)
        await store.record_period(delivery.conn, period)
    await add_to_feed(delivery, event)


# --- procurement --------------------------------------------------------------------------------


@reactions.on(NeedProposed)
async def need_proposed(delivery: Delivery, event: NeedProposed) -> None:
    data = delivery.envelope.data
    if need_id := text(get(data, "need_id"), 100):
        await store.record_need(delivery.conn, need_id, text(get(data, "material_type"), 60))
    await add_to_feed(delivery, event)


@reactions.on(InterestRegistered)
async def interest_registered(delivery: Delivery, event: InterestRegistered) -> None:
    data = delivery.envelope.data
    need_id, isil = text(get(data, "need_id"), 100), text(get(data, "isil"), 16)
    if need_id and isil:
        await store.record_need(delivery.conn, need_id, None)
        await store.record_interest(delivery.conn, need_id, isil)
    await add_to_feed(delivery, event)


@reactions.on(TenderOpened)
async def tender_opened(delivery: Delivery, event: TenderOpened) -> None:
    await _tender(delivery, "open")
    await add_to_feed(delivery, event)


@reactions.on(TenderAwarded)
async def tender_awarded(delivery: Delivery, event: TenderAwarded) -> None:
    await _tender(delivery, "awarded")
    await add_to_feed(delivery, event)


@reactions.on(TenderCancelled)
async def tender_cancelled(delivery: Delivery, event: TenderCancelled) -> None:
    await _tender(delivery, "cancelled")
    await add_to_feed(delivery, event)


async def _tender(delivery: Delivery, status: str) -> None:
    data = delivery.envelope.data
    if tender_id := text(get(data, "tender_id"), 100):
        await store.set_tender(delivery.conn, tender_id, status, text(get(data, "title")))


@reactions.on(AgreementSigned)
async def agreement_signed(delivery: Delivery, event: AgreementSigned) -> None:
    if facts := domain.agreement_facts(delivery.envelope.data):
        await store.upsert_agreement(delivery.conn, facts)
    await add_to_feed(delivery, event)


@reactions.on(AgreementEnded)
async def agreement_ended(delivery: Delivery, event: AgreementEnded) -> None:
    data = delivery.envelope.data
    agreement_id = text(get(data, "agreement_id"), 100)
    if agreement_id:
        effective_on = domain.day(get(data, "effective_on")) or dt.date.today()
        await store.end_agreement(
            delivery.conn, agreement_id, effective_on, text(get(data, "kind"), 30)
        )
    await add_to_feed(delivery, event)


@reactions.on(AgreementJoined)
async def agreement_joined(delivery: Delivery, event: AgreementJoined) -> None:
    data = delivery.envelope.data
    if change := domain.participation_change(data, "joined_on", dt.date.today()):
        # The join carries the agreement's title, supplier and product: enough to show it even
        # when the signing was published before this dashboard's topic retention.
        if facts := domain.agreement_facts(data):
            await store.upsert_agreement(delivery.conn, facts)
        await store.join_agreement(delivery.conn, change)
    await add_to_feed(delivery, event)


@reactions.on(AgreementLeft)
async def agreement_left(delivery: Delivery, event: AgreementLeft) -> None:
    data = delivery.envelope.data
    if change := domain.participation_change(data, "left_on", dt.date.today()):
        await store.leave_agreement(delivery.conn, change)
    await add_to_feed(delivery, event)


# --- catalogue ----------------------------------------------------------------------------------


@reactions.on(TitlesIngested)
async def titles_ingested(delivery: Delivery, event: TitlesIngested) -> None:
    envelope = delivery.envelope
    if batch := domain.batch_facts(envelope.data):
        occurred_at = envelope.time or dt.datetime.now(dt.UTC)
        await store.record_batch(delivery.conn, batch, occurred_at, envelope.id)
    await add_to_feed(delivery, event)


@reactions.on(RecordsAvailable)
async def records_available(delivery: Delivery, event: RecordsAvailable) -> None:
    data = delivery.envelope.data
    isil, collection_id = text(get(data, "isil"), 16), text(get(data, "collection_id"), 100)
    if isil and collection_id:
        await store.upsert_collection(
            delivery.conn,
            collection_id,
            text(get(data, "title")),
            text(get(data, "agreement_id"), 100),
        )
        await store.set_library_collection(delivery.conn, isil, collection_id, available=True)
    await add_to_feed(delivery, event)


@reactions.on(RecordsWithdrawn)
async def records_withdrawn(delivery: Delivery, event: RecordsWithdrawn) -> None:
    data = delivery.envelope.data
    isil, collection_id = text(get(data, "isil"), 16), text(get(data, "collection_id"), 100)
    if isil and collection_id and domain.withdraws_collection(text(get(data, "reason"), 60)):
        await store.set_library_collection(delivery.conn, isil, collection_id, available=False)
    await add_to_feed(delivery, event)


# --- outreach -----------------------------------------------------------------------------------


@reactions.on(MessageDelivered)
async def message_delivered(delivery: Delivery, event: MessageDelivered) -> None:
    data = delivery.envelope.data
    delivery_id = text(get(data, "delivery_id"), 100)
    status = text(get(data, "status"), 30)
    kind = text(get(data, "kind"), 60) or "other"
    if delivery_id and status:
        await store.record_delivery(
            delivery.conn, delivery_id, kind, text(get(data, "isil"), 16), status
        )
    # One mail per recipient would flood the page (a campaign sends thousands): its rows form
    # one group per cause (a campaign, or the event an announcement answers) and kind.
    cause_id = text(get(data, "cause_id"), 200)
    await add_to_feed(
        delivery, event, group_id=f"deliveries:{kind}:{cause_id}" if cause_id else None
    )


@reactions.on(CampaignSent)
async def campaign_sent(delivery: Delivery, event: CampaignSent) -> None:
    data = delivery.envelope.data
    if campaign_id := text(get(data, "campaign_id"), 100):
        await store.record_campaign(
            delivery.conn,
            campaign_id,
            text(get(data, "title")),
            max(integer(get(data, "recipients")), 0),
            max(integer(get(data, "sent")), 0),
            max(integer(get(data, "failed")), 0),
        )
    await add_to_feed(delivery, event)


@reactions.on(AnnouncementPublished)
async def announcement_published(delivery: Delivery, event: AnnouncementPublished) -> None:
    data = delivery.envelope.data
    if announcement_id := text(get(data, "announcement_id"), 100):
        await store.record_announcement(
            delivery.conn,
            announcement_id,
            text(get(data, "title")),
            text(get(data, "language"), 10),
        )
    await add_to_feed(delivery, event)


# --- usage --------------------------------------------------------------------------------------


@reactions.on(UsageReported)
async def usage_reported(delivery: Delivery, event: UsageReported) -> None:
    if facts := usage.usage_facts(delivery.envelope.data):
        await usage.record_usage(delivery.conn, facts)
    await add_to_feed(delivery, event)


@reactions.on(UsageHarvestFailed)
async def usage_harvest_failed(delivery: Delivery, event: UsageHarvestFailed) -> None:
    agreement_id = text(get(delivery.envelope.data, "agreement_id"), 100)
    await usage.record_issue(delivery.conn, delivery.envelope.id, "harvest-failed", agreement_id)
    await add_to_feed(delivery, event)


@reactions.on(InvoiceDiscrepancyFound)
async def invoice_discrepancy_found(delivery: Delivery, event: InvoiceDiscrepancyFound) -> None:
    agreement_id = text(get(delivery.envelope.data, "agreement_id"), 100)
    await usage.record_issue(
        delivery.conn, delivery.envelope.id, "invoice-discrepancy", agreement_id
    )
    await add_to_feed(delivery, event)


@reactions.on(AgreementSignedV2)
@reactions.on(InvoiceLinesIssuedV2)
async def same_fact_as_version_one(delivery: Delivery, event: Event) -> None:
    """Procurement publishes these second versions beside their first (for readers of either);
    the first already moves the figures and the feed, so one fact stays one row."""


def _feed_every_other_event(registry: Reactions) -> None:
    """An event type added to the contracts after this file was written still reaches the
    feed, so the dashboard's group never leaves a Konsortio event unhandled."""
    for model in ALL_EVENTS:
        if registry.lookup(model.ce_type()) is None:
            registry.on(model)(add_to_feed)


governance.register(reactions, add_to_feed)
_feed_every_other_event(reactions)
