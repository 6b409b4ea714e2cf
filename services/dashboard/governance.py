"""The consortium's coming deadlines, who has not accepted the current consortium agreement
version, and the member surveys: read model, handlers, JSON API and the page's context.

The public API and page show how many members have accepted the current version, never which
ones have not: that list (ISILs of libraries behind on a legal step) is for a signed-in
coordinator or operator (``/api/governance/not-accepted``, bearer token or operator session).

- cancellation-deadline-approaching → the agreement's cancellation deadline (latest wins)
- tender-awarded v2                 → the decision's standstill end; the tender is awarded
  (v1 of the same decision marks the same tender awarded: one decision, counted once)
- decision-corrected                → the corrected decision's own standstill, coming again
- standstill-ended                  → the standstill has passed
- agreement-version-published       → the members asked to accept that version
- agreement-version-accepted        → that member accepted (may arrive before its version)
- survey-opened / survey-closed     → the survey, open or closed with its answer count and,
  since contracts 1.11, its answer counts per question (shown on ``/surveys``)

The writes are upserts in the consumer's inbox transaction, so a redelivery changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from contracts.base import Event
from contracts.membership import AgreementVersionAccepted, AgreementVersionPublished
from contracts.procurement import (
    CancellationDeadlineApproaching,
    DecisionCorrected,
    StandstillEnded,
    SurveyClosed,
    SurveyOpened,
    TenderAwardedV2,
)
from kit.app import pool_of
from kit.auth import Caller
from kit.consumer import Delivery, Reactions
from services.dashboard import store
from services.dashboard.deps import operator_caller

router = APIRouter()
FeedAdder = Callable[[Delivery, Event], Awaitable[None]]


# --- read model ---------------------------------------------------------------------------------


async def record_deadline(
    conn: asyncpg.Connection,
    kind: str,
    ref_id: str,
    title: str | None,
    due_on: dt.date,
    *,
    reopen: bool = False,
) -> None:
    """A coming deadline; ``reopen`` makes one that had passed come again (a corrected
    decision starts a standstill of its own)."""
    await conn.execute(
        """
        INSERT INTO deadlines (kind, ref_id, title, due_on) VALUES ($1, $2, $3, $4)
        ON CONFLICT (kind, ref_id) DO UPDATE SET
            due_on = EXCLUDED.due_on, title = COALESCE(EXCLUDED.title, deadlines.title),
            passed = deadlines.passed AND NOT $5
        """,
        kind,
        ref_id,
        title,
        due_on,
        reopen,
    )


async def pass_standstill(
    conn: asyncpg.Connection, tender_id: str, title: str | None, ended_on: dt.date
) -> None:
    await conn.execute(
        """
        INSERT INTO deadlines (kind, ref_id, title, due_on, passed)
        VALUES ('standstill', $1, $2, $3, true)
        ON CONFLICT (kind, ref_id) DO UPDATE SET
            passed = true, title = COALESCE(EXCLUDED.title, deadlines.title)
        """,
        tender_id,
        title,
        ended_on,
    )


async def record_version(
    conn: asyncpg.Connection, version: str, valid_from: dt.date, members_asked: list[str]
) -> None:
    await conn.execute(
        """
        INSERT INTO agreement_versions (agreement_version, valid_from, members_asked)
        VALUES ($1, $2, $3)
        ON CONFLICT (agreement_version) DO UPDATE SET
            valid_from = EXCLUDED.valid_from, members_asked = EXCLUDED.members_asked
        """,
        version,
        valid_from,
        sorted(set(members_asked)),
    )


async def record_acceptance(conn: asyncpg.Connection, version: str, isil: str) -> None:
    await conn.execute(
        "INSERT INTO agreement_acceptances (agreement_version, isil) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        version,
        isil,
    )


async def open_survey(conn: asyncpg.Connection, event: SurveyOpened) -> None:
    # A survey already closed stays closed (survey-opened redelivered after survey-closed).
    await conn.execute(
        """
        INSERT INTO surveys (survey_id, kind, title, closes_on, audience_size)
        VALUES ($1, $2, $3::jsonb, $4, $5)
        ON CONFLICT (survey_id) DO UPDATE SET
            kind = EXCLUDED.kind, title = EXCLUDED.title, closes_on = EXCLUDED.closes_on,
            audience_size = CASE WHEN surveys.status = 'closed' THEN surveys.audience_size
                                 ELSE EXCLUDED.audience_size END
        """,
        event.survey_id,
        event.kind,
        event.title.model_dump(),  # the pool's codec encodes jsonb
        event.closes_on,
        len(set(event.audience)),
    )


async def close_survey(conn: asyncpg.Connection, event: SurveyClosed) -> None:
    await conn.execute(
        """
        INSERT INTO surveys (survey_id, kind, closes_on, status, audience_size, answered,
                             results)
        VALUES ($1, $2, $3, 'closed', $4, $5, $6::jsonb)
        ON CONFLICT (survey_id) DO UPDATE SET
            status = 'closed', closes_on = EXCLUDED.closes_on,
            audience_size = EXCLUDED.audience_size, answered = EXCLUDED.answered,
            results = EXCLUDED.results
        """,
        event.survey_id,
        event.kind,
        event.closes_on,
        event.audience_size,
        event.answered,
        None if event.results is None else [r.model_dump(mode="json") for r in event.results],
    )


# --- handlers -----------------------------------------------------------------------------------


def register(reactions: Reactions, add_to_feed: FeedAdder) -> None:
    """Add this module's handlers; each also puts its event in the live feed."""

    @reactions.on(CancellationDeadlineApproaching)
    async def cancellation_deadline_approaching(
        delivery: Delivery, event: CancellationDeadlineApproaching
    ) -> None:
        await record_deadline(
            delivery.conn,
            "cancellation",
            event.agreement_id,
            event.title,
            event.cancellation_deadline,
        )
        await add_to_feed(delivery, event)

    @reactions.on(TenderAwardedV2)
    async def tender_decided(delivery: Delivery, event: TenderAwardedV2) -> None:
        await store.set_tender(delivery.conn, event.tender_id, "awarded", event.title)
        if event.standstill_ends_on is not None:
            await record_deadline(
                delivery.conn, "standstill", event.tender_id, event.title, event.standstill_ends_on
            )
        await add_to_feed(delivery, event)

    @reactions.on(DecisionCorrected)
    async def decision_corrected(delivery: Delivery, event: DecisionCorrected) -> None:
        """The corrected decision is served anew; its standstill replaces the earlier one."""
        if event.standstill_ends_on is not None:
            await record_deadline(
                delivery.conn,
                "standstill",
                event.tender_id,
                event.title,
                event.standstill_ends_on,
                reopen=True,
            )
        await add_to_feed(delivery, event)

    @reactions.on(StandstillEnded)
    async def standstill_ended(delivery: Delivery, event: StandstillEnded) -> None:
        await pass_standstill(delivery.conn, event.tender_id, event.title, event.ended_on)
        await add_to_feed(delivery, event)

    @reactions.on(AgreementVersionPublished)
    async def agreement_version_published(
        delivery: Delivery, event: AgreementVersionPublished
    ) -> None:
        await record_version(
            delivery.conn, event.agreement_version, event.valid_from, event.members_asked
        )
        await add_to_feed(delivery, event)

    @reactions.on(AgreementVersionAccepted)
    async def agreement_version_accepted(
        delivery: Delivery, event: AgreementVersionAccepted
    ) -> None:
        await record_acceptance(delivery.conn, event.agreement_version, event.isil)
        await add_to_feed(delivery, event)

    @reactions.on(SurveyOpened)
    async def survey_opened(delivery: Delivery, event: SurveyOpened) -> None:
        await open_survey(delivery.conn, event)
        await add_to_feed(delivery, event)

    @reactions.on(SurveyClosed)
    async def survey_closed(delivery: Delivery, event: SurveyClosed) -> None:
        await close_survey(delivery.conn, event)
        await add_to_feed(delivery, event)


# --- what the API and the page show -------------------------------------------------------------


class Deadline(BaseModel):
    kind: Literal["cancellation", "standstill"]
    ref_id: str
    title: str | None
    due_on: dt.date


class AgreementVersionCounts(BaseModel):
    """What the public sees of the current version's acceptance: counts only."""

    agreement_version: str
    valid_from: dt.date
    asked: int
    accepted: int


class AgreementVersionStatus(AgreementVersionCounts):
    """With the ISILs of the members that have not accepted (signed-in roles only)."""

    not_accepted: list[str]


class OptionCount(BaseModel):
    option_id: str
    label: dict[str, str]
    count: int


class QuestionResult(BaseModel):
    question_id: str
    kind: str
    text: dict[str, str]
    answered: int
    options: list[OptionCount] = []
    mean: float | None = None


class Survey(BaseModel):
    survey_id: str
    kind: str | None
    title: dict[str, str]
    closes_on: dt.date | None
    status: Literal["open", "closed"]
    audience_size: int
    answered: int | None
    results: list[QuestionResult] | None = None


class Governance(BaseModel):
    deadlines: list[Deadline]
    agreement_version: AgreementVersionCounts | None
    surveys: list[Survey]


async def current_version(
    conn: asyncpg.Connection, today: dt.date
) -> AgreementVersionStatus | None:
    """The current version: the latest that is already valid, else the earliest coming one,
    with who was asked to accept it and who has not yet."""
    version = await conn.fetchrow(
        """
            SELECT v.agreement_version, v.valid_from, v.members_asked,
                   ARRAY(SELECT a.isil FROM agreement_acceptances a
                         WHERE a.agreement_version = v.agreement_version) AS accepted
            FROM agreement_versions v
            ORDER BY (v.valid_from <= $1) DESC,
                     CASE WHEN v.valid_from <= $1 THEN v.valid_from END DESC,
                     v.valid_from, v.agreement_version DESC
            LIMIT 1
            """,
        today,
    )
    if version is None:
        return None
    asked = list(version["members_asked"])
    accepted = set(version["accepted"])
    return AgreementVersionStatus(
        agreement_version=version["agreement_version"],
        valid_from=version["valid_from"],
        asked=len(asked),
        accepted=len([isil for isil in asked if isil in accepted]),
        not_accepted=[isil for isil in asked if isil not in accepted],
    )


async def governance(pool: asyncpg.Pool, today: dt.date) -> Governance:
    """What anyone may see: deadlines, the current version's acceptance counts, surveys."""
    async with pool.acquire() as conn:
        deadlines = await conn.fetch(
            "SELECT kind, ref_id, title, due_on FROM deadlines "
            "WHERE NOT passed AND due_on >= $1 ORDER BY due_on, kind, ref_id LIMIT 100",
            today,
        )
        status = await current_version(conn, today)
        surveys = await conn.fetch(
            "SELECT survey_id, kind, title, closes_on, status, audience_size, answered, "
            "results FROM surveys "
            "ORDER BY status DESC, closes_on DESC NULLS LAST, survey_id LIMIT 100"
        )
    counts = None
    if status is not None:
        counts = AgreementVersionCounts(**status.model_dump(exclude={"not_accepted"}))
    return Governance(
        deadlines=[Deadline(**dict(r)) for r in deadlines],
        agreement_version=counts,
        surveys=[Survey(**{**dict(r), "title": r["title"] or {}}) for r in surveys],
    )


@router.get(
    "/api/governance",
    response_model=Governance,
    summary="Coming deadlines, agreement-version acceptance and member surveys",
)
async def get_governance(request: Request) -> Governance:
    return await governance(pool_of(request), dt.date.today())


@router.get(
    "/api/governance/not-accepted",
    response_model=AgreementVersionStatus | None,
    summary="The current agreement version and the members that have not accepted it "
    "(coordinator or operator: bearer token or operator session)",
    responses={401: {"description": "not signed in"}, 403: {"description": "wrong role"}},
)
async def get_not_accepted(
    request: Request, _: Annotated[Caller, Depends(operator_caller)]
) -> AgreementVersionStatus | None:
    async with pool_of(request).acquire() as conn:
        return await current_version(conn, dt.date.today())


def survey_title(survey: Survey, lang: str) -> str:
    """The survey's title in the page's language (surveys are written in Finnish and Swedish;
    English readers see the Finnish)."""
    return survey.title.get(lang) or survey.title.get("fi") or survey.survey_id


def in_language(text: dict[str, str], lang: str, fallback: str) -> str:
    """A question's or option's text in the page's language (English readers see Finnish)."""
    return text.get(lang) or text.get("fi") or fallback


def one_decimal(value: float, lang: str) -> str:
    """A mean with one decimal, in the language's convention (``1 234,5`` / ``1,234.5``)."""
    text = f"{value:,.1f}"
    if lang in ("fi", "sv"):
        return text.replace(",", "\u00a0").replace(".", ",")
    return text


def page_context(data: Governance) -> dict[str, Any]:
    return {
        "governance": data,
        "survey_title": survey_title,
        "in_language": in_language,
        "one_decimal": one_decimal,
    }
