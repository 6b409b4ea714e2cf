"""Events published by the outreach service on ``konsortio.outreach``. They carry no contact
addresses: who received a message is personal data and stays in outreach's database."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from contracts.base import Event


class MessageDelivered(Event):
    """A message reached the SMTP server, or failed for good."""

    name = "message-delivered"
    producer = "outreach"
    key_field = "isil"

    delivery_id: int
    kind: str = Field(description="welcome, announcement, kit, invitation, notice, campaign")
    isil: str
    cause_id: str = Field(description="Event or campaign that caused the message")
    status: Literal["sent", "failed"]
    attempts: int = Field(ge=1)


class CampaignSent(Event):
    """A campaign finished sending."""

    name = "campaign-sent"
    producer = "outreach"
    key_field = "campaign_id"

    campaign_id: str
    title: str
    audience: str = Field(description="The audience filter, as text")
    recipients: int = Field(ge=0)
    sent: int = Field(ge=0)
    failed: int = Field(ge=0)
    finished_at: dt.datetime

    def broken_rule(self) -> str | None:
        if self.sent + self.failed > self.recipients:
            return (
                f"sent {self.sent} + failed {self.failed} exceeds recipients {self.recipients}: "
                "a campaign cannot deliver to more addresses than it has"
            )
        return None


class AnnouncementPublished(Event):
    """An announcement entered the public Atom feed."""

    name = "announcement-published"
    producer = "outreach"
    key_field = "announcement_id"

    announcement_id: str
    title: str
    language: Literal["fi", "sv"]
    published_at: dt.datetime


class UsageDigestSubscriptionChanged(Event):
    """A library contact's monthly usage digest was turned off (an opt-out, by the library, a
    coordinator or the contact's unsubscribe link) or on again."""

    name = "usage-digest-subscription-changed"
    producer = "outreach"
    key_field = "isil"

    isil: str
    email_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the contact's normalised address (never the address itself)",
    )
    subscribed: bool = Field(description="false: the contact gets no monthly usage digest")


EVENTS: tuple[type[Event], ...] = (
    MessageDelivered,
    CampaignSent,
    AnnouncementPublished,
    UsageDigestSubscriptionChanged,
)
