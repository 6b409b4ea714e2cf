"""Delivers queued messages over SMTP (aiosmtplib), with retries and backoff.

Temporary failures (connection refused, timeouts, 4xx replies) leave a message queued for a
later attempt, so an outage delays mail and never loses it. A permanent 5xx rejection of a
recipient marks that message failed, with the server's reason.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import asyncpg

from kit.logging import get_logger
from services.outreach import domain, store
from services.outreach.settings import OutreachSettings

log = get_logger(__name__)


def build_message(row: asyncpg.Record, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message["Message-ID"] = row["message_id"]
    message["Date"] = formatdate(localtime=False)
    message["X-Konsortio-Kind"] = row["kind"]
    message.set_content(row["text_body"])
    message.add_alternative(row["html_body"], subtype="html")
    # After set_content, which clears every Content-* header it finds.
    message["Content-Language"] = row["language"]
    return message


async def send_due(pool: asyncpg.Pool, settings: OutreachSettings) -> int:
    """One sender round: claim due messages, send them on one SMTP connection, record the
    outcome of each. Returns how many were sent."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.claim_due(conn, settings.mail_batch_size)
    if not rows:
        return 0
    sent = 0
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_s,
    )
    try:
        await client.connect()
        if settings.smtp_username:
            await client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except (aiosmtplib.SMTPException, OSError) as error:
        log.warning("SMTP unavailable; messages stay queued", error=type(error).__name__)
        for row in rows:
            await store.mark_retry(
                pool, row["id"], f"SMTP unavailable: {error}", domain.retry_delay_s(row["attempts"])
            )
        return 0
    try:
        for row in rows:
            try:
                await client.send_message(build_message(row, settings.smtp_sender))
            except aiosmtplib.SMTPRecipientsRefused as error:
                permanent = all(r.code >= 500 for r in error.recipients)
                if permanent:
                    await store.mark_failed(pool, row["id"], f"recipient refused: {error}")
                else:
                    await store.mark_retry(
                        pool, row["id"], str(error), domain.retry_delay_s(row["attempts"])
                    )
                continue
            except aiosmtplib.SMTPResponseException as error:
                if error.code >= 500:
                    await store.mark_failed(pool, row["id"], f"{error.code} {error.message}")
                else:
                    await store.mark_retry(
                        pool,
                        row["id"],
                        f"{error.code} {error.message}",
                        domain.retry_delay_s(row["attempts"]),
                    )
                continue
            except (aiosmtplib.SMTPException, OSError) as error:
                await store.mark_retry(
                    pool, row["id"], f"SMTP error: {error}", domain.retry_delay_s(row["attempts"])
                )
                continue
            await store.mark_sent(pool, row["id"])
            sent += 1
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
    log.info("mail round done", sent=sent, claimed=len(rows))
    return sent
