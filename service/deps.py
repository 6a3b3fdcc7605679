"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The runtime the app started with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

__all__ = ["RuntimeDep", "get_runtime"]
