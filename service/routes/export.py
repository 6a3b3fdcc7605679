"""Exports of a sweep's results in other formats (CSV).

``GET /v1/sweeps/{id}/results.csv``: one row per trial — index, seed, each hyperparameter (the
columns named as the grid's keys), status, final_loss, min_loss, mean_loss, diverged_at, error —
built from the same results document as ``GET /v1/sweeps/{id}/results``. Numbers are written
with ``repr`` (they read back as the same floats); a null is an empty cell.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response

from workers.jobs import results_document

from ..deps import RuntimeDep, require_api_key
from ..errors import ERROR_RESPONSES, NotFound
from .sweeps import SweepId

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])

LEADING_COLUMNS = ("index", "seed")
TRAILING_COLUMNS = ("status", "final_loss", "min_loss", "mean_loss", "diverged_at", "error")


class CSVResponse(Response):
    """A CSV document (Starlette adds ``; charset=utf-8``)."""

    media_type = "text/csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def results_csv(document: dict[str, Any]) -> str:
    """The trials of a results document as CSV text, one row per trial, in index order."""
    keys = list(document["spec"]["grid"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*LEADING_COLUMNS, *keys, *TRAILING_COLUMNS])
    for trial in document["trials"]:
        writer.writerow([_cell(trial["index"]), _cell(trial["seed"]),
                         *(_cell(trial["params"].get(k)) for k in keys),
                         *(_cell(trial.get(c)) for c in TRAILING_COLUMNS)])
    return buffer.getvalue()


# With response_class=CSVResponse, FastAPI documents an error response given by its model as
# text/csv too; so the errors name their (JSON) content explicitly here, replacing the router's.
_JSON_ERRORS = {status: {"description": entry["description"], "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for status, entry in ERROR_RESPONSES.items()}


@router.get("/{sweep_id}/results.csv", response_class=CSVResponse,
            responses={200: {"description": "one row per trial"}, **_JSON_ERRORS})
def get_results_csv(sweep_id: SweepId, runtime: RuntimeDep) -> CSVResponse:
    """The trials so far as CSV: index, seed, each hyperparameter, status, the three losses,
    diverged_at and error; empty cells for nulls."""
    record = runtime.store.get(sweep_id)
    if record is None:
        raise NotFound(f"no sweep {sweep_id}")
    document = orjson.loads(results_document(runtime.store, record))
    return CSVResponse(results_csv(document), headers={
        "Content-Disposition": f'attachment; filename="{sweep_id}.csv"'})


__all__ = ["CSVResponse", "results_csv", "router"]
