"""Raw HTTP/1.1 over a socket, for tests where the client must not smooth anything over: read
one response exactly as the server framed it, and check the API's error shape."""

from __future__ import annotations

import json
import socket
from typing import Any


def read_response(sock: socket.socket, timeout: float = 10.0,
                  head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One response from ``sock``, framed by Content-Length or chunked (``head_only``: the
    answer to HEAD, which has no body whatever its headers say)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    status = int(status_line.split()[1])
    if not head_only and headers.get("transfer-encoding") == "chunked":
        return status, headers, _read_chunked(sock, rest)
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


def _read_chunked(sock: socket.socket, data: bytes) -> bytes:
    """A chunked body whose first bytes are ``data``, up to and including its last chunk."""
    body = b""
    while True:
        while b"\r\n" not in data:
            data += _recv(sock)
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(data) < size + 2:
            data += _recv(sock)
        body, data = body + data[:size], data[size + 2:]
        if size == 0:
            return body


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed in the middle of a chunked body")
    return chunk


def error_of(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The API's error shape, checked."""
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body)
    document = json.loads(body)
    assert set(document) == {"error"}, document
    error: dict[str, Any] = document["error"]
    assert error["status"] == status and error["code"] and error["message"], error
    assert set(error) <= {"status", "code", "message", "details", "more"}, error
    return error
