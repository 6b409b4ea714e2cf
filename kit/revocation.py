"""Token revocation: the deny list of ``jti``s that every service keeps in its own database.

The coordinator revokes a token at membership (``POST /tokens/revoked``), which records it and
publishes ``token-revoked`` through the outbox. Every other service composes
``react_to_revocations(reactions)``: its handler records the ``jti`` in the service's own
``revoked_tokens`` table (kit migration) in the inbox transaction. The app factory loads the
table into the service's ``TokenVerifier`` at start-up and again every ``REFRESH_S`` seconds,
so every replica refuses the token (401), not only the one whose consumer took the event, and
a revocation survives a restart. A row is kept until the token's own expiry (plus the clock
leeway): after that the token is refused for its age anyway.
"""

from __future__ import annotations

import asyncpg

from contracts.membership import TokenRevoked
from kit.auth import CLOCK_LEEWAY, TokenVerifier
from kit.consumer import Delivery, Reactions

# How often each replica reloads the deny list from its table: the longest a revoked token is
# still accepted after the event reached the service.
REFRESH_S = 2.0


async def record_revocation(conn: asyncpg.Connection, event: TokenRevoked) -> bool:
    """Record a revoked ``jti``; False when it was recorded before (a redelivery, a repeat)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO revoked_tokens (jti, expires_at, reason, revoked_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (jti) DO NOTHING
        RETURNING true
        """,
        event.jti,
        event.expires_at,
        event.reason,
        event.revoked_at,
    )
    return bool(inserted)


async def revoked_jtis(pool: asyncpg.Pool) -> set[str]:
    """The ``jti``s still to refuse: those whose token has not expired yet (with the leeway)."""
    rows = await pool.fetch(
        "SELECT jti FROM revoked_tokens WHERE expires_at > now() - $1::interval", CLOCK_LEEWAY
    )
    return {row["jti"] for row in rows}


async def forget_expired(pool: asyncpg.Pool) -> int:
    """Delete revocations whose token has expired: the token is refused for its age now."""
    deleted = await pool.fetchval(
        """
        WITH gone AS (
            DELETE FROM revoked_tokens WHERE expires_at <= now() - $1::interval RETURNING 1
        )
        SELECT count(*) FROM gone
        """,
        CLOCK_LEEWAY,
    )
    return int(deleted or 0)


async def refresh(pool: asyncpg.Pool, verifier: TokenVerifier) -> None:
    """Load the deny list into ``verifier`` (replacing it whole: one assignment, so a request
    never sees it half-loaded) and drop what has expired."""
    await forget_expired(pool)
    verifier.revoked = await revoked_jtis(pool)


def react_to_revocations(reactions: Reactions) -> Reactions:
    """Add the ``token-revoked`` handler to a service's reactions. A handler the service had
    for the event already (the dashboard's feed) still runs, in the same transaction."""
    earlier = reactions.lookup(TokenRevoked.ce_type())
    if earlier is not None and getattr(earlier[1], "records_revocations", False):
        return reactions  # composed already (an app built twice in one process)

    async def token_revoked(delivery: Delivery, event: TokenRevoked) -> None:
        await record_revocation(delivery.conn, event)
        if earlier is not None:
            await earlier[1](delivery, event)

    token_revoked.records_revocations = True  # type: ignore[attr-defined]  # a marker on the function
    reactions.on(TokenRevoked)(token_revoked)
    return reactions
