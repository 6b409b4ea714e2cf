"""Title-level entitlements per library or kimppa and the KBART holdings export."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from kit.app import pool_of
from kit.auth import Role, ensure_acts_for
from kit.errors import ApiError
from services.procurement import commands, domain, store
from services.procurement.api_common import (
    AnyCaller,
    Coordinator,
    IdPath,
    agreement_or_404,
    download,
    media_type_of,
    run,
    today,
)

router = APIRouter(tags=["procurement"])
# Who reads any holder's entitlements and KBART holdings; a library token reads its own only.
HOLDINGS_READERS = (Role.COORDINATOR, Role.PROCUREMENT, Role.CATALOGUER, Role.OPERATOR)

# --- entitlements ---------------------------------------------------------------------------


class EntitlementOut(BaseModel):
    holder: str
    agreement_id: str
    isbn: str
    licence_model: domain.TitleLicenceModel
    copies: int | Literal["unlimited"]
    loans_left: int | None
    expires_on: dt.date | None
    acquired_on: dt.date
    order_reference: str
    survives_leaving: bool
    held_today: bool


def _entitlement_out(e: domain.Entitlement) -> EntitlementOut:
    return EntitlementOut(
        holder=e.holder,
        agreement_id=e.agreement_id,
        isbn=e.isbn,
        licence_model=e.model,
        copies="unlimited" if e.copies == domain.UNLIMITED else e.copies,
        loans_left=e.loans_left,
        expires_on=e.expires_on,
        acquired_on=e.acquired_on,
        order_reference=e.order_reference,
        survives_leaving=domain.survives_leaving(e),
        held_today=e.held_on(today()),
    )


Holder = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        description="A library's ISIL, or a kimppa's id prefixed 'kimppa:'",
    ),
]


@router.post(
    "/agreements/{agreement_id}/entitlements",
    status_code=201,
    response_model=list[EntitlementOut],
    summary="Bulk-load a holder's titles from KBART or CSV (entitlements-changed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/tab-separated-values": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def load_entitlements(
    agreement_id: IdPath, holder: Holder, request: Request, _: Coordinator
) -> list[EntitlementOut]:
    await agreement_or_404(request, agreement_id)
    media = media_type_of(
        request,
        ("text/tab-separated-values", "text/csv"),
        "send KBART as text/tab-separated-values or CSV as text/csv",
    )
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "the file is not UTF-8", field="body") from None

    async def load() -> list[domain.Entitlement]:
        return await commands.load_entitlements(
            pool_of(request),
            agreement_id,
            holder,
            text,
            today=today(),
            delimiter="," if media == "text/csv" else "\t",
        )

    return [_entitlement_out(e) for e in await run(load)]


@router.get(
    "/agreements/{agreement_id}/entitlements",
    response_model=list[EntitlementOut],
    summary="Titles held under the agreement, optionally for one holder",
)
async def list_entitlements(
    agreement_id: IdPath,
    request: Request,
    caller: AnyCaller,
    holder: Annotated[str | None, Query(max_length=100)] = None,
) -> list[EntitlementOut]:
    holder = holder or caller.isil  # a library reads its own holdings only (403 otherwise)
    ensure_acts_for(caller, holder or "", also=HOLDINGS_READERS)
    await agreement_or_404(request, agreement_id)
    items = await store.entitlements_of(pool_of(request), holder=holder, agreement_id=agreement_id)
    return [_entitlement_out(e) for e in items]


@router.get(
    "/holdings.kbart",
    response_class=Response,
    summary="A holder's titles under every agreement, as KBART",
    responses={200: {"content": {"text/tab-separated-values": {}}, "description": "KBART"}},
)
async def holdings_kbart(request: Request, holder: Holder, caller: AnyCaller) -> Response:
    ensure_acts_for(caller, holder, also=HOLDINGS_READERS)  # a library: its own only
    items = await store.entitlements_of(pool_of(request), holder=holder)
    held = [e for e in items if e.held_on(today())]
    return download(
        domain.render_kbart(held), "text/tab-separated-values; charset=utf-8", "holdings.kbart.txt"
    )
