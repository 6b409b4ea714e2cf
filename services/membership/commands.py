"""Membership commands: load, apply the domain rule, store, and record the event, all in one
transaction. The HTTP API, the CSV import and the scheduler all go through here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any, Literal

import asyncpg

from contracts.membership import (
    AgreementVersionAccepted,
    AgreementVersionPublished,
    ContactErased,
    KimppaUpdated,
    Library,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    Organisation,
    OrganisationUpdated,
    PopulationFiguresLoaded,
    TokenRevoked,
)
from kit import rules as kit_rules
from kit.outbox import execute_with_event, record_event
from kit.revocation import record_revocation
from services.membership import agreement, domain, population, store


class LibraryNotFound(kit_rules.NotFound, LookupError):
    """The library a request is about does not exist (404)."""

    def __init__(self, isil: str) -> None:
        super().__init__(f"no library {isil}", field="isil")


async def _locked(conn: asyncpg.Connection, isil: str) -> Library:
    library = await store.get_library(conn, isil, for_update=True)
    if library is None:
        raise LibraryNotFound(isil)
    return library


class NotFound(kit_rules.RuleViolated, LookupError):
    """A named thing (organisation, kimppa, agreement version) does not exist. It is named in
    the request's body, so it is a bad value there: 422, not 404."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


Exception_ = tuple[int, str] | None
# Changes that are not copied onto the library as they are: the organisation and kimppa are
# named by id, and the exception is (population, reason).
SPECIAL_CHANGES = frozenset({"organisation", "kimppa", "population_exception"})


async def _derive(
    conn: asyncpg.Connection,
    library: Library,
    organisation_id: str | None,
    exception: Exception_,
    *,
    check_codes: bool,
    figures: population.Figures | None | Literal["unread"] = "unread",
) -> Library:
    """The library with its population derived from the latest official figures (or its
    documented exception). ``check_codes``: the municipalities must be in that year's
    classification (when they change; an unchanged old code does not block other edits).
    ``figures``: the latest figures of the library's municipalities, if already read."""
    if figures == "unread":
        # Only the library's municipalities: the check and the sum need no others.
        figures = await store.figures_for(conn, library.municipalities)
    assert not isinstance(figures, str)
    if check_codes and figures is not None:
        figures.check(library.municipalities)
    if organisation_id is not None and await store.get_organisation(conn, organisation_id) is None:
        raise NotFound(f"no organisation {organisation_id}", "organisation")
    derived = population.derive(library.municipalities, figures, exception)
    return library.model_copy(
        update={
            "population": derived.population,
            "population_year": derived.year,
            "population_exception": derived.exception_reason,
        }
    )


async def register(
    pool: asyncpg.Pool,
    library: Library,
    organisation_id: str | None = None,
    exception: Exception_ = None,
    kimppa_id: str | None = None,
    today: dt.date | None = None,
) -> Library:
    """Register a library (no event: registering is not membership), in its kimppa from
    ``today`` if one is named; all or nothing."""
    async with pool.acquire() as conn, conn.transaction():
        if await store.get_library(conn, library.isil) is not None:
            raise domain.MembershipRuleViolated(
                f"library {library.isil} is already registered", "isil"
            )
        library = await _derive(conn, library, organisation_id, exception, check_codes=True)
        await store.insert_library(conn, library, organisation_id, exception)
        if kimppa_id is not None:
            await _move_to_kimppa(conn, library.isil, kimppa_id, today or dt.date.today())
        found = await store.get_library(conn, library.isil)
        assert found is not None
    return found


async def _member_updated(
    conn: asyncpg.Connection, isil: str, today: dt.date, row: store.LibraryRow | None = None
) -> Library:
    """Record ``member-updated`` with the library as it is now in this transaction (``row``,
    when the caller has just read it)."""
    if row is None:
        row = await store.get_library_row(conn, isil)
    assert row is not None
    await record_event(conn, _member_updated_event(row, today))
    return row.library


def _member_updated_event(row: store.LibraryRow, today: dt.date) -> MemberUpdated:
    return MemberUpdated(
        library=row.library,
        # The status depends on the latest period only, which the row carries.
        is_member=domain.status(row.latest_periods, today)
        in (domain.Status.MEMBER, domain.Status.LEAVING),
    )


async def update(pool: asyncpg.Pool, isil: str, changes: dict[str, Any], today: dt.date) -> Library:
    """``update_row``, for callers that need the library only."""
    return (await update_row(pool, isil, changes, today)).library


async def update_row(
    pool: asyncpg.Pool, isil: str, changes: dict[str, Any], today: dt.date
) -> store.LibraryRow:
    """Apply a partial change to a library. The row is locked first and the change merged
    into what the lock holds, so two concurrent edits of different fields both survive.
    Returns the row as this transaction committed it.

    ``changes`` holds Library fields, plus ``organisation`` (a business ID or None),
    ``population_exception`` ((population, reason) or None) and ``kimppa`` (an id or None)."""
    async with pool.acquire() as conn, conn.transaction():
        locked = await store.lock_library_row(conn, isil, changes.get("municipalities"))
        if locked is None:
            raise LibraryNotFound(isil)
        row, figures = locked
        fields = {
            k: v
            for k, v in changes.items()
            if k in Library.model_fields and k not in SPECIAL_CHANGES
        }
        # Field by field (``dict``, not ``model_dump``): the nested values stay the validated
        # objects they are, and only the merged whole is validated again.
        merged = Library(**{**dict(row.library), **fields})
        organisation_id = changes.get("organisation", row.organisation_id)
        exception = changes.get("population_exception", row.population_exception)
        library = await _derive(
            conn,
            merged,
            organisation_id,
            exception,
            check_codes="municipalities" in changes,
            figures=figures,
        )
        if not changes.keys() & {"organisation", "kimppa"} and (
            library.population_year == row.library.population_year
        ):
            # Nothing the row's joins show changes (its organisation, whose population is of
            # the library's figures year, its kimppa, its periods): the library as derived is
            # the library as stored, so its event is known before the update and both go in
            # one statement.
            same = dataclasses.replace(row, library=library, population_exception=exception)
            await execute_with_event(
                conn,
                store.UPDATE_LIBRARY,
                *store.library_parameters(library, organisation_id, exception),
                event=_member_updated_event(same, today),
            )
            return same
        updated = await store.update_library_row(conn, library, organisation_id, exception)
        if "kimppa" in changes:
            await _move_to_kimppa(conn, isil, changes["kimppa"], today)
            updated = await store.get_library_row(conn, isil)
        assert updated is not None  # the row is locked: it cannot have gone
        await _member_updated(conn, isil, today, updated)
        return updated


async def update_details(pool: asyncpg.Pool, library: Library, today: dt.date) -> Library:
    """Replace a library's own details (names, contacts, system) with ``library``'s."""
    return await update(
        pool,
        library.isil,
        {name: getattr(library, name) for name in domain.LIBRARY_FIELDS},
        today,
    )


async def _kimppa_updated(conn: asyncpg.Connection, kimppa_id: str) -> None:
    kimppa = await store.get_kimppa(conn, kimppa_id)
    assert kimppa is not None
    await record_event(
        conn,
        KimppaUpdated(
            kimppa_id=kimppa_id,
            kimppa_name=kimppa["name"],
            library_system=kimppa["library_system"],
            melinda_code=kimppa["melinda_code"],
            harvest_contact_email=kimppa["harvest_contact_email"],
            libraries=await store.kimppa_libraries(conn, kimppa_id),
        ),
    )


async def _move_to_kimppa(
    conn: asyncpg.Connection, isil: str, kimppa_id: str | None, today: dt.date
) -> None:
    if kimppa_id is not None and await store.get_kimppa(conn, kimppa_id, for_update=True) is None:
        raise NotFound(f"no kimppa {kimppa_id}", "kimppa")
    previous = await store.set_kimppa(conn, isil, kimppa_id, today)
    for changed in {previous, kimppa_id} - {None}:
        assert changed is not None
        await _kimppa_updated(conn, changed)


async def save_kimppa(
    pool: asyncpg.Pool,
    kimppa_id: str,
    name: str,
    library_system: str,
    harvest_contact_email: str | None,
    melinda_code: str | None,
    today: dt.date,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.get_kimppa(conn, kimppa_id, for_update=True)
        await store.upsert_kimppa(
            conn, kimppa_id, name, library_system, harvest_contact_email, melinda_code
        )
        await _kimppa_updated(conn, kimppa_id)
        # The libraries' events carry the kimppa's name and Melinda code.
        for isil in await store.kimppa_libraries(conn, kimppa_id):
            await _member_updated(conn, isil, today)


async def _organisation(conn: asyncpg.Connection, business_id: str) -> Organisation:
    row = await store.get_organisation(conn, business_id)
    assert row is not None
    figures = await store.figures(conn)
    derived = population.derive(row["municipalities"], figures)
    return Organisation(
        business_id=row["business_id"],
        names=row["names"],
        kind=row["kind"],
        municipalities=list(row["municipalities"]),
        einvoice={"ovt": row["einvoice_ovt"], "operator": row["einvoice_operator"]}
        if row["einvoice_ovt"]
        else None,
        population=derived.population if figures else None,
        population_year=derived.year,
    )


async def save_organisation(
    pool: asyncpg.Pool, organisation: Organisation, today: dt.date
) -> Organisation:
    async with pool.acquire() as conn, conn.transaction():
        await store.get_organisation(conn, organisation.business_id, for_update=True)
        figures = await store.figures(conn)
        if figures is not None:
            figures.check(organisation.municipalities)
        await store.upsert_organisation(conn, organisation)
        saved = await _organisation(conn, organisation.business_id)
        await record_event(conn, OrganisationUpdated(organisation=saved))
        # Every library's events carry its organisation.
        for isil in await store.organisation_libraries(conn, organisation.business_id):
            await _member_updated(conn, isil, today)
    return saved


async def load_figures(
    pool: asyncpg.Pool,
    year: int,
    rows: list[population.Municipality],
    source: str,
    today: dt.date,
) -> int:
    """Load a year's official figures. If it is the latest year, every library's and
    organisation's derived population follows, with an event for each one that changed.
    Returns the number of libraries whose population changed."""
    async with pool.acquire() as conn, conn.transaction():
        # One loader at a time: a second waits here rather than interleaving its rows.
        await conn.execute("LOCK TABLE municipality_figures IN EXCLUSIVE MODE")
        await store.replace_figures(conn, year, rows, source)
        await record_event(
            conn,
            PopulationFiguresLoaded(
                year=year,
                municipalities=len(rows),
                population=sum(m.population for m in rows),
                source=source,
            ),
        )
        if await store.latest_year(conn) != year:
            return 0
        figures = await store.figures(conn, year)
        assert figures is not None
        changed = 0
        for row in await store.library_rows(conn, await store.all_isils(conn), for_update=True):
            derived = population.derive(
                row.library.municipalities, figures, row.population_exception
            )
            if (derived.population, derived.year) == (
                row.library.population,
                row.library.population_year,
            ):
                continue
            library = row.library.model_copy(
                update={"population": derived.population, "population_year": derived.year}
            )
            await store.update_library(conn, library, row.organisation_id, row.population_exception)
            await _member_updated(conn, row.library.isil, today)
            changed += 1
        for org in await store.list_organisations(conn):
            saved = await _organisation(conn, org["business_id"])
            await record_event(conn, OrganisationUpdated(organisation=saved))
        return changed


async def ensure_shipped_figures(pool: asyncpg.Pool, today: dt.date) -> None:
    """A new database gets the figures the repository ships, so population is derived from
    real numbers from the first start; the coordinator's loads replace them."""
    async with pool.acquire() as conn:
        if await store.latest_year(conn) is not None:
            return
    by_year: dict[int, list[population.Municipality]] = {}
    for year, municipality in population.shipped_figures():
        by_year.setdefault(year, []).append(municipality)
    for year, rows in sorted(by_year.items()):
        async with pool.acquire() as conn:
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM municipality_figures WHERE year = $1)", year
            ):
                continue
        await load_figures(pool, year, rows, "shipped: services/membership/data", today)


async def join(
    pool: asyncpg.Pool,
    isil: str,
    *,
    signed_on: dt.date,
    signatory: str,
    acceptance: agreement.Acceptance | None = None,
) -> domain.Period:
    """Open a membership period; with ``acceptance``, the agreement version the organisation
    accepted (and its decision) is recorded in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        library = await _locked(conn, isil)
        period = domain.join(
            await store.periods(conn, isil), signed_on=signed_on, signatory=signatory
        )
        await store.insert_period(conn, isil, period)
        if acceptance is not None:
            await _accept(conn, library, acceptance)
        await record_event(
            conn,
            MemberJoined(library=library, joined_on=signed_on, period=period.number),
        )
    return period


async def give_notice(
    pool: asyncpg.Pool, isil: str, *, effective_date: dt.date, given_on: dt.date
) -> domain.Period:
    """Record notice; if it takes effect today or earlier, the library leaves now, otherwise
    the scheduler makes it leave on the date (the date is in the database, so a restart in
    between changes nothing)."""
    async with pool.acquire() as conn, conn.transaction():
        library = await _locked(conn, isil)
        period = domain.give_notice(
            await store.periods(conn, isil), effective_date=effective_date, given_on=given_on
        )
        agreement.check_notice(await store.version_in_force(conn, isil), given_on, effective_date)
        await store.record_notice(conn, isil, period)
        if domain.leave_is_due(period, given_on):
            await _leave(conn, library, period)
    return period


async def _leave(conn: asyncpg.Connection, library: Library, period: domain.Period) -> None:
    assert period.leaves_on is not None
    await store.mark_left(conn, library.isil, period.number)
    await record_event(
        conn,
        MemberLeft(
            library=library,
            effective_date=period.leaves_on,
            period=period.number,
            joined_on=period.joined_on,
        ),
    )


async def apply_due_leaves(pool: asyncpg.Pool, today: dt.date) -> int:
    """Make every library whose notice has taken effect leave. Safe with several replicas."""
    applied = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = await store.claim_due_leaves(conn, today, limit=100)
            for isil, number in due:
                library = await _locked(conn, isil)
                period = next(p for p in await store.periods(conn, isil) if p.number == number)
                await _leave(conn, library, period)
        applied += len(due)
        if len(due) < 100:
            return applied


async def _accept(
    conn: asyncpg.Connection, library: Library, acceptance: agreement.Acceptance
) -> None:
    found = await store.get_version(conn, acceptance.version)
    if found is None:
        raise NotFound(f"no agreement version {acceptance.version}", "version")
    agreement.check_acceptance(
        found[0], acceptance, await store.accepted_versions(conn, library.isil)
    )
    await store.insert_acceptance(conn, library.isil, acceptance)
    await record_event(
        conn,
        AgreementVersionAccepted(
            isil=library.isil,
            agreement_version=acceptance.version,
            business_id=library.organisation.business_id if library.organisation else None,
            decision_organ=acceptance.decision_organ,
            decision_date=acceptance.decision_date,
            decision_section=acceptance.decision_section,
            signatory_title=acceptance.signatory_title,
        ),
    )


async def accept_version(pool: asyncpg.Pool, isil: str, acceptance: agreement.Acceptance) -> None:
    async with pool.acquire() as conn, conn.transaction():
        library = await _locked(conn, isil)
        await _accept(conn, library, acceptance)


async def publish_version(
    pool: asyncpg.Pool,
    version: agreement.Version,
    document_name: str,
    media_type: str,
    content: bytes,
    today: dt.date,
) -> list[str]:
    """Publish a version with its document (stored by content hash); every member on
    ``today`` is asked to accept it. Returns the ISILs asked."""
    sha256 = hashlib.sha256(content).hexdigest()
    async with pool.acquire() as conn, conn.transaction():
        if await store.get_version(conn, version.version) is not None:
            raise domain.MembershipRuleViolated(
                f"agreement version {version.version} is already published", "version"
            )
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM agreement_versions WHERE valid_from = $1)",
            version.valid_from,
        ):
            raise domain.MembershipRuleViolated(
                f"a version already takes effect on {version.valid_from}", "valid_from"
            )
        await store.store_document(conn, sha256, media_type, content)
        await store.insert_version(conn, version, document_name, sha256)
        asked = await store.member_isils(conn, today)
        await record_event(
            conn,
            AgreementVersionPublished(
                agreement_version=version.version,
                valid_from=version.valid_from,
                document_name=document_name,
                document_sha256=sha256,
                notice_months=version.notice_months,
                notice_takes_effect=str(version.notice_takes_effect),
                members_asked=asked,
            ),
        )
    return asked


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def erase_contact(pool: asyncpg.Pool, isil: str, email: str, today: dt.date) -> bool:
    """Forget a contact person on request: off the library's contacts, out of this service's
    copies of past events, and a ``contact-erased`` event (the address's hash only) for the
    services that kept it. Returns whether anything was erased now (False: done before)."""
    async with pool.acquire() as conn, conn.transaction():
        library = await _locked(conn, isil)
        digest = email_hash(email)
        remaining = [c for c in library.contacts if email_hash(c.email) != digest]
        if len(remaining) != len(library.contacts):
            row = await store.get_library_row(conn, isil)
            assert row is not None
            await store.update_library(
                conn,
                library.model_copy(update={"contacts": remaining}),
                row.organisation_id,
                row.population_exception,
            )
            await _member_updated(conn, isil, today)
        await store.scrub_outbox(conn, isil, email.strip())
        if not await store.record_erasure(conn, isil, digest, today):
            return False
        await record_event(conn, ContactErased(isil=isil, email_sha256=digest, erased_on=today))
    return True


async def revoke_token(
    pool: asyncpg.Pool, jti: str, expires_at: dt.datetime, reason: str, now: dt.datetime
) -> TokenRevoked | None:
    """Put a token's ``jti`` on the deny list: this service's own (kit table) and, through a
    ``token-revoked`` event, every other service's. None when it was revoked before."""
    event = TokenRevoked(jti=jti, expires_at=expires_at, reason=reason, revoked_at=now)
    async with pool.acquire() as conn, conn.transaction():
        if not await record_revocation(conn, event):
            return None
        await record_event(conn, event)
    return event
