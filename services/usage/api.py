"""Usage HTTP API: SUSHI providers and harvests, uploads, usage reports, cost per use and
per-loan invoice checks.

Roles: the coordinator configures providers, harvests, mappings and invoice checks, and
uploads for any library; a library uploads and reads its own usage only; the coordinator and
procurement read everything. A provider's API key reference is write-only: no answer carries
it, and the key itself is never stored.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, HttpUrl, field_validator

from kit.app import pool_of
from kit.auth import Caller, Role, ensure_acts_for
from kit.errors import ApiError, multipart_only, problem
from kit.http import AnyCaller, Coordinator, Limit
from services.usage import commands, domain, store, xlsx

router = APIRouter(tags=["usage"])
Reader = AnyCaller
READ_ALL = (Role.COORDINATOR, Role.PROCUREMENT)
SAFE = re.compile(r"[^A-Za-z0-9._-]")
# Months COUNTER can report: no year 0 (which no date can hold), no far future.
MONTH_PATTERN = r"^(19|20|21)\d\d-(0[1-9]|1[0-2])$"
Id = Annotated[str, Field(max_length=100)]
Month = Annotated[str, Query(pattern=MONTH_PATTERN, examples=["2025-01"])]
Isil = Annotated[str, Field(min_length=3, max_length=16, pattern=r"^[A-Za-z]{2}-[A-Za-z0-9:/-]+$")]
# Who holds usage: a library's ISIL, or "kimppa:<id>" for a kimppa's customer id.
Holder = Annotated[str, Field(min_length=3, max_length=64, pattern=domain.HOLDER_PATTERN)]
Group = Literal["month", "title", "material_type", "library", "agreement"]


def _span(first: str, last: str) -> tuple[dt.date, dt.date]:
    a, b = domain.parse_month(first, "from"), domain.parse_month(last, "to")
    domain.months(a, b)
    return a, b


# --- providers --------------------------------------------------------------------------


class ProviderIn(BaseModel):
    platform: str = Field(min_length=1, max_length=200, examples=["ellibs"])
    release: Literal["5", "5.1"] = "5.1"
    base_url: HttpUrl = Field(description="SUSHI base, e.g. https://sushi.example/counter/r51")
    requestor_id: str = Field(min_length=1, max_length=200)
    api_key_ref: str | None = Field(
        None,
        max_length=200,
        pattern=r"^(env|file):[A-Za-z0-9_.-]+$",
        description="Where the API key is: env:NAME or file:NAME under the secrets directory",
    )
    reports: list[Literal["TR", "TR_B1", "PR"]] = Field(["TR"], min_length=1, max_length=3)
    customers: dict[Holder, Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=dict,
        max_length=2000,
        description="Library ISIL, or kimppa:<id> for a kimppa's customer id → customer id",
    )
    price_per_loan_cents: int | None = Field(None, ge=0, le=10_000_000)


class ProviderOut(BaseModel):
    agreement_id: str
    platform: str
    release: str
    base_url: str
    requestor_id: str
    api_key_set: bool
    reports: list[str]
    customers: dict[str, str]
    price_per_loan_cents: int | None


def _provider_out(row: dict[str, Any]) -> ProviderOut:
    return ProviderOut(
        agreement_id=row["agreement_id"],
        platform=row["platform"],
        release=row["release"],
        base_url=row["base_url"],
        requestor_id=row["requestor_id"],
        api_key_set=bool(row["api_key_ref"]),
        reports=list(row["reports"]),
        customers=row["customers"],
        price_per_loan_cents=row["price_per_loan_cents"],
    )


@router.put("/agreements/{agreement_id}/provider", response_model=ProviderOut)
async def put_provider(
    agreement_id: Id, body: ProviderIn, request: Request, _: Coordinator
) -> ProviderOut:
    values = body.model_dump()
    values["base_url"] = str(body.base_url)
    async with pool_of(request).acquire() as conn:
        await store.put_provider(conn, agreement_id, values)
        row = await store.get_provider(conn, agreement_id)
    assert row is not None
    return _provider_out(row)


@router.get("/agreements/{agreement_id}/provider", response_model=ProviderOut)
async def get_provider(agreement_id: Id, request: Request, caller: Reader) -> ProviderOut:
    if caller.role not in READ_ALL:
        raise ApiError(403, "only the coordinator and procurement see provider settings")
    async with pool_of(request).acquire() as conn:
        row = await store.get_provider(conn, agreement_id)
    if row is None:
        raise ApiError(404, f"no SUSHI provider for agreement {agreement_id}", field="agreement_id")
    return _provider_out(row)


# --- harvests ---------------------------------------------------------------------------


class HarvestIn(BaseModel):
    report: Literal["TR", "TR_B1", "PR"] = "TR"
    begin: str = Field(pattern=MONTH_PATTERN, examples=["2025-01"])
    end: str = Field(pattern=MONTH_PATTERN, examples=["2025-12"])
    libraries: list[Holder] | None = Field(
        None,
        max_length=2000,
        description="Libraries and kimppa:<id>s; default: every one with a customer id",
    )

    @field_validator("end")
    @classmethod
    def _order(cls, value: str, info: Any) -> str:
        begin = info.data.get("begin")
        if begin and value < begin:
            raise ValueError("end is before begin")
        return value


@router.post("/agreements/{agreement_id}/harvests", status_code=202)
async def start_harvest(
    agreement_id: Id, body: HarvestIn, request: Request, _: Coordinator
) -> dict[str, Any]:
    periods = domain.months(domain.parse_month(body.begin), domain.parse_month(body.end))
    if len(periods) > 120:
        raise ApiError(422, "at most 120 months per harvest", field="end")
    async with pool_of(request).acquire() as conn, conn.transaction():
        provider = await store.get_provider(conn, agreement_id)
        if provider is None:
            raise ApiError(
                409, f"agreement {agreement_id} has no SUSHI provider yet", field="agreement_id"
            )
        libraries = body.libraries or sorted(provider["customers"])
        missing = [isil for isil in libraries if isil not in provider["customers"]]
        if missing:
            raise ApiError(422, f"no customer id for {', '.join(missing[:5])}", field="libraries")
        if not libraries:
            raise ApiError(409, "the provider has no customer ids", field="libraries")
        queued = await store.enqueue(conn, agreement_id, libraries, body.report, periods)
    return {"queued": queued, "libraries": len(libraries), "months": len(periods)}


@router.get("/agreements/{agreement_id}/harvests")
async def list_harvests(
    agreement_id: Id,
    request: Request,
    caller: Reader,
    state: Literal["queued", "running", "done", "failed"] | None = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    if caller.role not in READ_ALL:
        raise ApiError(403, "only the coordinator and procurement see harvest jobs")
    async with pool_of(request).acquire() as conn:
        rows, total, counts = await store.jobs(conn, agreement_id, state, limit, offset)
    return {
        "items": [dict(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
        "counts": counts,
    }


@router.post("/agreements/{agreement_id}/harvests/retry")
async def retry_harvests(agreement_id: Id, request: Request, _: Coordinator) -> dict[str, int]:
    async with pool_of(request).acquire() as conn:
        return {"requeued": await store.retry_failed(conn, agreement_id)}


# --- uploads ----------------------------------------------------------------------------


def _lines(upload: UploadFile) -> Iterable[str]:
    return io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")


def _workbook(upload: UploadFile) -> str | None:
    """The upload's name if it is meant as an .xlsx workbook (by name, type or first bytes)."""
    head = upload.file.read(8)
    upload.file.seek(0)
    if xlsx.looks_like_xlsx(upload.filename, upload.content_type, head):
        return SAFE.sub("_", upload.filename or "the file")[:100]
    return None


def _unreadable(error: xlsx.Unreadable) -> ApiError:
    return ApiError(422, str(error), field="file")


def _rejected(report: commands.UploadReport) -> JSONResponse:
    return problem(
        422,
        "Unprocessable content",
        f"{report.error_count} of {report.rows} rows are broken; nothing was recorded",
        [{"row": e["row"], "field": e["column"], "message": e["message"]} for e in report.errors],
    )


def _accepted(report: commands.UploadReport) -> dict[str, Any]:
    return {"rows": report.rows, "facts": report.facts, "revisions": report.revisions}


@router.post(
    "/agreements/{agreement_id}/uploads/counter",
    dependencies=[Depends(multipart_only)],
    responses={422: {"description": "Broken rows, each named by row and column"}},
)
async def upload_counter(
    agreement_id: Id,
    file: UploadFile,
    request: Request,
    caller: Reader,
    isil: Annotated[str, Query(min_length=3, max_length=16)],
    report: Literal["TR", "TR_B1", "PR"] = "TR",
) -> Any:
    """A COUNTER 5.1 (or 5.0) tabular report, TSV, CSV or .xlsx (its first worksheet),
    streamed."""
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    workbook = _workbook(file)
    try:
        if workbook is not None:
            layout, rows = await asyncio.to_thread(
                commands.counter_table, xlsx.rows(file.file, workbook)
            )
        else:
            text = _lines(file)
            first = text.readline()  # type: ignore[attr-defined]  # _lines gives a text stream; its declared type is wider
            delimiter = "\t" if "\t" in first else ","
            layout, rows = commands.counter_rows(_chain([first], text), delimiter)
        result = await commands.ingest(
            pool_of(request),
            agreement_id=agreement_id,
            isil=isil,
            report_id=report,
            source="counter-upload",
            layout=layout,
            rows=rows,
        )
    except domain.RowError as error:
        raise ApiError(422, str(error), field=error.column) from None
    except commands.UploadRejected as rejected:
        return _rejected(rejected.report)
    except xlsx.Unreadable as error:
        raise _unreadable(error) from None
    except UnicodeDecodeError:
        raise ApiError(422, "the file is not UTF-8 text", field="file") from None
    except csv.Error as error:  # e.g. a field over the CSV module's size limit
        raise ApiError(422, f"the file is not readable CSV/TSV: {error}", field="file") from None
    return _accepted(result)


@router.put("/suppliers/{supplier}/mapping", response_model=domain.SupplierMapping)
async def put_mapping(
    supplier: Annotated[str, Field(max_length=100)],
    body: domain.SupplierMapping,
    request: Request,
    _: Coordinator,
) -> domain.SupplierMapping:
    async with pool_of(request).acquire() as conn:
        await store.put_mapping(conn, supplier, body.model_dump())
    return body


@router.post(
    "/agreements/{agreement_id}/uploads/supplier",
    dependencies=[Depends(multipart_only)],
    responses={422: {"description": "Broken rows, each named by row and column"}},
)
async def upload_supplier(
    agreement_id: Id,
    file: UploadFile,
    request: Request,
    caller: Reader,
    isil: Annotated[str, Query(min_length=3, max_length=16)],
    supplier: Annotated[str, Query(min_length=1, max_length=100)],
) -> Any:
    """A supplier's own loan report (CSV or .xlsx, its first worksheet), read through the
    supplier's saved mapping."""
    ensure_acts_for(caller, isil, also=(Role.COORDINATOR,))
    async with pool_of(request).acquire() as conn:
        saved = await store.get_mapping(conn, supplier)
    if saved is None:
        raise ApiError(404, f"no column mapping saved for supplier {supplier}", field="supplier")
    mapping = domain.SupplierMapping.model_validate(saved)
    try:
        workbook = _workbook(file)
        if workbook is not None:
            layout, rows = await asyncio.to_thread(
                commands.supplier_table, xlsx.rows(file.file, workbook), mapping
            )
        else:
            layout, rows = commands.supplier_rows(iter(_lines(file)), mapping)
        result = await commands.ingest(
            pool_of(request),
            agreement_id=agreement_id,
            isil=isil,
            report_id="SUPPLIER",
            source="supplier-upload",
            layout=layout,
            rows=rows,
        )
    except domain.RowError as error:
        raise ApiError(422, str(error), field=error.column) from None
    except commands.UploadRejected as rejected:
        return _rejected(rejected.report)
    except xlsx.Unreadable as error:
        raise _unreadable(error) from None
    except UnicodeDecodeError:
        raise ApiError(422, "the file is not UTF-8 text", field="file") from None
    except csv.Error as error:  # e.g. a field over the CSV module's size limit
        raise ApiError(422, f"the file is not readable CSV/TSV: {error}", field="file") from None
    return _accepted(result)


def _chain(head: Sequence[str], rest: Iterable[str]) -> Any:
    yield from head
    yield from rest


# --- reports ----------------------------------------------------------------------------


def _respond(rows: list[dict[str, Any]], columns: Sequence[str], fmt: str, name: str) -> Any:
    if fmt == "csv":
        body = domain.csv_lines(columns, ([r.get(c) for c in columns] for r in rows))
        return StreamingResponse(
            iter(body),
            media_type="text/csv; charset=utf-8",
            # Only safe characters in a header: ids come from the path, and could be anything.
            headers={"Content-Disposition": f'attachment; filename="{SAFE.sub("_", name)}.csv"'},
        )
    return {"items": rows, "total": len(rows)}


COLUMNS: dict[str, tuple[str, ...]] = {
    "month": ("month",),
    "title": ("title_id", "title"),
    "material_type": ("material_type",),
    "library": ("isil",),
    "agreement": ("agreement_id",),
}


async def _usage(
    request: Request,
    *,
    agreement_id: str | None,
    isil: str | None,
    first: str,
    last: str,
    group: Group,
    metric: str | None,
    fmt: str,
    name: str,
) -> Any:
    a, b = _span(first, last)
    async with pool_of(request).acquire() as conn:
        rows = await store.usage(
            conn, group=group, agreement_id=agreement_id, isil=isil, first=a, last=b, metric=metric
        )
    items = [dict(r) for r in rows]
    return _respond(items, (*COLUMNS[group], "report", "metric", "total"), fmt, name)


Metric = Annotated[str | None, Query(max_length=50, pattern=r"^[A-Za-z_]+$")]


@router.get("/libraries/{isil}/usage")
async def library_usage(
    isil: Annotated[str, Field(max_length=16)],
    request: Request,
    caller: Reader,
    from_: Annotated[str, Query(alias="from", pattern=MONTH_PATTERN)],
    to: Month,
    group: Group = "month",
    metric: Metric = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002
) -> Any:
    ensure_acts_for(caller, isil, also=READ_ALL)
    return await _usage(
        request,
        agreement_id=None,
        isil=isil,
        first=from_,
        last=to,
        group=group,
        metric=metric,
        fmt=format,
        name=f"usage-{isil}",
    )


@router.get("/kimppas/{kimppa_id}/usage")
async def kimppa_usage(
    kimppa_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
    request: Request,
    caller: Reader,
    from_: Annotated[str, Query(alias="from", pattern=MONTH_PATTERN)],
    to: Month,
    group: Group = "month",
    metric: Metric = None,
    agreement_id: Annotated[str | None, Query(max_length=100)] = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002
) -> Any:
    """Usage harvested for a kimppa's customer id (held by ``kimppa:<id>``): read by the
    coordinator and procurement, and by each library of the kimppa."""
    async with pool_of(request).acquire() as conn:
        if caller.role not in READ_ALL:
            member_of = await store.kimppa_of(conn, caller.isil) if caller.isil else None
            if caller.role is not Role.LIBRARY or member_of != kimppa_id:
                raise ApiError(
                    403, "a library token reads only its own kimppa's usage", field="kimppa_id"
                )
        elif await store.get_kimppa(conn, kimppa_id) is None:
            raise ApiError(404, f"no kimppa {kimppa_id}", field="kimppa_id")
    return await _usage(
        request,
        agreement_id=agreement_id,
        isil=domain.kimppa_holder(kimppa_id),
        first=from_,
        last=to,
        group=group,
        metric=metric,
        fmt=format,
        name=f"usage-kimppa-{kimppa_id}",
    )


def _scope(caller: Caller, isil: str | None) -> str | None:
    """A library sees only its own rows of an agreement's usage."""
    if caller.role in READ_ALL:
        return isil
    if caller.role is Role.LIBRARY and caller.isil and isil in (None, caller.isil):
        return caller.isil
    raise ApiError(403, "a library token reads only its own library's usage", field="isil")


@router.get("/agreements/{agreement_id}/usage")
async def agreement_usage(
    agreement_id: Id,
    request: Request,
    caller: Reader,
    from_: Annotated[str, Query(alias="from", pattern=MONTH_PATTERN)],
    to: Month,
    group: Group = "month",
    metric: Metric = None,
    isil: Annotated[str | None, Query(max_length=16)] = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002
) -> Any:
    return await _usage(
        request,
        agreement_id=agreement_id,
        isil=_scope(caller, isil),
        first=from_,
        last=to,
        group=group,
        metric=metric,
        fmt=format,
        name=f"usage-{agreement_id}",
    )


@router.get("/agreements/{agreement_id}/top-titles")
async def top_titles(
    agreement_id: Id,
    request: Request,
    caller: Reader,
    from_: Annotated[str, Query(alias="from", pattern=MONTH_PATTERN)],
    to: Month,
    metric: Annotated[str, Query(max_length=50)] = "Unique_Title_Requests",
    isil: Annotated[str | None, Query(max_length=16)] = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    a, b = _span(from_, to)
    async with pool_of(request).acquire() as conn:
        rows = await store.usage(
            conn,
            group="title",
            agreement_id=agreement_id,
            isil=_scope(caller, isil),
            first=a,
            last=b,
            metric=metric,
        )
    items = [dict(r) for r in rows[:limit]]
    return {"items": items, "total": len(rows), "limit": limit, "offset": 0}


@router.get("/agreements/{agreement_id}/unused-titles")
async def unused_titles(
    agreement_id: Id,
    request: Request,
    caller: Reader,
    from_: Annotated[str, Query(alias="from", pattern=MONTH_PATTERN)],
    to: Month,
    isil: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    a, b = _span(from_, to)
    async with pool_of(request).acquire() as conn:
        rows = await store.unused_titles(conn, agreement_id, _scope(caller, isil), a, b)
    return {"items": [dict(r) for r in rows], "total": len(rows)}


@router.get("/agreements/{agreement_id}/cost-per-use")
async def cost_per_use(
    agreement_id: Id,
    request: Request,
    caller: Reader,
    year: Annotated[int, Query(ge=2000, le=2100)],
    metric: Annotated[str, Query(max_length=50)] = "Unique_Title_Requests",
    on: Annotated[
        dt.date | None, Query(description="Day whose cost shares apply; default 31 Dec")
    ] = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002
) -> Any:
    """Each participant's annual cost share (procurement's rule, from its events) divided by
    the year's uses, in cents, rounded half up."""
    scope = _scope(caller, None)
    day = on or dt.date(year, 12, 31)
    async with pool_of(request).acquire() as conn:
        agreement = await store.get_agreement(conn, agreement_id)
        if agreement is None:
            raise ApiError(404, f"no signed agreement {agreement_id} known", field="agreement_id")
        people = await store.participants_on(conn, agreement_id, day)
        used = await store.uses(
            conn, agreement_id, dt.date(year, 1, 1), dt.date(year, 12, 1), metric
        )
    unknown = [p["isil"] for p in people if p["population"] is None]
    if unknown and agreement["cost_share_model"] != "equal":
        raise ApiError(
            409, f"population unknown for {', '.join(unknown[:5])}", field="agreement_id"
        )
    shares = domain.cost_shares(
        agreement["annual_cost_cents"],
        agreement["cost_share_model"],
        agreement["base_fee_cents"],
        {p["isil"]: p["population"] or 0 for p in people},
    )
    rows = []
    for isil, share in sorted(shares.items()):
        if scope is not None and isil != scope:
            continue
        n = used.get(isil, 0)
        cpu = domain.cost_per_use_cents(share, n)
        rows.append(
            {
                "isil": isil,
                "share_cents": share,
                "uses": n,
                "cost_per_use_cents": int(cpu) if cpu is not None else None,
            }
        )
    if format == "csv":
        cols = ("isil", "share_cents", "uses", "cost_per_use_cents")
        return _respond(rows, cols, "csv", f"cost-per-use-{agreement_id}-{year}")
    return {"agreement_id": agreement_id, "year": year, "metric": metric, "on": day, "items": rows}


class InvoiceCheckIn(BaseModel):
    isil: Isil | None = Field(None, description="The library invoiced; none for the whole deal")
    period_from: str = Field(pattern=MONTH_PATTERN, examples=["2025-01"])
    period_to: str = Field(pattern=MONTH_PATTERN, examples=["2025-03"])
    invoiced_cents: int = Field(ge=0, le=10**12)
    tolerance_cents: int = Field(0, ge=0, le=10**10)
    price_per_loan_cents: int | None = Field(
        None, ge=0, le=10_000_000, description="Default: the provider's contract price"
    )


@router.post("/agreements/{agreement_id}/invoice-checks")
async def invoice_check(
    agreement_id: Id, body: InvoiceCheckIn, request: Request, _: Coordinator
) -> dict[str, Any]:
    a, b = _span(body.period_from, body.period_to)
    check_id, check = await commands.check_invoice(
        pool_of(request),
        agreement_id=agreement_id,
        isil=body.isil,
        first=a,
        last=b,
        invoiced_cents=body.invoiced_cents,
        tolerance_cents=body.tolerance_cents,
        price_per_loan_cents=body.price_per_loan_cents,
    )
    return {
        "id": check_id,
        "loans": check.loans,
        "price_per_loan_cents": check.price_per_loan_cents,
        "expected_cents": check.expected_cents,
        "invoiced_cents": check.invoiced_cents,
        "difference_cents": check.difference_cents,
        "tolerance_cents": check.tolerance_cents,
        "discrepancy": check.discrepancy,
    }
