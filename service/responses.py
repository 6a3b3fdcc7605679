"""JSON responses serialised by orjson: standard JSON (never NaN), fast for large documents."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONBytes(Response):
    """A JSON response rendered with orjson (already-encoded ``bytes`` pass through as is)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


__all__ = ["JSONBytes"]
