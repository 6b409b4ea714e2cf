"""Membership HTTP API: the library register, the membership lifecycle, and queries.

Roles: the coordinator registers libraries, admits members, records notice and alone changes
what moves cost shares or legal parties (municipalities, population exceptions, organisation,
kimppa); a library edits its own names, contacts and library system. Every authenticated
caller may read, but contact persons (personal data) only the coordinator and the library
itself see.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field, ValidationError, field_validator

from contracts.membership import Contact, Library, LibraryNames
from kit.app import pool_of
from kit.auth import Caller, Role, ensure_acts_for
from kit.errors import ApiError, multipart_only
from kit.http import DEFAULT_LIMIT, AnyCaller, Coordinator, Limit, Offset
from kit.http import Page as KitPage
from kit.rules import DomainError
from services.membership import agreement, commands, domain, store

router = APIRouter(tags=["membership"])
IsilPath = Annotated[str, Field(max_length=16)]


def today() -> dt.date:
    return dt.date.today()


POPULATION_NOTE = (
    "Population is derived from the municipalities' official figures (Statistics Finland, "
    "31.12. of the latest loaded year). A figure given here is a coordinator's documented "
    "exception (e.g. a joint authority serving part of a municipality) and needs "
    "population_reason."
)


class PopulationException(BaseModel):
    population: int = Field(ge=0, le=10_000_000)
    reason: str = Field(min_length=3, max_length=500)


class LibraryIn(BaseModel):
    isil: str = Field(max_length=16, examples=["FI-Tro"])
    names: LibraryNames
    municipalities: list[str] = Field(min_length=1, max_length=50, examples=[["853"]])
    population: int | None = Field(None, ge=0, le=10_000_000, description=POPULATION_NOTE)
    population_reason: str | None = Field(None, max_length=500)
    library_system: str = Field(min_length=1, max_length=50, examples=["Koha"])
    library_type: str | None = Field(None, max_length=50)
    kirkanta_id: int | None = Field(None, ge=1)
    contacts: list[Contact] = Field(default_factory=list, max_length=50)
    organisation: str | None = Field(
        None, max_length=20, description="Business ID of the organisation that runs it."
    )
    kimppa: str | None = Field(None, max_length=50, description="Id of its kimppa.")

    @field_validator("organisation")
    @classmethod
    def _organisation(cls, value: str | None) -> str | None:
        return None if value is None else _rule(domain.check_business_id, value)

    @field_validator("isil")
    @classmethod
    def _isil(cls, value: str) -> str:
        return _rule(domain.check_isil, value)

    @field_validator("municipalities")
    @classmethod
    def _municipalities(cls, value: list[str]) -> list[str]:
        return _rule(domain.check_municipalities, value)

    def to_library(self) -> Library:
        fields = self.model_dump(exclude={"population_reason", "organisation", "kimppa"})
        fields["population"] = fields["population"] or 0
        return Library(**fields)

    def exception(self) -> tuple[int, str] | None:
        if self.population is None:
            return None
        return (
            self.population,
            self.population_reason or "figure stated by the coordinator at registration",
        )


class LibraryPatch(BaseModel):
    """Fields to change; the ISIL is permanent and cannot be changed."""

    names: LibraryNames | None = None
    municipalities: list[str] | None = Field(None, min_length=1, max_length=50)
    population: int | None = Field(
        None, ge=0, le=10_000_000, description="Coordinator only. " + POPULATION_NOTE
    )
    population_reason: str | None = Field(None, max_length=500)
    population_exception: PopulationException | None = Field(
        None, description="Coordinator only; null removes the exception."
    )
    library_system: str | None = Field(None, min_length=1, max_length=50)
    library_type: str | None = Field(None, max_length=50)
    kirkanta_id: int | None = Field(None, ge=1)
    contacts: list[Contact] | None = Field(None, max_length=50)
    organisation: str | None = Field(None, max_length=20, description="Coordinator only.")
    kimppa: str | None = Field(
        None, max_length=50, description="Coordinator only; null takes it out of its kimppa."
    )

    @field_validator("organisation")
    @classmethod
    def _organisation(cls, value: str | None) -> str | None:
        return None if value is None else _rule(domain.check_business_id, value)

    @field_validator("municipalities")
    @classmethod
    def _municipalities(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _rule(domain.check_municipalities, value)


class ContactsIn(BaseModel):
    contacts: list[Contact] = Field(max_length=50)


class AcceptanceIn(BaseModel):
    version: str = Field(min_length=1, max_length=50, description="Agreement version accepted")
    decision_organ: str = Field(
        min_length=1, max_length=200, examples=["Kaupunginhallitus", "Sivistyslautakunta"]
    )
    decision_date: dt.date
    decision_section: str = Field(min_length=1, max_length=50, examples=["§ 123"])
    signatory_name: str = Field(min_length=1, max_length=200)
    signatory_title: str = Field(min_length=1, max_length=200, examples=["kirjastotoimenjohtaja"])

    def to_acceptance(self) -> agreement.Acceptance:
        return agreement.Acceptance(**self.model_dump())


class MembershipIn(BaseModel):
    signed_on: dt.date = Field(description="Signing date of the consortium agreement")
    signatory: str = Field(min_length=1, max_length=200)
    acceptance: AcceptanceIn | None = Field(
        None, description="The agreement version accepted and the decision that approved it."
    )


class NoticeIn(BaseModel):
    effective_date: dt.date = Field(description="First day the library is no longer a member")
    given_on: dt.date | None = Field(None, description="Day notice was given; default today")


class LibraryOut(Library):
    status: domain.Status
    contacts: list[Contact] | None = Field(  # type: ignore[assignment]  # the API view narrows the base model's field
        None,
        description="Only for the coordinator and the library itself; null for everyone else.",
    )


class Page(KitPage[LibraryOut]):
    pass


class PeriodOut(BaseModel):
    number: int
    joined_on: dt.date
    notice_given_on: dt.date | None
    leaves_on: dt.date | None
    left: bool


class KimppaPeriodOut(BaseModel):
    kimppa_id: str
    since: dt.date
    until: dt.date | None


class AcceptanceOut(BaseModel):
    version: str
    decision_organ: str
    decision_date: dt.date
    decision_section: str
    signatory_name: str
    signatory_title: str


class HistoryOut(BaseModel):
    isil: str
    status: domain.Status
    periods: list[PeriodOut]
    kimppas: list[KimppaPeriodOut] = []
    acceptances: list[AcceptanceOut] = []


class MunicipalityTotal(BaseModel):
    municipality: str
    libraries: int
    population: int


class ExceptionOut(BaseModel):
    isil: str
    population: int
    reason: str


class TotalsOut(BaseModel):
    on: dt.date
    active_members: int
    population: int
    population_year: int | None = Field(None, description="Year of the official figures")
    share_of_finland: float
    by_municipality: list[MunicipalityTotal]
    population_exceptions: list[ExceptionOut] = Field(
        [], description="Members whose figure is a documented exception, with the reason."
    )


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


def _out(row: store.LibraryRow, caller: Caller) -> LibraryOut:
    """The library as this caller may see it: contacts only for the coordinator and the
    library itself."""
    fields = dict(row.library)  # the validated nested objects as they are
    if not domain.sees_contacts(caller.role.value, caller.isil, row.library.isil):
        fields["contacts"] = None
    return LibraryOut(**fields, status=domain.status(row.latest_periods, today()))


def _json(out: LibraryOut) -> Response:
    """``out`` as the route's JSON answer, serialised once by pydantic: returned as a model,
    FastAPI would dump it, validate the dump against ``response_model`` again (every contact's
    address checked once more) and encode that. The model was built and validated here."""
    return Response(out.model_dump_json(), media_type="application/json")


async def _row_out(request: Request, isil: str, caller: Caller) -> LibraryOut:
    row = await store.get_library_row(pool_of(request), isil)
    if row is None:
        raise ApiError(404, f"no library {isil}", field="isil")
    return _out(row, caller)


async def _existing(request: Request, isil: str) -> Library:
    library = await store.get_library(pool_of(request), isil)
    if library is None:
        raise ApiError(404, f"no library {isil}", field="isil")
    return library


@router.post("/libraries", status_code=201, response_model=LibraryOut, summary="Register")
async def register_library(body: LibraryIn, request: Request, caller: Coordinator) -> LibraryOut:
    await _register(request, body)
    return await _row_out(request, body.isil, caller)


async def _register(request: Request, body: LibraryIn) -> None:
    """Register, and put the library in its kimppa; a failure raises a domain error."""
    await commands.register(
        pool_of(request),
        body.to_library(),
        body.organisation,
        body.exception(),
        body.kimppa,
        today(),
    )


@router.get("/libraries", response_model=Page, summary="List and filter libraries")
async def list_libraries(
    request: Request,
    caller: AnyCaller,
    q: Annotated[str | None, Query(max_length=100, description="ISIL or name contains")] = None,
    municipality: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
    library_system: Annotated[str | None, Query(max_length=50)] = None,
    member_on: Annotated[dt.date | None, Query(description="Members on this day")] = None,
    kimppa: Annotated[str | None, Query(max_length=50)] = None,
    organisation: Annotated[str | None, Query(max_length=20, description="Business ID")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page:
    rows, total = await store.list_libraries(
        pool_of(request),
        store.LibraryFilter(q, municipality, library_system, member_on, kimppa, organisation),
        limit=limit,
        offset=offset,
    )
    return Page(items=[_out(row, caller) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/libraries/{isil}", response_model=LibraryOut, summary="One library")
async def get_library(isil: IsilPath, request: Request, caller: AnyCaller) -> LibraryOut:
    return await _row_out(request, isil, caller)


@router.patch(
    "/libraries/{isil}", response_model=LibraryOut, summary="Update details (member-updated)"
)
async def update_library(
    isil: IsilPath, body: LibraryPatch, request: Request, caller: AnyCaller
) -> Response:
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    sent = body.model_dump(exclude_unset=True)
    if caller.role is not Role.COORDINATOR:
        forbidden = domain.forbidden_for_library(set(sent) - {"population_reason"})
        if forbidden:
            raise ApiError(
                403,
                f"only the coordinator changes {', '.join(forbidden)}"
                + (" (it is derived from official figures)" if "population" in forbidden else ""),
                field=forbidden[0],
            )
    for required in ("names", "municipalities", "library_system", "contacts"):
        if required in sent and sent[required] is None:
            raise ApiError(422, f"{required} cannot be null", field=required)
    changes = {k: getattr(body, k) for k in sent if k in domain.LIBRARY_FIELDS}
    if "municipalities" in sent:
        changes["municipalities"] = body.municipalities
    if "organisation" in sent:
        changes["organisation"] = body.organisation
    if "kimppa" in sent:
        changes["kimppa"] = body.kimppa
    if "population_exception" in sent:
        exception = body.population_exception
        changes["population_exception"] = (
            (exception.population, exception.reason) if exception else None
        )
    if body.population is not None:
        if not body.population_reason:
            raise ApiError(
                422,
                "population is derived from official figures; an exception needs population_reason",
                field="population_reason",
            )
        changes["population_exception"] = (body.population, body.population_reason)
    # The answer is the row as the command's transaction left it: no second read.
    return _json(_out(await commands.update_row(pool_of(request), isil, changes, today()), caller))


@router.put(
    "/libraries/{isil}/contacts",
    response_model=LibraryOut,
    summary="Replace the contact persons (member-updated)",
)
async def replace_contacts(
    isil: IsilPath, body: ContactsIn, request: Request, caller: AnyCaller
) -> Response:
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    row = await commands.update_row(pool_of(request), isil, {"contacts": body.contacts}, today())
    return _json(_out(row, caller))


class ErasureIn(BaseModel):
    email: str = Field(min_length=3, max_length=254, description="The former contact's address")


class ErasureOut(BaseModel):
    isil: str
    erased: bool = Field(description="False when it had been erased before")


@router.post(
    "/libraries/{isil}/contacts/erasure",
    response_model=ErasureOut,
    summary="Erase a (former) contact person's data on request (contact-erased)",
    description="Removes the address from the library's contacts and from this service's "
    "copies of past events, and publishes contact-erased (the address's SHA-256 only) so "
    "that outreach forgets it too. See docs/personal-data.md for retention per topic.",
)
async def erase_contact(
    isil: IsilPath, body: ErasureIn, request: Request, _: Coordinator
) -> ErasureOut:
    erased = await commands.erase_contact(pool_of(request), isil, body.email, today())
    return ErasureOut(isil=isil, erased=erased)


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
    period = await commands.join(
        pool_of(request),
        isil,
        signed_on=body.signed_on,
        signatory=body.signatory,
        acceptance=body.acceptance.to_acceptance() if body.acceptance else None,
    )
    return PeriodOut(**_period_fields(period))


@router.post(
    "/libraries/{isil}/acceptances",
    status_code=201,
    response_model=AcceptanceOut,
    summary="Record the acceptance of an agreement version (agreement-version-accepted)",
)
async def accept_version(
    isil: IsilPath, body: AcceptanceIn, request: Request, _: Coordinator
) -> AcceptanceOut:
    await commands.accept_version(pool_of(request), isil, body.to_acceptance())
    return AcceptanceOut(**body.model_dump())


@router.post(
    "/libraries/{isil}/notice",
    response_model=PeriodOut,
    summary="Record notice; member-left fires on the effective date",
)
async def give_notice(
    isil: IsilPath, body: NoticeIn, request: Request, _: Coordinator
) -> PeriodOut:
    await _existing(request, isil)
    period = await commands.give_notice(
        pool_of(request),
        isil,
        effective_date=body.effective_date,
        given_on=body.given_on or today(),
    )
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
async def history(isil: IsilPath, request: Request, caller: AnyCaller) -> HistoryOut:
    await _existing(request, isil)
    pool = pool_of(request)
    periods = await store.periods(pool, isil)
    acceptances = [AcceptanceOut(**dict(r)) for r in await store.acceptances(pool, isil)]
    if not domain.sees_contacts(caller.role.value, caller.isil, isil):
        # The signatory's name is personal data too; the title and decision are public.
        acceptances = [a.model_copy(update={"signatory_name": ""}) for a in acceptances]
    return HistoryOut(
        isil=isil,
        status=domain.status(periods, today()),
        periods=[PeriodOut(**_period_fields(p)) for p in periods],
        kimppas=[KimppaPeriodOut(**dict(r)) for r in await store.kimppa_history(pool, isil)],
        acceptances=acceptances,
    )


@router.get("/members", response_model=Page, summary="Members on a given day")
async def members(
    request: Request,
    _: AnyCaller,
    on: Annotated[dt.date | None, Query(description="Default: today")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
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
    years = {lib.population_year for lib in libraries if lib.population_year}
    figures = await store.figures(pool_of(request), max(years) if years else None)
    official = {code: m.population for code, m in figures.municipalities.items()} if figures else {}
    result = domain.coverage(
        [
            domain.Served(lib.municipalities, lib.population, bool(lib.population_exception))
            for lib in libraries
        ],
        official,
    )
    return TotalsOut(
        on=day,
        active_members=result.active_members,
        population=result.population,
        population_year=max(years) if years else None,
        population_exceptions=[
            ExceptionOut(isil=lib.isil, population=lib.population, reason=lib.population_exception)
            for lib in libraries
            if lib.population_exception
        ],
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
    "organisation",
    "kimppa",
    "population_reason",
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
            "organisation": (row.get("organisation") or "").strip() or None,
            "kimppa": (row.get("kimppa") or "").strip() or None,
            "population_reason": (row.get("population_reason") or "").strip() or None,
        }
    )


@router.post(
    "/libraries/import",
    response_model=ImportReport,
    summary="Register libraries from CSV, with a row-level error report",
    description="UTF-8 CSV with a header row; columns: "
    + ", ".join(CSV_COLUMNS)
    + ". Municipalities are separated by ';'. Population is derived from the municipalities; "
    "a population given here is a documented exception (give population_reason). "
    "organisation is the business ID of a registered organisation, kimppa a registered "
    "kimppa's id. Each row is registered on its own, so a bad row never blocks the good ones.",
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
        for c in ("isil", "name_fi", "municipalities", "library_system")
        if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise ApiError(422, f"missing CSV column(s): {', '.join(missing)}", field="file")
    imported, errors = 0, []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        isil = (row.get("isil") or "").strip() or None
        try:
            await _register(request, _row_to_library(row))
            imported += 1
        except (ApiError, DomainError) as error:
            errors.append(
                ImportRowError(row=number, isil=isil, field=error.field, message=str(error))
            )
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
    failed_rows = len({e.row for e in errors})
    return ImportReport(imported=imported, failed=failed_rows, errors=errors)
