"""What every procurement router shares: roles, field types, paging, the one mapping from
domain refusals to HTTP problems, and the look-ups that answer 404 for a missing tender or
agreement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Query, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from kit.app import pool_of
from kit.auth import Caller, Role, ensure_acts_for
from kit.auth_http import current_caller, require_role
from kit.errors import ApiError

# The kit's paging vocabulary, re-exported for the routers beside the helpers below.
from kit.http import Limit as Limit
from kit.http import Offset as Offset
from kit.http import Paged as Paged
from kit.http import Paging as Paging
from kit.http import paging as paging
from services.procurement import commands, domain, store
from services.procurement.domain import ProcurementRuleViolated

AnyCaller = Annotated[Caller, Depends(current_caller)]
Procurement = Annotated[Caller, Depends(require_role(Role.PROCUREMENT))]
Coordinator = Annotated[Caller, Depends(require_role(Role.COORDINATOR))]
Evaluator = Annotated[Caller, Depends(require_role(Role.PROCUREMENT, Role.COORDINATOR))]
LibraryOrCoordinator = Annotated[Caller, Depends(require_role(Role.LIBRARY, Role.COORDINATOR))]

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)


def clean(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and unpaired surrogates cannot be encoded: refuse both
    # here, so such input is a 422 naming the field and never a database error.
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(clean)]
IdPath = Annotated[Text, Path(max_length=100)]
IsilPath = Annotated[Text, Path(max_length=16)]
# Dates and times a consortium can mean; far-future values would only overflow date sums.
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
Day = Annotated[dt.date, Field(ge=EARLIEST, le=LATEST)]
DayQuery = Annotated[dt.date | None, Query(ge=EARLIEST, le=LATEST)]


def _in_range(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must lie between {EARLIEST} and {LATEST}")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
MAX_CENTS = 10**12


def today() -> dt.date:
    return dt.date.today()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def run(work: Callable[[], Awaitable[T]], *, rule_status: int | None = None) -> T:
    """Map domain refusals to problem responses: bad values 422, state conflicts 409, a
    missing thing 404. ``work`` is called inside the mapping, so a domain value built in it
    (whose constructor checks the rules) is refused the same way. ``rule_status`` answers
    every rule violation with one status instead of the rule's own."""
    try:
        return await work()
    except commands.NotFound as error:
        raise ApiError(404, str(error), field=error.field) from error
    except ProcurementRuleViolated as error:
        status = rule_status or error.http_status
        raise ApiError(status, str(error), field=error.field) from error


class Page(BaseModel):
    total: int
    limit: int
    offset: int


def media_type_of(request: Request, accepted: Sequence[str], refusal: str) -> str:
    """The request body's media type, or a 415 saying what to send."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in accepted:
        raise ApiError(415, refusal, field="body")
    return media


def download(content: str | bytes, media_type: str, filename: str) -> Response:
    """A file to save: its content, type and the name offered to the browser."""
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def for_library(caller: Caller, isil: str | None, field: str) -> str:
    """The library a library-owned action is for: a library token acts for itself only."""
    chosen = isil or caller.isil
    if chosen is None:
        raise ApiError(422, f"{field} is required for a {caller.role.value} token", field=field)
    ensure_acts_for(caller, chosen, also=(Role.COORDINATOR,))
    return chosen


async def tender_or_404(request: Request, tender_id: str) -> domain.Tender:
    tender = await store.get_tender(pool_of(request), tender_id)
    if tender is None:
        raise ApiError(404, f"no tender {tender_id}", field="tender_id")
    return tender


async def agreement_or_404(request: Request, agreement_id: str) -> store.AgreementRecord:
    record = await store.get_agreement(pool_of(request), agreement_id)
    if record is None:
        raise ApiError(404, f"no agreement {agreement_id}", field="agreement_id")
    return record


class TermOut(BaseModel):
    type: str
    label: str
    value: int | str
    note: str


def terms_out(terms: domain.LicenceTerms) -> dict[str, TermOut]:
    return {
        name: TermOut(
            type=payload.type, label=payload.label or name, value=payload.value, note=payload.note
        )
        for name, payload in commands.licence_terms_payload(terms).items()
    }
