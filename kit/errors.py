"""HTTP errors as RFC 9457 problem details that name the field and the problem.

Every error a user can cause is a 4xx with a message. Database or network unavailability is
a 503, because retrying later helps. A bug is logged with its traceback on the server and
answered with a bare 500: the caller never sees a stack trace.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kit.db import DATABASE_UNAVAILABLE_ERRORS, RETRY_AFTER_S
from kit.logging import get_logger
from kit.rules import DomainError

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"
# The database or network is unavailable: retrying later helps, so 503 with Retry-After. The
# kit's one list (kit/db.py), so HTTP, the consumer and the mailer agree on what it means.
DEPENDENCY_DOWN = DATABASE_UNAVAILABLE_ERRORS


class ApiError(Exception):
    def __init__(
        self, status: int, detail: str, *, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        # Seconds a client should wait before trying again (429, 503): the Retry-After header.
        self.retry_after = retry_after


def multipart_only(request: Request) -> None:
    """Dependency of the multipart upload endpoints: any other body is refused with a 415 that
    names the header, before a byte of it is read. Without it FastAPI's form parser reads
    nothing of, say, a JSON body and answers a 422 about the missing file field, which hides
    the caller's real mistake. Declared after the caller's role, so 401/403 come first."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise ApiError(
            415,
            f"send the file as multipart/form-data, not {media_type or '(no content type)'}",
            field="content-type",
        )


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    retry_after: int | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if errors:
        body["errors"] = errors
    headers: dict[str, str] = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    elif status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    503: "Service unavailable",
}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "library", "isil") -> "library.isil"; keep "query."/"path." for non-body parts.
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        errors = [{"field": error.field, "message": error.detail}] if error.field else None
        title = TITLES.get(error.status, "Error")
        return problem(error.status, title, error.detail, errors, error.retry_after)

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, error: DomainError) -> JSONResponse:
        # The one mapping from a domain refusal (kit.rules) to HTTP: the same body as ApiError.
        detail = str(error)
        errors = [{"field": error.field, "message": detail}] if error.field else None
        return problem(error.status, TITLES.get(error.status, "Error"), detail, errors)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(item.get("loc", ())), "message": item.get("msg", "invalid")}
            for item in error.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, TITLES[422], detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, TITLES.get(error.status_code, "Error"), str(error.detail))

    @app.exception_handler(asyncpg.UniqueViolationError)
    async def conflict(_request: Request, error: asyncpg.UniqueViolationError) -> JSONResponse:
        return problem(409, TITLES[409], "that already exists", None)

    @app.exception_handler(asyncpg.DataError)
    async def unstorable(_request: Request, error: asyncpg.DataError) -> JSONResponse:
        # PostgreSQL refuses some text a JSON request can carry (NUL characters, for one);
        # that is bad input, and the transaction it broke wrote nothing.
        return problem(422, TITLES[422], f"a value cannot be stored: {error}")

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable(_request: Request, error: UnicodeEncodeError) -> JSONResponse:
        return problem(422, TITLES[422], "a text value is not valid Unicode (lone surrogate)")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, DEPENDENCY_DOWN):
            log.warning("dependency unavailable", path=request.url.path, error=repr(error))
            return problem(503, TITLES[503], "a dependency is unavailable; try again shortly")
        log.exception("unexpected error", path=request.url.path)
        return problem(500, "Internal error", "the request could not be completed")
