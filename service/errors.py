"""The API's errors: one tree, one JSON shape, one place that maps them to status codes.

::

    APIError                      status  code
    ├── BadRequest                  400   bad_request        (malformed HTTP: the connection guard)
    ├── Unauthorized                401   unauthorized       (API keys are set; none or a bad one)
    ├── NotFound                    404   not_found
    ├── MethodNotAllowed            405   method_not_allowed (with Allow: every method of the path)
    ├── RequestTimeout              408   request_timeout    (a head or body that did not arrive)
    ├── Conflict                    409   conflict
    ├── PayloadTooLarge             413   payload_too_large
    ├── UnsupportedMediaType        415   unsupported_media_type
    ├── InvalidRequest              422   invalid_request    (with details: field + message)
    ├── TooManyRequests             429   too_many_requests  (the backlog is full; Retry-After)
    └── ServiceUnavailable          503   unavailable        (the store cannot be reached, or the
                                                              connection cap; Retry-After)

The sweep service's own exceptions (``workers.sweeps``) are mapped here, once:
``SweepNotFound`` → NotFound, ``AlreadyFinished`` → Conflict, ``Backlogged`` → TooManyRequests,
``StoreUnavailable`` → ServiceUnavailable; and the dataset catalogue's (``workers.datasets``):
``DatasetNotFound`` → NotFound, ``DatasetInUse`` → Conflict.

Each class fixes its status and code once; every error answer — the routes', the request and
connection guards', FastAPI's own (unknown route 404, 405, request validation 422) and an
unexpected exception's (500, logged, never shown) — is built from one of them
(``APIError.response``, or ``APIError.body`` where there is no ASGI app to answer).

Every error answer has the body::

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
from workers.datasets import DatasetInUse, DatasetNotFound
from workers.store import Backlogged, StoreUnavailable
from workers.sweeps import AlreadyFinished, SweepNotFound

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


#: Seconds a client is asked to wait (``Retry-After``) before trying a 429 or 503 again.
RETRY_AFTER_SECONDS = 5


class APIError(Exception):
    """Base of the API's errors; ``status`` and ``code`` are fixed per class (500 here: an
    unexpected error); ``retry_after`` classes send ``Retry-After``."""

    status = 500
    code = "internal"
    retry_after: int | None = None

    def __init__(self, message: str, details: list[ErrorDetail] | None = None,
                 headers: dict[str, str] | None = None, more: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers
        self.more = more
        if self.retry_after is not None:
            self.headers = {"Retry-After": str(self.retry_after), **(headers or {})}

    def body(self) -> dict[str, Any]:
        """The JSON of this error's answer."""
        return ErrorResponse(error=ErrorBody(
            status=self.status, code=self.code, message=self.message,
            details=self.details[:MAX_DETAILS], more=self.more or None,
        )).model_dump(mode="json", exclude_none=True)

    def response(self) -> JSONBytes:
        """This error's answer: its status, headers and body."""
        return JSONBytes(self.body(), status_code=self.status, headers=self.headers)


class BadRequest(APIError):
    status, code = 400, "bad_request"


class Unauthorized(APIError):
    status, code = 401, "unauthorized"


class NotFound(APIError):
    status, code = 404, "not_found"


class MethodNotAllowed(APIError):
    status, code = 405, "method_not_allowed"


class RequestTimeout(APIError):
    status, code = 408, "request_timeout"


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
    retry_after = RETRY_AFTER_SECONDS


class ServiceUnavailable(APIError):
    status, code = 503, "unavailable"
    retry_after = RETRY_AFTER_SECONDS


def _classes(base: type[APIError]) -> list[type[APIError]]:
    return [c for sub in base.__subclasses__() for c in (sub, *_classes(sub))]


#: The error class of each status, and the codes of the statuses only Starlette itself sends.
ERROR_CLASSES: dict[int, type[APIError]] = {c.status: c for c in _classes(APIError)}
_OTHER_CODES = {403: "forbidden", 406: "not_acceptable"}


def error_of_status(status: int, message: str,
                    headers: Mapping[str, str] | None = None) -> APIError:
    """An ``APIError`` for a status raised outside our code (Starlette's HTTPException)."""
    error = ERROR_CLASSES.get(status, APIError)(message, headers=dict(headers or {}) or None)
    if error.status != status:  # a status with no class of ours
        error.status, error.code = status, _OTHER_CODES.get(status, "error")
    return error


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception the app can raise to an ``APIError``'s response."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONBytes:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONBytes:
        errors = exc.errors()
        details = [ErrorDetail(field=_field(err.get("loc", ())), message=str(err.get("msg", "")))
                   for err in errors[:MAX_DETAILS]] or [ErrorDetail(field="body",
                                                                   message="invalid")]
        return InvalidRequest.bounded(details, max(len(errors), 1)).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONBytes:
        if exc.status_code == 405:
            return _method_not_allowed(request, getattr(exc, "headers", None)).response()
        return error_of_status(exc.status_code, str(exc.detail),
                               getattr(exc, "headers", None)).response()

    @app.exception_handler(SweepNotFound)
    async def _not_found(request: Request, exc: SweepNotFound) -> JSONBytes:
        return NotFound(str(exc)).response()

    @app.exception_handler(DatasetNotFound)
    async def _no_dataset(request: Request, exc: DatasetNotFound) -> JSONBytes:
        return NotFound(str(exc)).response()

    @app.exception_handler(DatasetInUse)
    async def _dataset_in_use(request: Request, exc: DatasetInUse) -> JSONBytes:
        return Conflict(str(exc)).response()

    @app.exception_handler(AlreadyFinished)
    async def _finished(request: Request, exc: AlreadyFinished) -> JSONBytes:
        return Conflict(str(exc)).response()

    @app.exception_handler(Backlogged)
    async def _backlogged(request: Request, exc: Backlogged) -> JSONBytes:
        return TooManyRequests(f"{exc.pending} chunks are waiting to run and this sweep has "
                               f"{exc.n_chunks} more (the limit is {exc.limit}, "
                               "GRADSWEEP_MAX_PENDING_CHUNKS); try again later").response()

    @app.exception_handler(StoreUnavailable)
    async def _store(request: Request, exc: StoreUnavailable) -> JSONBytes:
        log.warning("job store unavailable: %s", exc)
        return ServiceUnavailable(f"the job store is unavailable: {exc}").response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONBytes:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return APIError("internal error (logged on the server)").response()


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _method_not_allowed(request: Request,
                        headers: Mapping[str, str] | None) -> MethodNotAllowed:
    """A 405 whose ``Allow`` header and message name every method the path has, not only those
    of the first route that matched it (Starlette's header), from the OpenAPI document."""
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
    return MethodNotAllowed(message, headers={**(headers or {}), "Allow": allow})


def _field(loc: Any) -> str:
    """FastAPI's ``("body", "grid", "lr")`` → ``grid.lr``; ``("query", "limit")`` → ``limit``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return error_field(parts) or "body"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` entries of these error statuses, each with the error shape."""
    return {status: {"model": ErrorResponse,
                     "description": ERROR_CLASSES[status].code.replace("_", " ")}
            for status in statuses}


# What any /v1/ operation may answer (401 only when API keys are configured).
ERROR_RESPONSES = error_responses(401, 404, 422, 503)
#: ``ERROR_RESPONSES`` naming their JSON content explicitly, for a route whose own
#: response_class is not JSON (CSV, NDJSON): FastAPI documents an error response given by its
#: model in the route's media type otherwise.
JSON_ERROR_RESPONSES = {status: {"description": entry["description"], "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for status, entry in ERROR_RESPONSES.items()}

__all__ = ["ERROR_CLASSES", "ERROR_RESPONSES", "JSON_ERROR_RESPONSES", "MAX_DETAILS", "RETRY_AFTER_SECONDS", "APIError",
           "BadRequest", "Conflict", "ErrorResponse", "InvalidRequest", "MethodNotAllowed",
           "NotFound", "PayloadTooLarge", "RequestTimeout", "ServiceUnavailable",
           "TooManyRequests", "Unauthorized", "UnsupportedMediaType", "error_of_status",
           "error_responses", "install_error_handlers"]
