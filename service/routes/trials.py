"""A sweep's trials, a page at a time (``GET /v1/sweeps/{id}/trials``) and as one NDJSON stream
(``GET /v1/sweeps/{id}/trials.ndjson``): what a client reads of a sweep too large for one
results document (``workers.trials``). Both are rendered with orjson straight from the stored
records, never through a pydantic model per trial; the models here document them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from optimizers.results import Curve, TrialResult
from workers.store import TrialOrder
from workers.trials import PAGE_DEFAULT, PAGE_MAX, BadCursor, Item

from ..deps import RuntimeDep, SweepId, require_api_key
from ..errors import ERROR_RESPONSES, JSON_ERROR_RESPONSES, ErrorDetail, InvalidRequest, NotFound
from ..responses import JSONBytes

router = APIRouter(prefix="/v1/sweeps", tags=["trials"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])

StatusFilter = Literal["ok", "diverged", "pruned", "failed"]
#: Trials written into one piece of the NDJSON stream.
LINES_PER_PIECE = 1000


class TrialItem(TrialResult):
    """A trial as the results document holds it; without ``curve`` when asked with
    ``curves=false``."""

    curve: Curve | None = Field(None, description="absent with curves=false")  # type: ignore[assignment]


class TrialPageView(BaseModel):
    """A page of a sweep's trials."""

    items: list[TrialItem]
    next: str | None = Field(description="the cursor of the next page; null once a finished "
                             "sweep has no more trials (while it runs, always set: ask again)")
    total: int = Field(description="the saved trials that match the status filter")


Order = Annotated[TrialOrder, Query(description="index: by trial index (while the sweep runs, "
                                    "a page stops before the first trial not yet saved); "
                                    "score: best first by the trial's own metric, then the "
                                    "trials without a value by index")]
Status = Annotated[StatusFilter | None, Query(description="only the trials of this status")]
Curves = Annotated[bool, Query(description="false: the trials without their curves")]


@router.get("/{sweep_id}/trials", response_model=None,
            responses={200: {"model": TrialPageView}})
def get_trials(sweep_id: SweepId, runtime: RuntimeDep,
               limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="page size")] = (
                   PAGE_DEFAULT),
               cursor: Annotated[str | None, Query(max_length=512, description="a page's next "
                                                   "(none: the first page)")] = None,
               order: Order = "index", status: Status = None, curves: Curves = True,
               ) -> JSONBytes:
    """A page of the sweep's saved trials, in index or score order, optionally of one status;
    follow ``next`` for the pages after it. Costs the same at 10 trials and at 10⁶."""
    try:
        page = runtime.sweeps.trials(sweep_id, limit=limit, cursor=cursor, order=order,
                                     status=status, curves=curves)
    except BadCursor as exc:
        raise InvalidRequest(f"cursor: {exc}", [ErrorDetail(field="cursor",
                                                            message=str(exc))]) from None
    return JSONBytes(orjson.dumps({"items": page.items, "next": page.next,
                                   "total": page.total}))


#: The largest trial index a path takes (a sweep holds at most a few million trials).
MAX_INDEX = 2**31 - 1


@router.get("/{sweep_id}/trials/{index}", response_model=None,
            responses={200: {"model": TrialItem}})
def get_trial(sweep_id: SweepId, runtime: RuntimeDep,
              index: Annotated[int, Path(ge=0, le=MAX_INDEX, description="the trial's index")],
              curves: Curves = True) -> JSONBytes:
    """One saved trial, as a page holds it (a 404 while it is not saved: not yet, or never)."""
    trial = runtime.sweeps.trial(sweep_id, index, curves=curves)
    if trial is None:
        raise NotFound(f"sweep {sweep_id} has no saved trial {index}",
                       [ErrorDetail(field="index", message=f"no saved trial {index}")])
    return JSONBytes(orjson.dumps(trial))


class NDJSONResponse(StreamingResponse):
    """Newline-delimited JSON: one trial a line."""

    media_type = "application/x-ndjson"


def ndjson_pieces(trials: Iterable[Item], per_piece: int = LINES_PER_PIECE) -> Iterator[bytes]:
    """The trials as NDJSON, ``per_piece`` lines to a piece."""
    lines: list[bytes] = []
    for trial in trials:
        lines.append(orjson.dumps(trial))
        if len(lines) == per_piece:
            yield b"\n".join(lines) + b"\n"
            lines = []
    if lines:
        yield b"\n".join(lines) + b"\n"


@router.get("/{sweep_id}/trials.ndjson", response_class=NDJSONResponse,
            responses={200: {"description": "one trial (as in the results document) a line, "
                             "in index order", "content": {"application/x-ndjson": {}}},
                       **JSON_ERROR_RESPONSES})
def get_trials_ndjson(sweep_id: SweepId, runtime: RuntimeDep, status: Status = None,
                      curves: Curves = True) -> NDJSONResponse:
    """Every trial saved so far, one JSON object a line, in index order — streamed a page of
    the trial index at a time, so its size costs the API nothing."""
    trials = runtime.sweeps.stream(sweep_id, curves=curves, status=status)  # errors stay JSON
    return NDJSONResponse(ndjson_pieces(trials), headers={
        "Content-Disposition": f'attachment; filename="{sweep_id}.ndjson"'})


__all__ = ["NDJSONResponse", "TrialItem", "TrialPageView", "ndjson_pieces", "router"]
