"""Request guards that run before FastAPI parses anything: size, content type, JSON syntax.

``RequestGuard`` reads a request's body once, up to ``max_bytes`` (413 beyond, without reading
the rest), and for requests that carry a non-empty body to the API (``POST``/``PUT``/``PATCH``
under ``/v1/``) insists on ``application/json`` (415 otherwise) and on standard JSON (422 otherwise:
no NaN or Infinity tokens, nesting at most 1024 deep — orjson's limits), then hands the same
bytes on to the app.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ErrorDetail, error_response
from .responses import JSONBytes

BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestGuard:
    """ASGI middleware: refuse oversized bodies, non-JSON bodies and malformed JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and scope["method"] in BODY_METHODS and scope["path"].startswith("/v1/"):
            problem = _json_problem(headers.get(b"content-type", b""), body)
            if problem is not None:
                await problem(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large",
                                  f"the request body is over {self.max_bytes} bytes "
                                  "(GRADSWEEP_MAX_BODY_BYTES)")
        await response(scope, receive, send)


def _json_problem(content_type: bytes, body: bytes) -> JSONBytes | None:
    """The error response for a body that is not a JSON document, or None."""
    media = content_type.split(b";")[0].strip().lower()
    if media != b"application/json":
        shown = media.decode("latin-1") or "none"
        return error_response(415, "unsupported_media_type",
                              f"send the body as application/json (content-type was {shown})")
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = f"the body is not valid JSON: {exc}"
        return error_response(422, "invalid_request", message,
                              [ErrorDetail(field="body", message=message)])
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the body already read, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


__all__ = ["RequestGuard"]
