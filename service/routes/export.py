"""Exports of a sweep's results in other formats (CSV).

``GET /v1/sweeps/{id}/results.csv``: one row per trial — index, seed, optimizer, each hyperparameter (the
columns named as the grid's keys), status, final_loss, min_loss, mean_loss (then a model's
validation metrics), diverged_at, error —
the same trials as ``GET /v1/sweeps/{id}/results``. Numbers are written with ``repr`` (they read
back as the same floats); a null is an empty cell.

The route never reads the results document: its curves are nearly all of it (a sweep may hold
hundreds of MB of them) and a row needs none. It streams rows built from the chunks' score
summaries (``SweepService.csv``), a bounded batch of chunks at a time, in Starlette's
threadpool — the same bytes as ``results_csv`` of the document, which stays as the reference.
An unknown sweep (404) or an unreachable store (503) is answered before the first byte, as JSON.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from optimizers.records import OUTCOME_KEYS, VALIDATION_KEYS, ResultsDocument, TrialRow
from optimizers.spec import setting_keys

from ..deps import RuntimeDep, SweepId, require_api_key
from ..errors import ERROR_RESPONSES, JSON_ERROR_RESPONSES

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])

LEADING_COLUMNS = ("index", "seed", "optimizer")
TRAILING_COLUMNS = OUTCOME_KEYS  # a trial's outcome, as its score summary holds it


def outcome_columns(validation: Iterable[str]) -> tuple[str, ...]:
    """The trailing columns: the outcome, with a model's validation metrics (those of
    ``validation`` it records) after mean_loss."""
    extra = tuple(k for k in VALIDATION_KEYS if k in set(validation))
    at = TRAILING_COLUMNS.index("mean_loss") + 1
    return TRAILING_COLUMNS[:at] + extra + TRAILING_COLUMNS[at:]


class CSVResponse(Response):
    """A CSV document (Starlette adds ``; charset=utf-8``)."""

    media_type = "text/csv"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def results_csv(document: ResultsDocument) -> str:
    """The trials of a results document as CSV text, one row per trial, in index order (the
    reference ``csv_chunks`` matches byte for byte)."""
    recorded = {k for trial in document["trials"] for k in VALIDATION_KEYS if k in trial}
    return "".join(csv_chunks(setting_keys(document["spec"]), document["trials"],
                              outcome_columns(recorded)))


#: Rows ``csv_chunks`` writes into one piece of the response.
ROWS_PER_PIECE = 1000


def csv_chunks(keys: list[str], trials: Iterable[TrialRow],
               trailing: tuple[str, ...] = TRAILING_COLUMNS) -> Iterator[str]:
    """The header and a row per trial (index, seed, ``params`` by ``keys``, the ``trailing``
    columns), as pieces of CSV text of up to ``ROWS_PER_PIECE`` rows each. ``trials``: rows,
    or the document's records (a ``TrialRecord`` is a row with a curve)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*LEADING_COLUMNS, *keys, *trailing])
    for n, trial in enumerate(trials, 1):
        writer.writerow([_cell(trial["index"]), _cell(trial["seed"]), trial["optimizer"],
                         *(_cell(trial["params"].get(k)) for k in keys),
                         *(_cell(trial.get(c)) for c in trailing)])
        if n % ROWS_PER_PIECE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get("/{sweep_id}/results.csv", response_class=CSVResponse,
            responses={200: {"description": "one row per trial"}, **JSON_ERROR_RESPONSES})
def get_results_csv(sweep_id: SweepId, runtime: RuntimeDep) -> StreamingResponse:
    """The trials so far as CSV: index, seed, optimizer, each hyperparameter, status, the losses (and
    a model's validation metrics), diverged_at and error; empty cells for nulls."""
    keys, metrics, rows = runtime.sweeps.csv(sweep_id)  # reads the first chunks now: errors
    # stay JSON; a sync iterator: Starlette runs each step in its threadpool, off the event loop
    return StreamingResponse(csv_chunks(keys, rows, outcome_columns(metrics)), media_type=CSVResponse.media_type, headers={
        "Content-Disposition": f'attachment; filename="{sweep_id}.csv"'})


__all__ = ["CSVResponse", "csv_chunks", "outcome_columns", "results_csv", "router"]
