"""The FastAPI application: routers, error handlers, request guards and the runtime.

``create_app(settings)`` builds an app; its lifespan opens the store and the executor of the
settings' mode (``service.runtime.Runtime``) and closes them at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .errors import install_error_handlers
from .guards import RequestGuard
from .metrics import make_registry
from .dashboard import router as dashboard_router
from .routes import catalogue, events, export, health, sweeps
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
    for router in (sweeps.router, export.router, events.router, catalogue.router, health.router,
                   dashboard_router):
        app.include_router(router)
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes)
    return app


__all__ = ["VERSION", "create_app"]
