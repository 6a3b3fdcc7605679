"""``GET /v1/sweeps/{id}/overview``: what the dashboard draws of a sweep's curves, at any size.

Quantile bands of every trial's loss at up to 200 of the recorded steps, the trials with a value
at each, and a sample of about 200 whole curves spread over the grid — merged from the sketch
each chunk stored beside its records (``optimizers.overview``, ``workers.overview``). It reads
one small blob per saved chunk and never a record, so it costs the same order at 10³ trials and
at 10⁶. A band value is within ±3.7 % of ``numpy.quantile`` over every curve (when the two
ranks it interpolates have the same sign: every band of positive losses).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from optimizers.overview import MAX_POSITIONS
from optimizers.results import TrialResult

from ..deps import RuntimeDep, SweepId, require_api_key
from ..errors import ERROR_RESPONSES
from ..responses import JSONBytes

#: Points of a sample curve by default: the page draws ~200 of them in a plot a few hundred
#: pixels wide, and the sample is most of the document's bytes (about 4.5 kB a curve at 200).
SAMPLE_POINTS = 100
#: What the sketch keeps of a sample curve: its positions and its own last point.
SAMPLE_POINTS_MAX = MAX_POSITIONS + 1

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])


class SweepOverview(BaseModel):
    """Quantile bands of the loss curves of the trials saved so far, and a sample of them."""

    steps: list[int] = Field(description="the steps of the bands: up to 200 of the recorded "
                             "steps, evenly spaced, always the first and the last")
    quantiles: list[float] = Field(description="the quantiles of the bands, in order")
    bands: list[list[float | None]] = Field(description="per quantile, the loss at each step "
                                            "(null where no trial has a value); within ±3.7 % "
                                            "of the exact quantile")
    counts: list[int] = Field(description="per step, the trials with a value there (a pruned, "
                              "diverged or failed trial's curve stops early)")
    sample: list[TrialResult] = Field(description="the trials saved so far whose index is "
                                      "⌊i·total/200⌋ for some i < 200 (every trial of a sweep of "
                                      "at most 200), by index, with their curves: at most "
                                      "`points` of the band's steps and the curve's own last "
                                      "point, evenly spaced, always the first and the last")
    trials: int = Field(description="the trials the bands cover: those saved so far")
    rungs: list[int] = Field(description="a sweep with early stopping: its rungs' steps")
    metric: str = Field(description="the spec's metric")


# The handler returns its JSONBytes itself (as GET …/results: no validation of the sample).
@router.get("/{sweep_id}/overview", response_model=None,
            responses={200: {"model": SweepOverview}})
def get_overview(sweep_id: SweepId, runtime: RuntimeDep,
                 points: Annotated[int, Query(ge=2, le=SAMPLE_POINTS_MAX, description=(
                     "most points of each sample curve"))] = SAMPLE_POINTS) -> JSONBytes:
    """Quantile bands of every trial's loss curve (5, 25, 50, 75, 95 %) and a sample of ~200
    curves, of the trials saved so far; the same cost at any sweep size."""
    return JSONBytes(runtime.sweeps.overview(sweep_id, sample_points=points))


__all__ = ["SweepOverview", "router"]
