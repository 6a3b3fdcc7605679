"""The plain data a sweep produces, typed: trial records and the results document.

The engine builds these as plain dicts and lists — a sweep may hold 100,000 trials, and a
TypedDict costs nothing at run time: it is a dict, checked by mypy only — and everything
downstream (the stores, ``workers.jobs``, the CLI, the CSV export, the plot) reads them through
these types. The pydantic models of ``optimizers.results`` (``TrialResult``, ``SettingScore``,
``Best``, ``Progress``, ``Summary``, ``SweepResults``) describe the same document for the API's
schema and for typed clients; ``tests/optimizers/test_records.py`` keeps the two in step (same
keys, and a real document validates against the models).

The keys nest by what a consumer needs of a trial, each declared once:

- ``ScoreSummary``: index and outcome — what scoring a grid point reads, and what a store keeps
  beside each chunk's records so that neither scoring nor results.csv parses a curve;
- ``TrialRow``: plus its seed and hyperparameters — a results.csv row;
- ``TrialRecord``: plus its loss curve — a trial of the results document, as the runner emits it.

A ``TrialRecord`` is a ``TrialRow`` is a ``ScoreSummary`` (structurally: a function that takes
summaries takes records). The runner writes a record's keys in the document's order (index,
params, seed, status, …); the order of the declarations here is not the JSON's.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict  # pydantic validates it on Python 3.11 too

from .spec import SpecData

TrialStatus = Literal["ok", "diverged", "pruned", "failed"]


class ValidationMetrics(TypedDict, total=False):
    """A model objective with validation (``optimizers.models``): its metrics, the final ones
    None unless the trial ended ok; the accuracies for a class target only. Absent otherwise."""

    final_val_loss: float | None
    min_val_loss: float | None
    final_val_accuracy: float | None
    max_val_accuracy: float | None


class ScoreSummary(ValidationMetrics):
    """A trial's index and outcome, without its seed, params (they follow from the index and
    the spec) and curve — most of a record's size."""

    index: int
    status: TrialStatus
    final_loss: float | None  # loss after the last step (pruned: at pruned_at); None unless ok
    min_loss: float | None  # lowest loss over the steps before divergence
    mean_loss: float | None  # mean over steps 0..steps (pruned: 0..pruned_at); None unless ok
    diverged_at: int | None  # first step whose loss was non-finite or over the threshold
    pruned_at: int | None  # the rung where early stopping ended it
    error: str | None  # why the trial failed


class TrialRow(ScoreSummary):
    """A trial without its curve: a results.csv row."""

    seed: int
    params: dict[str, float]
    optimizer: str  # the name of the rule that ran it


class ValidationCurves(TypedDict, total=False):
    """With validation: the held-out rows' loss and, for classes, their accuracy."""

    val_loss: list[float]
    val_accuracy: list[float]


class CurveRecord(ValidationCurves):
    """The loss at the recorded steps: 0, r, 2r, … and the last step (before divergence)."""

    step: list[int]
    loss: list[float]


class TrialRecord(TrialRow):
    """One trial of the results document: grid point, seed, outcome and loss curve."""

    curve: CurveRecord


class SettingRecord(TypedDict):
    """A grid point's score: its trials' metric, mean and population standard deviation over
    seeds; both None unless every one of its trials ended ok."""

    index: int
    params: dict[str, float]
    score: float | None
    score_std: float | None
    trials: list[int]


class BestRecord(TypedDict):
    """The grid point with the lowest score (ties: the lowest grid index)."""

    params: dict[str, float]
    score: float
    score_std: float
    trials: list[int]
    n_trials: int


class ProgressRecord(TypedDict):
    """Trials done out of the sweep's total."""

    done: int
    total: int


class OptimizerSummary(TypedDict):
    """One optimizer of a sweep: its best setting and how many settings it has."""

    best: BestRecord | None
    settings: int


class MarginalRecord(TypedDict):
    """One value of a swept hyperparameter (a sampled key: one bin; the optimizer: its name),
    the range of values it holds (None for the optimizer), how many scored settings have it and
    their mean score (None for none): ``optimizers.moments.Moments.marginals``."""

    value: float | str
    lo: float | None
    hi: float | None
    n: int
    mean: float | None


class SummaryExtras(TypedDict, total=False):
    """What only a summary document's summary holds (``SummaryDocument``)."""

    statuses: dict[str, int]  # how many of its trials have each status


class SummaryRecord(SummaryExtras):
    """Sweep-wide statistics of the scores: each swept hyperparameter's share of their
    variance (``optimizers.results.importance``) and its marginal means, and each optimizer's
    best."""

    importance: dict[str, float]
    marginals: dict[str, list[MarginalRecord]]
    by_optimizer: dict[str, OptimizerSummary]
    trial_steps: int  # the steps the trials ran (to the end, their rung or their divergence)
    full_trial_steps: int  # trials × steps: the sweep without early stopping


class ResultsLinks(TypedDict):
    """Where a sweep's trials are: paged, as one NDJSON stream, as CSV."""

    trials: str
    ndjson: str
    csv: str


class ResultsDocument(TypedDict):
    """Everything a sweep produced (README's "The results"); the service adds an id."""

    status: str  # a SweepStatus value
    spec: SpecData
    progress: ProgressRecord
    best: BestRecord | None
    summary: SummaryRecord
    settings: list[SettingRecord]
    trials: list[TrialRecord]


class SummaryDocument(TypedDict):
    """The results document of a sweep too large to inline its trials (the service's
    ``results_inline_max``): no ``settings`` and ``trials``, but the best settings and the
    ``links`` to its trials; its summary gives the trials per status."""

    status: str
    spec: SpecData
    progress: ProgressRecord
    best: BestRecord | None
    summary: SummaryRecord
    top_settings: list[SettingRecord]
    links: ResultsLinks


#: The validation metrics a record of a model with validation adds (``ScoreSummary``'s optional
#: keys), in the document's order.
VALIDATION_KEYS: tuple[str, ...] = ("final_val_loss", "min_val_loss", "final_val_accuracy",
                                    "max_val_accuracy")
#: A ``ScoreSummary``'s keys that every record has, in the order ``score_summaries`` writes them.
SCORE_KEYS: tuple[str, ...] = tuple(k for k in ScoreSummary.__annotations__
                                    if k not in VALIDATION_KEYS)
#: A trial's outcome: its summary's keys after the index (results.csv's trailing columns).
OUTCOME_KEYS: tuple[str, ...] = SCORE_KEYS[1:]


__all__ = [
    "OUTCOME_KEYS",
    "SCORE_KEYS",
    "VALIDATION_KEYS",
    "BestRecord",
    "CurveRecord",
    "MarginalRecord",
    "OptimizerSummary",
    "ProgressRecord",
    "ResultsDocument",
    "ResultsLinks",
    "SummaryDocument",
    "ScoreSummary",
    "SettingRecord",
    "SummaryRecord",
    "TrialRecord",
    "TrialRow",
    "TrialStatus",
    "ValidationCurves",
    "ValidationMetrics",
]
