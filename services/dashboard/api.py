"""The dashboard's JSON API, for Grafana and other dashboards, and the live event stream.

The figures and the feed are public: read-only aggregates of events that carry no personal
data (contacts never leave membership's and outreach's events into the read model). The
operator report needs the operator or coordinator role.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from kit.app import pool_of, runtime_of
from kit.auth import Caller
from kit.http import DEFAULT_LIMIT, Limit, Offset, Page
from kit.ratelimit import PublicLimits
from services.dashboard import i18n, store
from services.dashboard.deps import dashboard_of, operator_caller
from services.dashboard.figures import Figures, figures
from services.dashboard.i18n import Lang
from services.dashboard.operator import OperatorReport, build_report

router = APIRouter(tags=["dashboard"])

LangQuery = Annotated[
    Lang, Query(description="Language of names, summaries and times: fi, sv or en")
]
HideDeliveriesQuery = Annotated[bool, Query(description="Leave out message deliveries")]
GroupDeliveriesQuery = Annotated[
    bool,
    Query(
        description="Show a campaign's or an announcement's message deliveries as one item "
        "with its counts (at its latest delivery) instead of one item per mail"
    ),
]
# An empty value means "no filter", so the page's filter form can send its "all" option.
TypeQuery = Annotated[
    str | None,
    Query(
        alias="type",
        pattern=r"^([a-z0-9-]{1,60})?$",
        description="Only events of this name, e.g. member-joined",
    ),
]
ServiceQuery = Annotated[
    str | None,
    Query(
        pattern=r"^(membership|procurement|catalogue|outreach)?$",
        description="Only events published by this service",
    ),
]
Operator = Annotated[Caller, Depends(operator_caller)]
STREAM_CATCH_UP = 500
MAX_SEQ = 2**63 - 1  # PostgreSQL bigint: a larger "after" is a bad request, not a crash


class FeedItem(BaseModel):
    seq: int = Field(description="Position in this dashboard's feed; the SSE event id")
    event_id: str
    event_type: str = Field(description="The CloudEvents type")
    service: str = Field(description="The producing service")
    name: str = Field(description="The event's name, e.g. member-joined")
    label: str = Field(description="The event's name as people read it, in the language asked")
    key: str = Field(
        description="The aggregate id: an ISIL, agreement id, …; for a group of message "
        "deliveries, the campaign or event that caused them"
    )
    occurred_at: dt.datetime
    time_display: str = Field(description="occurred_at in Helsinki time, in the language asked")
    summary: str = Field(description="One line about the event, in the language asked")


class FeedPage(Page[FeedItem]):
    pass


def feed_item(row: Mapping[str, Any], lang: Lang, grouped: bool = False) -> FeedItem:
    """A feed row as shown; ``grouped``: a row of a group stands for its whole group (the
    group's id and cause, and its counts), so a page shows one item that a newer row of the
    same group replaces."""
    details = row["details"] or {}
    event_id, key = row["event_id"], row["key"]
    if grouped and row.get("group_id"):
        event_id, key = row["group_id"], row.get("group_key") or key
        details = {
            "kind": details.get("kind", "other"),
            "sent": row.get("group_sent") or 0,
            "failed": row.get("group_failed") or 0,
        }
    return FeedItem(
        seq=row["seq"],
        event_id=event_id,
        event_type=row["event_type"],
        service=row["producer"],
        name=row["name"],
        label=i18n.event_name(row["name"], lang),
        key=key,
        occurred_at=row["occurred_at"],
        time_display=i18n.time_of(row["occurred_at"], lang),
        summary=i18n.summary(row["name"], details, lang),
    )


def matches(
    row: Mapping[str, Any], name: str | None, service: str | None, hide: str | None = None
) -> bool:
    return (
        (not name or row["name"] == name)
        and (not service or row["producer"] == service)
        and row["name"] != hide
    )


@router.get("/api/figures", response_model=Figures, summary="The consortium's key figures")
async def get_figures(request: Request) -> Figures:
    return await figures(pool_of(request), dt.date.today())


@router.get("/api/events", response_model=FeedPage, summary="The event feed, newest first")
async def get_events(
    request: Request,
    type_: TypeQuery = None,
    service: ServiceQuery = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="Only events after this seq")
    ] = None,
    key: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Only this aggregate's")
    ] = None,
    lang: LangQuery = i18n.DEFAULT_LANG,
    hide_deliveries: HideDeliveriesQuery = False,
    group_deliveries: GroupDeliveriesQuery = False,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> FeedPage:
    rows, total = await store.feed_page(
        pool_of(request),
        name=type_ or None,
        producer=service or None,
        limit=limit,
        offset=offset,
        after=after,
        key=key,
        hide=store.DELIVERIES if hide_deliveries else None,
        grouped=group_deliveries,
    )
    return FeedPage(
        items=[feed_item(row, lang, group_deliveries) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/api/stream",
    summary="Live events as server-sent events",
    description=(
        "Each event the dashboard handles is sent, after its transaction commits, as an SSE "
        "message of type `feed` whose data is a FeedItem and whose id is its seq. A client "
        "that reconnects with Last-Event-ID (browsers do) first gets what it missed. With "
        "group_deliveries, a campaign's or an announcement's messages are one item (its id is "
        "the group's) that comes again, with the new seq and counts, as each is delivered."
    ),
    response_class=EventSourceResponse,
    responses={
        429: {"description": "too many requests from this client (see Retry-After)"},
        503: {"description": "the stream is full (see Retry-After)"},
    },
)
async def stream(
    request: Request,
    type_: TypeQuery = None,
    service: ServiceQuery = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_SEQ, description="Start after this seq (the page's last seen)"),
    ] = None,
    lang: LangQuery = i18n.DEFAULT_LANG,
    hide_deliveries: HideDeliveriesQuery = False,
    group_deliveries: GroupDeliveriesQuery = False,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> EventSourceResponse:
    # Public and long-lived: a rate per client, and a cap on open streams per replica.
    limits: PublicLimits = request.app.state.public_limits
    limits.check(request, "the live stream")
    limits.admit_stream()
    pool = pool_of(request)
    broadcaster = dashboard_of(request).broadcaster
    # A Last-Event-ID that is not one of ours (not a seq) is ignored, as the SSE spec allows.
    if last_event_id and last_event_id.isdigit() and int(last_event_id) <= MAX_SEQ:
        resume: int | None = int(last_event_id)
    else:
        resume = after
    name, producer = type_ or None, service or None
    hide = store.DELIVERIES if hide_deliveries else None

    def message(row: Mapping[str, Any]) -> ServerSentEvent:
        item = feed_item(row, lang, group_deliveries)
        return ServerSentEvent(
            data=json.dumps(item.model_dump(mode="json"), ensure_ascii=False),
            event="feed",
            id=str(item.seq),
        )

    async def events() -> AsyncIterator[ServerSentEvent]:
        # Subscribe first, then catch up: an event committed in between arrives both ways and
        # is sent once.
        with limits.stream():
            async for event in feed():
                yield event

    async def feed() -> AsyncIterator[ServerSentEvent]:
        async with broadcaster.subscribe() as subscription:
            caught_up: set[int] = set()
            yield ServerSentEvent(comment="connected", retry=1000)
            if resume is not None:
                for row in await store.feed_since(pool, resume, STREAM_CATCH_UP):
                    caught_up.add(row["seq"])
                    if matches(row, name, producer, hide):
                        yield message(row)
            while (row := await subscription.next()) is not None:  # type: ignore[assignment]  # None ends the loop
                if row["seq"] not in caught_up and matches(row, name, producer, hide):
                    yield message(row)

    return EventSourceResponse(
        events(), ping=15, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@router.get(
    "/api/operator",
    response_model=OperatorReport,
    summary="Health, outbox backlog, consumer lag and dead letters (operator or coordinator)",
    responses={401: {"description": "no valid token"}, 403: {"description": "wrong role"}},
)
async def get_operator(request: Request, _: Operator) -> OperatorReport:
    dashboard = dashboard_of(request)
    return await build_report(
        runtime_of(request), dashboard.settings, dashboard.http, dashboard.probe
    )
