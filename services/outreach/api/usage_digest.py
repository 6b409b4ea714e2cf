"""The monthly usage digest's opt-out: a library (for its own contacts) or a coordinator turns
a contact's digest off or on again, and a contact unsubscribes through the link in a digest.
The address is only ever compared by its hash; it is never stored again or logged."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from kit.app import pool_of
from kit.auth import Caller, Role
from kit.auth_http import require_role
from kit.errors import ApiError
from services.outreach import usage_digest
from services.outreach.domain import Text

router = APIRouter(tags=["usage digest"])
Editor = Annotated[Caller, Depends(require_role(Role.COORDINATOR, Role.LIBRARY))]
ISIL_PATTERN = r"^[A-Z]{2}-[A-Za-z0-9:/\-]{1,13}$"
TOKEN = Annotated[str, Query(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class Subscription(BaseModel):
    email: Text = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    subscribed: bool = Field(description="false: no monthly usage digest to this contact")


class SubscriptionOut(BaseModel):
    isil: str
    subscribed: bool


IsilPath = Annotated[str, Path(pattern=ISIL_PATTERN, max_length=16)]


@router.put(
    "/libraries/{isil}/usage-digest/subscription",
    response_model=SubscriptionOut,
    summary="Turn a contact's monthly usage digest off or on",
)
async def set_subscription(
    request: Request, isil: IsilPath, body: Subscription, caller: Editor
) -> SubscriptionOut:
    if caller.role is Role.LIBRARY and not caller.acts_for(isil):
        raise ApiError(403, "a library may change its own contacts' digest only", field="isil")
    pool = pool_of(request)
    address = usage_digest.email_hash(body.email)
    if body.subscribed:
        await usage_digest.opt_in(pool, isil, address)
    else:
        await usage_digest.opt_out(pool, isil, address)
    return SubscriptionOut(isil=isil, subscribed=body.subscribed)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='fi'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title></head><body><main>{body}</main></body></html>",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@router.get("/usage-digest/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe_form(request: Request, token: TOKEN) -> HTMLResponse:
    """The link in a digest: a confirmation button (a mail scanner following links must not
    unsubscribe anyone)."""
    if await usage_digest.link(pool_of(request), token) is None:
        raise ApiError(404, "no such unsubscribe link", field="token")
    return _page(
        "Kuukausikooste / Månadssammandrag",
        "<form method='post' action='/usage-digest/unsubscribe'>"
        f"<input type='hidden' name='token' value='{html.escape(token, quote=True)}'>"
        "<p>Peru e-aineistojen käytön kuukausikooste? / Avbeställ månadssammandraget?</p>"
        "<button type='submit'>Peru tilaus / Avbeställ</button></form>",
    )


@router.post("/usage-digest/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe(
    request: Request,
    token: Annotated[str, Form(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")],
) -> HTMLResponse:
    pool = pool_of(request)
    found = await usage_digest.link(pool, token)
    if found is None:
        raise ApiError(404, "no such unsubscribe link", field="token")
    await usage_digest.opt_out(pool, *found)
    return _page(
        "Tilaus peruttu / Avbeställd",
        "<p>Et enää saa kuukausikoostetta. / Du får inte längre månadssammandraget.</p>",
    )
