"""The API's own envelopes around the engine's models: a sweep's status, a page of sweeps, an
uploaded dataset.

The sweep spec (``optimizers.SweepSpec``) and the results document (``optimizers.SweepResults``)
are the engine's; the API adds the id, timestamps and links.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from optimizers import SweepResults, SweepStatus
from optimizers.results import Best, Progress, SettingScore, TrialResult
from optimizers.spec import optimizer_names
from workers.store import BEST_TRIALS
from workers.sweeps import SweepState

SWEEP_ID_PATTERN = r"^[0-9a-f]{32}$"


class SweepLinks(BaseModel):
    """Where to find the sweep and its results."""

    self: str
    results: str


class BestSoFar(Best):
    """The best grid point among the trials done so far, as a status view shows it: its first
    trials only (the results document lists them all), so a view stays small at any size."""

    trials: list[int] = Field(max_length=BEST_TRIALS, description=f"the first {BEST_TRIALS} (at "
                              "most) of its trials' indices, in order; n_trials counts them all")


class SweepView(BaseModel):
    """A sweep's status: progress, timestamps and the best setting so far."""

    id: str
    name: str
    status: SweepStatus
    optimizer: str
    objective: str
    progress: Progress
    trial_steps: int = Field(description="the steps the trials done so far ran (a trial pruned "
                             "early, or diverged, ran fewer than steps)")
    full_trial_steps: int = Field(description="trials × steps: the whole sweep without early "
                                  "stopping")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    best: BestSoFar | None = Field(description="the best grid point among the trials done so "
                                   "far")
    links: SweepLinks

    @classmethod
    def of(cls, state: SweepState) -> SweepView:
        """The view of a sweep's state (``workers.sweeps``): its record and best so far."""
        record = state.record
        best = None if state.best is None else BestSoFar(**state.best.model_dump())
        return cls(
            id=record.id, name=record.name, status=record.status,
            optimizer=", ".join(optimizer_names(record.spec)),
            objective=record.spec["objective"]["name"],
            progress=Progress(done=record.done, total=record.total),
            trial_steps=record.trial_steps,
            full_trial_steps=record.total * int(record.spec.get("steps", 0)),
            created_at=_time(record.created_at), started_at=_time(record.started_at),
            finished_at=_time(record.finished_at), error=record.error, best=best,
            links=SweepLinks(self=f"/v1/sweeps/{record.id}",
                             results=f"/v1/sweeps/{record.id}/results"))


class SweepPage(BaseModel):
    """One page of sweeps, newest first."""

    items: list[SweepView]
    total: int = Field(description="how many sweeps match the filter")
    limit: int
    offset: int


class ResultsLinks(BaseModel):
    """Where a sweep's trials are."""

    trials: str = Field(description="GET: a page at a time")
    ndjson: str = Field(description="GET: every trial, one JSON object a line")
    csv: str = Field(description="GET: a row per trial")


class SweepResultsDocument(SweepResults):
    """Everything a sweep produced, with its id (the engine's document plus ``id``). A sweep of
    more than GRADSWEEP_RESULTS_INLINE_MAX trials has no ``settings`` and ``trials`` here but
    its ``top_settings`` and the ``links`` to its trials."""

    id: str
    settings: list[SettingScore] | None = Field(  # type: ignore[assignment]
        None, description="every setting's score, in grid order (absent above the inline "
        "limit)")
    trials: list[TrialResult] | None = Field(  # type: ignore[assignment]
        None, description="every trial, in index order (absent above the inline limit)")
    top_settings: list[SettingScore] | None = Field(
        None, description="above the inline limit: the best settings, best first")
    links: ResultsLinks | None = Field(None, description="above the inline limit: where the "
                                       "trials are")


def _time(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, tz=UTC)


class DatasetView(BaseModel):
    """An uploaded dataset: its id and shape."""

    id: str = Field(description="the sha256 of the canonical data: give it as "
                    "{\"id\": …} in a model objective's dataset")
    rows: int
    features: int
    task: Literal["classification", "regression"]
    classes: int = Field(description="distinct classes (0 for a real target)")
    bytes: int = Field(description="the size of the data as stored")
    created_at: float


class DatasetList(BaseModel):
    """Every uploaded dataset, oldest first."""

    items: list[DatasetView]


__all__ = ["SWEEP_ID_PATTERN", "BestSoFar", "DatasetList", "DatasetView", "SweepLinks", "SweepPage", "SweepResultsDocument",
           "SweepView"]
