"""Membership HTTP API: the library register, the membership lifecycle, and queries.

Roles: the coordinator registers libraries, admits members and records notice; a library
edits its own details and contacts; every authenticated caller may read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from pydantic import BaseModel, Field, ValidationError, field_validator

from contracts.membership import Contact, Library, LibraryNames
from kit.app import pool_of
from kit.auth import Caller, Role, current_caller, ensure_acts_for, require_role
from kit.errors import ApiError, multipart_only
from services.membership import commands, domain, store

router = APIRouter(tags=["membership"])
Coordinator = Annotated[Caller, Depends(require_role(Role.COORDINATOR))]
AnyCaller = Annotated[Caller, Depends(current_caller)]
IsilPath = Annotated[str, Field(max_length=16)]


def today() -> dt.date:
    return dt.date.today()


class LibraryIn(BaseModel):
    isil: str = Field(max_length=16, examples=["FI-Tro"])
    names: LibraryNames
    municipalities: list[str] = Field(min_length=1, max_length=50, examples=[["853"]])
    population: int = Field(ge=0, le=10_000_000)
    library_system: str = Field(min_length=1, max_length=50, examples=["Koha"])
    library_type: str | None = Field(None, max_length=50)
    kirkanta_id: int | None = Field(None, ge=1)
    contacts: list[Contact] = Field(default_factory=list, max_length=50)

    @field_validator("isil")
    @classmethod
    def _isil(cls, value: str) -> str:
        return _rule(domain.check_isil, value)

    @field_validator("municipalities")
    @classmethod
    def _municipalities(cls, value: list[str]) -> list[str]:
        return _rule(domain.check_municipalities, value)

    def to_library(self) -> Library:
        return Library(**self.model_dump())


class LibraryPatch(BaseModel):
    """Fields to change; the ISIL is permanent and cannot be changed."""

    names: LibraryNames | None = None
    municipalities: list[str] | None = Field(None, min_length=1, max_length=50)
    population: int | None = Field(None, ge=0, le=10_000_000)
    library_system: str | None = Field(None, min_length=1, max_length=50)
    library_type: str | None = Field(None, max_length=50)
    kirkanta_id: int | None = Field(None, ge=1)
    contacts: list[Contact] | None = Field(None, max_length=50)

    @field_validator("municipalities")
    @classmethod
    def _municipalities(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _rule(domain.check_municipalities, value)


class ContactsIn(BaseModel):
    contacts: list[Contact] = Field(max_length=50)


class MembershipIn(BaseModel):
    signed_on: dt.date = Field(description="Signing date of the consortium agreement")
    signatory: str = Field(min_length=1, max_length=200)


class NoticeIn(BaseModel):
    effective_date: dt.date = Field(description="First day the library is no longer a member")
    given_on: dt.date | None = Field(None, description="Day notice was given; default today")


class LibraryOut(Library):
    status: domain.Status


class Page(BaseModel):
    items: list[LibraryOut]
    total: int
    limit: int
    offset: int


class PeriodOut(BaseModel):
    number: int
    joined_on: dt.date
    notice_given_on: dt.date | None
    leaves_on: dt.date | None
    left: bool


class HistoryOut(BaseModel):
    isil: str
    status: domain.Status
    periods: list[PeriodOut]


class MunicipalityTotal(BaseModel):
    municipality: str
    libraries: int
    population: int


class TotalsOut(BaseModel):
    on: dt.date
    active_members: int
    population: int
    share_of_finland: float
    by_municipality: list[MunicipalityTotal]


class ImportRowError(BaseModel):
    row: int
    isil: str | None
    field: str | None
    message: str


class ImportReport(BaseModel):
    imported: int
    failed: int
    errors: list[ImportRowError]


def _rule(check: Any, value: Any) -> Any:
    """Run a domain check inside a pydantic validator, so a 422 names the field."""
    try:
        return check(value)
    except domain.MembershipRuleViolated as error:
        raise ValueError(str(error)) from error


def _conflict(error: domain.MembershipRuleViolated) -> ApiError:
    return ApiError(409, str(error), field=error.field)


async def _out(request: Request, library: Library) -> LibraryOut:
    periods = await store.periods(pool_of(request), library.isil)
    return LibraryOut(**library.model_dump(), status=domain.status(periods, today()))


async def _existing(request: Request, isil: str) -> Library:
    library = await store.get_library(pool_of(request), isil)
    if library is None:
        raise ApiError(404, f"no library {isil}", field="isil")
    return library


@router.post("/libraries", status_code=201, response_model=LibraryOut, summary="Register")
async def register_library(body: LibraryIn, request: Request, _: Coordinator) -> LibraryOut:
    try:
        library = await commands.register(pool_of(request), body.to_library())
    except domain.MembershipRuleViolated as error:
        raise _conflict(error) from error
    return await _out(request, library)


@router.get("/libraries", response_model=Page, summary="List and filter libraries")
async def list_libraries(
    request: Request,
    _: AnyCaller,
    q: Annotated[str | None, Query(max_length=100, description="ISIL or name contains")] = None,
    municipality: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
    library_system: Annotated[str | None, Query(max_length=50)] = None,
    member_on: Annotated[dt.date | None, Query(description="Members on this day")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page:
    libraries, total = await store.list_libraries(
        pool_of(request),
        store.LibraryFilter(q, municipality, library_system, member_on),
        limit=limit,
        offset=offset,
    )
    return Page(
        items=[await _out(request, lib) for lib in libraries],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/libraries/{isil}", response_model=LibraryOut, summary="One library")
async def get_library(isil: IsilPath, request: Request, _: AnyCaller) -> LibraryOut:
    return await _out(request, await _existing(request, isil))


@router.patch(
    "/libraries/{isil}", response_model=LibraryOut, summary="Update details (member-updated)"
)
async def update_library(
    isil: IsilPath, body: LibraryPatch, request: Request, caller: AnyCaller
) -> LibraryOut:
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    current = await _existing(request, isil)
    changes = body.model_dump(exclude_unset=True)
    for required in ("names", "municipalities", "population", "library_system", "contacts"):
        if required in changes and changes[required] is None:
            raise ApiError(422, f"{required} cannot be null", field=required)
    updated = Library(**{**current.model_dump(), **changes})
    try:
        await commands.update_details(pool_of(request), updated, today())
    except commands.LibraryNotFound as error:
        raise ApiError(404, f"no library {isil}", field="isil") from error
    return await _out(request, updated)


@router.put(
    "/libraries/{isil}/contacts",
    response_model=LibraryOut,
    summary="Replace the contact persons (member-updated)",
)
async def replace_contacts(
    isil: IsilPath, body: ContactsIn, request: Request, caller: AnyCaller
) -> LibraryOut:
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    current = await _existing(request, isil)
    updated = current.model_copy(update={"contacts": body.contacts})
    await commands.update_details(pool_of(request), updated, today())
    return await _out(request, updated)


@router.post(
    "/libraries/{isil}/membership",
    status_code=201,
    response_model=PeriodOut,
    summary="Record the signed consortium agreement (member-joined)",
)
async def admit_member(
    isil: IsilPath, body: MembershipIn, request: Request, _: Coordinator
) -> PeriodOut:
    await _existing(request, isil)
    try:
        period = await commands.join(
            pool_of(request), isil, signed_on=body.signed_on, signatory=body.signatory
        )
    except domain.MembershipRuleViolated as error:
        raise _conflict(error) from error
    return PeriodOut(**_period_fields(period))


@router.post(
    "/libraries/{isil}/notice",
    response_model=PeriodOut,
    summary="Record notice; member-left fires on the effective date",
)
async def give_notice(
    isil: IsilPath, body: NoticeIn, request: Request, _: Coordinator
) -> PeriodOut:
    await _existing(request, isil)
    try:
        period = await commands.give_notice(
            pool_of(request),
            isil,
            effective_date=body.effective_date,
            given_on=body.given_on or today(),
        )
    except domain.MembershipRuleViolated as error:
        raise _conflict(error) from error
    fields = _period_fields(period)
    fields["left"] = domain.leave_is_due(period, body.given_on or today()) or period.left
    return PeriodOut(**fields)


def _period_fields(period: domain.Period) -> dict[str, Any]:
    return {
        "number": period.number,
        "joined_on": period.joined_on,
        "notice_given_on": period.notice_given_on,
        "leaves_on": period.leaves_on,
        "left": period.left,
    }


@router.get("/libraries/{isil}/history", response_model=HistoryOut, summary="Membership history")
async def history(isil: IsilPath, request: Request, _: AnyCaller) -> HistoryOut:
    await _existing(request, isil)
    periods = await store.periods(pool_of(request), isil)
    return HistoryOut(
        isil=isil,
        status=domain.status(periods, today()),
        periods=[PeriodOut(**_period_fields(p)) for p in periods],
    )


@router.get("/members", response_model=Page, summary="Members on a given day")
async def members(
    request: Request,
    _: AnyCaller,
    on: Annotated[dt.date | None, Query(description="Default: today")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page:
    return await list_libraries(request, _, member_on=on or today(), limit=limit, offset=offset)


@router.get("/members/totals", response_model=TotalsOut, summary="Members and population served")
async def totals(
    request: Request,
    _: AnyCaller,
    on: Annotated[dt.date | None, Query(description="Default: today")] = None,
) -> TotalsOut:
    day = on or today()
    libraries = await store.members_on(pool_of(request), day)
    result = domain.coverage([(lib.municipalities, lib.population) for lib in libraries])
    return TotalsOut(
        on=day,
        active_members=result.active_members,
        population=result.population,
        share_of_finland=result.share_of_finland,
        by_municipality=[
            MunicipalityTotal(municipality=code, libraries=count, population=people)
            for code, (count, people) in result.by_municipality.items()
        ],
    )


CSV_COLUMNS = (
    "isil",
    "name_fi",
    "name_sv",
    "name_en",
    "municipalities",
    "population",
    "library_system",
    "library_type",
    "kirkanta_id",
    "contact_name",
    "contact_email",
    "contact_role",
    "contact_language",
)


def _row_to_library(row: dict[str, str]) -> LibraryIn:
    contact = None
    if (row.get("contact_email") or "").strip():
        contact = {
            "name": row.get("contact_name", "").strip(),
            "email": row["contact_email"].strip(),
            "role": (row.get("contact_role") or "contact").strip(),
            "language": (row.get("contact_language") or "fi").strip(),
        }
    return LibraryIn.model_validate(
        {
            "isil": (row.get("isil") or "").strip(),
            "names": {
                "fi": (row.get("name_fi") or "").strip(),
                "sv": (row.get("name_sv") or "").strip() or None,
                "en": (row.get("name_en") or "").strip() or None,
            },
            "municipalities": [
                code
                for code in (row.get("municipalities") or "").replace(",", ";").split(";")
                if code.strip()
            ],
            "population": (row.get("population") or "").strip() or None,
            "library_system": (row.get("library_system") or "").strip(),
            "library_type": (row.get("library_type") or "").strip() or None,
            "kirkanta_id": (row.get("kirkanta_id") or "").strip() or None,
            "contacts": [contact] if contact else [],
        }
    )


@router.post(
    "/libraries/import",
    response_model=ImportReport,
    summary="Register libraries from CSV, with a row-level error report",
    description="UTF-8 CSV with a header row; columns: "
    + ", ".join(CSV_COLUMNS)
    + ". Municipalities are separated by ';'. Each row is registered on its own, so a bad "
    "row never blocks the good ones.",
    responses={
        413: {"description": "the file is too large"},
        415: {"description": "the body is not multipart/form-data"},
    },
)
async def import_libraries(
    file: UploadFile,
    request: Request,
    _: Coordinator,
    _multipart: Annotated[None, Depends(multipart_only)],
) -> ImportReport:
    raw = await file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApiError(422, "the file is not UTF-8 text", field="file") from error
    # newline="" as the csv module requires, so a bare CR is a line break, not an error; the
    # whole file is parsed before anything is registered, so an unreadable file writes nothing.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as error:
        raise ApiError(
            422, f"the CSV cannot be read (line {reader.line_num}): {error}", field="file"
        ) from error
    missing = [
        c
        for c in ("isil", "name_fi", "municipalities", "population", "library_system")
        if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise ApiError(422, f"missing CSV column(s): {', '.join(missing)}", field="file")
    imported, errors = 0, []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        isil = (row.get("isil") or "").strip() or None
        try:
            library = _row_to_library(row).to_library()
            await commands.register(pool_of(request), library)
            imported += 1
        except ValidationError as error:
            for item in error.errors():
                errors.append(
                    ImportRowError(
                        row=number,
                        isil=isil,
                        field=".".join(str(p) for p in item["loc"]) or None,
                        message=item["msg"],
                    )
                )
        except domain.MembershipRuleViolated as error:
            errors.append(
                ImportRowError(row=number, isil=isil, field=error.field, message=str(error))
            )
    failed_rows = len({e.row for e in errors})
    return ImportReport(imported=imported, failed=failed_rows, errors=errors)
