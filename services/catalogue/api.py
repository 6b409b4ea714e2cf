"""Catalogue HTTP API: collections, title-list ingest with quality reports, records, per-library
record sets and their exports, the OAI-PMH endpoint, and Melinda submissions.

Roles: a cataloguer loads title lists, makes collections and sends batches to Melinda; a
library reads, exports and harvests its own record set; the coordinator (and cataloguers)
read everything. OAI-PMH harvesters authenticate with the same bearer tokens, sent as
``Authorization: Bearer <token>`` or, for harvesters that only know HTTP Basic, as the
password of ``Authorization: Basic`` (any user name).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import datetime as dt
import hashlib
import io
import json
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from pymarc import Record
from pymarc.marcxml import record_to_xml
from starlette.datastructures import UploadFile

from kit.app import pool_of, runtime_of
from kit.auth import Caller, Role, ensure_acts_for
from kit.auth_http import require_role
from kit.csvsafe import safe_row, write_csv
from kit.errors import ApiError
from kit.http import AnyCaller, Limit, Page
from kit.logging import get_logger
from services.catalogue import commands, domain, exports, kimppa_store, store
from services.catalogue.commands import upload as uploads
from services.catalogue.deps import deps_of, spawn
from services.catalogue.melinda import jobs as melinda_jobs
from services.catalogue.melinda import store as melinda_store
from services.catalogue.melinda.client import MelindaUnavailable
from services.catalogue.oai.protocol import (
    RepositoryInfo,
    handle_request,
    library_set,
    token_payload,
)
from services.catalogue.oai.store import StoreRepository
from services.catalogue.quality import FINDINGS_CSV_COLUMNS, OUTCOMES

log = get_logger(__name__)
router = APIRouter(tags=["catalogue"])
Cataloguer = Annotated[Caller, Depends(require_role(Role.CATALOGUER))]
Staff = Annotated[Caller, Depends(require_role(Role.COORDINATOR, Role.CATALOGUER))]
READERS = (Role.COORDINATOR, Role.CATALOGUER)

CollectionId = Annotated[str, Field(pattern=domain.COLLECTION_ID_PATTERN, max_length=64)]
# Ids are ours or procurement's ("batch-…", "agreement-…"): anything else cannot exist, and a
# NUL or stray byte must be a 422, not a database error.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$"
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
IdPath = Annotated[str, PathParam(pattern=ID_PATTERN)]
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]
IsilQuery = Annotated[str | None, Query(pattern=domain.ISIL_PATTERN, max_length=16)]
IsilPath = Annotated[str, PathParam(pattern=domain.ISIL_PATTERN, max_length=16)]
# Record sets run to millions of rows, so an offset may go further than the kit's default.
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
ExportFormat = Literal["marc", "marcxml"]
CHUNK = 1024 * 1024


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # a timestamp without a zone is read as UTC
    return value


# --- models ------------------------------------------------------------------------------------


class CollectionIn(BaseModel):
    id: CollectionId | None = Field(None, description="Default: generated (col-…)")
    title: str = Field(min_length=1, max_length=300, pattern=NO_CONTROL)
    supplier: str | None = Field(None, max_length=200, pattern=NO_CONTROL)
    product: str | None = Field(None, max_length=200, pattern=NO_CONTROL)
    material_types: list[Annotated[str, Field(max_length=50, pattern=NO_CONTROL)]] = Field(
        default_factory=list, max_length=10
    )


class CollectionOut(BaseModel):
    id: str
    agreement_id: str | None
    title: str
    supplier: str | None
    product: str | None
    material_types: list[str]
    signed_on: dt.date | None
    ended_on: dt.date | None
    created_by: str
    created_at: dt.datetime
    records: int = 0
    withdrawn: int = 0
    libraries: int = 0


class CollectionPage(Page[CollectionOut]):
    pass


class BatchOut(BaseModel):
    id: str
    collection_id: str
    format: str
    mode: str
    filename: str | None
    size_bytes: int
    sha256: str
    language: str | None
    url_template: str | None
    status: Literal["processing", "done", "failed"]
    error: str | None
    processed: int
    counts: dict[str, int] | None
    report: dict[str, Any] | None
    created_by: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    force: bool = False
    owner: str | None = None
    links: dict[str, str] = Field(default_factory=dict)


class BatchPage(Page[BatchOut]):
    pass


class RecordOut(BaseModel):
    id: int
    collection_id: str
    match_key: str
    title: str
    reference: str | None
    deleted: bool
    datestamp: dt.datetime
    created_at: dt.datetime
    created_batch: str
    changed_batch: str


class RecordDetail(RecordOut):
    marc: dict[str, Any] = Field(description="MARC-in-JSON")
    linked: list[RecordOut] = Field(description="The same work in other collections")


class RecordPage(Page[RecordOut]):
    pass


class RecordSetOut(BaseModel):
    collection_id: str
    title: str
    agreement_id: str | None
    available: bool
    changed_at: dt.datetime
    records: int
    deleted: int
    oai_set: str = Field(
        description="The OAI-PMH set to harvest these records from: kimppa:<id> for a library "
        "in a kimppa, else library:<ISIL>"
    )


class KimppaOut(BaseModel):
    id: str
    name: str
    library_system: str
    melinda_code: str | None


class HarvestSetOut(BaseModel):
    isil: str
    oai_set: str = Field(description="The one OAI-PMH set the library harvests")
    set_name: str
    kimppa: KimppaOut | None


class MelindaJobIn(BaseModel):
    batch_id: str = Field(pattern=ID_PATTERN)
    mode: Literal["bulk", "single"] = "bulk"


class MelindaJobOut(BaseModel):
    id: str
    batch_id: str | None
    mode: str
    operation: str
    status: str
    stage: str
    remote_id: str | None
    remote_state: str | None
    total: int
    attempts: int
    last_error: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    counts: dict[str, int] = Field(default_factory=dict)


class MelindaJobPage(Page[MelindaJobOut]):
    pass


class MelindaRecordOut(BaseModel):
    record_id: int
    position: int
    status: str
    melinda_id: str | None
    message: str | None


class MelindaRecordPage(Page[MelindaRecordOut]):
    pass


class MelindaSubmitOut(BaseModel):
    record_id: int
    operation: Literal["create", "update"]
    status: str
    melinda_id: str | None
    message: str | None


def _batch_out(batch: dict[str, Any]) -> BatchOut:
    base = f"/batches/{batch['id']}"
    return BatchOut(
        **batch,
        links={
            "self": base,
            "report": f"{base}/report",
            "report_csv": f"{base}/report.csv",
            "findings_csv": f"{base}/findings.csv",
            "melinda_export": f"{base}/melinda.xml",
        },
    )


# --- collections ------------------------------------------------------------------------------


@router.get("/collections", response_model=CollectionPage, summary="Collections")
async def list_collections(
    request: Request,
    _: AnyCaller,
    agreement_id: IdQuery = None,
    isil: IsilQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CollectionPage:
    rows, total = await store.list_collections(
        pool_of(request), agreement_id=agreement_id, isil=isil, limit=limit, offset=offset
    )
    return CollectionPage(
        items=[CollectionOut(**row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/collections",
    response_model=CollectionOut,
    status_code=201,
    summary="Make a collection outside any agreement",
)
async def create_collection(
    request: Request, body: CollectionIn, caller: Cataloguer
) -> CollectionOut:
    collection = await commands.create_collection(
        pool_of(request),
        collection_id=body.id,
        title=body.title,
        supplier=body.supplier,
        product=body.product,
        material_types=body.material_types,
        created_by=caller.subject,
    )
    return CollectionOut(**collection.__dict__)


async def _collection(request: Request, collection_id: str) -> store.Collection:
    collection = await store.get_collection(pool_of(request), collection_id)
    if collection is None:
        raise ApiError(404, f"no collection {collection_id}", field="collection_id")
    return collection


@router.get("/collections/{collection_id}", response_model=CollectionOut, summary="A collection")
async def get_collection(request: Request, collection_id: IdPath, _: AnyCaller) -> CollectionOut:
    collection = await _collection(request, collection_id)
    counts = await store.collection_counts(pool_of(request), collection_id)
    return CollectionOut(**collection.__dict__, **counts)


@router.get(
    "/collections/{collection_id}/libraries",
    summary="Libraries whose record sets hold (or held) the collection",
)
async def collection_libraries(
    request: Request, collection_id: IdPath, _: Staff
) -> list[dict[str, Any]]:
    await _collection(request, collection_id)
    return await store.collection_libraries(pool_of(request), collection_id)


def _safe_name(name: str) -> str:
    """A file name for Content-Disposition: ASCII letters, digits, dot, dash, underscore."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "records"


def _export_response(body: AsyncIterator[bytes], fmt: ExportFormat, name: str) -> StreamingResponse:
    name = _safe_name(name)
    return StreamingResponse(
        body,
        media_type=exports.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{exports.EXTENSIONS[fmt]}"',
            "X-Export-Started": dt.datetime.now(dt.UTC).isoformat(),
        },
    )


EXPORT_DOC = (
    "Without `since`: every current record. With `since`: every change at or after that "
    "time, deleted records included (leader/05 'd'). Use the previous export's "
    "X-Export-Started header, less a minute of overlap, as the next `since`."
)


@router.get(
    "/collections/{collection_id}/export",
    summary="A collection's records as MARC 21 or MARCXML (streamed)",
    description=EXPORT_DOC,
    response_class=StreamingResponse,
)
async def export_collection(
    request: Request,
    collection_id: IdPath,
    _: Staff,
    format: ExportFormat = "marcxml",  # noqa: A002
    since: dt.datetime | None = None,
) -> StreamingResponse:
    await _collection(request, collection_id)
    body = exports.collection_export(pool_of(request), collection_id, _aware(since), format)
    return _export_response(body, format, collection_id)


# --- ingest -----------------------------------------------------------------------------------

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/marc": {"schema": {"type": "string", "format": "binary"}},
            "application/xml": {"schema": {"type": "string", "format": "binary"}},
            "text/tab-separated-values": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _new_spool(directory: Path) -> tuple[Any, Path]:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by the caller
        dir=directory, prefix="batch-", suffix=".upload", delete=False
    )
    return handle, Path(handle.name)


async def _spool(request: Request, kind: str, limit: int, directory: Path) -> uploads.SpooledFile:
    """Copy the upload to a spool file chunk by chunk, counting and hashing it; the file is
    never held in memory. Raw bodies stream straight in; multipart parts are spooled by the
    form parser first (its own temporary file) and copied."""
    handle, path = _new_spool(directory)
    digest = hashlib.sha256()
    size = 0
    filename: str | None = None
    try:
        if kind == "raw":
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"the file may be at most {limit} bytes", field="body")
                digest.update(chunk)
                handle.write(chunk)
        else:
            async with request.form(max_files=1, max_fields=10) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise ApiError(
                        422, "send the title list as the multipart field 'file'", field="file"
                    )
                filename = domain.check_filename(upload.filename, field="file.filename")
                part_type = domain.media_type(upload.content_type)
                if part_type:
                    domain.check_content_type(part_type)
                while chunk := await upload.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, f"the file may be at most {limit} bytes", field="file")
                    digest.update(chunk)
                    handle.write(chunk)
        handle.close()
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    return uploads.SpooledFile(path, size, digest.hexdigest(), filename)


@router.post(
    "/batches",
    response_model=BatchOut,
    status_code=202,
    summary="Load a supplier title list into a collection (multipart 'file' or raw body)",
    description=(
        "ONIX 3.0, MARC 21 (ISO 2709), MARCXML or KBART Phase II TSV, detected from the "
        "content unless `format` says. `mode=full` withdraws the collection's titles that the "
        "list no longer has; `mode=delta` (the default) never withdraws. A full load of a file "
        "that ends early, or whose rejected share is above the configured limit, is refused as "
        "a whole (the batch fails, nothing is stored or withdrawn); a coordinator may force it "
        "with `force=true`, which the batch records. The batch runs in the background: follow "
        "it at `/batches/{id}`, or pass `wait=true` to get it finished."
    ),
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": BatchOut, "description": "wait=true: the finished (or failed) batch"},
        403: {"description": "the role may not load title lists, or force a full load"},
        409: {"description": "another batch is running in the collection"},
        413: {"description": "the file is too large"},
        415: {"description": "not a title-list content type"},
    },
)
async def upload_batch(
    request: Request,
    response: Response,
    caller: Staff,
    collection: Annotated[str, Query(pattern=domain.COLLECTION_ID_PATTERN, max_length=64)],
    format: Annotated[  # noqa: A002
        Literal["onix", "marc", "marcxml", "kbart"] | None,
        Query(description="Override format detection"),
    ] = None,
    mode: Literal["full", "delta"] = "delta",
    language: Annotated[
        str | None,
        Query(max_length=20, pattern=NO_CONTROL, description="Language of a KBART list (fin…)"),
    ] = None,
    url_template: Annotated[
        str | None,
        Query(
            max_length=500,
            pattern=NO_CONTROL,
            description="Access URL for ONIX products without one, {isbn}",
        ),
    ] = None,
    filename: Annotated[
        str | None, Query(max_length=300, description="The file's name, for raw bodies")
    ] = None,
    wait: bool = False,
    force: Annotated[
        bool,
        Query(
            description=(
                "Coordinator only: run a full load even if the file ends early or too many of "
                "its records are rejected, withdrawing what it lacks"
            )
        ),
    ] = False,
) -> BatchOut:
    deps = deps_of(request)
    pool = pool_of(request)
    asked = uploads.UploadRequest(
        collection=collection,
        fmt=format,
        mode=mode,
        language=language,
        url_template=url_template,
        filename=filename,
        force=force,
    )
    uploads.authorise(caller.role, force)
    checked = await uploads.check(pool, asked, request.headers.get("content-type"))
    spooled = await _spool(
        request, checked.kind, deps.settings.catalogue_upload_max_bytes, deps.spool_dir
    )
    try:
        job, batch = await uploads.open_upload(
            pool,
            checked,
            spooled,
            chunk_size=deps.settings.catalogue_chunk_size,
            max_rejected_share=deps.settings.catalogue_full_load_max_rejected_share,
            withdrawal_limit=domain.WithdrawalLimit(
                deps.settings.catalogue_full_load_max_withdrawn_share,
                deps.settings.catalogue_full_load_withdrawal_check_from,
            ),
            created_by=caller.subject,
            agency=deps.settings.catalogue_agency_isil,
        )
    except BaseException:
        spooled.path.unlink(missing_ok=True)
        raise
    target = checked.target
    task = spawn(
        runtime_of(request), commands.run_batch(pool, job, target), name=f"ingest-{job.batch_id}"
    )
    if wait:
        # Shielded: a client that stops waiting does not stop the batch.
        finished = await asyncio.shield(task)
        response.status_code = 200
        return _batch_out(finished or batch)
    response.headers["Location"] = f"/batches/{job.batch_id}"
    return _batch_out(batch)


@router.get("/batches", response_model=BatchPage, summary="Batches, newest first")
async def list_batches(
    request: Request,
    _: Staff,
    collection: IdQuery = None,
    status: Annotated[Literal["processing", "done", "failed"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> BatchPage:
    rows, total = await store.list_batches(
        pool_of(request), collection_id=collection, status=status, limit=limit, offset=offset
    )
    return BatchPage(items=[_batch_out(r) for r in rows], total=total, limit=limit, offset=offset)


async def _batch(request: Request, batch_id: str) -> dict[str, Any]:
    batch = await store.get_batch(pool_of(request), batch_id)
    if batch is None:
        raise ApiError(404, f"no batch {batch_id}", field="batch_id")
    return batch


@router.get("/batches/{batch_id}", response_model=BatchOut, summary="A batch: progress, counts")
async def get_batch(request: Request, batch_id: IdPath, _: Staff) -> BatchOut:
    return _batch_out(await _batch(request, batch_id))


@router.get("/batches/{batch_id}/report", summary="A batch's quality report")
async def batch_report(request: Request, batch_id: IdPath, _: Staff) -> dict[str, Any]:
    batch = await _batch(request, batch_id)
    if batch["status"] == "processing" or not batch["report"]:
        # A refused full load fails with its counts and findings: that report is shown.
        raise ApiError(409, f"batch {batch_id} is {batch['status']}: no report", field="batch_id")
    report = batch["report"] or {}
    return {
        "batch_id": batch_id,
        "collection_id": batch["collection_id"],
        "format": batch["format"],
        "mode": batch["mode"],
        "counts": batch["counts"],
        "top_findings": report.get("top_findings", []),
        **({"note": report["note"]} if "note" in report else {}),
        **({"refused": report["refused"]} if "refused" in report else {}),
        **({"forced": report["forced"]} if "forced" in report else {}),
    }


@router.get(
    "/batches/{batch_id}/conversion-report",
    summary="How many of a batch's records carry each core field as Melinda takes it",
    description=(
        "Over the batch's new and changed records: for each core field (020, 040, 041, 100, "
        "240, 245, 264, 300, 336-338, 347, 490, 511, 700) how many records it applies to and "
        "how many have it in the form the National Library's ONIX transformer writes, and the "
        "share over all core fields."
    ),
)
async def batch_conversion_report(request: Request, batch_id: IdPath, _: Staff) -> dict[str, Any]:
    batch = await _batch(request, batch_id)
    if batch["status"] != "done":
        raise ApiError(409, f"batch {batch_id} is {batch['status']}: no report", field="batch_id")
    return {"batch_id": batch_id, **await exports.conversion_report(pool_of(request), batch_id)}


def report_csv(counts: dict[str, int], report: dict[str, Any]) -> str:
    """The quality report as CSV: totals, one row per outcome, then the top findings."""
    rows: list[list[Any]] = [["section", "severity", "code", "count"]]
    rows.append(["total", "", "", counts.get("received", 0)])
    for outcome in OUTCOMES:
        rows.append(["outcome", "", outcome, report.get("counts", {}).get(outcome, 0)])
    rows.append(["outcome", "", "warnings", counts.get("warnings", 0)])
    rows.append(["outcome", "", "withdrawn", counts.get("withdrawn", 0)])
    for finding in report.get("top_findings", []):
        rows.append(["finding", finding["severity"], finding["code"], finding["count"]])
    return write_csv(rows, lineterminator="\n")  # formula-starting cells neutralised


@router.get(
    "/batches/{batch_id}/report.csv",
    summary="A batch's quality report as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def batch_report_csv(request: Request, batch_id: IdPath, _: Staff) -> Response:
    batch = await _batch(request, batch_id)
    if batch["status"] != "done":
        raise ApiError(409, f"batch {batch_id} is {batch['status']}: no report", field="batch_id")
    return Response(
        report_csv(batch["counts"] or {}, batch["report"] or {}),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_safe_name(batch_id)}-report.csv"'
        },
    )


@router.get(
    "/batches/{batch_id}/findings.csv",
    summary="Every finding of a batch, one row per finding (streamed CSV)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def batch_findings_csv(request: Request, batch_id: IdPath, _: Staff) -> StreamingResponse:
    await _batch(request, batch_id)
    pool = pool_of(request)

    async def rows() -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FINDINGS_CSV_COLUMNS)
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            async for row in store.findings_cursor(conn, batch_id):
                writer.writerow(safe_row(row.values()))  # a supplier's text runs no formula
                if out.tell() > 64 * 1024:
                    yield out.getvalue().encode()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue().encode()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_safe_name(batch_id)}-findings.csv"'
        },
    )


@router.get(
    "/batches/{batch_id}/melinda.xml",
    summary="A batch's new and changed records, Melinda-ready MARCXML (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/marcxml+xml": {}}}},
)
async def batch_melinda_export(request: Request, batch_id: IdPath, _: Staff) -> StreamingResponse:
    batch = await _batch(request, batch_id)
    if batch["status"] != "done":
        raise ApiError(409, f"batch {batch_id} is {batch['status']}", field="batch_id")
    settings = deps_of(request).settings
    return StreamingResponse(
        exports.melinda_export(
            pool_of(request),
            batch_id,
            settings.catalogue_agency_isil,
            settings.melinda_sid_code,
        ),
        media_type="application/marcxml+xml",
        headers={
            "Content-Disposition": f'attachment; filename="{_safe_name(batch_id)}-melinda.xml"'
        },
    )


# --- records ----------------------------------------------------------------------------------


@router.get("/records", response_model=RecordPage, summary="Records, filtered")
async def list_records(
    request: Request,
    _: Staff,
    collection: IdQuery = None,
    match_key: Annotated[str | None, Query(pattern=r"^([0-9]{7}[0-9X]|[0-9]{13})$")] = None,
    title: Annotated[str | None, Query(max_length=200, pattern=NO_CONTROL)] = None,
    include_deleted: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RecordPage:
    rows, total = await store.list_records(
        pool_of(request),
        collection_id=collection,
        match_key=match_key,
        title=title,
        include_deleted=include_deleted,
        limit=limit,
        offset=offset,
    )
    return RecordPage(items=[RecordOut(**r) for r in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/records/{record_id}",
    summary="One record (JSON with MARC-in-JSON and linked records, MARCXML, or MARC 21)",
    responses={200: {"content": {"application/marcxml+xml": {}, "application/marc": {}}}},
    response_model=RecordDetail,
)
async def get_record(
    request: Request,
    record_id: Annotated[int, PathParam(ge=1, le=2**62)],
    caller: AnyCaller,
    format: Literal["json", "marcxml", "marc"] = "json",  # noqa: A002
) -> Any:
    pool = pool_of(request)
    row = await store.get_record(pool, record_id)
    if row is None or not (
        caller.role in READERS
        or (
            caller.role is Role.LIBRARY
            and caller.isil
            and await store.library_holds(pool, caller.isil, record_id)
        )
    ):
        raise ApiError(404, f"no record {record_id}", field="record_id")
    record = exports.stamped(row["marc"], row["datestamp"], deleted=row["deleted"])
    if format == "marcxml":
        return Response(record_to_xml(record, namespace=True), media_type="application/marcxml+xml")
    if format == "marc":
        return Response(record.as_marc(), media_type="application/marc")
    linked = await store.linked_records(pool, record_id)
    data = {k: v for k, v in row.items() if k != "marc"}
    return RecordDetail(
        **data,
        marc=json.loads(record.as_json()),
        linked=[RecordOut(**r) for r in linked] if caller.role in READERS else [],
    )


@router.get(
    "/works/{match_key}",
    response_model=list[RecordOut],
    summary="One work across collections: the records sharing a match key",
)
async def work(
    request: Request,
    match_key: Annotated[str, PathParam(pattern=r"^([0-9]{7}[0-9X]|[0-9]{13})$")],
    _: Staff,
) -> list[RecordOut]:
    rows, _total = await store.list_records(
        pool_of(request),
        collection_id=None,
        match_key=match_key,
        title=None,
        include_deleted=True,
        limit=500,
        offset=0,
    )
    return [RecordOut(**r) for r in rows]


# --- per-library record sets ------------------------------------------------------------------


@router.get(
    "/libraries/{isil}/collections",
    response_model=list[RecordSetOut],
    summary="A library's record set: the collections it holds or held",
)
async def library_collections(
    request: Request, isil: IsilPath, caller: AnyCaller
) -> list[RecordSetOut]:
    ensure_acts_for(caller, isil, also=READERS)
    kimppa = await kimppa_store.kimppa_of(pool_of(request), isil)
    oai_set = domain.harvest_set(isil, kimppa.id if kimppa is not None else None)
    return [
        RecordSetOut(**row, oai_set=oai_set)
        for row in await store.library_sets(pool_of(request), isil)
    ]


@router.get(
    "/libraries/{isil}/oai-set",
    response_model=HarvestSetOut,
    summary="The OAI-PMH set a library harvests: its kimppa's, or its own outside a kimppa",
)
async def library_harvest_set(request: Request, isil: IsilPath, caller: AnyCaller) -> HarvestSetOut:
    ensure_acts_for(caller, isil, also=READERS)
    pool = pool_of(request)
    kimppa = await kimppa_store.kimppa_of(pool, isil)
    if kimppa is not None:
        return HarvestSetOut(
            isil=isil,
            oai_set=domain.kimppa_set(kimppa.id),
            set_name=f"{kimppa.name} ({kimppa.library_system})",
            kimppa=KimppaOut(
                id=kimppa.id,
                name=kimppa.name,
                library_system=kimppa.library_system,
                melinda_code=kimppa.melinda_code,
            ),
        )
    name = await kimppa_store.library_name(pool, isil) or isil
    return HarvestSetOut(
        isil=isil, oai_set=domain.harvest_set(isil, None), set_name=f"{name} ({isil})", kimppa=None
    )


@router.get(
    "/libraries/{isil}/export",
    summary="A library's records as MARC 21 or MARCXML (streamed)",
    description=EXPORT_DOC,
    response_class=StreamingResponse,
)
async def export_library(
    request: Request,
    isil: IsilPath,
    caller: AnyCaller,
    format: ExportFormat = "marcxml",  # noqa: A002
    since: dt.datetime | None = None,
) -> StreamingResponse:
    ensure_acts_for(caller, isil, also=READERS)
    body = exports.library_export(pool_of(request), isil, _aware(since), format)
    return _export_response(body, format, f"{isil}-records")


# --- OAI-PMH ----------------------------------------------------------------------------------


def _oai_caller(request: Request) -> Caller:
    """Bearer token, or the token as the password of HTTP Basic (for harvesters that only
    know Basic)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = ""
    if scheme.lower() == "bearer":
        token = value.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ApiError(401, "malformed Basic credentials", field="authorization") from error
        token = decoded.partition(":")[2]
    if not token:
        raise ApiError(
            401,
            "a bearer token is required (Authorization: Bearer <token>, or the token as the "
            "Basic password)",
            field="authorization",
        )
    return request.app.state.token_verifier.verify(token)


def _requested_set(args: list[tuple[str, str]], token_key: bytes) -> str | None:
    """The set a request names, directly or inside its resumption token (a token that is not
    ours names nothing here: it is the protocol's badResumptionToken, answered later)."""
    for key, value in args:
        if key == "set":
            return value
        if key == "resumptionToken":
            payload = token_payload(value, token_key)
            found = payload.get("set") if payload is not None else None
            return found if isinstance(found, str) else None
    return None


OAI_DOC = (
    "OAI-PMH 2.0, all six verbs; sets `kimppa:<id>` (a kimppa's shared set: each record once, "
    "its holding libraries as 852 $a ISIL; deleted when the last of them loses it), "
    "`library:<ISIL>` (a library outside a kimppa) and `collection:<id>`; formats `marc21` "
    "and `oai_dc`; deleted records are persistent. A library token harvests its kimppa's set "
    "and its own set `library:<ISIL>` (without `set`, its own); coordinator and cataloguer "
    "tokens harvest everything. Authenticate with `Authorization: Bearer <token>`, or HTTP "
    "Basic with the token as the password. Resumption tokens are signed: a changed or foreign "
    "one is a badResumptionToken."
)


@router.get(
    "/oai",
    name="oai_pmh",
    tags=["oai-pmh"],
    summary="OAI-PMH 2.0 request (GET)",
    description=OAI_DOC,
    response_class=Response,
    responses={200: {"content": {"text/xml": {}}}},
)
async def oai_get(request: Request) -> Response:
    return await _oai(request)


@router.post(
    "/oai",
    tags=["oai-pmh"],
    summary="OAI-PMH 2.0 request (POST, application/x-www-form-urlencoded)",
    description=OAI_DOC,
    response_class=Response,
    responses={200: {"content": {"text/xml": {}}}},
)
async def oai_post(request: Request) -> Response:
    return await _oai(request)


async def _oai(request: Request) -> Response:
    caller = _oai_caller(request)
    if caller.role not in (*READERS, Role.LIBRARY):
        raise ApiError(403, f"role {caller.role.value} may not harvest records")
    if request.method == "POST":
        if domain.media_type(request.headers.get("content-type")) != (
            "application/x-www-form-urlencoded"
        ):
            raise ApiError(
                415,
                "OAI-PMH POST requests are application/x-www-form-urlencoded",
                field="content-type",
            )
        raw = await request.body()
        try:
            args = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as error:
            raise ApiError(400, "the form is not UTF-8", field="body") from error
    else:
        args = list(request.query_params.multi_items())
    scope = None
    kimppa_id = None
    if caller.role is Role.LIBRARY:
        assert caller.isil is not None
        scope = caller.isil
        kimppa = await kimppa_store.kimppa_of(pool_of(request), caller.isil)
        kimppa_id = kimppa.id if kimppa is not None else None
        allowed = [library_set(caller.isil)]
        if kimppa_id is not None:
            allowed.insert(0, domain.kimppa_set(kimppa_id))
        requested = _requested_set(args, deps_of(request).oai_token_key)
        if requested is not None and requested not in allowed:
            raise ApiError(
                403,
                f"a library token harvests only its own sets ({', '.join(allowed)})",
                field="set",
            )
    deps = deps_of(request)
    settings = deps.settings
    public = runtime_of(request).settings.public_url.rstrip("/")
    base_url = f"{public}/oai" if public else str(request.url_for("oai_pmh"))
    problems: list[tuple[int, str, str]] = []

    def left_out(identifier: str, error: Exception) -> None:
        parsed = domain.parse_identifier(settings.oai_namespace, identifier)
        problems.append(exports.unrenderable(parsed[1] if parsed else None, "oai-pmh", error))

    body = await handle_request(
        args,
        StoreRepository(pool_of(request), settings.oai_namespace, isil=scope, kimppa=kimppa_id),
        RepositoryInfo(
            settings.oai_repository_name,
            base_url,
            (settings.oai_admin_email,),
            token_key=deps.oai_token_key,
        ),
        now=dt.datetime.now(dt.UTC),
        page_size=settings.oai_page_size,
        on_unrenderable=left_out,
    )
    if problems:
        try:
            await store.note_unrenderable(pool_of(request), problems)
        except Exception:  # the page is answered either way; the finding is best effort
            log.exception("could not note unrenderable records")
    return Response(body, media_type="text/xml; charset=utf-8")


# --- Melinda ----------------------------------------------------------------------------------


def _job_out(job: dict[str, Any], counts: dict[str, int]) -> MelindaJobOut:
    return MelindaJobOut(**{k: v for k, v in job.items() if k != "lease_until"}, counts=counts)


@router.post(
    "/melinda/jobs",
    response_model=list[MelindaJobOut],
    status_code=202,
    tags=["melinda"],
    summary="Send a batch's new and changed records to Melinda (a job per operation)",
    responses={503: {"description": "the Melinda adapter is not configured"}},
)
async def create_melinda_jobs(
    request: Request, body: MelindaJobIn, caller: Cataloguer
) -> list[MelindaJobOut]:
    deps = deps_of(request)
    if deps.melinda.client is None:
        raise ApiError(
            503, "the Melinda adapter is not configured (KONSORTIO_MELINDA_URL)", field="melinda"
        )
    pool = pool_of(request)
    jobs = await melinda_jobs.create_jobs(pool, body.batch_id, body.mode, caller.subject)
    runtime = runtime_of(request)
    for job in jobs:
        spawn(runtime, melinda_jobs.run_job(pool, deps.melinda, job["id"]), f"melinda-{job['id']}")
    return [_job_out(job, {"pending": job["total"]}) for job in jobs]


@router.get(
    "/melinda/jobs", response_model=MelindaJobPage, tags=["melinda"], summary="Melinda jobs"
)
async def list_melinda_jobs(
    request: Request,
    _: Staff,
    batch_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MelindaJobPage:
    pool = pool_of(request)
    rows, total = await melinda_store.list_jobs(pool, batch_id=batch_id, limit=limit, offset=offset)
    items = [_job_out(row, await melinda_store.job_counts(pool, row["id"])) for row in rows]
    return MelindaJobPage(items=items, total=total, limit=limit, offset=offset)


async def _job(request: Request, job_id: str) -> dict[str, Any]:
    job = await melinda_store.get_job(pool_of(request), job_id)
    if job is None:
        raise ApiError(404, f"no Melinda job {job_id}", field="job_id")
    return job


@router.get(
    "/melinda/jobs/{job_id}",
    response_model=MelindaJobOut,
    tags=["melinda"],
    summary="A Melinda job, with its records counted by status",
)
async def get_melinda_job(request: Request, job_id: IdPath, _: Staff) -> MelindaJobOut:
    job = await _job(request, job_id)
    return _job_out(job, await melinda_store.job_counts(pool_of(request), job_id))


@router.get(
    "/melinda/jobs/{job_id}/records",
    response_model=MelindaRecordPage,
    tags=["melinda"],
    summary="A Melinda job's status per record",
)
async def melinda_job_records(
    request: Request,
    job_id: IdPath,
    _: Staff,
    status: Annotated[
        Literal["pending", "sent", "created", "updated", "skipped", "duplicate", "error", "invalid"]
        | None,
        Query(),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> MelindaRecordPage:
    await _job(request, job_id)
    rows, total = await melinda_store.job_records(
        pool_of(request), job_id, status=status, limit=limit, offset=offset
    )
    return MelindaRecordPage(
        items=[MelindaRecordOut(**r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/melinda/jobs/{job_id}/resume",
    response_model=MelindaJobOut,
    status_code=202,
    tags=["melinda"],
    summary="Resume an interrupted Melinda job now (the scheduler also does, after a while)",
)
async def resume_melinda_job(request: Request, job_id: IdPath, _: Cataloguer) -> MelindaJobOut:
    job = await _job(request, job_id)
    deps = deps_of(request)
    if deps.melinda.client is None:
        raise ApiError(503, "the Melinda adapter is not configured", field="melinda")
    if job["status"] in ("done", "failed"):
        raise ApiError(409, f"job {job_id} is {job['status']}", field="job_id")
    pool = pool_of(request)
    # An explicit resume does not wait for a postponed job's retry time. A job another
    # process is running right now keeps its lease: the claim below then finds it taken.
    await melinda_store.release_postponed(pool, job_id)
    spawn(
        runtime_of(request), melinda_jobs.run_job(pool, deps.melinda, job_id), f"melinda-{job_id}"
    )
    return _job_out(job, await melinda_store.job_counts(pool, job_id))


@router.post(
    "/records/{record_id}/melinda",
    response_model=MelindaSubmitOut,
    tags=["melinda"],
    summary="Create or update one record in Melinda now",
)
async def submit_to_melinda(
    request: Request, record_id: Annotated[int, PathParam(ge=1, le=2**62)], _: Cataloguer
) -> MelindaSubmitOut:
    try:
        outcome, operation = await melinda_jobs.submit_record(
            pool_of(request), deps_of(request).melinda, record_id
        )
    except MelindaUnavailable as error:
        raise ApiError(503, f"Melinda is unavailable: {error}", field="melinda") from error
    return MelindaSubmitOut(
        record_id=record_id,
        operation=operation,
        status=outcome.status,
        melinda_id=outcome.melinda_id,
        message=outcome.message,
    )


@router.get(
    "/melinda/records/{melinda_id}",
    tags=["melinda"],
    summary="Read one record from Melinda (MARCXML)",
    response_class=Response,
    responses={200: {"content": {"application/marcxml+xml": {}}}},
)
async def read_from_melinda(
    request: Request,
    melinda_id: Annotated[str, PathParam(pattern=r"^[0-9]{1,12}$")],
    _: Staff,
) -> Response:
    melinda = deps_of(request).melinda
    if melinda.client is None:
        raise ApiError(503, "the Melinda adapter is not configured", field="melinda")
    client = melinda.client()
    try:
        record: Record | None = await client.read(melinda_id)
    except MelindaUnavailable as error:
        raise ApiError(503, f"Melinda is unavailable: {error}", field="melinda") from error
    finally:
        await client.aclose()
    if record is None:
        raise ApiError(404, f"Melinda has no record {melinda_id}", field="melinda_id")
    return Response(record_to_xml(record, namespace=True), media_type="application/marcxml+xml")
