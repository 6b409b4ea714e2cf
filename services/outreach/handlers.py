"""What outreach reacts to. Each handler runs inside the consumer's inbox transaction, so the
audience change and the queued messages commit together with the event's inbox row; the
sender (``mailer.py``) delivers queued messages afterwards, so an SMTP outage only delays."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.membership import MemberJoined, MemberLeft, MemberUpdated
from kit.consumer import Delivery, Reactions
from services.outreach import domain, store

reactions = Reactions()


@dataclass(frozen=True)
class OutreachDeps:
    renderer: domain.Renderer
    mail_domain: str


@reactions.on(MemberJoined)
async def welcome_new_member(delivery: Delivery, event: MemberJoined) -> None:
    deps: OutreachDeps = delivery.deps
    await store.upsert_library(
        delivery.conn, event.library, is_member=True, member_since=event.joined_on
    )
    mails = domain.compose(
        deps.renderer,
        "welcome",
        domain.recipients_of(event.library),
        {"library": event.library, "joined_on": event.joined_on},
    )
    await store.queue(delivery.conn, delivery.envelope.id, mails, deps.mail_domain)


@reactions.on(MemberUpdated)
async def keep_contacts_current(delivery: Delivery, event: MemberUpdated) -> None:
    await store.upsert_library(delivery.conn, event.library, is_member=event.is_member)


@reactions.on(MemberLeft)
async def remove_from_audience(delivery: Delivery, event: MemberLeft) -> None:
    # member-left is emitted on the effective date, so the library leaves the audience now.
    await store.upsert_library(
        delivery.conn, event.library, is_member=False, left_on=event.effective_date
    )
