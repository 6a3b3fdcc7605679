"""``/v1/sweeps``: submit, list, inspect, read results, cancel."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from optimizers import SweepSpec, SweepStatus, parse_spec
from workers.jobs import results_document, submit_sweep
from workers.store import SweepRecord

from ..deps import RuntimeDep, require_api_key
from ..errors import ERROR_RESPONSES, Conflict, InvalidRequest, NotFound, TooManyRequests
from ..models import SWEEP_ID_PATTERN, SweepPage, SweepResultsDocument, SweepView
from ..responses import JSONBytes

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])
BACKPRESSURE_RETRY_SECONDS = 5
SweepId = Annotated[str, Path(pattern=SWEEP_ID_PATTERN, description="the sweep's id")]


@router.post("", status_code=202, response_model=SweepView)
async def create_sweep(spec: SweepSpec, runtime: RuntimeDep, response: Response) -> SweepView:
    """Validate a sweep against the limits, store it and queue its chunks."""
    settings = runtime.settings
    try:
        spec = parse_spec(spec, settings.limits())
    except ValidationError as exc:
        raise InvalidRequest.from_validation(exc) from None
    pending = await run_in_threadpool(runtime.executor.queue_depth)
    if pending >= settings.max_pending_chunks:
        raise TooManyRequests(f"{pending} chunks are waiting to run (the limit is "
                              f"{settings.max_pending_chunks}); try again later",
                              headers={"Retry-After": str(BACKPRESSURE_RETRY_SECONDS)})
    record = await run_in_threadpool(submit_sweep, runtime.store, runtime.executor, spec,
                                     chunk_work=settings.chunk_work)
    response.headers["Location"] = f"/v1/sweeps/{record.id}"
    return SweepView.of(record, None)


@router.get("", response_model=SweepPage)
def list_sweeps(runtime: RuntimeDep,
                status: Annotated[SweepStatus | None, Query(description="only this status")] = None,
                limit: Annotated[int, Query(ge=1, description="page size")] = 20,
                offset: Annotated[int, Query(ge=0, description="items to skip")] = 0) -> SweepPage:
    """Sweeps, newest first, optionally of one status, a page at a time."""
    if limit > runtime.settings.page_size_max:
        raise InvalidRequest(f"limit: at most {runtime.settings.page_size_max}")
    records, total = runtime.store.list(status, limit, offset)
    items = [SweepView.of(r, runtime.best.get(runtime.store, r)) for r in records]
    return SweepPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{sweep_id}", response_model=SweepView)
def get_sweep(sweep_id: SweepId, runtime: RuntimeDep) -> SweepView:
    """A sweep's status, progress, timestamps and best setting so far."""
    record = _record(runtime, sweep_id)
    return SweepView.of(record, runtime.best.get(runtime.store, record))


@router.get("/{sweep_id}/results", response_class=JSONBytes,
            responses={200: {"model": SweepResultsDocument}})
def get_results(sweep_id: SweepId, runtime: RuntimeDep) -> JSONBytes:
    """Everything the sweep produced so far: every trial's curve, scores and the best."""
    record = _record(runtime, sweep_id)
    return JSONBytes(results_document(runtime.store, record))


@router.delete("/{sweep_id}", response_model=SweepView)
def cancel_sweep(sweep_id: SweepId, runtime: RuntimeDep) -> SweepView:
    """Cancel a queued or running sweep: chunks not started never run, running ones stop at
    their next check; the results of the chunks done so far are kept."""
    record = _record(runtime, sweep_id)
    if not runtime.store.cancel(sweep_id, time.time()):
        record = _record(runtime, sweep_id)
        if record.status != SweepStatus.CANCELLED:
            raise Conflict(f"sweep {sweep_id} has already {record.status.value}")
    record = _record(runtime, sweep_id)
    return SweepView.of(record, runtime.best.get(runtime.store, record))


def _record(runtime: RuntimeDep, sweep_id: str) -> SweepRecord:
    record = runtime.store.get(sweep_id)
    if record is None:
        raise NotFound(f"no sweep {sweep_id}")
    return record
