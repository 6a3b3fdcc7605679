"""Request guards that run before FastAPI parses anything: size, content type, JSON syntax.

``RequestGuard`` reads a request's body once, up to ``max_bytes`` (413 beyond, without reading
the rest) and within ``body_seconds`` (408 after: a client that trickles its body, or stops
sending it, does not hold the request open), and for requests that carry a non-empty body to the
API (``POST``/``PUT``/``PATCH`` under ``/v1/``) insists on ``application/json`` in UTF-8 (415
otherwise, also for a ``charset=`` other than UTF-8) and on standard JSON (422 otherwise: UTF-8, no
NaN or Infinity tokens, numbers within float64 — an integer too long for that is named as such,
with its digits and place — and nesting at most ``MAX_DEPTH`` deep: a spec nests 3 deep, and
Python's JSON parser behind FastAPI gives up near 1000), then hands the same bytes on to the app.
A client that disconnects before its body is complete gets no answer and the app never sees the
partial body.

``ConnectionGuard`` is the same below the app, in uvicorn's HTTP/1.1 protocol (``gradsweep serve``
runs uvicorn with it): at most ``limit_concurrency`` connections (a request on one beyond them, or
while that many requests run, is answered 503 and the connection closed), and a connection that
has not sent a whole request head within ``timeout_keep_alive`` seconds — idle since it opened or
since its last answer, or trickling its headers — is closed (408 if it had sent part of a head).
uvicorn's own answers to those, and to malformed HTTP (400), are plain text; these are the API's
error shape.
"""

from __future__ import annotations

import asyncio
import re
from http import HTTPStatus
from typing import Any

import anyio
import h11
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import (
    APIError,
    BadRequest,
    ErrorDetail,
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from .responses import JSONBytes

BODY_METHODS = {"POST", "PUT", "PATCH"}
MAX_DEPTH = 32
BODY_SECONDS = 30.0


class RequestGuard:
    """ASGI middleware: refuse oversized, slow, non-JSON and malformed bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_seconds: float = BODY_SECONDS,
                 uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds
        self.uploads = uploads or {}  # POST path → its own body limit, a body of any type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = self.uploads.get(scope["path"]) if scope["method"] == "POST" else None
        limit = self.max_bytes if upload is None else upload
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit, upload is not None)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        with anyio.move_on_after(self.body_seconds) as deadline:
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away before its body was complete
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._too_large(scope, receive, send, limit, upload is not None)
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
        if deadline.cancelled_caught:
            response = RequestTimeout(f"the request body did not arrive within "
                                      f"{self.body_seconds:g} s",
                                      headers={"Connection": "close"}).response()
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        if (body and upload is None and scope["method"] in BODY_METHODS
                and scope["path"].startswith("/v1/")):
            problem = _json_problem(headers.get(b"content-type", b""), body)
            if problem is not None:
                await problem(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int,
                         upload: bool) -> None:
        setting = "GRADSWEEP_MAX_DATASET_BYTES" if upload else "GRADSWEEP_MAX_BODY_BYTES"
        response = PayloadTooLarge(f"the request body is over {limit} bytes "
                                   f"({setting})").response()
        await response(scope, receive, send)


def _json_problem(content_type: bytes, body: bytes) -> JSONBytes | None:
    """The error response for a body that is not a JSON document, or None."""
    media, *parameters = content_type.decode("latin-1").split(";")
    media = media.strip().lower()
    if media != "application/json":
        return UnsupportedMediaType(f"send the body as application/json (content-type was "
                                    f"{media or 'none'})").response()
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return UnsupportedMediaType(f"send JSON encoded as UTF-8 (the content-type says "
                                        f"charset={charset[:40]})").response()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _invalid(_json_error(body, exc))
    if _deeper_than(document, MAX_DEPTH):
        return _invalid(f"the body nests arrays and objects more than {MAX_DEPTH} deep")
    return None


def _invalid(message: str) -> JSONBytes:
    return InvalidRequest(message, [ErrorDetail(field="body", message=message)]).response()


_KEY = re.compile(rb'"([^"\\]{1,100})"\s*:')  # the last key before a place: a cheap field name
_NUMBER = re.compile(rb"-?(\d+)(\.\d*)?([eE][-+]?\d+)?")


def _json_error(body: bytes, exc: orjson.JSONDecodeError) -> str:
    """What is wrong with a body orjson refused, in words: orjson's own message, but for a body
    that is not UTF-8 and for a number too large for a float64 (orjson says "number is infinity
    when parsed as double" even of an integer of 5000 digits)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (f"the body is not UTF-8 (byte {bad.start} is 0x{body[bad.start]:02x}): send JSON "
                f"encoded as UTF-8")
    start = len(text[:exc.pos].encode("utf-8"))  # orjson's position counts characters
    keys = _KEY.findall(body, max(start - 4096, 0), start)
    key = f" (in the value of {keys[-1].decode('utf-8', 'replace')!r})" if keys else ""
    where = f"line {exc.lineno} column {exc.colno}{key}"
    number = _NUMBER.match(body, start)
    if "infinity" in str(exc) and number is not None:
        if number.group(2) is None and number.group(3) is None:
            return (f"the body is not valid JSON for this API: an integer of "
                    f"{len(number.group(1)):,} digits at {where}; integers must fit in 64 bits")
        return (f"the body is not valid JSON for this API: the number at {where} is beyond "
                f"the range of a float64 (about ±1.8e308)")
    return f"the body is not valid JSON: {exc}"


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (iterative: no recursion)."""
    level: list[Any] = [document]
    for _ in range(limit):
        level = [child for node in level if isinstance(node, (list, dict))
                 for child in (node.values() if isinstance(node, dict) else node)]
        if not level:
            return False
    return any(isinstance(node, (list, dict)) for node in level)


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


class ConnectionGuard(H11Protocol):
    """uvicorn's h11 protocol with a cap on connections and a deadline for each request head,
    answering in the API's error shape (see the module's docstring). Pass it as uvicorn's
    ``http``; the cap is uvicorn's ``limit_concurrency``, the deadline its
    ``timeout_keep_alive``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = self.limit_concurrency
        self.limit_concurrency = None  # the cap is this class's: uvicorn's 503 is plain text
        self.admitted = self.app
        self.refused = False
        self.head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.cap is not None and len(self.connections) > self.cap:
            # not counted: a refused connection holds no place, and is answered 503 at its first
            # request (a response before the request would race the client's send) or closed at
            # the deadline
            self.connections.discard(self)
            self.refused = True
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        busy = self.cap is not None and len(self.tasks) >= self.cap
        self.app = _unavailable(self.cap or 0) if self.refused or busy else self.admitted
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # a whole head has arrived; RequestGuard times the body

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the keep-alive wait for the next request's head

    def send_400_response(self, msg: str) -> None:
        self._answer(BadRequest("the request is not valid HTTP/1.1 (a malformed request line or "
                                "header, or a head over 16 KiB)"))

    def _arm(self) -> None:
        self._disarm()
        self.head_deadline = self.loop.call_later(self.timeout_keep_alive, self._head_late)

    def _disarm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_late(self) -> None:
        self.head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            self._answer(RequestTimeout(f"the request head did not arrive within "
                                        f"{self.timeout_keep_alive:g} s"))
        else:
            self.transport.close()  # idle: closed without a word, as uvicorn's keep-alive does

    def _answer(self, error: APIError) -> None:
        """Write an error answer as raw bytes and close: h11's state machine has no request to
        answer (a late head) or has failed (a malformed one)."""
        body = orjson.dumps(error.body())
        reason = HTTPStatus(error.status).phrase
        self.transport.write(f"HTTP/1.1 {error.status} {reason}\r\ncontent-type: "
                             f"application/json\r\ncontent-length: {len(body)}\r\n"
                             "connection: close\r\n\r\n".encode("ascii") + body)
        self.transport.close()


def _unavailable(cap: int) -> ASGIApp:
    """The ASGI app that answers a request beyond the cap: 503, and the connection closed."""
    return ServiceUnavailable(f"the server is at its limit of {cap} connections "
                              "(GRADSWEEP_MAX_CONNECTIONS); try again later",
                              headers={"Connection": "close"}).response()


__all__ = ["ConnectionGuard", "RequestGuard"]
