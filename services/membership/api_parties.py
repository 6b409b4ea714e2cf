"""Membership HTTP API for the parties and terms around the libraries: organisations (the legal
members), kimppas, the official municipality figures, and the consortium agreement's versions.

Only the coordinator changes any of these; every authenticated caller may read them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field, ValidationError, field_validator

from contracts.membership import EInvoiceAddress, Organisation, OrganisationNames
from kit.app import pool_of
from kit.errors import ApiError, multipart_only
from kit.http import AnyCaller, Coordinator
from services.membership import agreement, commands, domain, population, store

router = APIRouter(tags=["membership: organisations, kimppas, figures, agreement"])
DOCUMENT_TYPES = ("application/pdf", "text/plain", "text/html", "application/octet-stream")


def today() -> dt.date:
    return dt.date.today()


async def _text_of(file: UploadFile) -> str:
    raw = await file.read()
    for encoding in ("utf-8-sig", "cp1252"):
        # PxWeb offers UTF-8 and, in older exports, Windows-1252; the first that decodes wins.
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ApiError(422, "the file is neither UTF-8 nor Windows-1252 text", field="file")


# --- organisations ------------------------------------------------------------------------------


class OrganisationIn(BaseModel):
    business_id: str = Field(max_length=20, examples=["0201256-6"])
    names: OrganisationNames
    kind: Literal["municipality", "joint-authority"]
    municipalities: list[str] = Field(min_length=1, max_length=50, examples=[["091"]])
    einvoice: EInvoiceAddress | None = None

    @field_validator("business_id")
    @classmethod
    def _business_id(cls, value: str) -> str:
        try:
            return domain.check_business_id(value)
        except domain.MembershipRuleViolated as error:
            raise ValueError(str(error)) from error

    @field_validator("municipalities")
    @classmethod
    def _municipalities(cls, value: list[str]) -> list[str]:
        try:
            return domain.check_municipalities(value)
        except domain.MembershipRuleViolated as error:
            raise ValueError(str(error)) from error

    def to_organisation(self) -> Organisation:
        return Organisation(**self.model_dump())


class OrganisationOut(Organisation):
    libraries: list[str] = []


@router.put(
    "/organisations/{business_id}",
    response_model=OrganisationOut,
    summary="Register or change an organisation (organisation-updated)",
)
async def put_organisation(
    business_id: Annotated[str, Field(max_length=20)],
    body: OrganisationIn,
    request: Request,
    _: Coordinator,
) -> OrganisationOut:
    path_id = domain.check_business_id(business_id)
    if path_id != body.business_id:
        raise ApiError(422, "the body's business_id differs from the path's", field="business_id")
    saved = await commands.save_organisation(pool_of(request), body.to_organisation(), today())
    return await _one_organisation(request, saved.business_id)


def _organisation_out(row: Any, figures: population.Figures | None) -> OrganisationOut:
    derived = population.derive(row["municipalities"], figures)
    return OrganisationOut(
        business_id=row["business_id"],
        names=row["names"],
        kind=row["kind"],
        municipalities=list(row["municipalities"]),
        einvoice={"ovt": row["einvoice_ovt"], "operator": row["einvoice_operator"]}
        if row["einvoice_ovt"]
        else None,
        population=derived.population if figures else None,
        population_year=derived.year,
        libraries=list(row["libraries"]),
    )


async def _one_organisation(request: Request, business_id: str) -> OrganisationOut:
    pool = pool_of(request)
    rows = await store.organisations_with_libraries(pool, business_id)
    if not rows:
        raise ApiError(404, f"no organisation {business_id}", field="business_id")
    return _organisation_out(rows[0], await store.figures(pool))


@router.get(
    "/organisations/{business_id}", response_model=OrganisationOut, summary="One organisation"
)
async def get_organisation(
    business_id: Annotated[str, Field(max_length=20)], request: Request, _: AnyCaller
) -> OrganisationOut:
    return await _one_organisation(request, business_id)


@router.get("/organisations", response_model=list[OrganisationOut], summary="All organisations")
async def list_organisations(request: Request, _: AnyCaller) -> list[OrganisationOut]:
    pool = pool_of(request)
    figures = await store.figures(pool)
    return [
        _organisation_out(row, figures) for row in await store.organisations_with_libraries(pool)
    ]


class ImportRowError(BaseModel):
    row: int
    key: str | None
    field: str | None
    message: str


class ImportReport(BaseModel):
    imported: int
    failed: int
    errors: list[ImportRowError]


ORGANISATION_COLUMNS = (
    "business_id",
    "name_fi",
    "name_sv",
    "kind",
    "municipalities",
    "einvoice_ovt",
    "einvoice_operator",
)


@router.post(
    "/organisations/import",
    response_model=ImportReport,
    summary="Register organisations from CSV, with a row-level error report",
    description="UTF-8 CSV with a header row; columns: "
    + ", ".join(ORGANISATION_COLUMNS)
    + ". Municipalities are separated by ';'. Each row is saved on its own.",
    responses={415: {"description": "the body is not multipart/form-data"}},
)
async def import_organisations(
    file: UploadFile,
    request: Request,
    _: Coordinator,
    _multipart: Annotated[None, Depends(multipart_only)],
) -> ImportReport:
    reader = csv.DictReader(io.StringIO(await _text_of(file), newline=""))
    try:
        rows = list(reader)
    except csv.Error as error:
        raise ApiError(422, f"the CSV cannot be read: {error}", field="file") from error
    missing = [
        c
        for c in ("business_id", "name_fi", "kind", "municipalities")
        if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise ApiError(422, f"missing CSV column(s): {', '.join(missing)}", field="file")
    imported, errors = 0, []
    for number, row in enumerate(rows, start=2):
        key = (row.get("business_id") or "").strip() or None
        ovt = (row.get("einvoice_ovt") or "").strip()
        try:
            body = OrganisationIn.model_validate(
                {
                    "business_id": key or "",
                    "names": {
                        "fi": (row.get("name_fi") or "").strip(),
                        "sv": (row.get("name_sv") or "").strip() or None,
                    },
                    "kind": (row.get("kind") or "").strip(),
                    "municipalities": [
                        c.strip()
                        for c in (row.get("municipalities") or "").replace(",", ";").split(";")
                        if c.strip()
                    ],
                    "einvoice": {
                        "ovt": ovt,
                        "operator": (row.get("einvoice_operator") or "").strip(),
                    }
                    if ovt
                    else None,
                }
            )
            await commands.save_organisation(pool_of(request), body.to_organisation(), today())
            imported += 1
        except ValidationError as error:
            for item in error.errors():
                errors.append(
                    ImportRowError(
                        row=number,
                        key=key,
                        field=".".join(str(p) for p in item["loc"]) or None,
                        message=item["msg"],
                    )
                )
        except domain.MembershipRuleViolated as error:
            errors.append(
                ImportRowError(row=number, key=key, field=error.field, message=str(error))
            )
    return ImportReport(imported=imported, failed=len({e.row for e in errors}), errors=errors)


# --- kimppas ------------------------------------------------------------------------------------


class KimppaIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Helmet"])
    library_system: str = Field(min_length=1, max_length=50, examples=["Sierra"])
    harvest_contact_email: str | None = Field(
        None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        max_length=254,
        description="A service address for harvesting questions, not a person's.",
    )
    melinda_code: str | None = Field(None, max_length=20, description="Melinda holding code")


class KimppaOut(KimppaIn):
    id: str
    libraries: list[str]


KimppaId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,49}$")]


@router.put(
    "/kimppas/{kimppa_id}",
    response_model=KimppaOut,
    summary="Register or change a kimppa (kimppa-updated)",
    description="A library joins or leaves a kimppa through PATCH /libraries/{isil} "
    "with `kimppa` (coordinator only); the history is kept.",
)
async def put_kimppa(
    kimppa_id: KimppaId, body: KimppaIn, request: Request, _: Coordinator
) -> KimppaOut:
    await commands.save_kimppa(
        pool_of(request),
        kimppa_id,
        body.name,
        body.library_system,
        body.harvest_contact_email,
        body.melinda_code,
        today(),
    )
    return await _kimppa_out(request, kimppa_id)


async def _kimppa_out(request: Request, kimppa_id: str) -> KimppaOut:
    pool = pool_of(request)
    row = await store.get_kimppa(pool, kimppa_id)
    if row is None:
        raise ApiError(404, f"no kimppa {kimppa_id}", field="kimppa_id")
    return KimppaOut(
        id=row["id"],
        name=row["name"],
        library_system=row["library_system"],
        harvest_contact_email=row["harvest_contact_email"],
        melinda_code=row["melinda_code"],
        libraries=await store.kimppa_libraries(pool, kimppa_id),
    )


@router.get("/kimppas/{kimppa_id}", response_model=KimppaOut, summary="One kimppa")
async def get_kimppa(kimppa_id: KimppaId, request: Request, _: AnyCaller) -> KimppaOut:
    return await _kimppa_out(request, kimppa_id)


@router.get("/kimppas", response_model=list[KimppaOut], summary="All kimppas")
async def list_kimppas(request: Request, _: AnyCaller) -> list[KimppaOut]:
    return [
        KimppaOut(
            id=r["id"],
            name=r["name"],
            library_system=r["library_system"],
            harvest_contact_email=r["harvest_contact_email"],
            melinda_code=r["melinda_code"],
            libraries=list(r["libraries"]),
        )
        for r in await store.list_kimppas(pool_of(request))
    ]


# --- municipalities and population --------------------------------------------------------------


class MunicipalityOut(BaseModel):
    code: str
    name_fi: str
    name_sv: str | None
    population: int
    source: str


class FiguresOut(BaseModel):
    year: int | None = Field(description="Population on 31.12. of this year")
    municipalities: list[MunicipalityOut]


@router.get(
    "/municipalities",
    response_model=FiguresOut,
    summary="Municipalities and their official population",
)
async def municipalities(
    request: Request,
    _: AnyCaller,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="Default: latest")] = None,
) -> FiguresOut:
    pool = pool_of(request)
    chosen = year or await store.latest_year(pool)
    rows = await store.municipalities_page(pool, chosen) if chosen else []
    if year is not None and not rows:
        raise ApiError(404, f"no figures are loaded for {year}", field="year")
    return FiguresOut(year=chosen, municipalities=[MunicipalityOut(**dict(r)) for r in rows])


class FigureProblem(BaseModel):
    row: int
    field: str
    message: str


class LoadReport(BaseModel):
    year: int
    loaded: int
    population: int
    libraries_updated: int
    problems: list[FigureProblem]


@router.post(
    "/municipalities/population",
    response_model=LoadReport,
    summary="Load a year's population by municipality from Statistics Finland's PxWeb CSV",
    description="The CSV that Statistics Finland's PxWeb tables export (e.g. table 11ra): "
    'semicolon- or comma-separated, quoted or not, with the area as "091 Helsinki" or code '
    "and name in separate columns, and the population column named by its year. A file with "
    "any bad row loads nothing and the report lists every bad row (422). When the year is "
    "the latest, every library's and organisation's derived population follows.",
    responses={415: {"description": "the body is not multipart/form-data"}},
)
async def load_population(
    file: UploadFile,
    request: Request,
    _: Coordinator,
    _multipart: Annotated[None, Depends(multipart_only)],
    year: Annotated[int | None, Form(ge=1900, le=2200)] = None,
    source: Annotated[str, Form(max_length=200)] = "Statistics Finland, PxWeb table 11ra",
) -> LoadReport:
    parsed = population.parse_pxweb_csv(await _text_of(file), year)
    if parsed.problems or parsed.year is None:
        raise ApiError(
            422,
            "; ".join(f"row {p.row} {p.field}: {p.message}" for p in parsed.problems[:50])
            or "the year is neither given nor in the header",
            field="file" if not parsed.problems else parsed.problems[0].field,
        )
    changed = await commands.load_figures(
        pool_of(request), parsed.year, parsed.rows, source, today()
    )
    return LoadReport(
        year=parsed.year,
        loaded=len(parsed.rows),
        population=sum(m.population for m in parsed.rows),
        libraries_updated=changed,
        problems=[],
    )


# --- consortium agreement versions --------------------------------------------------------------


class VersionOut(BaseModel):
    version: str
    valid_from: dt.date
    document_name: str
    document_sha256: str
    notice_months: int
    notice_takes_effect: agreement.NoticeTakesEffect


class PublishedOut(VersionOut):
    members_asked: list[str]


@router.post(
    "/agreement-versions",
    status_code=201,
    response_model=PublishedOut,
    summary="Publish a consortium agreement version (agreement-version-published)",
    description="Multipart: the document as `file`, and the version's terms as form fields. "
    "The document is stored by its SHA-256; every member is asked to accept the version.",
    responses={415: {"description": "the body is not multipart/form-data"}},
)
async def publish_version(
    file: UploadFile,
    request: Request,
    _: Coordinator,
    _multipart: Annotated[None, Depends(multipart_only)],
    version: Annotated[str, Form(min_length=1, max_length=50, pattern=r"^[\w.\-]+$")],
    valid_from: Annotated[dt.date, Form()],
    notice_months: Annotated[int, Form(ge=0, le=60)],
    notice_takes_effect: Annotated[agreement.NoticeTakesEffect, Form()],
) -> PublishedOut:
    content = await file.read()
    if not content:
        raise ApiError(422, "the document is empty", field="file")
    media_type = (file.content_type or "application/octet-stream").split(";")[0]
    if media_type not in DOCUMENT_TYPES:
        raise ApiError(
            422, f"a document of type {media_type} is not accepted (PDF or text)", field="file"
        )
    terms = agreement.Version(version, valid_from, notice_months, notice_takes_effect)
    name = (file.filename or f"konsortiosopimus-{version}.pdf")[:200]
    asked = await commands.publish_version(
        pool_of(request), terms, name, media_type, content, today()
    )
    found = await store.get_version(pool_of(request), version)
    assert found is not None
    return PublishedOut(**_version_fields(found[1]), members_asked=asked)


def _version_fields(row: object) -> dict[str, object]:
    return {
        name: row[name]  # type: ignore[index]  # row is an asyncpg Record, typed loosely by the caller
        for name in (
            "version",
            "valid_from",
            "document_name",
            "document_sha256",
            "notice_months",
            "notice_takes_effect",
        )
    }


@router.get("/agreement-versions", response_model=list[VersionOut], summary="All versions")
async def list_versions(request: Request, _: AnyCaller) -> list[VersionOut]:
    return [VersionOut(**_version_fields(r)) for r in await store.list_versions(pool_of(request))]


VersionPath = Annotated[str, Field(max_length=50)]


@router.get(
    "/agreement-versions/{version}/document",
    summary="The version's document",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def version_document(version: VersionPath, request: Request, _: AnyCaller) -> Response:
    found = await store.get_version(pool_of(request), version)
    if found is None:
        raise ApiError(404, f"no agreement version {version}", field="version")
    doc = await store.document(pool_of(request), found[1]["document_sha256"])
    assert doc is not None
    return Response(
        content=bytes(doc["content"]),
        media_type=doc["media_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{found[1]["document_name"]}"',
            "ETag": f'"{found[1]["document_sha256"]}"',
        },
    )


class AwaitingOut(BaseModel):
    isil: str
    name_fi: str
    organisation: str | None


class AwaitingPage(BaseModel):
    version: str
    on: dt.date
    items: list[AwaitingOut]
    total: int


@router.get(
    "/agreement-versions/{version}/not-accepted",
    response_model=AwaitingPage,
    summary="Members that have not accepted the version",
)
async def not_accepted(
    version: VersionPath,
    request: Request,
    _: AnyCaller,
    on: Annotated[dt.date | None, Query(description="Members on this day; default today")] = None,
) -> AwaitingPage:
    pool = pool_of(request)
    if await store.get_version(pool, version) is None:
        raise ApiError(404, f"no agreement version {version}", field="version")
    day = on or today()
    rows = await store.not_accepted(pool, version, day)
    return AwaitingPage(
        version=version,
        on=day,
        items=[
            AwaitingOut(isil=r["isil"], name_fi=r["names"]["fi"], organisation=r["organisation"])
            for r in rows
        ],
        total=len(rows),
    )
