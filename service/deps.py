"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from .errors import Unauthorized
from .feeds import Feeds
from .models import SWEEP_ID_PATTERN
from .runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The runtime the app started with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_feeds(request: Request) -> Feeds:
    """The app's shared event feeds (one store poll per watched sweep)."""
    feeds: Feeds = request.app.state.feeds
    return feeds


FeedsDep = Annotated[Feeds, Depends(get_feeds)]


#: The ``{sweep_id}`` of a path: 32 hex digits (any other text is a 422 before the store is read).
SweepId = Annotated[str, Path(pattern=SWEEP_ID_PATTERN, description="the sweep's id")]
DatasetId = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="the dataset's id "
                                "(a sha256)")]


def require_api_key(runtime: RuntimeDep,
                    authorization: Annotated[str | None, Header()] = None) -> None:
    """When API keys are configured, the request must carry one as a bearer token.

    Keys are compared in constant time (``hmac.compare_digest``), all of them, every time.
    """
    keys = runtime.settings.api_keys
    if not keys:
        return
    scheme, _, token = (authorization or "").partition(" ")
    given = token.strip().encode() if scheme.lower() == "bearer" else b""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.get_secret_value().encode())
    if not matched:
        raise Unauthorized("this API needs 'Authorization: Bearer <key>' with a valid key",
                           headers={"WWW-Authenticate": 'Bearer realm="gradsweep"'})


__all__ = ["DatasetId", "FeedsDep", "RuntimeDep", "SweepId", "get_feeds", "get_runtime", "require_api_key"]
