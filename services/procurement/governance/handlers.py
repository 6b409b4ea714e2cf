"""Governance's copies of other services' facts for the annual report.

The handlers are registered on procurement's one ``Reactions`` (so procurement's consumer also
reads the catalogue and outreach topics); each writes one row per event in the inbox's
transaction, so a redelivery adds nothing.
"""

from __future__ import annotations

import datetime as dt

from contracts.catalogue import RecordsAvailable, RecordsWithdrawn
from contracts.outreach import MessageDelivered
from kit.consumer import Delivery
from services.procurement.handlers import reactions


def _day(delivery: Delivery) -> dt.date:
    moment = delivery.envelope.time
    return moment.date() if moment is not None else dt.date.today()


async def _fact(delivery: Delivery, isil: str, fact: str, detail: str, count: int) -> None:
    await delivery.conn.execute(
        "INSERT INTO report_facts (event_id, isil, day, fact, detail, count) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        delivery.envelope.id,
        isil,
        _day(delivery),
        fact,
        detail,
        count,
    )


@reactions.on(RecordsAvailable)
async def count_records_available(delivery: Delivery, event: RecordsAvailable) -> None:
    await _fact(delivery, event.isil, "records-available", event.title, event.count)


@reactions.on(RecordsWithdrawn)
async def count_records_withdrawn(delivery: Delivery, event: RecordsWithdrawn) -> None:
    await _fact(delivery, event.isil, "records-withdrawn", event.collection_id, event.count)


@reactions.on(MessageDelivered)
async def count_messages(delivery: Delivery, event: MessageDelivered) -> None:
    await _fact(delivery, event.isil, f"message-{event.status}", event.kind, 1)
