"""Outreach rules, with no I/O: who receives what, in which language, and how a message is
identified so that it is sent once per (cause, recipient)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from contracts.membership import Library


@dataclass(frozen=True)
class Recipient:
    isil: str
    email: str
    name: str
    language: str  # fi | sv


@dataclass(frozen=True)
class Mail:
    kind: str
    recipient: Recipient
    subject: str
    text: str
    html: str


class Renderer(Protocol):
    def render(self, kind: str, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(subject, plain text, HTML) of a template in one language."""
        ...


def recipients_of(library: Library) -> list[Recipient]:
    """Every contact of the library, once per address (the first listing wins)."""
    seen: set[str] = set()
    recipients = []
    for contact in library.contacts:
        address = contact.email.strip().lower()
        if address in seen:
            continue
        seen.add(address)
        recipients.append(
            Recipient(
                isil=library.isil, email=address, name=contact.name, language=contact.language
            )
        )
    return recipients


def compose(
    renderer: Renderer, kind: str, recipients: list[Recipient], context: dict[str, Any]
) -> list[Mail]:
    mails = []
    for recipient in recipients:
        subject, text, html = renderer.render(
            kind, recipient.language, {**context, "recipient": recipient}
        )
        mails.append(Mail(kind, recipient, subject.strip(), text, html))
    return mails


def message_id(cause_id: str, recipient: str, kind: str, domain: str) -> str:
    """A stable Message-ID: a retried send carries the same id, so a receiving system can
    recognise the rare resend after a crash between the SMTP reply and our bookkeeping."""
    digest = hashlib.sha256(f"{cause_id}\0{recipient}\0{kind}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def retry_delay_s(attempts: int, base_s: float = 2.0, cap_s: float = 300.0) -> float:
    """Exponential backoff for SMTP failures; the message stays queued, never dropped."""
    return min(base_s * 2 ** max(attempts - 1, 0), cap_s)
