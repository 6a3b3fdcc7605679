"""The API's errors: one tree, one JSON shape, one place that maps them to status codes.

::

    APIError                      status  code
    ├── BadRequest                  400   bad_request
    ├── Unauthorized                401   unauthorized      (API keys are set; none or a bad one)
    ├── NotFound                    404   not_found
    ├── Conflict                    409   conflict
    ├── PayloadTooLarge             413   payload_too_large
    ├── UnsupportedMediaType        415   unsupported_media_type
    ├── InvalidRequest              422   invalid_request   (with details: field + message)
    ├── TooManyRequests             429   too_many_requests (the chunk queue is full; Retry-After)
    └── ServiceUnavailable          503   unavailable       (the job store cannot be reached)

Every error answer, including FastAPI's own (unknown route 404, 405, request validation 422) and
an unexpected exception (500, logged, never shown), has the body::

    {"error": {"status": 422, "code": "invalid_request", "message": "...",
               "details": [{"field": "grid", "message": "..."}]}}

An answer is bounded whatever the request: at most ``MAX_DETAILS`` details, and when there were
more, the message ends "(and N more not listed)" and the body has ``"more": N`` (absent
otherwise).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from optimizers import describe_errors
from optimizers.spec import error_field
from workers.store import StoreUnavailable

from .responses import JSONBytes

log = logging.getLogger(__name__)
MAX_DETAILS = 20


class ErrorDetail(BaseModel):
    """One problem with the request: the field's dotted path and what is wrong with it."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """What went wrong."""

    status: int
    code: str
    message: str
    details: list[ErrorDetail] = []
    more: int | None = Field(None, description=f"how many problems there were beyond the "
                             f"{MAX_DETAILS} details shown; absent when none")


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorBody


class APIError(Exception):
    """Base of the API's errors; ``status`` and ``code`` are fixed per class."""

    status = 500
    code = "internal"

    def __init__(self, message: str, details: list[ErrorDetail] | None = None,
                 headers: dict[str, str] | None = None, more: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers
        self.more = more


class BadRequest(APIError):
    status, code = 400, "bad_request"


class Unauthorized(APIError):
    status, code = 401, "unauthorized"


class NotFound(APIError):
    status, code = 404, "not_found"


class Conflict(APIError):
    status, code = 409, "conflict"


class PayloadTooLarge(APIError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(APIError):
    status, code = 415, "unsupported_media_type"


class InvalidRequest(APIError):
    status, code = 422, "invalid_request"

    @classmethod
    def from_validation(cls, exc: ValidationError, prefix: str = "") -> InvalidRequest:
        """From pydantic's errors: one detail per error (the first ``MAX_DETAILS``), the first
        one as the message."""
        details = []
        for line in describe_errors(exc)[:MAX_DETAILS]:
            field, _, message = line.partition(": ")
            details.append(ErrorDetail(field=f"{prefix}{field}", message=message))
        return cls.bounded(details, exc.error_count())

    @classmethod
    def bounded(cls, details: list[ErrorDetail], count: int | None = None) -> InvalidRequest:
        """At most ``MAX_DETAILS`` of ``details`` (of ``count`` problems in all), the first as
        the message, which ends "(and N more not listed)" when some are left out."""
        count = len(details) if count is None else count
        shown = details[:MAX_DETAILS]
        more = max(count - len(shown), 0)
        first = f"{shown[0].field}: {shown[0].message}" if shown else "invalid request"
        return cls(first + (f" (and {more:,} more not listed)" if more else ""), shown, more=more)


class TooManyRequests(APIError):
    status, code = 429, "too_many_requests"


class ServiceUnavailable(APIError):
    status, code = 503, "unavailable"


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 408: "request_timeout",
                 409: "conflict",
                 413: "payload_too_large", 415: "unsupported_media_type",
                 422: "invalid_request", 429: "too_many_requests", 503: "unavailable"}


def error_response(status: int, code: str, message: str,
                   details: list[ErrorDetail] | None = None,
                   headers: dict[str, str] | None = None, more: int = 0) -> JSONBytes:
    """The one shape of every error answer."""
    return JSONBytes(error_body(status, code, message, details, more), status_code=status,
                     headers=headers)


def error_body(status: int, code: str, message: str, details: list[ErrorDetail] | None = None,
               more: int = 0) -> dict[str, Any]:
    """The JSON of an error answer (also written by the connection guard, outside the app)."""
    body = ErrorResponse(error=ErrorBody(status=status, code=code, message=message,
                                         details=(details or [])[:MAX_DETAILS],
                                         more=more or None))
    return body.model_dump(mode="json", exclude_none=True)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception the app can raise to ``error_response``."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONBytes:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers,
                              exc.more)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONBytes:
        errors = exc.errors()
        details = [ErrorDetail(field=_field(err.get("loc", ())), message=str(err.get("msg", "")))
                   for err in errors[:MAX_DETAILS]] or [ErrorDetail(field="body",
                                                                   message="invalid")]
        error = InvalidRequest.bounded(details, max(len(errors), 1))
        return error_response(422, error.code, error.message, error.details, more=error.more)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONBytes:
        code = _STATUS_CODES.get(exc.status_code, "error")
        headers = getattr(exc, "headers", None)
        message = str(exc.detail)
        if exc.status_code == 405:
            headers, message = _method_not_allowed(request, headers)
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(StoreUnavailable)
    async def _store(request: Request, exc: StoreUnavailable) -> JSONBytes:
        log.warning("job store unavailable: %s", exc)
        return error_response(503, "unavailable", f"the job store is unavailable: {exc}",
                              headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONBytes:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error (logged on the server)")


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _method_not_allowed(request: Request, headers: Mapping[str, str] | None,
                        ) -> tuple[dict[str, str], str]:
    """A 405's ``Allow`` header and message: every method the path has, not only those of the
    first route that matched it (Starlette's header), from the OpenAPI document's paths."""
    allowed = {m.strip().upper() for m in (headers or {}).get("Allow", "").split(",") if m.strip()}
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    for template, operations in paths.items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            allowed.update(method.upper() for method in operations if method in _METHODS)
    if "GET" in allowed:
        allowed.add("HEAD")  # service.app.HeadAsGet: HEAD works wherever GET does
    allow = ", ".join(sorted(allowed))
    message = f"{request.method} is not allowed on {request.url.path}; allowed: {allow or 'none'}"
    return {**(headers or {}), "Allow": allow}, message


def _field(loc: Any) -> str:
    """FastAPI's ``("body", "grid", "lr")`` → ``grid.lr``; ``("query", "limit")`` → ``limit``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return error_field(parts) or "body"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` entries of these error statuses, each with the error shape."""
    return {status: {"model": ErrorResponse, "description": _STATUS_CODES[status].replace("_", " ")}
            for status in statuses}


# What any /v1/ operation may answer (401 only when API keys are configured).
ERROR_RESPONSES = error_responses(401, 404, 422, 503)

__all__ = ["ERROR_RESPONSES", "MAX_DETAILS", "APIError", "BadRequest", "Conflict", "ErrorResponse",
           "InvalidRequest", "NotFound", "PayloadTooLarge", "ServiceUnavailable",
           "TooManyRequests", "Unauthorized", "UnsupportedMediaType", "error_body",
           "error_response", "error_responses", "install_error_handlers"]
