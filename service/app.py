"""The FastAPI application: routers, error handlers, request guards and the runtime.

``create_app(settings)`` builds an app; its lifespan opens the store and the executor of the
settings' mode (``service.runtime.Runtime``) and closes them at shutdown. HEAD works wherever GET
does (``HeadAsGet``: FastAPI's routes answer only the methods they declare).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .dashboard import router as dashboard_router
from .errors import install_error_handlers
from .feeds import Feeds
from .guards import RequestGuard
from .metrics import make_registry
from .routes import catalogue, datasets, events, export, health, overview, sweeps, trials
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
        app.state.feeds = Feeds(runtime.store.get, partial(events.view_json, runtime.sweeps),
                                events.POLL_SECONDS)
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.close()

    # /docs (Swagger UI) and /redoc from the assets the fastapi-offline package ships, not a CDN:
    # they work on a cluster without internet access
    app = FastAPIOffline(title="gradsweep", version=VERSION, lifespan=lifespan,
                         summary="Hyperparameter sweeps for gradient-descent optimizers.",
                         static_url="/static-docs")
    install_error_handlers(app)
    for router in (sweeps.router, trials.router, export.router, overview.router, events.router,
                   datasets.router,
                   catalogue.router, health.router, dashboard_router):
        app.include_router(router)
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes,
                       uploads={"/v1/datasets": settings.max_dataset_bytes})
    app.add_middleware(HeadAsGet)
    return app


class HeadAsGet:
    """ASGI middleware: a HEAD request is served as the GET of the same URL, whose status and
    headers (Content-Length included) it answers without the body. The response ends with its
    headers, so a stream (the events of a sweep) ends too: the app then sees the client gone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        done = False

        async def send_head(message: Message) -> None:
            nonlocal done
            if done:
                return
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                done = True
            else:
                await send(message)  # e.g. an http.response.* extension message

        await self.app({**scope, "method": "GET"}, receive, send_head)


__all__ = ["VERSION", "HeadAsGet", "create_app"]
