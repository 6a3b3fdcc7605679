"""``/v1/sweeps``: submit, list, inspect, read results, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from optimizers import Limits, SweepSpec, SweepStatus, parse_spec
from workers.datasets import StoreDatasets
from workers.sweeps import SweepState

from ..deps import RuntimeDep, SweepId, require_api_key
from ..errors import ERROR_RESPONSES, ErrorDetail, InvalidRequest, error_responses
from ..models import SweepPage, SweepResultsDocument, SweepView
from ..responses import JSONBytes

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])
DEFAULT_PAGE_SIZE = 20
# Largest offset of GET /v1/sweeps: the largest integer every JSON client can hold; the stores
# take offset + limit as a 64-bit integer (SQLite, Redis), so a larger one would be a 500.
MAX_OFFSET = 2**53 - 1


def _json_object(value: Any) -> dict[str, Any]:
    """The parsed body, unvalidated, if it is a JSON object (a JSON string is never parsed
    again as a spec)."""
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary or object to "
                                  "extract fields from")
    return value


# The body is validated once, by ``create_sweep`` with the configured limits as context, and not
# by FastAPI first without them: a spec's validators may do work in proportion to its numbers
# (``seeds: 10**9`` is a list of a billion seeds, ``dim: 10**12`` a start point of 8 TB), which
# only the limits bound. The OpenAPI document still shows the body as a SweepSpec.
SpecBody = Annotated[dict[str, Any],
                     PlainValidator(_json_object, json_schema_input_type=SweepSpec),
                     Body(openapi_examples={
                         "adam on rosenbrock": {"summary": "the README's example", "value": {
                             "name": "adam on rosenbrock",
                             "objective": {"name": "rosenbrock", "dim": 2}, "init": [-1.5, 2.0],
                             "optimizer": "adam",
                             "grid": {"lr": [0.001, 0.01, 0.1], "beta1": [0.8, 0.9], "eps": 1e-8},
                             "steps": 500, "seeds": 3, "record_every": 1,
                             "metric": "final_loss"}},
                         "sgd on sphere": {"summary": "the least a spec needs", "value": {
                             "objective": "sphere", "optimizer": "sgd", "grid": {"lr": 0.1}}},
                         "optimizers compared": {"summary": "several optimizers side by side, "
                                                 "with a schedule and clipping", "value": {
                             "objective": "rosenbrock", "steps": 300, "seeds": 2,
                             "optimizers": [
                                 {"optimizer": "sgd", "grid": {"lr": [1e-4, 1e-3]}},
                                 {"optimizer": "adamw", "grid": {"lr": [0.01, 0.1]},
                                  "schedule": {"name": "warmup_cosine", "warmup_steps": 30}},
                                 {"optimizer": "lion", "grid": {"lr": [1e-3, 1e-2]},
                                  "clip": {"global_norm": 10.0}}]}},
                         "sobol search with successive halving": {
                             "summary": "64 drawn settings, the best third going on at each "
                             "rung", "value": {
                                 "objective": "rosenbrock", "optimizer": "adam", "steps": 810,
                                 "grid": {"lr": {"distribution": "log_uniform_values",
                                                 "min": 1e-4, "max": 0.3},
                                          "beta1": {"distribution": "uniform", "min": 0.5,
                                                    "max": 0.99}},
                                 "samples": 64, "sampler": "sobol", "record_every": 10,
                                 "pruning": {"kind": "successive_halving", "min_steps": 10,
                                             "reduction": 3}}},
                     })]


@router.post("", status_code=202, response_model=SweepView,
             responses=error_responses(413, 415, 429))
async def create_sweep(body: SpecBody, runtime: RuntimeDep, response: Response) -> SweepView:
    """Validate a sweep against the limits, store it and queue its chunks."""
    # off the event loop: a big body's validation (and its errors) must not stall other requests
    spec = await run_in_threadpool(_validated, body, runtime.settings.limits(),
                                   StoreDatasets(runtime.store))
    record = await run_in_threadpool(runtime.sweeps.submit, spec)
    response.headers["Location"] = f"/v1/sweeps/{record.id}"
    return SweepView.of(SweepState(record, None))


def _validated(body: dict[str, Any], limits: Limits, datasets: StoreDatasets) -> SweepSpec:
    """The spec of ``body`` under ``limits`` (an uploaded dataset read from ``datasets``), or
    InvalidRequest with its (bounded) errors."""
    try:
        return parse_spec(body, limits, datasets)
    except ValidationError as exc:
        raise InvalidRequest.from_validation(exc) from None


@router.get("", response_model=SweepPage)
def list_sweeps(runtime: RuntimeDep,
                status: Annotated[SweepStatus | None, Query(description="only this status")] = None,
                limit: Annotated[int | None, Query(
                    ge=1, description=f"page size (default {DEFAULT_PAGE_SIZE}, or "
                    "GRADSWEEP_PAGE_SIZE_MAX if that is smaller)")] = None,
                offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
                ) -> SweepPage:
    """Sweeps, newest first, optionally of one status, a page at a time."""
    if limit is None:
        limit = min(DEFAULT_PAGE_SIZE, runtime.settings.page_size_max)
    if limit > runtime.settings.page_size_max:
        message = f"at most {runtime.settings.page_size_max} (GRADSWEEP_PAGE_SIZE_MAX)"
        raise InvalidRequest(f"limit: {message}", [ErrorDetail(field="limit", message=message)])
    states, total = runtime.sweeps.list(status, limit, offset)
    return SweepPage(items=[SweepView.of(s) for s in states], total=total, limit=limit,
                     offset=offset)


@router.get("/{sweep_id}", response_model=SweepView)
def get_sweep(sweep_id: SweepId, runtime: RuntimeDep) -> SweepView:
    """A sweep's status, progress, timestamps and best setting so far."""
    return SweepView.of(runtime.sweeps.get(sweep_id))


# The handler returns its JSONBytes itself; naming it as response_class would make FastAPI
# document the 200 as {"type": "string", "$ref": ...} (it is not a JSONResponse subclass).
@router.get("/{sweep_id}/results", response_model=None,
            responses={200: {"model": SweepResultsDocument}})
def get_results(sweep_id: SweepId, runtime: RuntimeDep) -> JSONBytes:
    """Everything the sweep produced so far: every trial's curve, scores and the best."""
    return JSONBytes(runtime.sweeps.results(sweep_id))


@router.delete("/{sweep_id}", response_model=SweepView, responses=error_responses(409))
def cancel_sweep(sweep_id: SweepId, runtime: RuntimeDep) -> SweepView:
    """Cancel a queued or running sweep: chunks not started never run, running ones stop at
    their next check; the results of the chunks done so far are kept."""
    return SweepView.of(runtime.sweeps.cancel(sweep_id))
