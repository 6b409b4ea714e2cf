"""Dashboard SQL, with parameters only: the projections that build the read model from events,
and the queries behind the figures, the feed and the operator view.

Every projection is an upsert of the state an event carries, keyed by ids from the event, so
applying one twice changes nothing and a replay converges on the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from services.dashboard.domain import (
    AgreementFacts,
    BatchFacts,
    Interval,
    LibraryFacts,
    ParticipationChange,
    Period,
    ServedArea,
)

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
FEED_CHANNEL = "dashboard_feed"
# Outreach's per-mail event: grouped in the feed, and the one kind of item a reader may hide.
DELIVERIES = "message-delivered"

# --- membership --------------------------------------------------------------------------------


async def upsert_member(
    conn: asyncpg.Connection, library: LibraryFacts, *, is_member: bool, period: int | None
) -> None:
    await conn.execute(
        """
        INSERT INTO members
            (isil, name_fi, name_sv, name_en, population, library_system, is_member, period,
             municipalities)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (isil) DO UPDATE SET
            name_fi = EXCLUDED.name_fi, name_sv = EXCLUDED.name_sv, name_en = EXCLUDED.name_en,
            population = EXCLUDED.population, library_system = EXCLUDED.library_system,
            is_member = EXCLUDED.is_member,
            period = COALESCE(EXCLUDED.period, members.period),
            municipalities = EXCLUDED.municipalities
        """,
        library.isil,
        library.name_fi,
        library.name_sv,
        library.name_en,
        library.population,
        library.library_system,
        is_member,
        period,
        list(library.municipalities),
    )


async def record_period(conn: asyncpg.Connection, period: Period) -> None:
    """A join sets the period's start, a leave its end; whichever arrives, the other stays."""
    await conn.execute(
        """
        INSERT INTO membership_periods (isil, period, joined_on, left_on)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (isil, period) DO UPDATE SET
            joined_on = COALESCE(EXCLUDED.joined_on, membership_periods.joined_on),
            left_on = COALESCE(EXCLUDED.left_on, membership_periods.left_on)
        """,
        period.isil,
        period.period,
        period.joined_on,
        period.left_on,
    )


# --- procurement --------------------------------------------------------------------------------


async def upsert_agreement(conn: asyncpg.Connection, facts: AgreementFacts) -> None:
    """From agreement-signed (complete) or agreement-joined (title, supplier and product only):
    a value the event lacks keeps what is stored."""
    await conn.execute(
        """
        INSERT INTO agreements (agreement_id, title, supplier, product, material_types,
                                annual_cost_cents, signed_on, valid_from, valid_until)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (agreement_id) DO UPDATE SET
            title = COALESCE(EXCLUDED.title, agreements.title),
            supplier = COALESCE(EXCLUDED.supplier, agreements.supplier),
            product = COALESCE(EXCLUDED.product, agreements.product),
            material_types = CASE WHEN cardinality(EXCLUDED.material_types) > 0
                                  THEN EXCLUDED.material_types
                                  ELSE agreements.material_types END,
            annual_cost_cents = COALESCE(EXCLUDED.annual_cost_cents, agreements.annual_cost_cents),
            signed_on = COALESCE(EXCLUDED.signed_on, agreements.signed_on),
            valid_from = COALESCE(EXCLUDED.valid_from, agreements.valid_from),
            valid_until = COALESCE(EXCLUDED.valid_until, agreements.valid_until)
        """,
        facts.agreement_id,
        facts.title,
        facts.supplier,
        facts.product,
        facts.material_types,
        facts.annual_cost_cents,
        facts.signed_on,
        facts.valid_from,
        facts.valid_until,
    )


async def end_agreement(
    conn: asyncpg.Connection, agreement_id: str, effective_on: dt.date, kind: str | None
) -> None:
    await conn.execute(
        """
        INSERT INTO agreements (agreement_id, ended_on, end_kind) VALUES ($1, $2, $3)
        ON CONFLICT (agreement_id) DO UPDATE SET
            ended_on = EXCLUDED.ended_on, end_kind = EXCLUDED.end_kind
        """,
        agreement_id,
        effective_on,
        kind,
    )
    # Participations end with the agreement; the agreement-left events that follow then find
    # nothing open, which is the same state.
    await conn.execute(
        """
        UPDATE participations SET left_on = GREATEST($2, joined_on), left_reason = 'agreement-ended'
        WHERE agreement_id = $1 AND left_on IS NULL
        """,
        agreement_id,
        effective_on,
    )


async def join_agreement(conn: asyncpg.Connection, change: ParticipationChange) -> None:
    # A re-join on the day of an opt-out reopens that day's row: events of one agreement
    # arrive in order, so a join that comes after the leave is the newer fact.
    await conn.execute(
        """
        INSERT INTO participations (agreement_id, isil, joined_on) VALUES ($1, $2, $3)
        ON CONFLICT (agreement_id, isil, joined_on) DO UPDATE SET
            left_on = NULL, left_reason = NULL
        """,
        change.agreement_id,
        change.isil,
        change.on,
    )


async def leave_agreement(conn: asyncpg.Connection, change: ParticipationChange) -> None:
    await conn.execute(
        """
        UPDATE participations SET left_on = GREATEST($3, joined_on), left_reason = $4
        WHERE agreement_id = $1 AND isil = $2 AND left_on IS NULL
        """,
        change.agreement_id,
        change.isil,
        change.on,
        change.reason,
    )


async def record_need(conn: asyncpg.Connection, need_id: str, material_type: str | None) -> None:
    await conn.execute(
        """
        INSERT INTO needs (need_id, material_type) VALUES ($1, $2)
        ON CONFLICT (need_id) DO UPDATE SET
            material_type = COALESCE(EXCLUDED.material_type, needs.material_type)
        """,
        need_id,
        material_type,
    )


async def record_interest(conn: asyncpg.Connection, need_id: str, isil: str) -> None:
    await conn.execute(
        "INSERT INTO interests (need_id, isil) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        need_id,
        isil,
    )


async def set_tender(
    conn: asyncpg.Connection, tender_id: str, status: str, title: str | None = None
) -> None:
    await conn.execute(
        """
        INSERT INTO tenders (tender_id, title, status) VALUES ($1, $2, $3)
        ON CONFLICT (tender_id) DO UPDATE SET
            status = EXCLUDED.status, title = COALESCE(EXCLUDED.title, tenders.title)
        """,
        tender_id,
        title,
        status,
    )


# --- catalogue ----------------------------------------------------------------------------------


async def record_batch(
    conn: asyncpg.Connection, batch: BatchFacts, occurred_at: dt.datetime, event_id: str
) -> None:
    await conn.execute(
        """
        INSERT INTO ingest_batches
            (batch_id, collection_id, agreement_id, received, accepted, updated, duplicate,
             rejected, warnings, records_in_collection, occurred_at, event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (batch_id) DO NOTHING
        """,
        batch.batch_id,
        batch.collection_id,
        batch.agreement_id,
        batch.received,
        batch.accepted,
        batch.updated,
        batch.duplicate,
        batch.rejected,
        batch.warnings,
        batch.records_in_collection,
        occurred_at,
        event_id,
    )
    await upsert_collection(conn, batch.collection_id, None, batch.agreement_id)


async def upsert_collection(
    conn: asyncpg.Connection, collection_id: str, title: str | None, agreement_id: str | None
) -> None:
    await conn.execute(
        """
        INSERT INTO collections (collection_id, title, agreement_id) VALUES ($1, $2, $3)
        ON CONFLICT (collection_id) DO UPDATE SET
            title = COALESCE(EXCLUDED.title, collections.title),
            agreement_id = COALESCE(EXCLUDED.agreement_id, collections.agreement_id)
        """,
        collection_id,
        title,
        agreement_id,
    )


async def set_library_collection(
    conn: asyncpg.Connection, isil: str, collection_id: str, *, available: bool
) -> None:
    await conn.execute(
        """
        INSERT INTO library_collections (isil, collection_id, available) VALUES ($1, $2, $3)
        ON CONFLICT (isil, collection_id) DO UPDATE SET available = EXCLUDED.available
        """,
        isil,
        collection_id,
        available,
    )


# --- outreach -----------------------------------------------------------------------------------


async def record_delivery(
    conn: asyncpg.Connection, delivery_id: str, kind: str, isil: str | None, status: str
) -> None:
    await conn.execute(
        """
        INSERT INTO deliveries (delivery_id, kind, isil, status) VALUES ($1, $2, $3, $4)
        ON CONFLICT (delivery_id) DO UPDATE SET
            kind = EXCLUDED.kind, isil = EXCLUDED.isil, status = EXCLUDED.status
        """,
        delivery_id,
        kind,
        isil,
        status,
    )


async def record_campaign(
    conn: asyncpg.Connection,
    campaign_id: str,
    title: str | None,
    recipients: int,
    sent: int,
    failed: int,
) -> None:
    await conn.execute(
        """
        INSERT INTO campaigns (campaign_id, title, recipients, sent, failed)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (campaign_id) DO UPDATE SET
            title = EXCLUDED.title, recipients = EXCLUDED.recipients,
            sent = EXCLUDED.sent, failed = EXCLUDED.failed
        """,
        campaign_id,
        title,
        recipients,
        sent,
        failed,
    )


async def record_announcement(
    conn: asyncpg.Connection, announcement_id: str, title: str | None, language: str | None
) -> None:
    await conn.execute(
        """
        INSERT INTO announcements (announcement_id, title, language) VALUES ($1, $2, $3)
        ON CONFLICT (announcement_id) DO UPDATE SET
            title = EXCLUDED.title, language = EXCLUDED.language
        """,
        announcement_id,
        title,
        language,
    )


# --- the feed -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    event_id: str
    event_type: str
    producer: str
    name: str
    key: str
    occurred_at: dt.datetime
    details: dict[str, Any]
    group_id: str | None = None  # rows a reader sees as one item (a campaign's mails)


# The page's, the stream's and the catch-up's queries join each row ``f`` to its group's
# figures ``g``: the cause the group stands for, and how many of its messages were sent and
# failed. Only the rows of one page or one dispatch are joined, never the whole feed.


async def append_feed(conn: asyncpg.Connection, entry: FeedEntry) -> int | None:
    """Add the event to the feed and announce it. NOTIFY is delivered only when the enclosing
    transaction commits, so browsers never see an event whose effects were rolled back."""
    seq = await conn.fetchval(
        """
        INSERT INTO feed (event_id, event_type, producer, name, key, occurred_at, details,
                          group_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (event_id) DO NOTHING
        RETURNING seq
        """,
        entry.event_id,
        entry.event_type,
        entry.producer,
        entry.name,
        entry.key,
        entry.occurred_at,
        entry.details,
        entry.group_id,
    )
    if seq is not None:
        await conn.execute("SELECT pg_notify($1, $2)", FEED_CHANNEL, str(seq))
    return seq


async def feed_page(
    conn: Conn,
    *,
    name: str | None,
    producer: str | None,
    limit: int,
    offset: int,
    after: int | None = None,
    key: str | None = None,
    hide: str | None = None,
    grouped: bool = False,
) -> tuple[list[Mapping[str, Any]], int]:
    """A page of the feed, newest first. ``hide`` leaves out one event name; ``grouped`` shows
    each group of rows once, at its latest row, and ``key`` then also finds a group by its
    cause."""
    rows = await conn.fetch(
        """
        WITH page AS (
            SELECT seq, event_id, event_type, producer, name, key, occurred_at, details, group_id,
                   count(*) OVER () AS total
            FROM feed
            WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR producer = $2)
              AND ($3::bigint IS NULL OR seq > $3) AND ($7::text IS NULL OR name <> $7)
              AND ($6::text IS NULL OR key = $6
                   OR ($8 AND group_id IS NOT NULL AND details ->> 'cause_id' = $6))
              AND (NOT $8 OR group_id IS NULL
                   OR seq = (SELECT max(l.seq) FROM feed l WHERE l.group_id = feed.group_id))
            ORDER BY seq DESC LIMIT $4 OFFSET $5
        )
        SELECT f.*, g.* FROM page f
        LEFT JOIN LATERAL (
            SELECT f.details ->> 'cause_id' AS group_key,
                   count(*) FILTER (WHERE m.details ->> 'status' = 'sent') AS group_sent,
                   count(*) FILTER (WHERE m.details ->> 'status' = 'failed') AS group_failed
            FROM feed m WHERE m.group_id = f.group_id
        ) g ON f.group_id IS NOT NULL
        ORDER BY f.seq DESC
        """,
        name,
        producer,
        after,
        limit,
        offset,
        key,
        hide,
        grouped,
    )
    if rows:
        return [dict(row) for row in rows], rows[0]["total"]
    total = await conn.fetchval(
        """
        SELECT count(*) FROM feed
        WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR producer = $2)
          AND ($3::bigint IS NULL OR seq > $3) AND ($5::text IS NULL OR name <> $5)
          AND ($4::text IS NULL OR key = $4
               OR ($6 AND group_id IS NOT NULL AND details ->> 'cause_id' = $4))
          AND (NOT $6 OR group_id IS NULL
               OR seq = (SELECT max(l.seq) FROM feed l WHERE l.group_id = feed.group_id))
        """,
        name,
        producer,
        after,
        key,
        hide,
        grouped,
    )
    return [], total


async def feed_rows(conn: Conn, seqs: Sequence[int]) -> list[Mapping[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT f.*, g.* FROM (
            SELECT seq, event_id, event_type, producer, name, key, occurred_at, details, group_id
            FROM feed WHERE seq = ANY($1::bigint[])
        ) f
        LEFT JOIN LATERAL (
            SELECT f.details ->> 'cause_id' AS group_key,
                   count(*) FILTER (WHERE m.details ->> 'status' = 'sent') AS group_sent,
                   count(*) FILTER (WHERE m.details ->> 'status' = 'failed') AS group_failed
            FROM feed m WHERE m.group_id = f.group_id
        ) g ON f.group_id IS NOT NULL
        ORDER BY f.seq
        """,
        list(seqs),
    )
    return [dict(row) for row in rows]


async def feed_since(conn: Conn, after: int, limit: int) -> list[Mapping[str, Any]]:
    """What a reconnecting browser missed (its Last-Event-ID is the last seq it saw)."""
    rows = await conn.fetch(
        """
        SELECT f.*, g.* FROM (
            SELECT seq, event_id, event_type, producer, name, key, occurred_at, details, group_id
            FROM feed WHERE seq > $1 ORDER BY seq LIMIT $2
        ) f
        LEFT JOIN LATERAL (
            SELECT f.details ->> 'cause_id' AS group_key,
                   count(*) FILTER (WHERE m.details ->> 'status' = 'sent') AS group_sent,
                   count(*) FILTER (WHERE m.details ->> 'status' = 'failed') AS group_failed
            FROM feed m WHERE m.group_id = f.group_id
        ) g ON f.group_id IS NOT NULL
        ORDER BY f.seq
        """,
        after,
        limit,
    )
    return [dict(row) for row in rows]


async def last_seq(conn: Conn) -> int:
    return await conn.fetchval("SELECT coalesce(max(seq), 0) FROM feed")


# --- figures ------------------------------------------------------------------------------------


async def active_members(conn: Conn) -> list[ServedArea]:
    rows = await conn.fetch(
        "SELECT isil, municipalities, population FROM members WHERE is_member ORDER BY isil"
    )
    return [
        ServedArea(row["isil"], tuple(row["municipalities"]), row["population"]) for row in rows
    ]


async def participants_today(conn: Conn, today: dt.date) -> dict[str, list[ServedArea]]:
    """Per agreement, the libraries taking part today with the municipalities they serve (a
    library the dashboard has not seen a membership event for serves no known population)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT p.agreement_id, p.isil,
               coalesce(m.municipalities, '{}') AS municipalities,
               coalesce(m.population, 0) AS population
        FROM participations p LEFT JOIN members m ON m.isil = p.isil
        WHERE p.joined_on <= $1 AND (p.left_on IS NULL OR p.left_on > $1)
        ORDER BY p.agreement_id, p.isil
        """,
        today,
    )
    result: dict[str, list[ServedArea]] = {}
    for row in rows:
        result.setdefault(row["agreement_id"], []).append(
            ServedArea(row["isil"], tuple(row["municipalities"]), row["population"])
        )
    return result


async def membership_intervals(conn: Conn) -> list[Interval]:
    rows = await conn.fetch("SELECT joined_on, left_on FROM membership_periods")
    return [(row["joined_on"], row["left_on"]) for row in rows]


async def participation_intervals(conn: Conn) -> list[Interval]:
    rows = await conn.fetch("SELECT joined_on, left_on FROM participations")
    return [(row["joined_on"], row["left_on"]) for row in rows]


async def agreements(conn: Conn, today: dt.date) -> list[Mapping[str, Any]]:
    """Every agreement with the number of its participants today."""
    rows = await conn.fetch(
        """
        WITH current AS (
            SELECT DISTINCT agreement_id, isil FROM participations
            WHERE joined_on <= $1 AND (left_on IS NULL OR left_on > $1)
        )
        SELECT a.agreement_id, a.title, a.supplier, a.product, a.material_types,
               a.annual_cost_cents, a.signed_on, a.ended_on, a.valid_from, a.valid_until,
               (a.ended_on IS NULL OR a.ended_on > $1) AS active,
               count(c.isil) AS participants
        FROM agreements a
        LEFT JOIN current c ON c.agreement_id = a.agreement_id
        GROUP BY a.agreement_id
        ORDER BY a.signed_on NULLS LAST, a.agreement_id
        """,
        today,
    )
    return [dict(row) for row in rows]


async def collections(conn: Conn) -> list[Mapping[str, Any]]:
    rows = await conn.fetch(
        """
        WITH latest AS (
            SELECT DISTINCT ON (collection_id) collection_id, records_in_collection
            FROM ingest_batches
            ORDER BY collection_id, occurred_at DESC, event_id DESC
        ), quality AS (
            SELECT collection_id, count(*) AS batches, sum(received) AS received,
                   sum(rejected) AS rejected, sum(warnings) AS warnings,
                   sum(duplicate) AS duplicate
            FROM ingest_batches GROUP BY collection_id
        ), libraries AS (
            SELECT collection_id, count(*) FILTER (WHERE available) AS libraries
            FROM library_collections GROUP BY collection_id
        )
        SELECT c.collection_id, coalesce(c.title, ag.title) AS title, c.agreement_id,
               coalesce(l.records_in_collection, 0) AS records,
               coalesce(q.batches, 0) AS batches, coalesce(q.received, 0) AS received,
               coalesce(q.rejected, 0) AS rejected, coalesce(q.warnings, 0) AS warnings,
               coalesce(q.duplicate, 0) AS duplicate, coalesce(lib.libraries, 0) AS libraries
        FROM collections c
        LEFT JOIN latest l ON l.collection_id = c.collection_id
        LEFT JOIN quality q ON q.collection_id = c.collection_id
        LEFT JOIN libraries lib ON lib.collection_id = c.collection_id
        LEFT JOIN agreements ag ON ag.agreement_id = c.agreement_id
        ORDER BY c.collection_id
        """
    )
    return [dict(row) for row in rows]


async def delivery_counts(conn: Conn) -> list[Mapping[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT kind, count(*) FILTER (WHERE status = 'sent') AS sent,
               count(*) FILTER (WHERE status = 'failed') AS failed
        FROM deliveries GROUP BY kind ORDER BY kind
        """
    )
    return [dict(row) for row in rows]


async def outreach_totals(conn: Conn) -> tuple[int, int]:
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM campaigns) AS campaigns,
               (SELECT count(*) FROM announcements) AS announcements
        """
    )
    return row["campaigns"], row["announcements"]


async def procurement_totals(conn: Conn) -> Mapping[str, int]:
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM needs) AS needs,
               (SELECT count(*) FROM interests) AS interests,
               (SELECT count(*) FROM tenders WHERE status = 'open') AS tenders_open,
               (SELECT count(*) FROM tenders WHERE status = 'awarded') AS tenders_awarded,
               (SELECT count(*) FROM tenders WHERE status = 'cancelled') AS tenders_cancelled
        """
    )
    return dict(row)


# --- dead letters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    original_topic: str | None
    consumer_group: str | None
    exception_class: str | None
    reason: str | None
    attempts: int | None
    event_type: str | None
    dead_lettered_at: dt.datetime | None


async def store_dead_letters(conn: Conn, letters: Sequence[DeadLetter]) -> None:
    if not letters:
        return
    await conn.executemany(
        """
        INSERT INTO dead_letters (topic, partition, "offset", original_topic, consumer_group,
                                  exception_class, reason, attempts, event_type, dead_lettered_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT DO NOTHING
        """,
        [
            (
                d.topic,
                d.partition,
                d.offset,
                d.original_topic,
                d.consumer_group,
                d.exception_class,
                d.reason,
                d.attempts,
                d.event_type,
                d.dead_lettered_at,
            )
            for d in letters
        ],
    )


async def dead_letter_positions(conn: Conn) -> dict[tuple[str, int], int]:
    """The next offset to read in each dead-letter partition."""
    rows = await conn.fetch(
        'SELECT topic, partition, max("offset") + 1 AS next FROM dead_letters '
        "GROUP BY topic, partition"
    )
    return {(row["topic"], row["partition"]): row["next"] for row in rows}


async def dead_letter_counts(conn: Conn) -> list[Mapping[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT coalesce(original_topic, topic) AS original_topic,
               coalesce(consumer_group, '') AS consumer_group, count(*) AS count,
               max(dead_lettered_at) AS latest
        FROM dead_letters GROUP BY 1, 2 ORDER BY 1, 2
        """
    )
    return [dict(row) for row in rows]


async def latest_dead_letters(conn: Conn, limit: int) -> list[Mapping[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT topic, partition, "offset", original_topic, consumer_group, exception_class,
               reason, attempts, event_type, dead_lettered_at
        FROM dead_letters
        ORDER BY dead_lettered_at DESC NULLS LAST, topic, partition, "offset" DESC
        LIMIT $1
        """,
        limit,
    )
    return [dict(row) for row in rows]
