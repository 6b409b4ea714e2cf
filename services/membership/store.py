"""Membership SQL, with parameters only."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import asyncpg

from contracts.membership import Contact, EInvoiceAddress, KimppaRef, Library, Organisation
from services.membership.agreement import Acceptance, NoticeTakesEffect
from services.membership.agreement import Version as AgreementVersion
from services.membership.domain import Period
from services.membership.population import Figures, Municipality

# One statement reads a library with its organisation, current kimppa and latest membership
# period, so a page of libraries is one query however long it is.
LIBRARY_COLUMNS = """
    SELECT l.isil, l.names, l.municipalities, l.population, l.library_system, l.library_type,
           l.kirkanta_id, l.contacts, l.population_year, l.population_exception,
           o.business_id AS org_business_id, o.names AS org_names, o.kind AS org_kind,
           o.municipalities AS org_municipalities, o.einvoice_ovt, o.einvoice_operator,
           (SELECT sum(f.population) FROM municipality_figures f
             WHERE f.year = l.population_year AND f.code = ANY (o.municipalities))
             AS org_population,
           k.id AS kimppa_id, k.name AS kimppa_name, k.library_system AS kimppa_system,
           k.melinda_code AS kimppa_melinda, km.since AS kimppa_since,
           p.number AS last_number, p.joined_on AS last_joined_on,
           p.signatory AS last_signatory, p.notice_given_on AS last_notice_given_on,
           p.leaves_on AS last_leaves_on, p.left_at AS last_left_at
"""
LIBRARY_JOINS = """
    LEFT JOIN organisations o ON o.business_id = l.organisation
    LEFT JOIN kimppa_memberships km ON km.isil = l.isil AND km.until IS NULL
    LEFT JOIN kimppas k ON k.id = km.kimppa_id
    LEFT JOIN LATERAL (
        SELECT * FROM membership_periods mp WHERE mp.isil = l.isil
        ORDER BY mp.number DESC LIMIT 1
    ) p ON true
"""
LIBRARY_SELECT = f"{LIBRARY_COLUMNS} FROM libraries l {LIBRARY_JOINS}"


def _organisation(row: asyncpg.Record) -> Organisation | None:
    if row["org_business_id"] is None:
        return None
    einvoice = (
        EInvoiceAddress(ovt=row["einvoice_ovt"], operator=row["einvoice_operator"])
        if row["einvoice_ovt"]
        else None
    )
    return Organisation(
        business_id=row["org_business_id"],
        names=row["org_names"],
        kind=row["org_kind"],
        municipalities=list(row["org_municipalities"]),
        einvoice=einvoice,
        population=row["org_population"],
        population_year=row["population_year"] if row["org_population"] is not None else None,
    )


@functools.lru_cache(maxsize=4096)
def _contact(fields: tuple[tuple[str, Any], ...]) -> Contact:
    # Contacts are frozen value objects: one validated instance serves every read of the same
    # stored contact (checking an address is most of the cost of reading a library).
    return Contact.model_validate(dict(fields))


def _contacts(stored: list[dict[str, Any]]) -> list[Contact]:
    try:
        return [_contact(tuple(sorted(contact.items()))) for contact in stored]
    except TypeError:  # a value that cannot be a cache key: validate as it is
        return [Contact.model_validate(contact) for contact in stored]


def _library(row: asyncpg.Record) -> Library:
    exception = row["population_exception"]
    kimppa = (
        KimppaRef(
            id=row["kimppa_id"],
            name=row["kimppa_name"],
            library_system=row["kimppa_system"],
            melinda_code=row["kimppa_melinda"],
            since=row["kimppa_since"],
        )
        if row["kimppa_id"]
        else None
    )
    return Library(
        isil=row["isil"],
        names=row["names"],
        municipalities=list(row["municipalities"]),
        population=row["population"],
        library_system=row["library_system"],
        library_type=row["library_type"],
        kirkanta_id=row["kirkanta_id"],
        contacts=_contacts(row["contacts"]),
        organisation=_organisation(row),
        kimppa=kimppa,
        population_year=row["population_year"],
        population_exception=exception["reason"] if exception else None,
    )


def _last_period(row: asyncpg.Record) -> list[Period]:
    """The latest period only: all that the status needs."""
    if row["last_number"] is None:
        return []
    return [
        Period(
            number=row["last_number"],
            joined_on=row["last_joined_on"],
            signatory=row["last_signatory"],
            notice_given_on=row["last_notice_given_on"],
            leaves_on=row["last_leaves_on"],
            left=row["last_left_at"] is not None,
        )
    ]


@dataclass(frozen=True)
class LibraryRow:
    library: Library
    organisation_id: str | None
    population_exception: tuple[int, str] | None
    latest_periods: list[Period]


def _row(row: asyncpg.Record) -> LibraryRow:
    exception = row["population_exception"]
    return LibraryRow(
        library=_library(row),
        organisation_id=row["org_business_id"],
        population_exception=(exception["population"], exception["reason"]) if exception else None,
        latest_periods=_last_period(row),
    )


def _period(row: asyncpg.Record) -> Period:
    return Period(
        number=row["number"],
        joined_on=row["joined_on"],
        signatory=row["signatory"],
        notice_given_on=row["notice_given_on"],
        leaves_on=row["leaves_on"],
        left=row["left_at"] is not None,
    )


async def insert_library(
    conn: asyncpg.Connection,
    library: Library,
    organisation_id: str | None = None,
    exception: tuple[int, str] | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO libraries (isil, names, municipalities, population, library_system,
                               library_type, kirkanta_id, contacts, organisation,
                               population_year, population_exception)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        library.isil,
        library.names.model_dump(),
        library.municipalities,
        library.population,
        library.library_system,
        library.library_type,
        library.kirkanta_id,
        [c.model_dump() for c in library.contacts],
        organisation_id,
        library.population_year,
        {"population": exception[0], "reason": exception[1]} if exception else None,
    )


UPDATE_LIBRARY = """
UPDATE libraries SET names = $2, municipalities = $3, population = $4,
       library_system = $5, library_type = $6, kirkanta_id = $7, contacts = $8,
       organisation = $9, population_year = $10, population_exception = $11,
       updated_at = now()
WHERE isil = $1
"""
# The update and the read of the row it leaves, joined like every read, in one statement: the
# main query reads the new row version from the UPDATE's RETURNING (its own snapshot would
# still see the old one in ``libraries``).
UPDATE_LIBRARY_RETURNING_ROW = f"""
WITH l AS ({UPDATE_LIBRARY} RETURNING *)
{LIBRARY_COLUMNS} FROM l {LIBRARY_JOINS}
"""


def library_parameters(
    library: Library, organisation_id: str | None, exception: tuple[int, str] | None
) -> tuple[Any, ...]:
    """The parameters of ``UPDATE_LIBRARY``, in order."""
    return (
        library.isil,
        library.names.model_dump(),
        library.municipalities,
        library.population,
        library.library_system,
        library.library_type,
        library.kirkanta_id,
        [c.model_dump() for c in library.contacts],
        organisation_id,
        library.population_year,
        {"population": exception[0], "reason": exception[1]} if exception else None,
    )


async def update_library_row(
    conn: asyncpg.Connection,
    library: Library,
    organisation_id: str | None = None,
    exception: tuple[int, str] | None = None,
) -> LibraryRow | None:
    """``update_library``, returning the row as ``get_library_row`` reads it afterwards."""
    row = await conn.fetchrow(
        UPDATE_LIBRARY_RETURNING_ROW, *library_parameters(library, organisation_id, exception)
    )
    return _row(row) if row else None


async def update_library(
    conn: asyncpg.Connection,
    library: Library,
    organisation_id: str | None = None,
    exception: tuple[int, str] | None = None,
) -> None:
    await conn.execute(UPDATE_LIBRARY, *library_parameters(library, organisation_id, exception))


async def get_library(
    conn: asyncpg.Connection | asyncpg.Pool, isil: str, *, for_update: bool = False
) -> Library | None:
    found = await get_library_row(conn, isil, for_update=for_update)
    return found.library if found else None


async def get_library_row(
    conn: asyncpg.Connection | asyncpg.Pool, isil: str, *, for_update: bool = False
) -> LibraryRow | None:
    # Locking the library row serialises commands on one library (join, notice, update).
    query = f"{LIBRARY_SELECT} WHERE l.isil = $1"
    if for_update:
        query += " FOR UPDATE OF l"
    row = await conn.fetchrow(query, isil)
    return _row(row) if row else None


# The locking read of a command that derives the population, with the latest year's figures of
# the municipalities it needs (``$2``, or the library's own when null), in one statement. Built
# from the constant fragments above only; every value is a parameter.
LOCK_LIBRARY_WITH_FIGURES = (
    LIBRARY_COLUMNS  # noqa: S608
    + """,
       latest.year AS figures_year,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(f.code, f.name_fi, f.name_sv,
                                                    f.population)), '[]'::jsonb)
          FROM municipality_figures f
         WHERE f.year = latest.year
           AND f.code = ANY (coalesce($2::text[], l.municipalities))) AS figures
    FROM libraries l CROSS JOIN (SELECT max(year) AS year FROM municipality_figures) latest
"""
    + LIBRARY_JOINS
    + """
    WHERE l.isil = $1
    FOR UPDATE OF l
"""
)


async def lock_library_row(
    conn: asyncpg.Connection, isil: str, codes: list[str] | None
) -> tuple[LibraryRow, Figures | None] | None:
    """``get_library_row(for_update=True)`` and ``figures_for`` (of ``codes``, or of the
    library's own municipalities when None) in one round trip."""
    row = await conn.fetchrow(LOCK_LIBRARY_WITH_FIGURES, isil, codes)
    if row is None:
        return None
    year = row["figures_year"]
    figures = (
        None
        if year is None
        else Figures(
            year=year,
            municipalities={
                code: Municipality(code, name_fi, name_sv, population)
                for code, name_fi, name_sv, population in row["figures"]
            },
        )
    )
    return _row(row), figures


async def periods(conn: asyncpg.Connection | asyncpg.Pool, isil: str) -> list[Period]:
    rows = await conn.fetch(
        "SELECT * FROM membership_periods WHERE isil = $1 ORDER BY number", isil
    )
    return [_period(row) for row in rows]


async def insert_period(conn: asyncpg.Connection, isil: str, period: Period) -> None:
    await conn.execute(
        """
        INSERT INTO membership_periods (isil, number, joined_on, signatory)
        VALUES ($1, $2, $3, $4)
        """,
        isil,
        period.number,
        period.joined_on,
        period.signatory,
    )


async def record_notice(conn: asyncpg.Connection, isil: str, period: Period) -> None:
    await conn.execute(
        """
        UPDATE membership_periods SET notice_given_on = $3, leaves_on = $4
        WHERE isil = $1 AND number = $2
        """,
        isil,
        period.number,
        period.notice_given_on,
        period.leaves_on,
    )


async def mark_left(conn: asyncpg.Connection, isil: str, number: int) -> None:
    await conn.execute(
        "UPDATE membership_periods SET left_at = now() WHERE isil = $1 AND number = $2",
        isil,
        number,
    )


async def claim_due_leaves(
    conn: asyncpg.Connection, today: dt.date, limit: int = 100
) -> list[tuple[str, int]]:
    """Periods whose notice takes effect by ``today``. SKIP LOCKED lets replicas share."""
    rows = await conn.fetch(
        """
        SELECT isil, number FROM membership_periods
        WHERE left_at IS NULL AND leaves_on IS NOT NULL AND leaves_on <= $1
        ORDER BY leaves_on, isil
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        today,
        limit,
    )
    return [(row["isil"], row["number"]) for row in rows]


@dataclass(frozen=True)
class LibraryFilter:
    text: str | None = None
    municipality: str | None = None
    library_system: str | None = None
    member_on: dt.date | None = None  # only libraries that are members on this day
    kimppa: str | None = None
    organisation: str | None = None


async def list_libraries(
    conn: asyncpg.Connection | asyncpg.Pool, where: LibraryFilter, *, limit: int, offset: int
) -> tuple[list[LibraryRow], int]:
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    # Only fixed condition texts are joined; every value is a parameter.
    if where.text:
        pattern = arg(f"%{where.text}%")
        conditions.append(f"(l.isil ILIKE {pattern} OR l.names::text ILIKE {pattern})")
    if where.municipality:
        conditions.append(f"{arg(where.municipality)} = ANY (l.municipalities)")
    if where.library_system:
        conditions.append(f"l.library_system = {arg(where.library_system)}")
    if where.member_on:
        day = arg(where.member_on)
        # Fixed text; the day is a parameter.
        member_on_day = (
            "EXISTS (SELECT 1 FROM membership_periods mo WHERE mo.isil = l.isil"  # noqa: S608
            f" AND mo.joined_on <= {day} AND (mo.leaves_on IS NULL OR {day} < mo.leaves_on))"
        )
        conditions.append(member_on_day)
    if where.kimppa:
        conditions.append(f"k.id = {arg(where.kimppa)}")
    if where.organisation:
        conditions.append(f"l.organisation = {arg(where.organisation)}")
    where_sql = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # The page and its total in one statement (a window count); only a page past the end,
    # which has no row to carry the total, costs a second one.
    page = (
        f"SELECT * FROM (SELECT s.*, count(*) OVER () AS total FROM ({LIBRARY_SELECT} "  # noqa: S608
        f"{where_sql}) s) t ORDER BY t.isil LIMIT {arg(limit)} OFFSET {arg(offset)}"
    )
    rows = await conn.fetch(page, *args)
    if rows:
        return [_row(row) for row in rows], rows[0]["total"]
    total = await conn.fetchval(
        f"SELECT count(*) FROM ({LIBRARY_SELECT} {where_sql}) s",  # noqa: S608
        *args[:-2],
    )
    return [], total


async def members_on(conn: asyncpg.Connection | asyncpg.Pool, day: dt.date) -> list[Library]:
    rows = await conn.fetch(
        f"""
        {LIBRARY_SELECT}
        WHERE EXISTS (SELECT 1 FROM membership_periods mo WHERE mo.isil = l.isil
                      AND mo.joined_on <= $1 AND (mo.leaves_on IS NULL OR $1 < mo.leaves_on))
        ORDER BY l.isil
        """,  # noqa: S608
        day,
    )
    return [_library(row) for row in rows]


async def library_rows(
    conn: asyncpg.Connection | asyncpg.Pool, isils: list[str], *, for_update: bool = False
) -> list[LibraryRow]:
    query = f"{LIBRARY_SELECT} WHERE l.isil = ANY ($1::text[]) ORDER BY l.isil"
    if for_update:
        query += " FOR UPDATE OF l"
    return [_row(row) for row in await conn.fetch(query, isils)]


# --- official figures ---------------------------------------------------------------------------


async def latest_year(conn: asyncpg.Connection | asyncpg.Pool) -> int | None:
    return await conn.fetchval("SELECT max(year) FROM municipality_figures")


async def figures(
    conn: asyncpg.Connection | asyncpg.Pool, year: int | None = None
) -> Figures | None:
    """The figures of ``year``, or of the latest loaded year at or before it (None: latest)."""
    chosen = await conn.fetchval(
        "SELECT max(year) FROM municipality_figures WHERE $1::int IS NULL OR year <= $1", year
    )
    if chosen is None:
        return None
    rows = await conn.fetch(
        "SELECT code, name_fi, name_sv, population FROM municipality_figures WHERE year = $1",
        chosen,
    )
    return Figures(
        year=chosen,
        municipalities={
            r["code"]: Municipality(r["code"], r["name_fi"], r["name_sv"], r["population"])
            for r in rows
        },
    )


async def figures_for(conn: asyncpg.Connection | asyncpg.Pool, codes: list[str]) -> Figures | None:
    """The latest loaded year's figures of ``codes`` only (codes not in that year's
    classification are absent, as in ``figures``), in one statement; None: nothing loaded."""
    rows = await conn.fetch(
        """
        SELECT latest.year, f.code, f.name_fi, f.name_sv, f.population
        FROM (SELECT max(year) AS year FROM municipality_figures) latest
        LEFT JOIN municipality_figures f ON f.year = latest.year AND f.code = ANY ($1::text[])
        """,
        codes,
    )
    if not rows or rows[0]["year"] is None:
        return None
    return Figures(
        year=rows[0]["year"],
        municipalities={
            r["code"]: Municipality(r["code"], r["name_fi"], r["name_sv"], r["population"])
            for r in rows
            if r["code"] is not None
        },
    )


async def replace_figures(
    conn: asyncpg.Connection, year: int, rows: list[Municipality], source: str
) -> None:
    """A year's figures as one whole: a reload replaces the year, so an abolished code that
    was loaded by mistake does not linger."""
    await conn.execute("DELETE FROM municipality_figures WHERE year = $1", year)
    await conn.executemany(
        """
        INSERT INTO municipality_figures (year, code, name_fi, name_sv, population, source)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        [(year, m.code, m.name_fi, m.name_sv, m.population, source) for m in rows],
    )


async def municipalities_page(
    conn: asyncpg.Connection | asyncpg.Pool, year: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT code, name_fi, name_sv, population, source FROM municipality_figures
        WHERE year = $1 ORDER BY code
        """,
        year,
    )


async def all_isils(conn: asyncpg.Connection) -> list[str]:
    return [r["isil"] for r in await conn.fetch("SELECT isil FROM libraries ORDER BY isil")]


# --- organisations ------------------------------------------------------------------------------


async def get_organisation(
    conn: asyncpg.Connection | asyncpg.Pool, business_id: str, *, for_update: bool = False
) -> asyncpg.Record | None:
    query = "SELECT * FROM organisations WHERE business_id = $1"
    if for_update:
        query += " FOR UPDATE"
    return await conn.fetchrow(query, business_id)


async def upsert_organisation(conn: asyncpg.Connection, org: Organisation) -> None:
    await conn.execute(
        """
        INSERT INTO organisations (business_id, names, kind, municipalities, einvoice_ovt,
                                   einvoice_operator)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (business_id) DO UPDATE SET names = EXCLUDED.names, kind = EXCLUDED.kind,
            municipalities = EXCLUDED.municipalities, einvoice_ovt = EXCLUDED.einvoice_ovt,
            einvoice_operator = EXCLUDED.einvoice_operator, updated_at = now()
        """,
        org.business_id,
        org.names.model_dump(),
        org.kind,
        org.municipalities,
        org.einvoice.ovt if org.einvoice else None,
        org.einvoice.operator if org.einvoice else None,
    )


async def list_organisations(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM organisations ORDER BY business_id")


async def organisations_with_libraries(
    conn: asyncpg.Connection | asyncpg.Pool, business_id: str | None = None
) -> list[asyncpg.Record]:
    """Organisations (all, or one) with their libraries' ISILs, in one statement."""
    return await conn.fetch(
        """
        SELECT o.*, coalesce(array_agg(l.isil ORDER BY l.isil)
                             FILTER (WHERE l.isil IS NOT NULL), '{}') AS libraries
        FROM organisations o LEFT JOIN libraries l ON l.organisation = o.business_id
        WHERE $1::text IS NULL OR o.business_id = $1
        GROUP BY o.business_id ORDER BY o.business_id
        """,
        business_id,
    )


async def organisation_libraries(conn: asyncpg.Connection, business_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT isil FROM libraries WHERE organisation = $1 ORDER BY isil", business_id
    )
    return [r["isil"] for r in rows]


# --- kimppas ------------------------------------------------------------------------------------


async def get_kimppa(
    conn: asyncpg.Connection | asyncpg.Pool, kimppa_id: str, *, for_update: bool = False
) -> asyncpg.Record | None:
    query = "SELECT * FROM kimppas WHERE id = $1"
    if for_update:
        query += " FOR UPDATE"
    return await conn.fetchrow(query, kimppa_id)


async def upsert_kimppa(
    conn: asyncpg.Connection,
    kimppa_id: str,
    name: str,
    library_system: str,
    harvest_contact_email: str | None,
    melinda_code: str | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO kimppas (id, name, library_system, harvest_contact_email, melinda_code)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
            library_system = EXCLUDED.library_system,
            harvest_contact_email = EXCLUDED.harvest_contact_email,
            melinda_code = EXCLUDED.melinda_code
        """,
        kimppa_id,
        name,
        library_system,
        harvest_contact_email,
        melinda_code,
    )


async def list_kimppas(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT k.*, coalesce(array_agg(m.isil ORDER BY m.isil)
                             FILTER (WHERE m.isil IS NOT NULL), '{}') AS libraries
        FROM kimppas k LEFT JOIN kimppa_memberships m ON m.kimppa_id = k.id AND m.until IS NULL
        GROUP BY k.id ORDER BY k.id
        """
    )


async def kimppa_libraries(conn: asyncpg.Connection | asyncpg.Pool, kimppa_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT isil FROM kimppa_memberships WHERE kimppa_id = $1 AND until IS NULL ORDER BY isil",
        kimppa_id,
    )
    return [r["isil"] for r in rows]


async def kimppa_history(
    conn: asyncpg.Connection | asyncpg.Pool, isil: str
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kimppa_id, since, until FROM kimppa_memberships WHERE isil = $1 ORDER BY since",
        isil,
    )


async def set_kimppa(
    conn: asyncpg.Connection, isil: str, kimppa_id: str | None, on: dt.date
) -> str | None:
    """Move a library to ``kimppa_id`` (None: out of any) from ``on``; the kimppa it was in
    until then, if any, is returned. History rows are closed, never rewritten."""
    current = await conn.fetchrow(
        "SELECT kimppa_id, since FROM kimppa_memberships WHERE isil = $1 AND until IS NULL", isil
    )
    if current and current["kimppa_id"] == kimppa_id:
        return None
    if current:
        await conn.execute(
            "UPDATE kimppa_memberships SET until = greatest($2::date, since)"
            " WHERE isil = $1 AND until IS NULL",
            isil,
            on,
        )
    if kimppa_id is not None:
        since = max(on, current["since"]) if current else on
        if current and since == current["since"]:
            # A move on the day the earlier one began replaces it (the key is (isil, since)).
            await conn.execute(
                "DELETE FROM kimppa_memberships WHERE isil = $1 AND since = $2", isil, since
            )
        await conn.execute(
            "INSERT INTO kimppa_memberships (isil, kimppa_id, since) VALUES ($1, $2, $3)",
            isil,
            kimppa_id,
            since,
        )
    return current["kimppa_id"] if current else None


# --- agreement versions -------------------------------------------------------------------------


async def store_document(
    conn: asyncpg.Connection, sha256: str, media_type: str, data: bytes
) -> None:
    await conn.execute(
        """
        INSERT INTO documents (sha256, media_type, content) VALUES ($1, $2, $3)
        ON CONFLICT (sha256) DO NOTHING
        """,
        sha256,
        media_type,
        data,
    )


async def document(conn: asyncpg.Connection | asyncpg.Pool, sha256: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT media_type, content FROM documents WHERE sha256 = $1", sha256
    )


async def insert_version(
    conn: asyncpg.Connection, version: AgreementVersion, document_name: str, sha256: str
) -> None:
    await conn.execute(
        """
        INSERT INTO agreement_versions (version, valid_from, document_name, document_sha256,
                                        notice_months, notice_takes_effect)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        version.version,
        version.valid_from,
        document_name,
        sha256,
        version.notice_months,
        str(version.notice_takes_effect),
    )


def _version(row: asyncpg.Record) -> AgreementVersion:
    return AgreementVersion(
        version=row["version"],
        valid_from=row["valid_from"],
        notice_months=row["notice_months"],
        notice_takes_effect=NoticeTakesEffect(row["notice_takes_effect"]),
    )


async def get_version(
    conn: asyncpg.Connection | asyncpg.Pool, version: str
) -> tuple[AgreementVersion, asyncpg.Record] | None:
    row = await conn.fetchrow("SELECT * FROM agreement_versions WHERE version = $1", version)
    return (_version(row), row) if row else None


async def list_versions(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM agreement_versions ORDER BY valid_from")


async def accepted_versions(conn: asyncpg.Connection | asyncpg.Pool, isil: str) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT a.version FROM agreement_acceptances a
        JOIN agreement_versions v USING (version)
        WHERE a.isil = $1 ORDER BY v.valid_from
        """,
        isil,
    )
    return [r["version"] for r in rows]


async def version_in_force(
    conn: asyncpg.Connection | asyncpg.Pool, isil: str
) -> AgreementVersion | None:
    """The latest version the library accepted: its notice terms bind the library."""
    row = await conn.fetchrow(
        """
        SELECT v.* FROM agreement_acceptances a JOIN agreement_versions v USING (version)
        WHERE a.isil = $1 ORDER BY v.valid_from DESC LIMIT 1
        """,
        isil,
    )
    return _version(row) if row else None


async def insert_acceptance(conn: asyncpg.Connection, isil: str, acceptance: Acceptance) -> None:
    await conn.execute(
        """
        INSERT INTO agreement_acceptances (isil, version, decision_organ, decision_date,
                                           decision_section, signatory_name, signatory_title)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        isil,
        acceptance.version,
        acceptance.decision_organ,
        acceptance.decision_date,
        acceptance.decision_section,
        acceptance.signatory_name,
        acceptance.signatory_title,
    )


async def acceptances(conn: asyncpg.Connection | asyncpg.Pool, isil: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM agreement_acceptances WHERE isil = $1 ORDER BY decision_date", isil
    )


async def not_accepted(
    conn: asyncpg.Connection | asyncpg.Pool, version: str, day: dt.date
) -> list[asyncpg.Record]:
    """Members on ``day`` that have not accepted ``version``."""
    return await conn.fetch(
        """
        SELECT l.isil, l.names, l.organisation FROM libraries l
        WHERE EXISTS (SELECT 1 FROM membership_periods mo WHERE mo.isil = l.isil
                      AND mo.joined_on <= $2 AND (mo.leaves_on IS NULL OR $2 < mo.leaves_on))
          AND NOT EXISTS (SELECT 1 FROM agreement_acceptances a
                          WHERE a.isil = l.isil AND a.version = $1)
        ORDER BY l.isil
        """,
        version,
        day,
    )


async def member_isils(conn: asyncpg.Connection, day: dt.date) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT l.isil FROM libraries l
        WHERE EXISTS (SELECT 1 FROM membership_periods mo WHERE mo.isil = l.isil
                      AND mo.joined_on <= $1 AND (mo.leaves_on IS NULL OR $1 < mo.leaves_on))
        ORDER BY l.isil
        """,
        day,
    )
    return [r["isil"] for r in rows]


# --- erasure ------------------------------------------------------------------------------------


async def record_erasure(
    conn: asyncpg.Connection, isil: str, email_sha256: str, on: dt.date
) -> bool:
    status = await conn.execute(
        """
        INSERT INTO contact_erasures (isil, email_sha256, erased_on) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        """,
        isil,
        email_sha256,
        on,
    )
    return status.endswith(" 1")


async def scrub_outbox(conn: asyncpg.Connection, isil: str, email: str) -> int:
    """Sent outbox rows of the library that still carry the address get it removed from
    their payload, so the service's own copy of past events forgets it too."""
    status = await conn.execute(
        """
        UPDATE outbox SET payload = convert_to(
            jsonb_set(convert_from(payload, 'UTF8')::jsonb, '{library,contacts}',
                coalesce((SELECT jsonb_agg(c) FROM jsonb_array_elements(
                    convert_from(payload, 'UTF8')::jsonb -> 'library' -> 'contacts') c
                    WHERE lower(c ->> 'email') <> lower($2)), '[]'::jsonb))::text, 'UTF8')
        WHERE key = $1 AND position(lower($2) in lower(convert_from(payload, 'UTF8'))) > 0
          AND convert_from(payload, 'UTF8')::jsonb -> 'library' -> 'contacts' IS NOT NULL
        """,
        isil,
        email,
    )
    return int(status.split()[-1])
