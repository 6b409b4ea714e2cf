"""A tender's documents (versioned by content hash) and the suppliers' questions
with their published answers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from kit.app import pool_of
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.api_common import (
    AnyCaller,
    IdPath,
    Procurement,
    Text,
    media_type_of,
    now,
    run,
    tender_or_404,
)

router = APIRouter(tags=["procurement"])


class DocumentOut(BaseModel):
    tender_id: str
    kind: domain.DocumentKind
    version: int
    sha256: str
    media_type: str
    size: int


def _document_out(d: domain.Document) -> DocumentOut:
    return DocumentOut(
        tender_id=d.tender_id,
        kind=d.kind,
        version=d.version,
        sha256=d.sha256,
        media_type=d.media_type,
        size=d.size,
    )


DOCUMENT_TYPES = ("application/pdf", "text/plain", "text/csv", "application/octet-stream")


@router.put(
    "/tenders/{tender_id}/documents/{kind}",
    response_model=DocumentOut,
    summary="Store a new version of a draft's document (by content hash)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in DOCUMENT_TYPES
            },
        }
    },
)
async def put_document(
    tender_id: IdPath, kind: domain.DocumentKind, request: Request, _: Procurement
) -> DocumentOut:
    await tender_or_404(request, tender_id)
    media = media_type_of(request, DOCUMENT_TYPES, f"send one of {', '.join(DOCUMENT_TYPES)}")
    content = await request.body()

    async def add() -> domain.Document:
        return await commands.add_document(pool_of(request), tender_id, kind, content, media)

    return _document_out(await run(add))


@router.get(
    "/tenders/{tender_id}/documents",
    response_model=list[DocumentOut],
    summary="Every version of the tender's documents",
)
async def list_documents(tender_id: IdPath, request: Request, _: AnyCaller) -> list[DocumentOut]:
    await tender_or_404(request, tender_id)
    return [_document_out(d) for d in await store.documents_of(pool_of(request), tender_id)]


@router.get(
    "/tenders/{tender_id}/documents/{kind}/{version}",
    response_class=Response,
    summary="One version's content",
)
async def get_document(
    tender_id: IdPath,
    kind: domain.DocumentKind,
    version: Annotated[int, Path(ge=1, le=10_000)],
    request: Request,
    _: AnyCaller,
) -> Response:
    found = await store.document_content(pool_of(request), tender_id, kind.value, version)
    if found is None:
        raise ApiError(404, f"no version {version} of {kind.value}", field="version")
    media_type, content = found
    return Response(content, media_type=media_type)


# --- questions and answers -----------------------------------------------------------------


# Governance has models of the same names, so the OpenAPI document names these by module;
# they keep the module they were published under before the API was split into areas.
PUBLISHED_UNDER = "services.procurement.api"


class QuestionIn(BaseModel):
    __module__ = PUBLISHED_UNDER
    asked_by: Annotated[Text, Field(min_length=1, max_length=500)] = Field(
        description="The supplier asking; kept on record, never published"
    )
    question: Annotated[Text, Field(min_length=1, max_length=10_000)]


class AnswerIn(BaseModel):
    __module__ = PUBLISHED_UNDER
    answer: Annotated[Text, Field(min_length=1, max_length=20_000)]


class QuestionOut(BaseModel):
    __module__ = PUBLISHED_UNDER
    id: str
    tender_id: str
    question: str
    asked_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None


def _question_out(q: domain.Question) -> QuestionOut:
    return QuestionOut(
        id=q.id,
        tender_id=q.tender_id,
        question=q.text,
        asked_at=q.asked_at,
        answer=q.answer,
        answered_at=q.answered_at,
    )


@router.post(
    "/tenders/{tender_id}/questions",
    status_code=201,
    response_model=QuestionOut,
    summary="Record a supplier's question, before the deadline",
)
async def ask_question(
    tender_id: IdPath, body: QuestionIn, request: Request, _: Procurement
) -> QuestionOut:
    await tender_or_404(request, tender_id)

    async def ask() -> domain.Question:
        return await commands.ask_question(
            pool_of(request), tender_id, body.asked_by, body.question, now()
        )

    return _question_out(await run(ask))


@router.put(
    "/tenders/{tender_id}/questions/{question_id}/answer",
    response_model=QuestionOut,
    summary="Answer a question; published to every bidder (question-answered)",
)
async def answer_question(
    tender_id: IdPath, question_id: IdPath, body: AnswerIn, request: Request, _: Procurement
) -> QuestionOut:
    await tender_or_404(request, tender_id)

    async def answer() -> domain.Question:
        return await commands.answer_question(
            pool_of(request), tender_id, question_id, body.answer, now()
        )

    return _question_out(await run(answer))


@router.get(
    "/tenders/{tender_id}/questions",
    response_model=list[QuestionOut],
    summary="Questions and answers, without who asked",
)
async def list_questions(tender_id: IdPath, request: Request, _: AnyCaller) -> list[QuestionOut]:
    await tender_or_404(request, tender_id)
    return [_question_out(q) for q in await store.questions_of(pool_of(request), tender_id)]
