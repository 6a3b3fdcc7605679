"""The results document (README's "The results"): its models, and how trial records become one.

The runner emits one plain-dict *record* per trial (``optimizers.records.TrialRecord``);
``assemble`` gathers records from any number of chunks — in any order — into the document
(``ResultsDocument``): the normalised spec, progress, a score per grid point (its metric's mean
and standard deviation over seeds) and the best grid point. The pydantic models below describe
that document for the API's schema and for typed clients; the engine builds the plain data
directly, since a sweep may hold 100,000 trials, and types it with the TypedDicts of
``optimizers.records`` (kept in step with these models by ``tests/optimizers/test_records.py``).

Numbers are always standard JSON: where a value is not finite there is ``null`` and a status.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .moments import SAMPLED_BINS, Factors, Moments
from .pruning import trial_steps
from .records import (
    SCORE_KEYS,
    VALIDATION_KEYS,
    BestRecord,
    OptimizerSummary,
    ResultsDocument,
    ScoreSummary,
    SettingRecord,
    TrialRecord,
    TrialStatus,
    ValidationMetrics,
)
from .spec import Metric, SweepSpec, Trial, is_none, rank_key


class SweepStatus(str, Enum):
    """Where a sweep is in its life; ``is_finished`` once it will change no more."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_finished(self) -> bool:
        """True for succeeded, failed and cancelled."""
        return self in (SweepStatus.SUCCEEDED, SweepStatus.FAILED, SweepStatus.CANCELLED)


class Curve(BaseModel):
    """The loss at the recorded steps: 0, r, 2r, … and the last step."""

    step: list[int]
    loss: list[float]
    val_loss: list[float] | None = Field(None, description="with validation: the held-out "
                                         "rows' loss at the same steps")
    val_accuracy: list[float] | None = Field(None, description="with validation and a class "
                                             "target: the held-out rows' accuracy")


class TrialResult(BaseModel):
    """One trial: its grid point and seed, its outcome and its loss curve."""

    model_config = ConfigDict(extra="forbid")

    index: int
    params: dict[str, float]
    optimizer: str = Field(description="the name of the rule that ran it")
    seed: int
    status: TrialStatus
    final_loss: float | None = Field(description="loss after the last step (pruned: at "
                                     "pruned_at); null unless ok or pruned")
    min_loss: float | None = Field(description="lowest loss over all steps (before divergence)")
    mean_loss: float | None = Field(description="mean loss over steps 0..steps (pruned: "
                                    "0..pruned_at); null unless ok or pruned")
    final_val_loss: float | None = Field(None, description="with validation: the held-out loss "
                                         "after the last step; null unless ok")
    min_val_loss: float | None = Field(None, description="its lowest recorded value")
    final_val_accuracy: float | None = Field(None, description="for classes: the held-out "
                                             "accuracy after the last step; null unless ok")
    max_val_accuracy: float | None = Field(None, description="its highest recorded value")
    diverged_at: int | None = Field(description="first step whose loss was non-finite or over "
                                    "the threshold")
    pruned_at: int | None = Field(None, description="early stopping: the rung (a step) where "
                                  "the trial stopped, its grid point not among the best there")
    error: str | None = Field(description="why the trial failed")
    curve: Curve


class SettingScore(BaseModel):
    """A grid point's score: its trials' metric, mean and standard deviation over seeds.

    The score is null when any of its trials did not finish ok (a setting that diverges for
    one seed is not a candidate for best).
    """

    model_config = ConfigDict(extra="forbid")

    index: int
    params: dict[str, float]
    score: float | None
    score_std: float | None
    trials: list[int]


class Best(BaseModel):
    """The grid point with the lowest score."""

    params: dict[str, float]
    score: float
    score_std: float
    trials: list[int] = Field(description="its trials' indices, in order (a sweep's status view "
                              "lists the first few only)")
    n_trials: int = Field(description="how many trials it has: the length of the full list")

    @model_validator(mode="before")
    @classmethod
    def _count_trials(cls, data: Any) -> Any:
        """Documents stored before ``n_trials`` existed: the length of their full list."""
        if isinstance(data, dict) and "n_trials" not in data and isinstance(
                data.get("trials"), list):
            return {**data, "n_trials": len(data["trials"])}
        return data


class Progress(BaseModel):
    """Trials done out of the sweep's total."""

    done: int
    total: int


class OptimizerBest(BaseModel):
    """One optimizer of a sweep: its best setting and how many settings it has."""

    best: Best | None
    settings: int


class Marginal(BaseModel):
    """One value of a swept hyperparameter (a sampled key: one bin of its values) and the mean
    score of the scored settings that have it."""

    value: float | str = Field(description="the value; for a bin, the lower median of its "
                               "values; for 'optimizer', the optimizer's name")
    lo: float | None = Field(description="the lowest value it holds (a list value: itself; "
                             "null for 'optimizer')")
    hi: float | None = Field(description="the highest value it holds")
    n: int = Field(description="how many scored settings have it")
    mean: float | None = Field(description="their mean score; null when n is 0")


class Summary(BaseModel):
    """Sweep-wide statistics of the scores (see ``importance``) and each optimizer's best."""

    importance: dict[str, float] = Field(
        description="for each swept hyperparameter (a grid list of 2 or more values), the share "
        "of the scores' variance explained by its marginal means (main effect, as fANOVA); "
        "0..1, raw scores, grid points without a score left out; a sweep that compares "
        "optimizers also gives 'optimizer', and each key's share is over the settings that "
        "have it")
    marginals: dict[str, list[Marginal]] = Field(
        default_factory=dict, description="for each swept hyperparameter, the mean score of the "
        "scored settings at each of its values (a sampled key: its bins)")
    by_optimizer: dict[str, OptimizerBest] = Field(
        default_factory=dict, description="each optimizer's best setting (the best of its "
        "entries, where it has several) and its number of settings")
    trial_steps: int = Field(0, description="the steps the trials ran (to the end, "
                                    "to the rung that pruned them, to their divergence)")
    full_trial_steps: int = Field(0, description="trials × steps: what the sweep "
                                         "costs without early stopping")
    statuses: dict[str, int] | None = Field(None, exclude_if=is_none, description="a sweep "
                                            "over the inline limit: how many of its trials "
                                            "have each status")


class SweepResults(BaseModel):
    """Everything a sweep produced (the engine's output; the service adds an id)."""

    status: SweepStatus
    spec: SweepSpec
    progress: Progress
    best: Best | None
    summary: Summary
    settings: list[SettingScore]
    trials: list[TrialResult]


def score_summaries(records: Iterable[TrialRecord]) -> list[ScoreSummary]:
    """What scoring and a results.csv row need of each record (``ScoreSummary``: index,
    status, the three metrics, diverged_at and error) without the params (they follow from the
    index and the spec) and the curve, which are most of a record's size. A value a record
    lacks is None."""
    summaries: list[ScoreSummary] = []
    for r in records:
        summary: ScoreSummary = {
            "index": r["index"], "status": r["status"], "final_loss": r.get("final_loss"),
            "min_loss": r.get("min_loss"), "mean_loss": r.get("mean_loss"),
            "diverged_at": r.get("diverged_at"), "pruned_at": r.get("pruned_at"),
            "error": r.get("error")}
        summary.update(validation_metrics(r))  # type: ignore[typeddict-item]
        summaries.append(summary)
    return summaries


def validation_metrics(record: ValidationMetrics) -> ValidationMetrics:
    """The validation metrics a record (or its summary) holds: a model's with validation, none
    otherwise."""
    return cast(ValidationMetrics, {key: record.get(key) for key in VALIDATION_KEYS
                                    if key in record})


def failed_records(spec: SweepSpec, trials: Iterable[Trial], message: str) -> list[TrialRecord]:
    """Records for trials that could not run: status failed, with the message."""
    names = [entry.name for entry in spec.entries]
    return [{"index": t.index, "params": t.params, "optimizer": names[t.entry], "seed": t.seed,
             "status": "failed",
             "final_loss": None, "min_loss": None, "mean_loss": None, "diverged_at": None,
             "pruned_at": None,
             "error": message, "curve": {"step": [], "loss": []}} for t in trials]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation, summed exactly (``math.fsum``).

    Equal values give exactly that value and 0 — the usual case of a fixed start, where every
    seed runs the same numbers.
    """
    if min(values) == max(values):
        return values[0], 0.0
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def trial_value(record: ScoreSummary, metric: Metric) -> float | None:
    """A trial's contribution to its grid point's score: its metric if it ended ok, else None
    (which makes the grid point no candidate). Takes a record or its summary."""
    value = record.get(metric)
    return value if record["status"] == "ok" and value is not None else None


def point_score(values: Sequence[float | None]) -> tuple[float, float] | None:
    """A grid point's score and spread from its trials' ``trial_value``s (in trial order):
    ``mean_std`` of them, or None if any is None."""
    known = [v for v in values if v is not None]
    if len(known) < len(values):
        return None
    return mean_std(known)


def _score(group: Sequence[ScoreSummary], metric: Metric) -> tuple[float | None, float | None]:
    """A grid point's score and its spread over seeds; None unless every trial ended ok."""
    scored = point_score([trial_value(r, metric) for r in group])
    return (None, None) if scored is None else scored


def score_settings(spec: SweepSpec, records: Iterable[ScoreSummary]) -> list[SettingRecord]:
    """A score per grid point that has any records (or summaries), in grid order."""
    n = spec.n_settings
    groups: dict[int, list[ScoreSummary]] = {}
    for record in records:
        groups.setdefault(record["index"] % n, []).append(record)
    params = spec.settings()
    metric = spec.metric
    scores: list[SettingRecord] = []
    for setting in sorted(groups):
        group = groups[setting]
        if len(group) == 1:  # one seed: its value and 0, as mean_std gives for one value
            value = trial_value(group[0], metric)
            score, std = (None, None) if value is None else (value, 0.0)
        else:
            score, std = _score(group, metric)
        scores.append({"index": setting, "params": params[setting], "score": score,
                       "score_std": std, "trials": [r["index"] for r in groups[setting]]})
    return scores


class ScoreBoard:
    """The best grid point so far, kept up to date as trial summaries arrive.

    Takes records or their ``score_summaries``, from any chunks in any order; each ``add`` costs
    the grid points it touches, and ``best`` one pass over the scored ones — so following a
    running sweep chunk by chunk never re-reads what it has seen. ``best()`` equals the
    ``best`` of ``assemble`` over the same records.
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self._groups: dict[int, list[ScoreSummary]] = {}
        self._scores: dict[int, tuple[float, float]] = {}
        self._seen: set[int] = set()

    def add(self, summaries: Iterable[ScoreSummary]) -> None:
        """Take in more trials' summaries (trials already taken in are skipped)."""
        n = self.spec.n_settings
        touched = set()
        for summary in summaries:
            if summary["index"] in self._seen:  # a trial is counted once, however often given
                continue
            self._seen.add(summary["index"])
            setting = summary["index"] % n
            self._groups.setdefault(setting, []).append(summary)
            touched.add(setting)
        for setting in touched:
            score, std = _score(self._groups[setting], self.spec.metric)
            if score is None or std is None:
                self._scores.pop(setting, None)
            else:
                self._scores[setting] = (score, std)

    def best(self) -> BestRecord | None:
        """The best-scoring grid point so far (the lowest score, or the highest for a metric
        where higher is better; ties: the first in grid order), or None."""
        if not self._scores:
            return None
        metric = self.spec.metric
        setting = min(self._scores, key=lambda s: (rank_key(self._scores[s][0], metric), s))
        score, std = self._scores[setting]
        trials = sorted(r["index"] for r in self._groups[setting])
        return {"params": self.spec.setting(setting), "score": score, "score_std": std,
                "trials": trials, "n_trials": len(trials)}


def importance(spec: SweepSpec, settings: Iterable[SettingRecord]) -> dict[str, float]:
    """Each swept hyperparameter's share of the scores' variance: its main effect.

    Over the grid points with a score (diverged or failed ones, score None, are left out), with
    N of them, scores y and mean ȳ::

        V   = (1/N) Σ (y − ȳ)²                        the scores' (population) variance
        V_h = (1/N) Σ_v n_v (m_v − ȳ)²                 over h's values v: n_v scored points
                                                       with h = v, m_v their mean score
        importance_h = V_h / V                         0 when V = 0 or nothing is scored

    — the variance of h's marginal means, weighted by how many points have each value (on a full
    grid these are a grid's main effects, as fANOVA reports them). It is computed on the raw
    scores, not on log10(score): a score that spans decades is dominated by its largest values.
    Swept means a grid key whose value is a list of 2 or more values, in grid order, or a
    distribution drawn 2 or more times: a sampled key has a value per setting, so its values
    are grouped into bins (``moments.Factors``: ⌈√N⌉ of them, at most ``SAMPLED_BINS``, of
    equal counts by rank over all the sweep's settings, scored or not) — a main effect over
    those bins. Comparing optimizers, "optimizer" comes first; a key of some optimizers only
    has its share over the settings that have it.

    The sums are exact and the share is the correctly rounded value of the formula
    (``moments.Moments``, which a store keeps up to date as scores arrive, to the same bits).
    """
    return moments_of(spec, settings).importance()


def moments_of(spec: SweepSpec, settings: Iterable[SettingRecord],
               factors: Factors | None = None) -> Moments:
    """The ``Moments`` of the scored ``settings`` (``factors``: the spec's, if already built)."""
    moments = Moments(factors or Factors.of(spec))
    moments.update_many((s["index"], None, score) for s in settings
                        if (score := s["score"]) is not None)
    return moments


def best_setting(settings: Iterable[SettingRecord],
                 metric: str = "final_loss") -> BestRecord | None:
    """The best of the scored grid points — the lowest score, or the highest for a metric where
    higher is better (``spec.higher_is_better``); ties: the lowest grid index — or None."""
    candidates = [(score, s["index"], std, s) for s in settings
                  if (score := s["score"]) is not None and (std := s["score_std"]) is not None]
    if not candidates:
        return None
    score, _, std, best = min(candidates, key=lambda c: (rank_key(c[0], metric), c[1]))
    return {"params": best["params"], "score": score, "score_std": std,
            "trials": best["trials"], "n_trials": len(best["trials"])}


def by_optimizer(spec: SweepSpec, settings: Iterable[SettingRecord],
                 best: BestRecord | None = None) -> dict[str, OptimizerSummary]:
    """Each optimizer's best setting (over all its entries, where it has several) and how many
    settings it has, in entry order; ``best``, the sweep's, is the one optimizer's if known."""
    if len(spec.entries) == 1 and best is not None:
        return {spec.entries[0].name: {"best": best, "settings": spec.n_settings}}
    ordered = sorted(settings, key=lambda s: s["index"])
    indices = [s["index"] for s in ordered]
    groups: dict[str, list[SettingRecord]] = {}
    counts: dict[str, int] = {}
    for entry in spec.entries:  # an entry's settings are a run of indices
        lo = bisect.bisect_left(indices, entry.offset)
        hi = bisect.bisect_left(indices, entry.offset + entry.n_settings)
        groups.setdefault(entry.name, []).extend(ordered[lo:hi])
        counts[entry.name] = counts.get(entry.name, 0) + entry.n_settings
    return {name: {"best": best_setting(group, spec.metric), "settings": counts[name]}
            for name, group in groups.items()}


def assemble(spec: SweepSpec, records: Iterable[TrialRecord],
             status: SweepStatus | str = SweepStatus.SUCCEEDED) -> ResultsDocument:
    """The results document from trial records of any chunks, in any order."""
    trials = sorted(records, key=lambda r: r["index"])
    settings = score_settings(spec, trials)
    best = best_setting(settings, spec.metric)
    data = spec.data()
    moments = moments_of(spec, settings, Factors(data))
    return {
        "status": SweepStatus(status).value,
        "spec": data,
        "progress": {"done": len(trials), "total": spec.n_trials},
        "best": best,
        "summary": {"importance": moments.importance(),
                    "marginals": moments.marginals(),
                    "by_optimizer": by_optimizer(spec, settings, best),
                    "trial_steps": trial_steps(trials, spec.steps),
                    "full_trial_steps": spec.n_trials * spec.steps},
        "settings": settings,
        "trials": trials,
    }


__all__ = [
    "SAMPLED_BINS",
    "SCORE_KEYS",
    "Best",
    "Curve",
    "Marginal",
    "Progress",
    "ScoreBoard",
    "SettingScore",
    "Summary",
    "SweepResults",
    "SweepStatus",
    "TrialResult",
    "TrialStatus",
    "assemble",
    "best_setting",
    "by_optimizer",
    "failed_records",
    "importance",
    "mean_std",
    "moments_of",
    "point_score",
    "score_settings",
    "score_summaries",
    "trial_value",
]
