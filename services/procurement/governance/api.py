"""HTTP routes of governance: the decisions register and member surveys.

Decisions are recorded by the coordinator (who keeps the steering group's minutes); surveys
are made by the coordinator and answered by each library for itself. Results are given as
JSON and as CSV whose cells cannot run as spreadsheet formulas.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import datetime as dt
import io
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field, JsonValue

from kit.app import pool_of
from kit.auth import Caller, Role, ensure_acts_for
from kit.auth_http import current_caller, require_role
from kit.errors import ApiError
from services.procurement.domain.errors import ProcurementRuleViolated
from services.procurement.governance import commands, domain, report, store
from services.procurement.governance.domain import (
    Attachment,
    Body,
    Decision,
    Option,
    Question,
    QuestionKind,
    SubjectKind,
    Survey,
    SurveyKind,
)

router = APIRouter(tags=["governance"])

AnyCaller = Annotated[Caller, Depends(current_caller)]
Coordinator = Annotated[Caller, Depends(require_role(Role.COORDINATOR))]
T = TypeVar("T")

EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def _clean(value: str) -> str:
    # PostgreSQL text holds no NUL, and unpaired surrogates cannot be encoded: a 422 here.
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(_clean)]
Short = Annotated[Text, Field(min_length=1, max_length=200)]
Ident = Annotated[Text, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")]
Isil = Annotated[Text, Field(min_length=3, max_length=16, pattern=r"^[A-Z]{2}-[A-Za-z0-9:/-]+$")]
Day = Annotated[dt.date, Field(ge=EARLIEST, le=LATEST)]
IdPath = Annotated[Text, Path(max_length=100)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def today() -> dt.date:
    return dt.date.today()


async def _run(work: Awaitable[T]) -> T:
    """Domain refusals become problems: bad values 422, state conflicts 409, unknown 404."""
    try:
        return await work
    except commands.NotFound as error:
        raise ApiError(404, str(error), field=error.field) from error
    except ProcurementRuleViolated as error:
        raise ApiError(error.http_status, str(error), field=error.field) from error


# --- decisions --------------------------------------------------------------------------------


class AttachmentIn(BaseModel):
    name: Short
    media_type: domain.AttachmentType = domain.AttachmentType.PDF
    content_base64: Annotated[str, Field(min_length=4, max_length=MAX_ATTACHMENT_BYTES * 4 // 3)]


class DecisionIn(BaseModel):
    body: Body
    decided_on: Day
    section: Annotated[Text, Field(min_length=1, max_length=20, description="e.g. '12 §'")]
    subject_kind: SubjectKind
    subject_id: Ident
    text: Annotated[Text, Field(min_length=1, max_length=20_000)]
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)


class AttachmentOut(BaseModel):
    name: str
    sha256: str
    size: int
    media_type: str
    url: str


class ApprovedOut(BaseModel):
    action: domain.Approved
    subject_id: str


class DecisionOut(BaseModel):
    id: str
    body: Body
    decided_on: dt.date
    section: str
    subject_kind: SubjectKind
    subject_id: str
    text: str
    attachments: list[AttachmentOut]
    approved: list[ApprovedOut] = Field(
        default_factory=list,
        description="The publications, awards and renewals that name this decision",
    )


def _decision_out(d: Decision, refs: list[tuple[str, str]] | None = None) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        body=d.body,
        decided_on=d.decided_on,
        section=d.section,
        subject_kind=d.subject_kind,
        subject_id=d.subject_id,
        text=d.text,
        attachments=[
            AttachmentOut(
                name=a.name,
                sha256=a.sha256,
                size=a.size,
                media_type=a.media_type,
                url=f"/decisions/{d.id}/attachments/{a.sha256}",
            )
            for a in d.attachments
        ],
        approved=[
            ApprovedOut(action=domain.Approved(action), subject_id=subject)
            for action, subject in refs or []
        ],
    )


@router.post("/decisions", status_code=201, response_model=DecisionOut, summary="Record one")
async def record_decision(body: DecisionIn, request: Request, _: Coordinator) -> DecisionOut:
    files: list[tuple[Attachment, bytes]] = []
    for i, a in enumerate(body.attachments):
        try:
            content = base64.b64decode(a.content_base64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ApiError(
                422, "not valid base64", field=f"attachments.{i}.content_base64"
            ) from error
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise ApiError(422, "larger than 10 MiB", field=f"attachments.{i}.content_base64")
        try:
            files.append((domain.attachment_of(a.name, content, a.media_type), content))
        except ProcurementRuleViolated as error:
            # The domain names the file "file"; the request carries it as content_base64.
            name = "content_base64" if error.field == "file" else error.field
            raise ApiError(422, error.problem, field=f"attachments.{i}.{name}") from error
    decision = Decision(
        id=commands.new_id("decision", body.decided_on),
        body=body.body,
        decided_on=body.decided_on,
        section=body.section,
        subject_kind=body.subject_kind,
        subject_id=body.subject_id,
        text=body.text,
    )
    return _decision_out(await _run(commands.record_decision(pool_of(request), decision, files)))


class DecisionPage(BaseModel):
    items: list[DecisionOut]
    total: int
    limit: int
    offset: int


@router.get("/decisions", response_model=DecisionPage, summary="The decisions register")
async def list_decisions(
    request: Request,
    _: AnyCaller,
    subject_id: Annotated[str | None, Query(max_length=60)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DecisionPage:
    items, total = await store.list_decisions(pool_of(request), subject_id, limit, offset)
    pool = pool_of(request)
    return DecisionPage(
        items=[_decision_out(d, await store.decision_refs(pool, d.id)) for d in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/decisions/{decision_id}", response_model=DecisionOut, summary="One decision")
async def get_decision(decision_id: IdPath, request: Request, _: AnyCaller) -> DecisionOut:
    decision = await store.get_decision(pool_of(request), decision_id)
    if decision is None:
        raise ApiError(404, f"no decision {decision_id}", field="decision_id")
    return _decision_out(decision, await store.decision_refs(pool_of(request), decision_id))


@router.get(
    "/decisions/{decision_id}/attachments/{sha256}",
    summary="An attached file",
    response_class=Response,
    responses={
        200: {
            "description": "The file as attached, with its type, as a download",
            "content": {str(kind): {} for kind in domain.AttachmentType},
        }
    },
)
async def get_attachment(
    decision_id: IdPath,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    request: Request,
    _: AnyCaller,
) -> Response:
    decision = await store.get_decision(pool_of(request), decision_id)
    if decision is None or all(a.sha256 != sha256 for a in decision.attachments):
        raise ApiError(404, "no such attachment", field="sha256")
    found = await store.get_file(pool_of(request), sha256)
    assert found is not None
    content, media_type = found
    name = next(a.name for a in decision.attachments if a.sha256 == sha256)
    return Response(
        content,
        media_type=domain.served_type(media_type),
        headers={
            "ETag": f'"{sha256}"',
            # A download under its own name, never rendered in the API's origin.
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- surveys ----------------------------------------------------------------------------------


class OptionIn(BaseModel):
    id: Ident
    fi: Short
    sv: Short


class QuestionIn(BaseModel):
    id: Ident
    kind: QuestionKind
    fi: Annotated[Text, Field(min_length=1, max_length=1000)]
    sv: Annotated[Text, Field(min_length=1, max_length=1000)]
    options: list[OptionIn] = Field(default_factory=list, max_length=30)
    required: bool = True
    binding_option: Ident | None = Field(
        None, description="The option that is a binding opt-in for the next period"
    )


class SurveyIn(BaseModel):
    kind: SurveyKind
    title_fi: Short
    title_sv: Short
    opens_on: Day
    closes_on: Day = Field(description="Last day answers are taken")
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)
    audience: Annotated[
        Text,
        Field(
            max_length=80,
            pattern=r"^(all-members|agreement-participants|libraries|kimppa:[A-Za-z0-9_.:-]{1,60})$",
            description="all-members, agreement-participants, libraries (those listed) or "
            "kimppa:<id> (that kimppa's member libraries)",
        ),
    ] = "all-members"
    libraries: list[Isil] = Field(default_factory=list, max_length=1000)
    agreement_id: Ident | None = None
    participation_from: Day | None = Field(
        None, description="First day of a binding opt-in's participation"
    )
    decision_id: Ident | None = None


class QuestionOut(QuestionIn):
    pass


class SurveyOut(BaseModel):
    id: str
    kind: SurveyKind
    title_fi: str
    title_sv: str
    opens_on: dt.date
    closes_on: dt.date
    state: str
    questions: list[QuestionOut]
    audience: list[str]
    agreement_id: str | None
    participation_from: dt.date | None
    decision_id: str | None


def _survey_out(s: Survey) -> SurveyOut:
    return SurveyOut(
        id=s.id,
        kind=s.kind,
        title_fi=s.title_fi,
        title_sv=s.title_sv,
        opens_on=s.opens_on,
        closes_on=s.closes_on,
        state=s.state.value,
        questions=[
            QuestionOut(
                id=q.id,
                kind=q.kind,
                fi=q.fi,
                sv=q.sv,
                options=[OptionIn(id=o.id, fi=o.fi, sv=o.sv) for o in q.options],
                required=q.required,
                binding_option=q.binding_option,
            )
            for q in s.questions
        ],
        audience=list(s.audience),
        agreement_id=s.agreement_id,
        participation_from=s.participation_from,
        decision_id=s.decision_id,
    )


@router.post("/surveys", status_code=201, response_model=SurveyOut, summary="Make a survey")
async def create_survey(body: SurveyIn, request: Request, _: Coordinator) -> SurveyOut:
    draft = Survey(
        id=commands.new_id("survey", body.opens_on),
        kind=body.kind,
        title_fi=body.title_fi,
        title_sv=body.title_sv,
        opens_on=body.opens_on,
        closes_on=body.closes_on,
        questions=tuple(
            Question(
                id=q.id,
                kind=q.kind,
                fi=q.fi,
                sv=q.sv,
                options=tuple(Option(o.id, o.fi, o.sv) for o in q.options),
                required=q.required,
                binding_option=q.binding_option,
            )
            for q in body.questions
        ),
        audience=(),
        agreement_id=body.agreement_id,
        participation_from=body.participation_from,
        decision_id=body.decision_id,
    )
    survey = await _run(
        commands.create_survey(pool_of(request), draft, body.audience, body.libraries, today())
    )
    return _survey_out(survey)


class SurveyPage(BaseModel):
    items: list[SurveyOut]
    total: int
    limit: int
    offset: int


@router.get("/surveys", response_model=SurveyPage, summary="Surveys, latest closing first")
async def list_surveys(
    request: Request, _: AnyCaller, limit: Limit = 50, offset: Offset = 0
) -> SurveyPage:
    items, total = await store.list_surveys(pool_of(request), limit, offset)
    return SurveyPage(
        items=[_survey_out(s) for s in items], total=total, limit=limit, offset=offset
    )


async def _survey(request: Request, survey_id: str) -> Survey:
    survey = await store.get_survey(pool_of(request), survey_id)
    if survey is None:
        raise ApiError(404, f"no survey {survey_id}", field="survey_id")
    return survey


@router.get("/surveys/{survey_id}", response_model=SurveyOut, summary="One survey")
async def get_survey(survey_id: IdPath, request: Request, _: AnyCaller) -> SurveyOut:
    return _survey_out(await _survey(request, survey_id))


class AnswerIn(BaseModel):
    answers: dict[Ident, JsonValue] = Field(
        max_length=50, description="question id → option id, option ids, number or text"
    )


class AnswerOut(BaseModel):
    survey_id: str
    isil: str
    answers: dict[str, Any]


@router.put(
    "/surveys/{survey_id}/answers/{isil}",
    response_model=AnswerOut,
    summary="A library's answer; a later one replaces it until the close",
)
async def answer_survey(
    survey_id: IdPath,
    isil: Annotated[Text, Path(max_length=16)],
    body: AnswerIn,
    request: Request,
    caller: AnyCaller,
) -> AnswerOut:
    ensure_acts_for(caller, isil)
    clean = await _run(commands.answer(pool_of(request), survey_id, isil, body.answers, today()))
    return AnswerOut(survey_id=survey_id, isil=isil, answers=clean)


@router.get("/surveys/{survey_id}/answers/{isil}", response_model=AnswerOut)
async def get_answer(
    survey_id: IdPath,
    isil: Annotated[Text, Path(max_length=16)],
    request: Request,
    caller: AnyCaller,
) -> AnswerOut:
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    answers = await store.answers_of(pool_of(request), survey_id)
    if isil not in answers:
        raise ApiError(404, f"{isil} has not answered", field="isil")
    return AnswerOut(survey_id=survey_id, isil=isil, answers=answers[isil])


@router.get("/surveys/{survey_id}/results", summary="Results as JSON, or CSV (format=csv)")
async def survey_results(
    survey_id: IdPath,
    request: Request,
    _: Coordinator,
    format: Literal["json", "csv"] = "json",
) -> Response:
    survey = await _survey(request, survey_id)
    answers = await store.answers_of(pool_of(request), survey_id)
    if format == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(domain.result_rows(survey, answers))
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{survey.id}.csv"'},
        )
    tallies = domain.tally(survey, answers)
    body = {
        "survey_id": survey.id,
        "state": survey.state.value,
        "audience_size": len(survey.audience),
        "answered": len(answers),
        "not_answered": domain.not_answered(survey, answers),
        "binding_yes": domain.binding_yes(survey, answers),
        "questions": [
            {
                "id": t.question_id,
                "kind": t.kind.value,
                "counts": t.counts,
                "numbers": t.numbers,
                "texts": t.texts,
            }
            for t in tallies
        ],
        "answers": answers,
    }
    return JSONResponse(body)


# --- annual report ----------------------------------------------------------------------------


@router.get(
    "/reports/annual/{year}",
    summary="A library's annual report, an organisation's (coordinator: its libraries' "
    "figures summed, then each library's), or (coordinator, neither) the consortium summary",
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
async def annual_report(
    year: Annotated[int, Path(ge=2000, le=2100)],
    request: Request,
    caller: AnyCaller,
    isil: Annotated[str | None, Query(max_length=16)] = None,
    organisation: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{7}-[0-9]$",
            description="Business ID (Y-tunnus) of the organisation that runs the libraries",
        ),
    ] = None,
    format: Literal["html", "pdf"] = "html",
    lang: Literal["fi", "sv"] = "fi",
) -> Response:
    if isil is not None and organisation is not None:
        raise ApiError(422, "give either isil or organisation, not both", field="organisation")
    if isil is None:
        if caller.role is not Role.COORDINATOR:
            raise ApiError(
                403,
                "only the coordinator sees an organisation's report or the consortium summary",
                field="organisation" if organisation else "isil",
            )
    else:
        ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    async with pool_of(request).acquire() as conn:
        if organisation is not None:
            found = await report.organisation_report(conn, year, organisation)
            if found is None:
                raise ApiError(
                    404,
                    f"no member library of organisation {organisation} in {year}",
                    field="organisation",
                )
            reports = found
        elif isil is None:
            reports = await report.consortium_summary(conn, year)
        else:
            one = await report.library_report(conn, year, isil)
            if one is None:
                raise ApiError(404, f"{isil} is not a consortium member", field="isil")
            reports = [one]
    name = f"annual-report-{year}-{isil or organisation or 'consortium'}-{lang}"
    summary = isil is None and organisation is None
    if format == "pdf":
        # fpdf2 is pure Python and CPU-bound: render off the event loop, which also runs
        # this service's consumer (a blocked loop misses the group's heartbeats).
        pdf = await asyncio.to_thread(report.render_pdf, reports, year, lang, summary)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )
    return Response(
        report.render_html(reports, year, lang, summary=summary),
        media_type="text/html; charset=utf-8",
    )


class PublishedOut(BaseModel):
    year: int
    published: list[str]


@router.post(
    "/reports/annual/{year}/publish",
    response_model=PublishedOut,
    summary="Announce each member's report once (annual-report-published; outreach mails it)",
)
async def publish_annual_reports(
    year: Annotated[int, Path(ge=2000, le=2100)], request: Request, _: Coordinator
) -> PublishedOut:
    base = str(request.base_url).rstrip("/")
    published = await commands.publish_annual_reports(pool_of(request), year, base)
    return PublishedOut(year=year, published=published)
