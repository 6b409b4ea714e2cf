"""Token revocation: the coordinator puts a leaked or lost token's ``jti`` on the deny list.

Membership records it and publishes ``token-revoked``; every service records the ``jti`` from
the event (``kit.revocation``) and answers 401 to the token from then on.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from kit.app import pool_of
from kit.auth import CLOCK_LEEWAY, TokenVerifier
from kit.errors import ApiError
from kit.http import Coordinator
from services.membership import commands

router = APIRouter(tags=["tokens"])


class RevocationIn(BaseModel):
    jti: str = Field(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$", description="The token's jti"
    )
    expires_at: AwareDatetime = Field(
        description="The token's expiry (its exp claim): the deny list keeps the jti until then"
    )
    reason: str = Field(min_length=3, max_length=500, examples=["the laptop was stolen"])


class RevocationOut(BaseModel):
    jti: str
    expires_at: dt.datetime
    revoked: bool = Field(description="False when this jti had been revoked before")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.post(
    "/tokens/revoked",
    status_code=201,
    response_model=RevocationOut,
    summary="Revoke a bearer token by its jti (token-revoked)",
    description="Every service refuses the token (401) once it has the token-revoked event, "
    "until the token's expiry. Repeating a revocation changes nothing (200).",
    responses={200: {"description": "revoked before"}},
)
async def revoke_token(
    body: RevocationIn, request: Request, response: Response, _: Coordinator
) -> RevocationOut:
    current = now()
    if body.expires_at <= current - CLOCK_LEEWAY:
        raise ApiError(
            422,
            f"expires_at {body.expires_at.isoformat()} is past: the token is refused already",
            field="expires_at",
        )
    event = await commands.revoke_token(
        pool_of(request), body.jti, body.expires_at, body.reason.strip(), current
    )
    if event is None:
        response.status_code = 200
    else:
        # This replica refuses it at once; the others load it from the table (kit.app).
        verifier: TokenVerifier = request.app.state.token_verifier
        verifier.revoke(body.jti)
    return RevocationOut(jti=body.jti, expires_at=body.expires_at, revoked=event is not None)
