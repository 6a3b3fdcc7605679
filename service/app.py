"""The FastAPI application: routers, error handlers, the body-size limit and the runtime.

``create_app(settings)`` builds an app; its lifespan opens the store and the executor of the
settings' mode (``service.runtime.Runtime``) and closes them at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response, install_error_handlers
from .metrics import make_registry
from .routes import catalogue, health, sweeps
from .runtime import Runtime
from .settings import ServiceSettings, get_settings

VERSION = "0.1.0"


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The API, on ``settings`` (default: from the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.start(settings)
        runtime.registry = make_registry(runtime)
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="gradsweep", version=VERSION, lifespan=lifespan,
                  summary="Hyperparameter sweeps for gradient-descent optimizers.")
    install_error_handlers(app)
    for router in (sweeps.router, catalogue.router, health.router):
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before they are read in full."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large",
                                  f"the request body is over {self.max_bytes} bytes")
        await response(scope, receive, send)


class _TooLarge(StarletteHTTPException):
    """Raised while the body streams in; the app's HTTP error handler answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is over {max_bytes} bytes")


__all__ = ["VERSION", "BodySizeLimit", "create_app"]
