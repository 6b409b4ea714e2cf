"""Outreach rules, with no I/O: who receives what, in which language, which kit files go with a
message, how a campaign moves through its states, and how a message is identified so that it
is sent once per (cause, recipient, kind)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from contracts.membership import Library
from kit.rules import RuleViolated


def printable(value: str) -> str:
    """Refuse control characters other than tab and line breaks: none belongs in a title, a
    name or a message, and PostgreSQL cannot even store NUL."""
    for char in value:
        if (ord(char) < 32 and char not in "\t\n\r") or char == "\x7f":
            raise ValueError(f"control character U+{ord(char):04X} is not allowed")
    return value


# A string from a request: validated like any other field, so a bad one is a 422 naming it.
Text = Annotated[str, AfterValidator(printable)]

Language = Literal["fi", "sv"]
LANGUAGES: tuple[Language, ...] = ("fi", "sv")

# The kinds of message outreach sends; each has a template per language.
KINDS = ("welcome", "announcement", "kit", "invitation", "notice", "campaign", "usage-digest")
# Messages that go to every member at once. The sender takes them after every message that
# is due for one library (a welcome, an acceptance request, a survey invitation), so that a
# new member's welcome never waits behind a 5,000-recipient campaign or announcement.
BULK_KINDS = ("announcement", "campaign", "usage-digest")


class OutreachRuleViolated(RuleViolated):
    """A request that breaks an outreach rule; ``field`` names what to fix. A bad value (422),
    or with ``conflict=True`` a state conflict (409)."""

    def __init__(self, message: str, *, field: str | None = None, conflict: bool = False) -> None:
        super().__init__(message, field=field, status=409 if conflict else None)
        self.conflict = conflict


@dataclass(frozen=True)
class Recipient:
    isil: str
    email: str
    name: str
    language: str  # fi | sv


@dataclass(frozen=True)
class KitFile:
    """A marketing-kit file as a message needs it: what it is, and how to fetch it."""

    id: str
    kit_id: str
    kit_title: str
    language: str  # fi | sv | any
    category: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Mail:
    kind: str
    recipient: Recipient
    subject: str
    text: str
    html: str
    attachments: tuple[KitFile, ...] = field(default=())


class Renderer(Protocol):
    def render(self, kind: str, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(subject, plain text, HTML) of a template in one language."""
        ...

    def snippet(self, name: str, language: str, context: dict[str, Any]) -> str:
        """A text that is not a mail (a campaign draft, a feed entry) in one language."""
        ...


def normalise_email(address: str) -> str:
    return address.strip().lower()


def recipients_of(library: Library) -> list[Recipient]:
    """Every contact of the library, once per address (the first listing wins)."""
    seen: set[str] = set()
    recipients = []
    for contact in library.contacts:
        address = normalise_email(contact.email)
        if address in seen:
            continue
        seen.add(address)
        recipients.append(
            Recipient(
                isil=library.isil, email=address, name=contact.name, language=contact.language
            )
        )
    return recipients


def unique_recipients(recipients: list[Recipient]) -> list[Recipient]:
    """One message per address even when a person is a contact of two libraries."""
    seen: set[str] = set()
    unique = []
    for recipient in recipients:
        address = normalise_email(recipient.email)
        if address not in seen:
            seen.add(address)
            unique.append(recipient)
    return unique


def compose(
    renderer: Renderer,
    kind: str,
    recipients: list[Recipient],
    context: dict[str, Any],
    files: list[KitFile] | None = None,
    *,
    file_url: Any = None,
    attachment_max_bytes: int = 0,
) -> list[Mail]:
    """Render one message per recipient in the recipient's language. Kit ``files`` are
    chosen per language; those that fit ``attachment_max_bytes`` are attached, every one is
    also linked (``file_url(file) -> str``)."""
    mails = []
    for recipient in recipients:
        chosen = files_for_language(files or [], recipient.language)
        attached = attachments_within(chosen, attachment_max_bytes)
        listed = [
            {
                "filename": f.filename,
                "category": f.category,
                "kit": f.kit_title,
                "size": f.size,
                "url": file_url(f) if file_url else "",
                "attached": f in attached,
            }
            for f in chosen
        ]
        subject, text, html = renderer.render(
            kind, recipient.language, {**context, "recipient": recipient, "files": listed}
        )
        mails.append(Mail(kind, recipient, subject.strip(), text, html, tuple(attached)))
    return mails


def files_for_language(files: list[KitFile], language: str) -> list[KitFile]:
    """A kit's files for one reader, kit by kit: the versions in their language (Finnish when
    a kit has no Swedish version yet), plus the language-neutral files such as logos."""
    chosen: list[KitFile] = []
    kit_ids = list(dict.fromkeys(f.kit_id for f in files))
    for kit_id in kit_ids:
        in_kit = [f for f in files if f.kit_id == kit_id]
        own = [f for f in in_kit if f.language == language]
        if not own:
            own = [f for f in in_kit if f.language == "fi"]
        chosen += own + [f for f in in_kit if f.language == "any"]
    return chosen


def attachments_within(files: list[KitFile], max_bytes: int) -> list[KitFile]:
    """The files to attach, in order, while the total stays within ``max_bytes``; a file
    too big to fit is only linked, and smaller ones after it may still fit."""
    attached, total = [], 0
    for f in files:
        if total + f.size <= max_bytes:
            attached.append(f)
            total += f.size
    return attached


def message_id(cause_id: str, recipient: str, kind: str, domain: str) -> str:
    """A stable Message-ID: a retried send carries the same id, so a receiving system can
    recognise the rare resend after a crash between the SMTP reply and our bookkeeping."""
    digest = hashlib.sha256(f"{cause_id}\0{recipient}\0{kind}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def retry_delay_s(attempts: int, base_s: float = 2.0, cap_s: float = 300.0) -> float:
    """Exponential backoff for SMTP failures; the message stays queued, never dropped."""
    return min(base_s * 2.0 ** max(attempts - 1, 0), cap_s)


def is_active_member(is_member: bool, left_on: dt.date | None, today: dt.date) -> bool:
    """A library is in the audience until its effective leaving date."""
    return is_member and (left_on is None or left_on > today)


# --- campaigns -------------------------------------------------------------------------------

CampaignStatus = Literal["draft", "scheduled", "sending", "sent", "cancelled"]


class AudienceFilter(BaseModel):
    """Who a campaign goes to: all active members, the participants of one agreement, the
    libraries on given library systems, or the libraries serving given municipalities."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["all", "agreement", "library_system", "municipalities"] = "all"
    agreement_id: Text | None = Field(None, min_length=1, max_length=100)
    library_systems: list[Text] = Field(
        default_factory=list, max_length=20, examples=[["Koha", "Aurora"]]
    )
    municipalities: list[str] = Field(default_factory=list, max_length=400, examples=[["091"]])

    @model_validator(mode="after")
    def _fits_kind(self) -> AudienceFilter:
        if self.kind == "agreement" and not self.agreement_id:
            raise ValueError("agreement_id is required for kind 'agreement'")
        if self.kind == "library_system" and not self.library_systems:
            raise ValueError("library_systems is required for kind 'library_system'")
        if self.kind == "municipalities" and not self.municipalities:
            raise ValueError("municipalities is required for kind 'municipalities'")
        for system in self.library_systems:
            if not 1 <= len(system.strip()) <= 50:
                raise ValueError("each library system name must be 1-50 characters")
        for code in self.municipalities:
            if not (len(code) == 3 and code.isdigit()):
                raise ValueError(f"municipality {code!r} is not a 3-digit code")
        return self

    def agreement(self) -> str | None:
        return self.agreement_id if self.kind == "agreement" else None

    def systems(self) -> list[str] | None:
        if self.kind != "library_system":
            return None
        return sorted({s.strip().lower() for s in self.library_systems})

    def municipality_codes(self) -> list[str] | None:
        return sorted(set(self.municipalities)) if self.kind == "municipalities" else None

    def describe(self) -> str:
        if self.kind == "agreement":
            return f"participants of agreement {self.agreement_id}"
        if self.kind == "library_system":
            return "library system: " + ", ".join(sorted({s.strip() for s in self.library_systems}))
        if self.kind == "municipalities":
            return "municipalities: " + ", ".join(sorted(set(self.municipalities)))
        return "all members"


EDITABLE: tuple[CampaignStatus, ...] = ("draft",)
SCHEDULABLE: tuple[CampaignStatus, ...] = ("draft", "scheduled")


def check_editable(status: str) -> None:
    if status not in EDITABLE:
        raise OutreachRuleViolated(
            f"a {status} campaign cannot be changed; only a draft can",
            field="status",
            conflict=True,
        )


def check_schedulable(status: str, send_at: dt.datetime, now: dt.datetime) -> None:
    if status not in SCHEDULABLE:
        raise OutreachRuleViolated(
            f"a {status} campaign cannot be scheduled", field="status", conflict=True
        )
    if send_at.tzinfo is None:
        raise OutreachRuleViolated("send_at needs a time zone (e.g. Z)", field="send_at")
    if send_at < now - dt.timedelta(minutes=5):
        raise OutreachRuleViolated("send_at is in the past; use send now", field="send_at")


def check_sendable(status: str) -> None:
    if status not in SCHEDULABLE:
        raise OutreachRuleViolated(
            f"a {status} campaign cannot be sent", field="status", conflict=True
        )


def check_cancellable(status: str) -> None:
    if status not in SCHEDULABLE:
        raise OutreachRuleViolated(
            f"a {status} campaign cannot be cancelled; sending has begun or ended",
            field="status",
            conflict=True,
        )


def campaign_progress(
    planned: int | None, materialised: int, counts: dict[str, int]
) -> dict[str, Any]:
    """Figures for a progress bar: how many will get the message, how many are done."""
    total = max(planned or 0, materialised)
    done = counts.get("sent", 0) + counts.get("failed", 0)
    return {
        "recipients": total,
        "materialised": materialised,
        "queued": counts.get("queued", 0),
        "sending": counts.get("sending", 0),
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
        "percent": round(100.0 * done / total, 1) if total else 0.0,
    }


def paragraphs(text: str) -> list[str]:
    """A campaign body as paragraphs (blank-line separated), for the HTML part."""
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]
