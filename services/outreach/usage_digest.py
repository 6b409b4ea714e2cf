"""The monthly usage digest: each member library's contacts get, in their language, the use of
the library's e-services in a month once that month has closed, built from ``usage-reported``.

- Figures: the highest ``revision`` per (agreement, library, month, report) counts; a report's
  uses is its ``Unique_Title_Requests``, else a supplier's ``loans``, else
  ``Total_Item_Requests``; an agreement's use in the month is the largest of its reports' (TR,
  TR_B1 and PR count the same requests at different levels).
- Once per (library, month): the job records the digest in the same transaction that queues
  its mails (and the delivery log's unique (cause, recipient, kind) stops a second mail too),
  so a restart, a redelivered event or a second replica never sends it twice. Figures that
  arrive after a month's digest went out are not sent again.
- Opt-out: per contact (library + address hash), set by the library itself or a coordinator
  through the API, or by the contact through the unsubscribe link in every digest. Each change
  (not a repeat) records ``usage-digest-subscription-changed`` with the address hash, never the
  address, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

import asyncpg

from contracts.outreach import UsageDigestSubscriptionChanged
from contracts.usage import UsageReported
from kit.consumer import Delivery
from kit.logging import get_logger
from kit.outbox import record_event
from services.outreach import store
from services.outreach.deps import OutreachDeps
from services.outreach.domain import compose, normalise_email

log = get_logger(__name__)
KIND = "usage-digest"
USE_METRICS = ("Unique_Title_Requests", "loans", "Total_Item_Requests")


def uses_of(totals: Mapping[str, int]) -> int:
    for metric in USE_METRICS:
        if metric in totals:
            return max(int(totals[metric]), 0)
    return 0


def month_start(period: str) -> dt.date:
    return dt.date(int(period[:4]), int(period[5:7]), 1)


def closed_before(today: dt.date) -> dt.date:
    """Months before this first day have closed."""
    return today.replace(day=1)


def email_hash(address: str) -> str:
    return hashlib.sha256(normalise_email(address).encode()).hexdigest()


def cause_id(isil: str, period: dt.date) -> str:
    return f"usage-digest:{isil}:{period:%Y-%m}"


# --- reacting to usage-reported ---------------------------------------------------------------


async def record(delivery: Delivery, event: UsageReported) -> None:
    await delivery.conn.execute(
        """
        INSERT INTO usage_figures (agreement_id, isil, period, report, revision, uses, titles)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (agreement_id, isil, period, report) DO UPDATE SET
            revision = EXCLUDED.revision, uses = EXCLUDED.uses, titles = EXCLUDED.titles,
            received_at = now()
        WHERE usage_figures.revision < EXCLUDED.revision
        """,
        event.agreement_id,
        event.isil,
        month_start(event.period),
        event.report,
        event.revision,
        uses_of(event.totals),
        event.titles,
    )


# --- the job ------------------------------------------------------------------------------------


async def due(
    conn: asyncpg.Connection | asyncpg.Pool, today: dt.date, quiet_s: float = 0.0
) -> list[tuple[str, dt.date]]:
    """Closed months whose digest has not gone out, once the library's figures for the month
    have been quiet for ``quiet_s`` (a late agreement or a correction still goes in)."""
    rows = await conn.fetch(
        """
        SELECT f.isil, f.period FROM usage_figures f
        WHERE f.period < $1
          AND NOT EXISTS (SELECT 1 FROM usage_digests d
                          WHERE d.isil = f.isil AND d.period = f.period)
        GROUP BY f.isil, f.period
        HAVING max(f.received_at) <= now() - make_interval(secs => $2)
        ORDER BY f.period, f.isil LIMIT 200
        """,
        closed_before(today),
        quiet_s,
    )
    return [(row["isil"], row["period"]) for row in rows]


async def _lines(conn: asyncpg.Connection, isil: str, period: dt.date) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT f.agreement_id, a.title, max(f.uses) AS uses, max(f.titles) AS titles
        FROM usage_figures f LEFT JOIN agreements a USING (agreement_id)
        WHERE f.isil = $1 AND f.period = $2
        GROUP BY f.agreement_id, a.title ORDER BY coalesce(a.title, f.agreement_id)
        """,
        isil,
        period,
    )
    return [dict(row) for row in rows]


async def _link_token(conn: asyncpg.Connection, isil: str, address_hash: str) -> str:
    token = await conn.fetchval(
        """
        INSERT INTO usage_digest_links (token, isil, email_sha256) VALUES ($1, $2, $3)
        ON CONFLICT (isil, email_sha256) DO UPDATE SET isil = EXCLUDED.isil
        RETURNING token
        """,
        secrets.token_urlsafe(24),
        isil,
        address_hash,
    )
    return str(token)


async def send_one(
    conn: asyncpg.Connection, deps: OutreachDeps, isil: str, period: dt.date, today: dt.date
) -> int:
    """Queue one library's digest for one month, once; returns the mails queued."""
    async with conn.transaction():
        claimed = await conn.fetchval(
            """
            INSERT INTO usage_digests (isil, period, mails) VALUES ($1, $2, 0)
            ON CONFLICT (isil, period) DO NOTHING RETURNING 1
            """,
            isil,
            period,
        )
        if not claimed:
            return 0
        library = await store.audience.active_library(conn, isil, today)
        if library is None:  # not a member (any more): nothing to send
            return 0
        opted_out = {
            row["email_sha256"]
            for row in await conn.fetch(
                "SELECT email_sha256 FROM usage_digest_opt_outs WHERE isil = $1", isil
            )
        }
        recipients = [
            r
            for r in await store.audience.library_recipients(conn, isil, today)
            if email_hash(r.email) not in opted_out
        ]
        lines = await _lines(conn, isil, period)
        mails = []
        for recipient in recipients:
            token = await _link_token(conn, isil, email_hash(recipient.email))
            context = {
                "library": library,
                "month": period,
                "lines": lines,
                "total": sum(line["uses"] for line in lines),
                "unsubscribe_url": f"{deps.base_url}/usage-digest/unsubscribe?token={token}",
            }
            mails += compose(deps.renderer, KIND, [recipient], context)
        queued = await store.deliveries.queue(conn, cause_id(isil, period), mails, deps.mail_domain)
        await conn.execute(
            "UPDATE usage_digests SET mails = $3 WHERE isil = $1 AND period = $2",
            isil,
            period,
            queued,
        )
        return queued


async def run_round(pool: asyncpg.Pool, deps: OutreachDeps, today: dt.date) -> int:
    sent = 0
    for isil, period in await due(pool, today, deps.usage_digest_quiet_s):
        async with pool.acquire() as conn:
            sent += await send_one(conn, deps, isil, period, today)
    if sent:
        log.info("usage digests queued", mails=sent)
    return sent


# --- opt-out --------------------------------------------------------------------------------------


async def _set(
    db: asyncpg.Connection | asyncpg.Pool, sql: str, isil: str, address_hash: str, subscribed: bool
) -> bool:
    """Run one opt-out change and, if it changed anything, record
    ``usage-digest-subscription-changed`` (the address hash only) in the same transaction."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _set(conn, sql, isil, address_hash, subscribed)
    async with db.transaction():
        changed = await db.fetchval(sql, isil, address_hash)
        if changed:
            await record_event(
                db,
                UsageDigestSubscriptionChanged(
                    isil=isil, email_sha256=address_hash, subscribed=subscribed
                ),
            )
    return bool(changed)


async def opt_out(conn: asyncpg.Connection | asyncpg.Pool, isil: str, address_hash: str) -> bool:
    """Turn a contact's digest off; whether it was on."""
    return await _set(
        conn,
        """
        INSERT INTO usage_digest_opt_outs (isil, email_sha256) VALUES ($1, $2)
        ON CONFLICT (isil, email_sha256) DO NOTHING RETURNING true
        """,
        isil,
        address_hash,
        subscribed=False,
    )


async def opt_in(conn: asyncpg.Connection | asyncpg.Pool, isil: str, address_hash: str) -> bool:
    """Turn a contact's digest on again; whether it was off."""
    return await _set(
        conn,
        """
        DELETE FROM usage_digest_opt_outs WHERE isil = $1 AND email_sha256 = $2 RETURNING true
        """,
        isil,
        address_hash,
        subscribed=True,
    )


async def opted_out(conn: asyncpg.Connection | asyncpg.Pool, isil: str, address_hash: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM usage_digest_opt_outs WHERE isil = $1 AND email_sha256 = $2",
            isil,
            address_hash,
        )
    )


async def link(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> tuple[str, str] | None:
    row = await conn.fetchrow(
        "SELECT isil, email_sha256 FROM usage_digest_links WHERE token = $1", token
    )
    return (row["isil"], row["email_sha256"]) if row else None
