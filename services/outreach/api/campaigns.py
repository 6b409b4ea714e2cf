"""Campaigns over HTTP: the coordinator creates, edits, previews, schedules, sends and cancels
them; sending runs in the background (the campaign job) and reports its progress here."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from kit.app import ServiceClock, pool_of
from kit.auth import Caller, Role
from kit.auth_http import require_role
from kit.errors import ApiError
from kit.http import DEFAULT_LIMIT, Coordinator, Limit, Offset, Page
from services.outreach import campaigns, commands, store
from services.outreach.deps import Deps
from services.outreach.domain import (
    AudienceFilter,
    Text,
    campaign_progress,
    printable,
)

router = APIRouter(tags=["campaigns"])
Reader = Annotated[Caller, Depends(require_role(Role.COORDINATOR, Role.OPERATOR))]


def _no_control_characters(value: str) -> str:
    return printable(value)


class Subject(BaseModel):
    fi: str = Field(min_length=1, max_length=200)
    sv: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("fi", "sv")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError("a subject is one line")
        return None if value is None else _no_control_characters(value)


class Body(BaseModel):
    fi: str = Field(min_length=1, max_length=20_000)
    sv: str | None = Field(None, min_length=1, max_length=20_000)

    @field_validator("fi", "sv")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return None if value is None else _no_control_characters(value)


def _texts(model: Subject | Body | None) -> dict[str, str]:
    return {} if model is None else model.model_dump(exclude_none=True)


class CampaignIn(BaseModel):
    title: Text = Field(min_length=1, max_length=200)
    audience: AudienceFilter = Field(default_factory=AudienceFilter)
    subject: Subject
    body: Body = Field(description="Plain text; blank lines separate paragraphs")
    kit_id: uuid.UUID | None = Field(None, description="A kit whose files are linked")


class CampaignPatch(BaseModel):
    title: Text | None = Field(None, min_length=1, max_length=200)
    audience: AudienceFilter | None = None
    subject: Subject | None = None
    body: Body | None = None
    kit_id: uuid.UUID | None = None


class ScheduleIn(BaseModel):
    send_at: dt.datetime = Field(description="When to send, with a time zone")


class Progress(BaseModel):
    recipients: int
    materialised: int
    queued: int
    sending: int
    sent: int
    failed: int
    percent: float


class CampaignOut(BaseModel):
    id: uuid.UUID
    title: str
    audience: AudienceFilter
    audience_text: str
    subject: dict[str, str]
    body: dict[str, str]
    kit_id: uuid.UUID | None
    origin: str
    agreement_id: str | None
    status: str
    send_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime
    progress: Progress


class CampaignPage(Page[CampaignOut]):
    pass


class ProgressOut(Progress):
    campaign_id: uuid.UUID
    status: str
    done: bool
    batches: int


class PreviewPart(BaseModel):
    sample: bool = Field(description="False: nobody in the audience reads this language")
    recipient: dict[str, str]
    subject: str
    text: str
    html: str


class PreviewOut(BaseModel):
    fi: PreviewPart
    sv: PreviewPart


async def _progress(request: Request, campaign: dict[str, Any]) -> dict[str, Any]:
    counts = await store.deliveries.cause_counts(
        pool_of(request), str(campaign["id"]), campaigns.KIND
    )
    return campaign_progress(campaign["recipients_planned"], campaign["materialised"], counts)


async def _out(request: Request, campaign: dict[str, Any]) -> CampaignOut:
    return CampaignOut(
        **{k: v for k, v in campaign.items() if k in CampaignOut.model_fields},
        progress=Progress(**await _progress(request, campaign)),
    )


async def _existing(request: Request, campaign_id: uuid.UUID) -> dict[str, Any]:
    campaign = await store.campaigns.get(pool_of(request), campaign_id)
    if campaign is None:
        raise ApiError(404, f"no campaign {campaign_id}", field="campaign_id")
    return campaign


@router.post("/campaigns", status_code=201, response_model=CampaignOut, summary="Create a draft")
async def create_campaign(body: CampaignIn, request: Request, caller: Coordinator) -> CampaignOut:
    campaign = await commands.create_campaign(
        pool_of(request),
        title=body.title,
        audience=body.audience,
        subject=_texts(body.subject),
        body=_texts(body.body),
        kit_id=body.kit_id,
        created_by=caller.subject,
    )
    return await _out(request, campaign)


@router.get("/campaigns", response_model=CampaignPage, summary="List campaigns")
async def list_campaigns(
    request: Request,
    _: Reader,
    status: Annotated[
        str | None, Query(pattern="^(draft|scheduled|sending|sent|cancelled)$")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CampaignPage:
    rows, total = await store.campaigns.list_campaigns(
        pool_of(request), status=status, limit=limit, offset=offset
    )
    return CampaignPage(
        items=[await _out(request, row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, summary="One campaign")
async def get_campaign(campaign_id: uuid.UUID, request: Request, _: Reader) -> CampaignOut:
    return await _out(request, await _existing(request, campaign_id))


@router.patch(
    "/campaigns/{campaign_id}", response_model=CampaignOut, summary="Edit a draft campaign"
)
async def edit_campaign(
    campaign_id: uuid.UUID, body: CampaignPatch, request: Request, _: Coordinator
) -> CampaignOut:
    await _existing(request, campaign_id)
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("title", body.title),
            ("audience", body.audience),
            ("subject", _texts(body.subject)),
            ("body", _texts(body.body)),
        )
        if value
    }
    if "kit_id" in body.model_fields_set:
        changes["kit_id"] = body.kit_id
    campaign = await commands.update_campaign(pool_of(request), campaign_id, changes)
    return await _out(request, campaign)


@router.post(
    "/campaigns/{campaign_id}/preview",
    response_model=PreviewOut,
    summary="Render the campaign for one sample recipient per language",
)
async def preview_campaign(
    campaign_id: uuid.UUID, request: Request, _: Coordinator, deps: Deps
) -> PreviewOut:
    campaign = await _existing(request, campaign_id)
    rendered = await campaigns.preview(pool_of(request), deps, campaign, deps.clock.today())
    return PreviewOut(**rendered)


@router.post(
    "/campaigns/{campaign_id}/schedule",
    response_model=CampaignOut,
    summary="Schedule the campaign to be sent at send_at",
)
async def schedule_campaign(
    campaign_id: uuid.UUID, body: ScheduleIn, request: Request, _: Coordinator, clock: ServiceClock
) -> CampaignOut:
    await _existing(request, campaign_id)
    campaign = await commands.schedule_campaign(
        pool_of(request), campaign_id, body.send_at, clock.now()
    )
    return await _out(request, campaign)


@router.post(
    "/campaigns/{campaign_id}/send",
    status_code=202,
    response_model=CampaignOut,
    summary="Send now, in the background; follow GET /campaigns/{id}/progress",
)
async def send_campaign(
    campaign_id: uuid.UUID, request: Request, _: Coordinator, clock: ServiceClock
) -> CampaignOut:
    await _existing(request, campaign_id)
    campaign = await commands.send_campaign_now(pool_of(request), campaign_id, clock.now())
    return await _out(request, campaign)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    response_model=CampaignOut,
    summary="Cancel a draft or scheduled campaign",
)
async def cancel_campaign(campaign_id: uuid.UUID, request: Request, _: Coordinator) -> CampaignOut:
    await _existing(request, campaign_id)
    campaign = await commands.cancel_campaign(pool_of(request), campaign_id)
    return await _out(request, campaign)


@router.get(
    "/campaigns/{campaign_id}/progress",
    response_model=ProgressOut,
    summary="Sending progress and delivery statistics",
)
async def campaign_progress_of(campaign_id: uuid.UUID, request: Request, _: Reader) -> ProgressOut:
    campaign = await _existing(request, campaign_id)
    figures = await _progress(request, campaign)
    return ProgressOut(
        **figures,
        campaign_id=campaign_id,
        status=campaign["status"],
        done=campaign["status"] in ("sent", "cancelled"),
        batches=campaign["batches"],
    )
