"""Loading a supplier title list: who may, what the request must say, and the batch it opens.

The HTTP layer only spools the body to a file (never held in memory) and maps the errors;
the rules of the use case live here, so the CLI and the API cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg

from kit.auth import Role
from services.catalogue import commands, domain, ingest, store
from services.catalogue.domain import CatalogueRuleViolated
from services.catalogue.formats.readers import SNIFF_BYTES, Format, UnknownFormat, detect_format
from services.catalogue.profile import normalise_language

Mode = Literal["full", "delta"]


@dataclass(frozen=True)
class UploadRequest:
    """What the caller asked for, as given (checked by ``check``)."""

    collection: str
    fmt: Format | None
    mode: Mode
    language: str | None
    url_template: str | None
    filename: str | None
    force: bool


@dataclass(frozen=True)
class CheckedUpload:
    request: UploadRequest
    kind: str  # "raw" or "multipart": how the body is to be read
    filename: str | None
    language: str | None
    url_template: str | None
    target: store.Collection


@dataclass(frozen=True)
class SpooledFile:
    path: Path
    size: int
    sha256: str
    filename: str | None  # the multipart part's own name, if any


def authorise(role: Role, force: bool) -> None:
    """A cataloguer loads title lists; a coordinator only forces a full load."""
    if force and role is not Role.COORDINATOR:
        raise CatalogueRuleViolated("only a coordinator may force a load", "force", 403)
    if not force and role is not Role.CATALOGUER:
        raise CatalogueRuleViolated(
            "a coordinator loads title lists only to force one (force=true)", "role", 403
        )


async def check(
    pool: asyncpg.Pool, request: UploadRequest, content_type: str | None
) -> CheckedUpload:
    """Everything that can be refused before a byte of the body is read.

    Raises ``CatalogueRuleViolated`` (a 4xx naming the field) or ``commands.NotFound``."""
    kind = domain.check_content_type(content_type)
    raw_name = domain.check_filename(request.filename)
    template = domain.check_url_template(request.url_template)
    lang = None
    if request.language:
        lang = normalise_language(request.language)
        if lang is None:
            raise CatalogueRuleViolated(
                f"{request.language!r} is not a language code we know", "language"
            )
    target = await commands.check_can_ingest(pool, request.collection)
    return CheckedUpload(request, kind, raw_name, lang, template, target)


def detect(path: Path) -> Format:
    """The file's format from its first bytes."""
    with path.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
    if not head.strip():
        raise CatalogueRuleViolated("the file is empty", "file")
    try:
        return detect_format(head)
    except UnknownFormat as error:
        raise CatalogueRuleViolated(
            f"cannot tell the file's format: {error}; give format= to say", "file"
        ) from error


async def open_upload(
    pool: asyncpg.Pool,
    checked: CheckedUpload,
    spooled: SpooledFile,
    *,
    chunk_size: int,
    max_rejected_share: float,
    withdrawal_limit: domain.WithdrawalLimit = domain.NO_WITHDRAWAL_LIMIT,
    created_by: str,
    agency: str,
) -> tuple[ingest.IngestJob, dict[str, Any]]:
    """The batch for a spooled file, recorded as open; run it with ``commands.run_batch``."""
    if spooled.size == 0:
        raise CatalogueRuleViolated("the file is empty", "file")
    request = checked.request
    fmt = request.fmt or detect(spooled.path)
    job = ingest.IngestJob(
        batch_id=domain.new_id("batch"),
        collection_id=request.collection,
        fmt=fmt,
        mode=request.mode,
        path=spooled.path,
        language=checked.language,
        url_template=checked.url_template,
        chunk_size=chunk_size,
        force=request.force,
        max_rejected_share=max_rejected_share,
        withdrawal_limit=withdrawal_limit,
        agency=agency,
    )
    batch = await commands.open_batch(
        pool,
        job,
        filename=spooled.filename or checked.filename,
        size_bytes=spooled.size,
        sha256=spooled.sha256,
        created_by=created_by,
    )
    return job, batch
