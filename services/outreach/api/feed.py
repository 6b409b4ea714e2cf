"""The public Atom feed of announcements (no token needed: Kirjastot.fi and anyone else may
subscribe), and the coordinator's command to publish an announcement of their own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, HttpUrl, field_validator

from kit.app import ServiceClock, pool_of, runtime_of
from kit.errors import ApiError
from kit.http import Coordinator
from services.outreach import commands, feed, store
from services.outreach.deps import OutreachDeps
from services.outreach.domain import printable

router = APIRouter(tags=["announcements"])
ATOM = "application/atom+xml; charset=utf-8"


def _clean(value: str | None) -> str | None:
    return None if value is None else printable(value)


class Localised(BaseModel):
    fi: str = Field(min_length=1, max_length=2000)
    sv: str | None = Field(None, min_length=1, max_length=2000)

    @field_validator("fi", "sv")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return _clean(value)


class AnnouncementIn(BaseModel):
    title: Localised
    summary: Localised
    link: HttpUrl | None = Field(None, description="Where to read more")


class AnnouncementOut(BaseModel):
    id: uuid.UUID
    language: str
    title: str
    summary: str
    link: str | None
    published_at: dt.datetime
    updated_at: dt.datetime


def _base_url(request: Request) -> str:
    return runtime_of(request).deps_as(OutreachDeps).base_url


@router.get(
    "/feed.atom",
    summary="Public Atom 1.0 feed of announcements",
    response_class=Response,
    responses={
        200: {"content": {"application/atom+xml": {}}},
        429: {"description": "too many requests from this client (see Retry-After)"},
    },
)
async def atom_feed(
    request: Request,
    lang: Annotated[Literal["fi", "sv"] | None, Query(description="Only one language")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    request.app.state.public_limits.check(request, "the Atom feed")
    rows = await store.announcements.recent_announcements(pool_of(request), lang, limit)
    body = feed.render_feed(rows, base_url=_base_url(request), language=lang)
    return Response(body, media_type=ATOM, headers={"Cache-Control": "public, max-age=300"})


@router.get("/announcements", response_model=list[AnnouncementOut], summary="Recent announcements")
async def list_announcements(
    request: Request,
    lang: Annotated[Literal["fi", "sv"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AnnouncementOut]:
    rows = await store.announcements.recent_announcements(pool_of(request), lang, limit)
    return [AnnouncementOut(**row) for row in rows]


@router.post(
    "/announcements",
    status_code=201,
    response_model=list[AnnouncementOut],
    summary="Publish an announcement in the feed (one entry per language given)",
)
async def publish(
    body: AnnouncementIn, request: Request, _: Coordinator, clock: ServiceClock
) -> list[AnnouncementOut]:
    versions = {"fi": (body.title.fi, body.summary.fi)}
    if body.title.sv or body.summary.sv:
        if not (body.title.sv and body.summary.sv):
            raise ApiError(
                422, "a Swedish version needs both title.sv and summary.sv", field="title.sv"
            )
        versions["sv"] = (body.title.sv, body.summary.sv)
    async with pool_of(request).acquire() as conn, conn.transaction():
        rows = await commands.publish_announcement(
            conn,
            cause_id=f"coordinator:{uuid.uuid4()}",
            versions=versions,
            link=str(body.link) if body.link else None,
            published_at=clock.now(),
        )
    return [AnnouncementOut(**row) for row in rows]
