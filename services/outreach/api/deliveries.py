"""The audience, the delivery log, and (in development) the SMTP sink's mailbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from kit.app import ServiceClock, pool_of, runtime_of
from kit.auth import Caller, Role
from kit.auth_http import require_role
from kit.errors import ApiError
from kit.http import DEFAULT_LIMIT, Limit, Offset, Page
from services.outreach import store
from services.outreach.deps import OutreachDeps
from services.outreach.dev_mailbox import read_mailbox
from services.outreach.domain import Text

router = APIRouter(tags=["outreach"])
# The delivery log and audience hold contacts' addresses: staff roles only.
Staff = Annotated[Caller, Depends(require_role(Role.COORDINATOR, Role.OPERATOR))]


class AttachmentOut(BaseModel):
    file_id: str
    filename: str
    content_type: str
    size: int
    sha256: str


class DeliveryOut(BaseModel):
    id: int
    cause_id: str
    kind: str
    isil: str | None
    recipient: str
    language: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attachments: list[AttachmentOut]


class DeliveryPage(Page[DeliveryOut]):
    counts: dict[str, int]


class AudienceLibrary(BaseModel):
    isil: str
    names: dict[str, Any]
    municipalities: list[str]
    library_system: str
    is_member: bool
    member_since: dt.date | None
    left_on: dt.date | None
    contacts: int


class AudiencePage(Page[AudienceLibrary]):
    pass


@router.get("/deliveries", response_model=DeliveryPage, summary="The delivery log")
async def deliveries(
    request: Request,
    _: Staff,
    status: Annotated[str | None, Query(pattern="^(queued|sending|sent|failed)$")] = None,
    kind: Annotated[Text | None, Query(max_length=50)] = None,
    isil: Annotated[Text | None, Query(max_length=16)] = None,
    cause_id: Annotated[
        Text | None, Query(max_length=100, description="Event or campaign id")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> DeliveryPage:
    pool = pool_of(request)
    rows, total = await store.deliveries.list_deliveries(
        pool, status=status, kind=kind, isil=isil, cause_id=cause_id, limit=limit, offset=offset
    )
    return DeliveryPage(
        items=[DeliveryOut(**row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
        counts=await store.deliveries.delivery_counts(pool),
    )


@router.get("/audience", response_model=AudiencePage, summary="Libraries in the audience")
async def audience(
    request: Request,
    _: Staff,
    clock: ServiceClock,
    members_only: bool = True,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> AudiencePage:
    rows, total = await store.audience.list_audience(
        pool_of(request),
        members_only=members_only,
        limit=limit,
        offset=offset,
        today=clock.today(),
    )
    return AudiencePage(
        items=[AudienceLibrary(**row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/dev/mailbox",
    summary="Development only: messages received by the local SMTP sink",
    responses={404: {"description": "no sink configured (production)"}},
)
async def mailbox(request: Request, _: Staff) -> list[dict[str, Any]]:
    sink_dir = runtime_of(request).deps_as(OutreachDeps).settings.smtp_sink_dir
    if not sink_dir:
        raise ApiError(404, "no SMTP sink is configured in this deployment")
    return read_mailbox(Path(sink_dir))
