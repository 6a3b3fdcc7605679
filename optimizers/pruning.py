"""Early stopping: synchronous successive halving and Hyperband over a sweep's grid points.

With ``"pruning": {"kind": "successive_halving", "min_steps": r, "reduction": η}`` the rungs sit
at steps r, r·η, r·η², … below ``steps``. Every trial runs to the first rung; there the grid
points still running (a trial of theirs not yet ended) are ranked by their score measured up
to the rung — the mean over their seeds of the sweep's metric as it stands at that step (the
loss at the rung for final_loss, the lowest so far for min_loss, …), a seed that diverged
counting as the worst, ties by grid index — and the best ⌈n/η⌉ go on to the next rung; the
trials of the others end ``pruned`` at the rung. Those that go on continue from their exact
state (``optimizers.checkpoint``), so their numbers are those of the same trials run without
pruning.

``"kind": "hyperband"`` (Li et al., 2017) runs brackets s = m, m−1, …, 0 over the same ladder of
m rungs: bracket s starts halving at rung m − s (bracket m is the successive halving above,
bracket 0 runs every trial to the end), and gets a share of the grid points proportional to
n_s = ⌈(m + 1)/(s + 1) · η^s⌉, dealt out in grid order so that every bracket sees the whole
range of each hyperparameter. Each bracket ranks its own grid points.

The rungs are the same for every bracket, so a pruned sweep runs as *stages*: stage i takes
every trial still running from rung i − 1 (step 0 for the first) to rung i (the last step for
the last stage). ``Plan`` is that schedule; ``survivors`` is the choice made at a rung.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the spec imports this module
    from .records import ScoreSummary, TrialRecord
    from .spec import Metric

MAX_INT = 2**63 - 1  # every integer of a spec fits 64 bits

PruningKind = Literal["successive_halving", "hyperband"]
PRUNING_KINDS: tuple[str, ...] = ("successive_halving", "hyperband")


class PruningSpec(BaseModel):
    """Early stopping: ``kind``, the first rung ``min_steps`` and the ``reduction`` η."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: PruningKind = Field(description="successive_halving: every grid point runs to "
                              "min_steps, the best 1/reduction go on to min_steps·reduction, "
                              "and so on; hyperband: brackets of successive halving, each "
                              "starting at its own rung (Li et al. 2017)")
    min_steps: int = Field(ge=1, le=MAX_INT, description="the first rung, in steps (below "
                           "steps, and a multiple of record_every: every rung is a recorded "
                           "step)")
    reduction: int = Field(3, ge=2, le=MAX_INT, description="η: 1/η of the grid points go on "
                           "at each rung, and the rungs are η times apart")


def ladder(steps: int, min_steps: int, reduction: int) -> list[int]:
    """The rungs: r, r·η, r·η², … below ``steps``."""
    rungs = []
    rung = min_steps
    while rung < steps:
        rungs.append(rung)
        rung *= reduction
    return rungs


def bracket_sizes(m: int, reduction: int) -> list[int]:
    """Hyperband's n_s = ⌈(m + 1)/(s + 1) · η^s⌉ for the brackets s = m, m − 1, …, 0."""
    return [math.ceil((m + 1) / (s + 1) * reduction ** s) for s in range(m, -1, -1)]


def deal(n_settings: int, weights: Sequence[int]) -> list[int]:
    """Grid point → bracket (an index into ``weights``): in grid order, each point to the
    bracket furthest below its share (ties: the first), so the brackets' sizes stay within one
    of n·wᵢ/Σw and each bracket is spread over the whole grid."""
    total = sum(weights)
    counts = [0] * len(weights)
    out = []
    for i in range(n_settings):
        deficit = [(i + 1) * w / total - c for w, c in zip(weights, counts, strict=True)]
        b = max(range(len(weights)), key=lambda j: (deficit[j], -j))
        counts[b] += 1
        out.append(b)
    return out


@dataclass(frozen=True)
class Plan:
    """A pruned sweep's schedule: its rungs and which bracket (and first rung) each grid
    point has."""

    steps: int
    rungs: tuple[int, ...]
    reduction: int
    n_settings: int
    kind: PruningKind

    @cached_property
    def starts(self) -> tuple[int, ...]:
        """Per bracket, the index of its first rung (len(rungs): no rung, it runs to the end)."""
        m = len(self.rungs)
        return (0,) if self.kind == "successive_halving" else tuple(range(m + 1))

    @cached_property
    def bracket_of(self) -> tuple[int, ...]:
        """Grid point → its bracket."""
        if len(self.starts) == 1:
            return (0,) * self.n_settings
        return tuple(deal(self.n_settings, bracket_sizes(len(self.rungs), self.reduction)))

    @property
    def n_stages(self) -> int:
        """Stages: one per rung, and the last one to the end."""
        return len(self.rungs) + 1

    def stage_steps(self, stage: int) -> tuple[int, int]:
        """Stage ``stage`` runs from this step to that one."""
        bounds = (0, *self.rungs, self.steps)
        return bounds[stage], bounds[stage + 1]

    def full_trial_steps(self, n_trials: int) -> int:
        """The trial-steps of the same sweep without pruning."""
        return n_trials * self.steps


def plan_of(pruning: PruningSpec, steps: int, n_settings: int) -> Plan:
    """The schedule of a sweep with ``pruning``."""
    return Plan(steps, tuple(ladder(steps, pruning.min_steps, pruning.reduction)),
                pruning.reduction, n_settings, pruning.kind)


def survivors(plan: Plan, rung: int, paused: Iterable[ScoreSummary], n_seeds: int,
              metric: Metric) -> set[int]:
    """The grid points that go on past rung number ``rung``, from the records of the trials
    paused there (measured up to the rung).

    In each bracket that halves at this rung (its first rung is at or before it), the grid
    points with a paused trial are ranked by the mean of their trials' metric, a grid point
    with fewer than ``n_seeds`` paused trials (one ended: diverged or failed) or a missing value
    last, ties by grid index; the best ⌈n/η⌉ go on. Brackets that start later go on whole.
    """
    from .spec import rank_key  # the spec imports this module

    values: dict[int, list[float | None]] = {}
    n = plan.n_settings
    for record in paused:
        values.setdefault(record["index"] % n, []).append(record.get(metric))
    by_bracket: dict[int, list[int]] = {}
    for setting in values:
        by_bracket.setdefault(plan.bracket_of[setting], []).append(setting)
    kept: set[int] = set()
    for bracket, settings in by_bracket.items():
        if plan.starts[bracket] > rung:
            kept.update(settings)
            continue

        def key(setting: int) -> tuple[float, int]:
            known = [v for v in values[setting] if v is not None]
            if len(known) < n_seeds:
                return math.inf, setting
            return rank_key(math.fsum(known) / len(known), metric), setting

        ranked = sorted(settings, key=key)
        kept.update(ranked[:math.ceil(len(ranked) / plan.reduction)])
    return kept


def pruned(records: Iterable[TrialRecord], rung_step: int) -> list[TrialRecord]:
    """Paused trials' records as those of trials pruned at ``rung_step``."""
    return [{**r, "status": "pruned", "pruned_at": rung_step} for r in records]


def promote(plan: Plan, rung: int, paused: Sequence[TrialRecord], n_seeds: int,
            metric: Metric) -> tuple[list[TrialRecord], list[int]]:
    """The outcome of rung number ``rung``: the records of the paused trials that end pruned
    there, and the indices of those that go on (in index order)."""
    keep = survivors(plan, rung, paused, n_seeds, metric)
    n = plan.n_settings
    ended = pruned([r for r in paused if r["index"] % n not in keep], plan.rungs[rung])
    going = sorted(r["index"] for r in paused if r["index"] % n in keep)
    return ended, going


def trial_steps(records: Iterable[ScoreSummary], steps: int) -> int:
    """The steps the trials ran: to the end, to their rung, to their divergence (a failed trial
    ran none)."""
    total = 0
    for r in records:
        status = r["status"]
        if status == "ok":
            total += steps
        elif status == "pruned":
            total += r.get("pruned_at") or 0
        elif status == "diverged":
            total += r.get("diverged_at") or 0
    return total


def counts(records: Iterable[ScoreSummary]) -> Mapping[str, int]:
    """How many trials ended with each status."""
    out: dict[str, int] = {}
    for r in records:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


__all__ = ["PRUNING_KINDS", "Plan", "PruningKind", "PruningSpec", "bracket_sizes", "counts",
           "deal", "ladder", "plan_of", "promote", "pruned", "survivors", "trial_steps"]
