"""``/healthz`` (the process answers), ``/readyz`` (it can do work) and ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from workers.store import StoreUnavailable

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
    checks: dict[str, Any] = {"mode": runtime.mode}
    ready = True
    try:
        await run_in_threadpool(runtime.store.ping)
        checks["store"] = "ok"
    except StoreUnavailable as exc:
        checks["store"] = f"unavailable: {exc}"
        ready = False
    if runtime.mode == "cluster" and ready:
        since = time.time() - runtime.settings.worker_timeout
        workers = await run_in_threadpool(runtime.store.live_workers, since)
        checks["workers"] = len(workers)
        if not workers:
            checks["reason"] = (f"no worker has sent a heartbeat in the last "
                                f"{runtime.settings.worker_timeout:g} s")
            ready = False
    elif not ready:
        checks["reason"] = "the job store cannot be reached"
    checks["status"] = "ready" if ready else "unavailable"
    return JSONBytes(checks, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics: sweeps by status, trials done, chunk run times, queue depth."""
    return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)
