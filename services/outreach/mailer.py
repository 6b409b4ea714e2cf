"""Delivers queued messages over SMTP (aiosmtplib), with retries and backoff.

Temporary failures (connection refused, timeouts, 4xx replies) leave a message queued for a
later attempt, so an outage delays mail and never loses it. A permanent 5xx rejection of a
recipient, or a kit attachment that no longer matches its checksum, marks that message
failed, with the reason. Marking a message sent or failed for good and recording its
message-delivered event happen in one transaction.

Stopping: the message in flight is finished (its SMTP transaction and its bookkeeping), and the
rest of the claimed batch is handed back at once, so a graceful stop neither resends nor
leaves messages waiting out their lease. Only a hard crash between the server's reply and the
bookkeeping can resend a message; it then carries the same Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import ssl
from collections.abc import Callable
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal, TypeVar

import aiosmtplib
import asyncpg

from contracts.outreach import MessageDelivered
from kit.db import DATABASE_UNAVAILABLE_ERRORS
from kit.logging import bind_trace, get_logger
from kit.outbox import record_event
from services.outreach import domain, store
from services.outreach.settings import OutreachSettings
from services.outreach.storage import ChecksumMismatch, KitStorage

log = get_logger(__name__)

Outcome = Literal["sent", "retry", "failed"]
T = TypeVar("T")


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, keeping each header's class: the registry builds a new
    class every time a header is set (``type(...)`` per call), a tenth of a campaign's CPU."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# The standard policy (RFC 5322 headers, utf-8), with header classes kept.
MAIL_POLICY = email.policy.default.clone(header_factory=_HeaderClasses())


def build_message(
    row: asyncpg.Record | dict[str, Any],
    sender: str,
    attachments: list[tuple[dict[str, Any], bytes]] = (),  # type: ignore[assignment]  # an empty tuple as the immutable default; only iterated
) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message["Message-ID"] = row["message_id"]
    message["Date"] = formatdate(localtime=False)
    message["X-Konsortio-Kind"] = row["kind"]
    message.set_content(row["text_body"])
    message.add_alternative(row["html_body"], subtype="html")
    for meta, data in attachments:
        maintype, _, subtype = meta["content_type"].split(";")[0].strip().partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=meta["filename"])
    # After set_content, which clears every Content-* header it finds.
    message["Content-Language"] = row["language"]
    return message


def smtp_client(settings: OutreachSettings) -> aiosmtplib.SMTP:
    """A client for the configured server: STARTTLS when asked (certificates verified, against
    ``smtp_ca_file`` when one is given), AUTH after it when a user is set."""
    tls_context = None
    if settings.smtp_ca_file:
        tls_context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        start_tls=settings.smtp_starttls,
        tls_context=tls_context,
        timeout=settings.smtp_timeout_s,
    )


# The database may blink between the SMTP server's reply and our bookkeeping; waiting for it
# (within the claim's lease) keeps a sent message from being sent again. A restart shows up as
# AdminShutdownError/CannotConnectNowError, or as InternalClientError on a pooled connection
# it left mid-operation: the reliability suite's database restart resent welcomes until all
# of these were waited out.
UNAVAILABLE = (*DATABASE_UNAVAILABLE_ERRORS, asyncpg.InternalClientError)


async def _settle(
    pool: asyncpg.Pool, row: asyncpg.Record, status: Literal["sent", "failed"], error: str = ""
) -> None:
    deadline = (
        asyncio.get_running_loop().time() + store.deliveries.SENDING_LEASE.total_seconds() / 2
    )
    delay = 0.2
    while True:
        try:
            return await _record_outcome(pool, row, status, error)
        except UNAVAILABLE as unavailable:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.warning("database unavailable; outcome not recorded yet", error=repr(unavailable))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _record_outcome(
    pool: asyncpg.Pool, row: asyncpg.Record, status: Literal["sent", "failed"], error: str
) -> None:
    """Record the outcome and its message-delivered event together. Nothing is recorded when
    the claim is no longer current (another sender took the message over after the lease)."""
    async with pool.acquire() as conn, conn.transaction():
        if status == "sent":
            current = await store.deliveries.mark_sent(conn, row["id"], row["attempts"])
        else:
            current = await store.deliveries.mark_failed(conn, row["id"], row["attempts"], error)
        if current and row["isil"]:
            bind_trace(row["correlation_id"] or row["cause_id"], row["cause_id"])
            await record_event(
                conn,
                MessageDelivered(
                    delivery_id=row["id"],
                    kind=row["kind"],
                    isil=row["isil"],
                    cause_id=row["cause_id"],
                    status=status,
                    attempts=max(row["attempts"], 1),
                ),
                causation_id=row["cause_id"],
            )


async def _load_attachments(
    row: asyncpg.Record, storage: KitStorage
) -> list[tuple[dict[str, Any], bytes]]:
    loaded = []
    for meta in row["attachments"] or []:
        data = await asyncio.to_thread(storage.read_verified, meta["sha256"])
        loaded.append((meta, data))
    return loaded


async def _deliver(
    pool: asyncpg.Pool,
    client: aiosmtplib.SMTP,
    row: asyncpg.Record,
    settings: OutreachSettings,
    storage: KitStorage,
    record_sent: Callable[[asyncpg.Record], None],
) -> Outcome:
    def delay() -> float:
        return domain.retry_delay_s(
            row["attempts"], settings.mail_retry_base_s, settings.mail_retry_max_s
        )

    try:
        attachments = await _load_attachments(row, storage)
    except ChecksumMismatch as error:
        await _settle(pool, row, "failed", f"attachment corrupted: {error}")
        return "failed"
    except (OSError, ValueError) as error:
        # The kit volume may be unmounted for a moment: keep the message, try later.
        await store.deliveries.mark_retry(
            pool, row["id"], f"attachment unreadable: {error}", delay()
        )
        return "retry"
    try:
        await client.send_message(build_message(row, settings.smtp_sender, attachments))
    except aiosmtplib.SMTPRecipientsRefused as error:
        if all(r.code >= 500 for r in error.recipients):
            await _settle(pool, row, "failed", f"recipient refused: {error}")
            return "failed"
        await store.deliveries.mark_retry(pool, row["id"], str(error), delay())
        return "retry"
    except aiosmtplib.SMTPResponseException as error:
        if error.code >= 500:
            await _settle(pool, row, "failed", f"{error.code} {error.message}")
            return "failed"
        await store.deliveries.mark_retry(pool, row["id"], f"{error.code} {error.message}", delay())
        return "retry"
    except (aiosmtplib.SMTPException, OSError) as error:
        await store.deliveries.mark_retry(pool, row["id"], f"SMTP error: {error}", delay())
        return "retry"
    record_sent(row)  # accepted by the server: recorded while the next message goes out
    return "sent"


async def _finished(work: asyncio.Future[T]) -> T:
    """Wait for ``work``; a stop request (cancellation) waits for it too, then goes on."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await work
        raise


async def _claim_now(pool: asyncpg.Pool, limit: int) -> list[asyncpg.Record]:
    async with pool.acquire() as conn, conn.transaction():
        return await store.deliveries.claim_due(conn, limit)


async def _claim(pool: asyncpg.Pool, limit: int) -> list[asyncpg.Record]:
    """Claim a batch. Shielded: a stop request arriving while the claim commits must not
    leave rows claimed by nobody until their lease runs out; they are handed back at once."""
    claim = asyncio.ensure_future(_claim_now(pool, limit))
    try:
        return await asyncio.shield(claim)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await store.deliveries.release(pool, [row["id"] for row in await claim])
        raise


async def send_due(pool: asyncpg.Pool, settings: OutreachSettings, storage: KitStorage) -> int:
    """One sender round: claim due messages, send them on one SMTP connection, record the
    outcome of each. Returns how many were sent."""
    rows = await _claim(pool, settings.mail_batch_size)
    if not rows:
        return 0
    unattempted = [row["id"] for row in rows]
    try:
        client = smtp_client(settings)
        try:
            await client.connect()
            if settings.smtp_username:
                await client.login(
                    settings.smtp_username, settings.smtp_password.get_secret_value()
                )
        except (aiosmtplib.SMTPException, OSError) as error:
            log.warning("SMTP unavailable; messages stay queued", error=type(error).__name__)
            for row in rows:
                delay = domain.retry_delay_s(
                    row["attempts"], settings.mail_retry_base_s, settings.mail_retry_max_s
                )
                await store.deliveries.mark_retry(
                    pool, row["id"], f"SMTP unavailable: {error}", delay
                )
            unattempted = []
            client.close()
            return 0
        outcomes: dict[Outcome, int] = {"sent": 0, "retry": 0, "failed": 0}
        # A sent message's bookkeeping (one transaction) runs while the next message goes
        # over SMTP: the two waits overlap instead of adding up. _deliver starts it, so a stop
        # request cannot come between the server's reply and the start of its recording.
        recordings: list[asyncio.Future[None]] = []

        def record_sent(row: asyncpg.Record) -> None:
            recordings.append(asyncio.ensure_future(_settle(pool, row, "sent")))

        try:
            for row in rows:
                unattempted.remove(row["id"])
                # Shielded: a stop request lets this message finish before the round ends.
                outcome = await _finished(
                    asyncio.ensure_future(
                        _deliver(pool, client, row, settings, storage, record_sent)
                    )
                )
                outcomes[outcome] += 1
                # Only the newest recording overlaps the next send.
                while len(recordings) > 1:
                    await _finished(recordings.pop(0))
            while recordings:
                await _finished(recordings.pop(0))
        finally:
            # The round ends early (a stop request, an error): what was sent is still
            # recorded before the connection and the claim are let go.
            for recording in recordings:
                with contextlib.suppress(Exception):
                    await _finished(recording)
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    finally:
        if unattempted:
            await store.deliveries.release(pool, unattempted)
    log.info("mail round done", claimed=len(rows), **outcomes)
    return outcomes["sent"]
