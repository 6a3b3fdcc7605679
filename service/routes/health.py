"""``/healthz`` (the process answers), ``/readyz`` (it can do work) and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from ..deps import RuntimeDep
from ..responses import JSONBytes

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers HTTP.

    ``async`` on purpose: it answers from the event loop itself, so a thread pool busy with
    store calls (status polls, event streams, CSV downloads) never delays it."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready: the body says why"}})
async def readyz(runtime: RuntimeDep) -> JSONBytes:
    """Ready: the job store answers and, in cluster mode, at least one worker is alive."""
    readiness = await run_in_threadpool(runtime.sweeps.readiness)
    body = {**readiness.checks, "status": "ready" if readiness.ready else "unavailable"}
    return JSONBytes(body, status_code=200 if readiness.ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics: sweeps by status, trials done, chunk run times, queue depth."""
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
