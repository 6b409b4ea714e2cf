"""Governance commands: load, apply the rule, store and record the events in one transaction.

Binding survey answers become participations through procurement's own store and domain rules
(the same steps as ``services.procurement.commands.opt_in``), inside the close's transaction,
so a survey is closed exactly when its opt-ins exist, even if a replica stops half-way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import asyncpg

from contracts import procurement as events
from contracts.membership import Library
from kit.outbox import record_event
from services.procurement import commands as procurement
from services.procurement import domain as procurement_domain
from services.procurement import store as procurement_store
from services.procurement.domain.errors import (
    DuplicateEntry,
    NotPermitted,
    ProcurementRuleViolated,
)
from services.procurement.governance import domain, store
from services.procurement.governance.domain import Attachment, Decision, Survey, SurveyState

Audience = Literal["all-members", "agreement-participants", "libraries"] | str
KIMPPA_PREFIX = "kimppa:"  # audience "kimppa:<id>": the member libraries of that kimppa


# One NotFound for the whole service: governance commands also look up procurement's records
# (a survey's agreement), and the API answers 404 for either kind.
NotFound = procurement.NotFound


def new_id(prefix: str, today: dt.date) -> str:
    return f"{prefix}-{today.year}-{uuid.uuid4().hex[:8]}"


def _attachment_payload(a: Attachment) -> events.DecisionAttachment:
    return events.DecisionAttachment(
        name=a.name, sha256=a.sha256, size=a.size, media_type=a.media_type
    )


async def record_decision(
    pool: asyncpg.Pool, decision: Decision, files: Sequence[tuple[Attachment, bytes]] = ()
) -> Decision:
    """Record a decision with its attachments (stored once by SHA-256) → decision-recorded."""
    async with pool.acquire() as conn, conn.transaction():
        if not await store.insert_decision(conn, decision):
            raise DuplicateEntry(
                "section",
                f"decision {decision.id} or {decision.body} {decision.decided_on} "
                f"section {decision.section} is already recorded",
            )
        for attachment, content in files:
            await store.put_file(conn, attachment, content)
            if not await store.add_attachment(conn, decision.id, attachment):
                raise DuplicateEntry("attachments", f"{attachment.name} is attached twice")
        saved = await store.get_decision(conn, decision.id)
        assert saved is not None
        await record_event(
            conn,
            events.DecisionRecorded(
                decision_id=saved.id,
                body=saved.body.value,
                decided_on=saved.decided_on,
                section=saved.section,
                subject_kind=saved.subject_kind.value,
                subject_id=saved.subject_id,
                text=saved.text,
                attachments=[_attachment_payload(a) for a in saved.attachments],
            ),
        )
    return saved


async def require_decision(
    conn: asyncpg.Connection, decision_id: str | None, subject_id: str
) -> Decision:
    """The hook procurement's renewal (and publication) calls: the named decision exists and
    is about this subject; otherwise a 422/409 naming ``decision_id``."""
    decision = await store.get_decision(conn, decision_id) if decision_id else None
    domain.check_approves(decision, decision_id, subject_id)
    assert decision is not None
    return decision


async def approved_by(
    conn: asyncpg.Connection,
    action: domain.Approved,
    subject_id: str,
    decision_id: str | None,
    *,
    required: bool,
) -> str | None:
    """Check the decision an act names and record the reference in the act's transaction.
    Optional for a tender's publication and award (none named: nothing recorded), required
    for a renewal."""
    if decision_id is None and not required:
        return None
    decision = await require_decision(conn, decision_id, subject_id)
    await store.add_decision_ref(conn, action.value, subject_id, decision.id)
    return decision.id


async def remember_kimppa(conn: asyncpg.Connection, library: Library) -> None:
    """Keep the library's kimppa as membership's member event says (none: it left its
    kimppa); read tolerantly, so an event without ``kimppa`` (v1.0) clears it."""
    kimppa = getattr(library, "kimppa", None)
    if kimppa is not None:
        await store.put_kimppa(conn, kimppa.id, kimppa.name)
    await store.set_member_kimppa(conn, library.isil, kimppa.id if kimppa is not None else None)


async def kimppa_updated(
    conn: asyncpg.Connection, kimppa_id: str, name: str, libraries: Sequence[str]
) -> None:
    await store.put_kimppa(conn, kimppa_id, name)
    await store.set_kimppa_libraries(conn, kimppa_id, sorted(set(libraries)))


async def _audience(
    conn: asyncpg.Connection,
    audience: Audience,
    agreement_id: str | None,
    libraries: Sequence[str],
    day: dt.date,
) -> list[str]:
    if audience == "all-members":
        rows = await conn.fetch(
            "SELECT isil FROM members WHERE joined_on <= $1 AND (left_on IS NULL OR left_on > $1)"
            " ORDER BY isil",
            day,
        )
        return [r["isil"] for r in rows]
    if audience.startswith(KIMPPA_PREFIX):
        kimppa_id = audience.removeprefix(KIMPPA_PREFIX)
        if not await store.kimppa_known(conn, kimppa_id):
            raise procurement_domain.InvalidValue("audience", f"no kimppa {kimppa_id} is known")
        return await store.kimppa_members_on(conn, kimppa_id, day)
    if audience == "agreement-participants":
        if agreement_id is None:
            raise procurement_domain.InvalidValue("agreement_id", "name the agreement")
        records = await procurement_store.participations_of(conn, agreement_id)
        return sorted({r.participation.isil for r in records if r.participation.still_open_on(day)})
    members = await procurement_store.members_by_isil(conn, list(libraries))
    unknown = sorted(set(libraries) - set(members))
    if unknown:
        raise NotPermitted("libraries", f"{unknown[0]} is not a consortium member")
    return sorted(set(libraries))


async def create_survey(
    pool: asyncpg.Pool,
    draft: Survey,
    audience: Audience,
    libraries: Sequence[str],
    today: dt.date,
) -> Survey:
    """Record a survey; it opens (survey-opened) on its opening day, through ``run_due``."""
    async with pool.acquire() as conn, conn.transaction():
        if draft.agreement_id is not None:
            await procurement._agreement(conn, draft.agreement_id)
        if (
            draft.decision_id is not None
            and await store.get_decision(conn, draft.decision_id) is None
        ):
            raise NotPermitted("decision_id", f"no decision {draft.decision_id} is recorded")
        isils = await _audience(conn, audience, draft.agreement_id, libraries, today)
        survey = Survey(**{**draft.__dict__, "audience": tuple(isils)})
        domain.check_survey(survey, today)
        await store.insert_survey(conn, survey)
    await run_due(pool, today)
    async with pool.acquire() as conn:
        saved = await store.get_survey(conn, survey.id)
    assert saved is not None
    return saved


async def answer(
    pool: asyncpg.Pool, survey_id: str, isil: str, answers: Mapping[str, object], today: dt.date
) -> dict[str, Any]:
    """One library's answers; a later answer replaces the earlier until the close."""
    async with pool.acquire() as conn, conn.transaction():
        survey = await store.get_survey(conn, survey_id, lock=True)
        if survey is None:
            raise NotFound("survey", "survey_id", survey_id)
        clean = domain.check_answers(survey, isil, answers, today)
        await store.put_answer(conn, survey_id, isil, clean)
    return clean


def _title(survey: Survey) -> events.LocalizedText:
    return events.LocalizedText(fi=survey.title_fi, sv=survey.title_sv)


async def _open(conn: asyncpg.Connection, survey: Survey) -> None:
    await store.set_state(conn, survey.id, SurveyState.OPEN.value)
    await record_event(
        conn,
        events.SurveyOpened(
            survey_id=survey.id,
            kind=survey.kind.value,
            title=_title(survey),
            opens_on=survey.opens_on,
            closes_on=survey.closes_on,
            agreement_id=survey.agreement_id,
            decision_id=survey.decision_id,
            audience=list(survey.audience),
        ),
    )


async def _remind(conn: asyncpg.Connection, survey: Survey) -> None:
    await store.mark_reminded(conn, survey.id)
    answered = await store.answers_of(conn, survey.id)
    missing = domain.not_answered(survey, answered)
    if missing:
        await record_event(
            conn,
            events.SurveyReminderDue(
                survey_id=survey.id,
                title=_title(survey),
                closes_on=survey.closes_on,
                not_answered=missing,
            ),
        )


async def _opt_in(
    conn: asyncpg.Connection, agreement_id: str, isil: str, from_date: dt.date, today: dt.date
) -> None:
    """procurement's opt-in steps on the caller's connection: the same rules, the same row,
    the same agreement-joined."""
    member = await procurement_store.get_member(conn, isil, lock=True)
    record = await procurement._agreement(conn, agreement_id)
    agreement = record.agreement
    existing = await procurement_store.participations_of(conn, agreement_id)
    participation = procurement_domain.opt_in(
        agreement, member, [r.participation for r in existing], isil, from_date, today
    )
    everyone = [r.participation for r in existing] + [participation]
    members = await procurement_store.members_by_isil(conn, sorted({p.isil for p in everyone}))
    try:
        # Usage shares depend on figures that come later; nothing to check on opting in.
        if agreement.cost_share.model is not procurement_domain.CostShareModel.USAGE:
            procurement_domain.agreement_cost_shares(agreement, everyone, members, from_date)
    except procurement_domain.InvalidValue as error:
        raise NotPermitted("isil", error.problem) from error
    record_id = await procurement_store.insert_participation(conn, participation)
    count = procurement._participants_on(
        [*existing, procurement_store.ParticipationRecord(record_id, participation, False)],
        from_date,
    )
    await record_event(
        conn,
        events.AgreementJoined(
            agreement_id=agreement.id,
            isil=isil,
            joined_on=from_date,
            title=record.title,
            supplier=procurement._supplier(agreement),
            product=agreement.product,
            participants=max(count, 1),
            material_types=sorted(m.value for m in agreement.material_types),
        ),
    )


def _results(
    survey: Survey, answers: Mapping[str, Mapping[str, object]]
) -> list[events.SurveyQuestionResult]:
    return [
        events.SurveyQuestionResult(
            question_id=r.question.id,
            kind=r.question.kind.value,
            text=events.LocalizedText(fi=r.question.fi, sv=r.question.sv),
            answered=r.answered,
            options=[
                events.SurveyOptionCount(
                    option_id=o.id,
                    label=events.LocalizedText(fi=o.fi, sv=o.sv),
                    count=r.counts.get(o.id, 0),
                )
                for o in r.question.options
            ],
            mean=r.mean,
        )
        for r in domain.results(survey, answers)
    ]


async def _close(conn: asyncpg.Connection, survey: Survey, today: dt.date) -> None:
    answers = await store.answers_of(conn, survey.id)
    opted_in: list[str] = []
    not_applied: dict[str, str] = {}
    if survey.agreement_id and survey.participation_from:
        for isil in domain.binding_yes(survey, answers):
            try:
                # A savepoint: one library's refused opt-in (it left the consortium meanwhile)
                # does not undo the others'.
                async with conn.transaction():
                    await _opt_in(conn, survey.agreement_id, isil, survey.participation_from, today)
                opted_in.append(isil)
            except ProcurementRuleViolated as error:
                not_applied[isil] = str(error)
    await store.set_state(conn, survey.id, SurveyState.CLOSED.value)
    await record_event(
        conn,
        events.SurveyClosed(
            survey_id=survey.id,
            kind=survey.kind.value,
            closes_on=survey.closes_on,
            audience_size=len(survey.audience),
            answered=len(answers),
            agreement_id=survey.agreement_id,
            opted_in=opted_in,
            not_applied=not_applied,
            results=_results(survey, answers),
        ),
    )


async def run_due(pool: asyncpg.Pool, today: dt.date) -> int:
    """Open, remind and close the surveys due on ``today``, one claimed survey per
    transaction (FOR UPDATE SKIP LOCKED): safe with two replicas and across restarts."""
    done = 0
    for what in ("open", "remind", "close"):
        while True:
            async with pool.acquire() as conn, conn.transaction():
                survey = await store.claim_due(conn, what, today)
                if survey is None:
                    break
                if what == "open":
                    await _open(conn, survey)
                elif what == "remind":
                    await _remind(conn, survey)
                else:
                    await _close(conn, survey, today)
                done += 1
    return done


async def publish_annual_reports(pool: asyncpg.Pool, year: int, base_url: str) -> list[str]:
    """Announce each member's report for ``year`` once (annual-report-published with its
    address); a library already announced is skipped, so publishing again adds only newcomers."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    published = []
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT isil FROM members WHERE joined_on <= $2 AND (left_on IS NULL OR left_on > $1)"
            " ORDER BY isil",
            first,
            last,
        )
        for row in rows:
            isil = row["isil"]
            fresh = await conn.fetchval(
                "INSERT INTO annual_reports_published (year, isil) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING isil",
                year,
                isil,
            )
            if fresh is None:
                continue
            address = f"{base_url}/reports/annual/{year}?isil={isil}"
            await record_event(
                conn,
                events.AnnualReportPublished(
                    isil=isil,
                    year=year,
                    url=f"{address}&format=html",
                    pdf_url=f"{address}&format=pdf",
                ),
            )
            published.append(isil)
    return published
