"""Marketing kits over HTTP: the coordinator creates kits and uploads their files; member
libraries and staff list and download them.

Downloads are always served as attachments with ``nosniff`` and a sandboxing CSP, so even
an SVG is never rendered in the service's origin; every response carries the file's SHA-256.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, model_validator

from kit.app import pool_of, runtime_of
from kit.auth import Caller, Role
from kit.errors import ApiError, multipart_only
from kit.http import DEFAULT_LIMIT, AnyCaller, Coordinator, Limit, Offset, Page
from services.outreach import commands, store
from services.outreach.deps import OutreachDeps
from services.outreach.domain import Text
from services.outreach.settings import OutreachSettings
from services.outreach.storage import KitStorage, TooLarge
from services.outreach.uploads import ALLOWED_EXTENSIONS

router = APIRouter(tags=["marketing kits"])
KitLanguage = Literal["fi", "sv", "any"]
Category = Literal["poster", "social", "logo", "guide", "other"]


class KitIn(BaseModel):
    title: Text = Field(min_length=1, max_length=200, examples=["Ellibs E-kirjasto: markkinointi"])
    description: Text = Field("", max_length=5000)
    product: Text | None = Field(
        None, min_length=1, max_length=300, description="The e-service (product name)"
    )
    agreement_id: Text | None = Field(None, min_length=1, max_length=100)
    onboarding: bool = Field(False, description="Sent with every welcome message")

    @model_validator(mode="after")
    def _belongs_somewhere(self) -> KitIn:
        if not (self.product or self.agreement_id or self.onboarding):
            raise ValueError("a kit belongs to a product, an agreement, or onboarding")
        return self


class KitFileOut(BaseModel):
    id: uuid.UUID
    kit_id: uuid.UUID
    language: str
    category: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime
    url: str


class KitOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    product: str | None
    agreement_id: str | None
    onboarding: bool
    created_at: dt.datetime
    files: list[KitFileOut]


class KitPage(Page[KitOut]):
    pass


def _settings(request: Request) -> OutreachSettings:
    return runtime_of(request).deps_as(OutreachDeps).settings


def _storage(request: Request) -> KitStorage:
    storage = runtime_of(request).deps_as(OutreachDeps).storage
    assert storage is not None
    return storage


def _file_out(row: dict) -> KitFileOut:
    return KitFileOut(**row, url=f"/kits/{row['kit_id']}/files/{row['id']}")


async def _kits_out(pool: asyncpg.Pool, kits: list[dict]) -> list[KitOut]:
    files = await store.kits.files_of(pool, [k["id"] for k in kits])
    return [
        KitOut(**kit, files=[_file_out(f) for f in files if f["kit_id"] == kit["id"]])
        for kit in kits
    ]


async def _may_read(request: Request, caller: Caller) -> None:
    """Staff may read every kit; a library only while it is a member."""
    if caller.role is not Role.LIBRARY:
        return
    assert caller.isil is not None
    today = runtime_of(request).clock.today()
    if not await store.audience.is_active_member(pool_of(request), caller.isil, today):
        raise ApiError(403, f"library {caller.isil} is not a member of the consortium")


async def _existing_kit(request: Request, kit_id: uuid.UUID) -> dict:
    kit = await store.kits.get_kit(pool_of(request), kit_id)
    if kit is None:
        raise ApiError(404, f"no kit {kit_id}", field="kit_id")
    return kit


@router.post("/kits", status_code=201, response_model=KitOut, summary="Create a marketing kit")
async def create_kit(body: KitIn, request: Request, caller: Coordinator) -> KitOut:
    kit = await store.kits.create_kit(
        pool_of(request),
        title=body.title,
        description=body.description,
        product=body.product,
        agreement_id=body.agreement_id,
        onboarding=body.onboarding,
        created_by=caller.subject,
    )
    return KitOut(**kit, files=[])


@router.get("/kits", response_model=KitPage, summary="List marketing kits")
async def list_kits(
    request: Request,
    caller: AnyCaller,
    product: Annotated[Text | None, Query(max_length=300)] = None,
    agreement_id: Annotated[Text | None, Query(max_length=100)] = None,
    onboarding: bool | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> KitPage:
    await _may_read(request, caller)
    pool = pool_of(request)
    kits, total = await store.kits.list_kits(
        pool,
        product=product,
        agreement_id=agreement_id,
        onboarding=onboarding,
        limit=limit,
        offset=offset,
    )
    return KitPage(items=await _kits_out(pool, kits), total=total, limit=limit, offset=offset)


@router.get("/kits/{kit_id}", response_model=KitOut, summary="One marketing kit with its files")
async def get_kit(kit_id: uuid.UUID, request: Request, caller: AnyCaller) -> KitOut:
    await _may_read(request, caller)
    [kit] = await _kits_out(pool_of(request), [await _existing_kit(request, kit_id)])
    return kit


@router.post(
    "/kits/{kit_id}/files",
    status_code=201,
    response_model=KitFileOut,
    summary="Upload a file to a kit",
    description=(
        f"multipart/form-data with `file`, `language` (fi, sv or any) and `category`. "
        f"Accepted types, checked by extension and by content: {ALLOWED_EXTENSIONS}."
    ),
    responses={
        404: {"description": "no such kit"},
        409: {"description": "the kit has a file of this name in this language"},
        413: {"description": "the file is too large"},
        415: {
            "description": "not multipart/form-data, not an accepted type, or the content "
            "does not match the name; SVG is refused (it can carry scripts: send PNG or PDF)"
        },
        422: {"description": "a bad file name or an empty or malformed file"},
    },
)
async def upload_file(
    kit_id: uuid.UUID,
    request: Request,
    caller: Coordinator,
    _multipart: Annotated[None, Depends(multipart_only)],
    file: Annotated[UploadFile, File(description="The file")],
    language: Annotated[KitLanguage, Form()],
    category: Annotated[Category, Form()],
) -> KitFileOut:
    await _existing_kit(request, kit_id)
    try:
        row = await commands.upload_kit_file(
            pool_of(request),
            _storage(request),
            kit_id=kit_id,
            raw_filename=file.filename,
            read=file.read,
            language=language,
            category=category,
            max_bytes=_settings(request).kit_max_file_bytes,
            uploaded_by=caller.subject,
        )
    except TooLarge as error:
        raise ApiError(413, str(error), field="file") from error
    except LookupError as error:
        raise ApiError(404, str(error), field="kit_id") from error
    except asyncpg.UniqueViolationError as error:
        raise ApiError(
            409,
            f"kit {kit_id} already has a {language} file named {file.filename!r}",
            field="file.filename",
        ) from error
    finally:
        await file.close()
    return _file_out(row)


@router.get(
    "/kits/{kit_id}/files/{file_id}",
    summary="Download a kit file",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {}},
)
async def download_file(
    kit_id: uuid.UUID, file_id: uuid.UUID, request: Request, caller: AnyCaller
) -> FileResponse:
    await _may_read(request, caller)
    row = await store.kits.get_file(pool_of(request), kit_id, file_id)
    if row is None:
        raise ApiError(404, f"no file {file_id} in kit {kit_id}", field="file_id")
    storage = _storage(request)
    if not storage.exists(row["sha256"]):
        raise ApiError(503, "the file is not available from storage right now")
    digest = base64.b64encode(bytes.fromhex(row["sha256"])).decode()
    return FileResponse(
        storage.path_for(row["sha256"]),
        media_type=row["content_type"],
        filename=row["filename"],
        content_disposition_type="attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Repr-Digest": f"sha-256=:{digest}:",
            "X-Checksum-SHA256": row["sha256"],
            "Cache-Control": "private, max-age=3600",
        },
    )
