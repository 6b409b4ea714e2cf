"""Membership-style events for the pipeline and latency benchmarks, and the consumer side's
effect: a row in the consumer's own database, written by a batch handler.

The effect table has no unique constraint on the event id on purpose: a duplicate effect must
show up as an extra row when counted, not be hidden by the table.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg

from contracts.membership import Contact, Library, LibraryNames, MemberJoined, MemberUpdated
from kit.consumer import BatchDelivery, EventConsumer, Outcome, Reactions, Received

MUNICIPALITIES = ("091", "049", "092", "853", "564", "837", "179", "405", "398", "109")
SYSTEMS = ("Koha", "Aurora", "Sierra", "Quria")

EFFECTS_TABLE = """
CREATE TABLE IF NOT EXISTS bench_effects (
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    isil        text NOT NULL,
    population  integer NOT NULL
)
"""


def isil(run: str, number: int) -> str:
    """A valid ISIL, unique per run prefix (``FI-`` + at most 11 characters)."""
    return f"FI-{run}{number:07d}"


def library(run: str, number: int) -> Library:
    code = isil(run, number)
    return Library(
        isil=code,
        names=LibraryNames(fi=f"Kirjasto {code}", sv=f"Bibliotek {code}"),
        municipalities=[MUNICIPALITIES[number % len(MUNICIPALITIES)]],
        population=1_000 + number % 90_000,
        library_system=SYSTEMS[number % len(SYSTEMS)],
        library_type="municipal",
        contacts=[
            Contact(
                name="Aino Virtanen",
                email=f"aino.{code.lower()}@example.org",
                role="director",
                language="fi",
            )
        ],
    )


def member_joined(run: str, number: int) -> MemberJoined:
    return MemberJoined(
        library=library(run, number),
        joined_on=dt.date(2026, 1, 1) + dt.timedelta(number % 300),
        period=1,
    )


async def insert_libraries(conn: asyncpg.Connection, libraries: Sequence[Library]) -> None:
    """Rows of membership's ``libraries`` table, many in one statement."""
    await conn.execute(
        """
        INSERT INTO libraries (isil, names, municipalities, population, library_system,
                               library_type, kirkanta_id, contacts)
        SELECT isil, names::jsonb, string_to_array(municipalities, ','), population,
               library_system, library_type, kirkanta_id, contacts::jsonb
        FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                    $7::int[], $8::text[])
            AS batch (isil, names, municipalities, population, library_system,
                      library_type, kirkanta_id, contacts)
        """,
        [library.isil for library in libraries],
        [library.names.model_dump_json() for library in libraries],
        [",".join(library.municipalities) for library in libraries],
        [library.population for library in libraries],
        [library.library_system for library in libraries],
        [library.library_type for library in libraries],
        [library.kirkanta_id for library in libraries],
        [json.dumps([c.model_dump() for c in library.contacts]) for library in libraries],
    )


async def derived_from_latest_figures(dsn: str) -> None:
    """The registered rows as the service registers them: their population of the latest
    figures year (the rows are inserted directly, many per statement)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE libraries SET population_year = (SELECT max(year) FROM municipality_figures)"
        )
    finally:
        await conn.close()


def build_reactions() -> Reactions:
    """What the benchmark consumer reacts to: member-joined and member-updated, in batches."""
    reactions = Reactions()

    async def record_effects(delivery: BatchDelivery, events: list[Any]) -> None:
        await delivery.conn.execute(
            """
            INSERT INTO bench_effects (event_id, event_type, isil, population)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
            """,
            [envelope.id for envelope in delivery.envelopes],
            [envelope.type for envelope in delivery.envelopes],
            [event.library.isil for event in events],
            [event.library.population for event in events],
        )

    reactions.on_batch(MemberJoined)(record_effects)
    reactions.on_batch(MemberUpdated)(record_effects)
    return reactions


class CountingConsumer(EventConsumer):
    """The kit's consumer, tallying outcomes so the parent can follow progress and see the
    duplicates the inbox skipped; also how its time splits between handling batches
    (``process_batch``: decode, validate, one transaction) and the rest of each cycle between
    two batches (the offset commit, then waiting for the next fetch)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcomes: Counter[str] = Counter()
        self.cycle: dict[str, float] = {"batches": 0, "handle_ms": 0.0, "between_ms": 0.0}
        self._last_end: float | None = None

    async def process_batch(self, records: Sequence[Received]) -> list[Outcome | None]:
        started = time.perf_counter()
        if self._last_end is not None:
            self.cycle["between_ms"] += (started - self._last_end) * 1000
        outcomes = await super().process_batch(records)
        self._last_end = time.perf_counter()
        self.cycle["batches"] += 1
        self.cycle["handle_ms"] += (self._last_end - started) * 1000
        self.outcomes.update(o.value if o is not None else "unfinished" for o in outcomes)
        return outcomes


async def effect_counts(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[int, int]:
    """(rows, distinct event ids) of the effect table."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM bench_effects"
    )
    assert row is not None
    return row["n"], row["d"]
