"""The batched runner: every trial of a chunk advances in one array computation per step.

A chunk of K trials is one (K, D) parameter array, one state, and (K, 1) hyperparameters. A step
is one objective evaluation and one kernel call for all K trials together. Losses go into a window
of ``WINDOW`` steps; at the end of each window the runner

- finds, per trial, the first step whose loss is non-finite or above the divergence threshold —
  the trial's ``diverged_at`` — exactly as if it had checked every step, and freezes that trial:
  it is dropped from the arrays and costs nothing further;
- folds the window into each trial's running sum and minimum and its recorded curve;
- asks ``should_stop`` whether to give up (cancellation).

Floating-point warnings are silenced for the whole run: a diverging trial is a result, not a
warning. Every operation is row-wise, so a trial's numbers do not depend on which other trials
share its chunk, nor on the chunk's size.

``run_sweep`` runs a whole sweep in-process, chunk by chunk; ``run_chunk`` runs one slice of the
expanded trials (what a worker does); ``assemble`` turns trial records from any number of chunks
into the results document.
"""

from __future__ import annotations

import bisect
import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import ValidationError

from .checkpoint import Checkpoint
from .objective_base import Binding
from .pruning import Plan, promote
from .python_objective import BatchedObjective, PythonObjective
from .records import ResultsDocument, TrialRecord
from .results import SweepStatus, assemble, failed_records
from .rules import Array
from .spec import Limits, SweepSpec, Trial, parse_spec
from .stepper import Stepper

WINDOW = 128  # steps between divergence checks, cancellation checks and compactions
TARGET_CHUNK_WORK = 2e7  # trials × dim × steps in one chunk: about a second of work
MAX_CHUNK_TRIALS = 10_000
#: Most trials × recorded steps in one chunk (at least one trial per chunk): about 12 MB of
#: JSON records, so a chunk is a small value in any store whatever the sweep's limits.
MAX_CHUNK_POINTS = 500_000
MIN_CHUNK_ELEMENTS = 4096  # trials × dim below which a chunk is all call overhead

Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]


class SweepCancelled(Exception):
    """Raised inside a chunk when ``should_stop`` says so."""


def chunk_bounds(spec: SweepSpec, chunk_size: int | None = None, min_chunks: int = 1,
                 target_work: float = TARGET_CHUNK_WORK) -> list[tuple[int, int]]:
    """Cut the sweep's trials into ``(start, stop)`` chunks.

    By default a chunk holds about ``target_work`` of work (``Objective.work``: trials × dim ×
    steps for an analytic objective; a second or so), and
    never more than ``MAX_CHUNK_POINTS`` recorded curve points (unless a single trial records
    more): a chunk's records are one stored value, kept small however long the curves.
    ``min_chunks`` asks for at least that many chunks (a few per worker process) where that
    leaves each chunk at least ``MIN_CHUNK_ELEMENTS`` parameters: below that a step costs
    NumPy's per-call overhead, and splitting would slow the sweep down rather than spread it.
    ``chunk_size`` forces the number of trials per chunk (no cap: ``run_local`` and tests).

    Every chunk but the last has the same size, so the chunks are also ``n`` chunks of
    ⌈T/n⌉ trials (``workers.jobs.chunk_range``'s cut, from the count alone), none bigger.
    """
    n = spec.n_trials
    dim = spec.objective.dim
    if chunk_size is None:
        per_trial = spec.objective.work(1, spec.steps, spec.curve_length)
        chunk_size = int(min(MAX_CHUNK_TRIALS, max(1, target_work // per_trial),
                             max(1, MAX_CHUNK_POINTS // spec.curve_length)))
        if min_chunks > 1:
            spread = max(-(-n // min_chunks), -(-MIN_CHUNK_ELEMENTS // dim))
            chunk_size = min(chunk_size, spread)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def run_sweep(spec: SweepSpec | Mapping[str, Any] | str | bytes, *, limits: Limits | None = None,
              progress: Progress | None = None, should_stop: StopCheck | None = None,
              chunk_size: int | None = None, threads: int | None = None,
              objective: BatchedObjective | None = None) -> ResultsDocument:
    """Run every trial of a sweep in this process; return the results document.

    Args:
      spec: the sweep, as a ``SweepSpec``, a dict or JSON text.
      objective: a Python object to sweep instead of a named objective (the spec then names
        none): anything with ``value_and_grad(x) -> (f, g)`` over a (K, D) batch, optionally
        ``dim``, ``value(x)`` and ``start(seed)`` (``optimizers.python_objective``).
      limits: size limits for validation (defaults: ``Limits()``).
      progress: called as ``progress(done, total)`` in trials after each chunk.
      should_stop: polled between chunks and every ``WINDOW`` steps; when it returns True the
        run stops and the document has status "cancelled" and the trials finished so far.
      chunk_size: trials per chunk (default: about a second of work per chunk).
      threads: threads for the in-place step of very large batches (default: all cores).

    Returns:
      The results document as plain, standard-JSON data (no NaN or infinity anywhere).

    Raises:
      pydantic.ValidationError: the spec is invalid.
    """
    if objective is not None:
        spec = _with_objective(spec, objective)
    spec = parse_spec(spec, limits)
    threads = threads or os.cpu_count() or 1
    if spec.plan is not None:
        return _run_pruned(spec, spec.plan, progress=progress, should_stop=should_stop,
                           chunk_size=chunk_size, threads=threads)
    records: list[TrialRecord] = []
    status = SweepStatus.SUCCEEDED
    for start, stop in chunk_bounds(spec, chunk_size):
        try:
            if should_stop is not None and should_stop():
                raise SweepCancelled
            records += run_chunk(spec, start, stop, should_stop=should_stop, threads=threads)
        except SweepCancelled:
            status = SweepStatus.CANCELLED
            break
        if progress is not None:
            progress(len(records), spec.n_trials)
    return assemble(spec, records, status=status)


def _run_pruned(spec: SweepSpec, plan: Plan, *, progress: Progress | None,
                should_stop: StopCheck | None, chunk_size: int | None,
                threads: int) -> ResultsDocument:
    """``run_sweep`` of a sweep with early stopping: stage by stage, each stage's trials in
    chunks, the checkpoints of the trials paused at a rung kept in memory until the next."""
    bounds = chunk_bounds(spec, chunk_size)
    size = bounds[0][1] - bounds[0][0]
    records: list[TrialRecord] = []
    running = spec.trials()
    paused_at: dict[int, Checkpoint] = {}  # entry → the trials paused at the last rung
    status = SweepStatus.SUCCEEDED
    try:
        for stage in range(plan.n_stages):
            stop = plan.stage_steps(stage)[1]
            paused: list[TrialRecord] = []
            checkpoints: list[Checkpoint] = []
            for i in range(0, len(running), size):
                if should_stop is not None and should_stop():
                    raise SweepCancelled
                chunk = running[i:i + size]
                resume = [c.take(t.index for t in chunk) for c in paused_at.values()]
                segment = run_stage_chunk(spec, chunk, stop, [c for c in resume if len(c)],
                                          should_stop=should_stop, threads=threads)
                records += segment.records
                paused += segment.paused
                checkpoints += segment.checkpoints
                if progress is not None:
                    progress(len(records), spec.n_trials)
            if not paused:
                break
            ended, going = promote(plan, stage, paused, spec.n_seeds, spec.metric)
            records += ended
            if progress is not None:
                progress(len(records), spec.n_trials)
            wanted = set(going)
            running = [t for t in running if t.index in wanted]
            by_entry: dict[int, list[Checkpoint]] = {}
            for c in checkpoints:
                by_entry.setdefault(c.entry, []).append(c)
            paused_at = {entry: Checkpoint.concat(parts).take(going)
                         for entry, parts in by_entry.items()}
    except SweepCancelled:
        status = SweepStatus.CANCELLED
    return assemble(spec, records, status=status)


def run_stage_chunk(spec: SweepSpec, trials: list[Trial], stop: int,
                    resume: Sequence[Checkpoint], *, should_stop: StopCheck | None = None,
                    threads: int = 1) -> Segment:
    """``trials`` from where ``resume`` paused them (from step 0 if empty) to step ``stop``:
    a chunk of a stage of a pruned sweep, or (to the last step) ``run_chunk``'s. An error
    inside the engine does not escape: the chunk's trials come back ``failed`` with the
    message. ``SweepCancelled`` does escape."""
    try:
        return run_segment(spec, trials, stop=stop, resume=resume, should_stop=should_stop,
                           threads=threads)
    except (SweepCancelled, ValidationError):
        raise
    except Exception as exc:  # noqa: BLE001 — a failed chunk is a result, reported per trial
        return Segment(failed_records(spec, trials, f"{type(exc).__name__}: {exc}"))


def _with_objective(spec: SweepSpec | Mapping[str, Any] | str | bytes,
                    objective: BatchedObjective) -> dict[str, Any]:
    """The spec as data, with the Python ``objective`` in it (the spec must name none)."""
    if isinstance(spec, SweepSpec):
        data: dict[str, Any] = spec.model_dump(exclude={"objective"})
    elif isinstance(spec, (str, bytes)):
        data = orjson.loads(spec)
    else:
        data = dict(spec)
    if data.get("objective") is not None:
        raise ValueError("give the objective either in the spec or as objective=, not both")
    init = data.get("init")
    dim = len(init) if isinstance(init, list) else None
    return {**data, "objective": PythonObjective.wrap(objective, dim)}


def run_chunk(spec: SweepSpec, start: int, stop: int, *, should_stop: StopCheck | None = None,
              threads: int = 1) -> list[TrialRecord]:
    """Run trials ``start`` ≤ index < ``stop`` as one batch; their result records.

    An error inside the engine does not escape: the chunk's trials come back ``failed`` with
    the message. ``SweepCancelled`` does escape.
    """
    return run_stage_chunk(spec, spec.trials(start, stop), spec.steps, (),
                           should_stop=should_stop, threads=threads).records


def recorded_steps(steps: int, record_every: int) -> list[int]:
    """The steps whose loss the curve keeps: 0, r, 2r, … and always the last one."""
    recorded = list(range(0, steps + 1, record_every))
    if recorded[-1] != steps:
        recorded.append(steps)
    return recorded


def run_trials(spec: SweepSpec, trials: list[Trial], *, should_stop: StopCheck | None = None,
               threads: int = 1) -> list[TrialRecord]:
    """Run ``trials`` of ``spec``; their result records, in the trials' order. The trials of
    each of the spec's optimizers run together as one (K, D) batch (a chunk of a sweep that
    compares optimizers may hold several)."""
    return run_segment(spec, trials, should_stop=should_stop, threads=threads).records


@dataclass
class Segment:
    """What a run of some trials up to a step gave: the records of the trials that ended
    (ok at the last step, diverged, failed), and those of the trials paused at the step —
    measured up to it, status "ok" — with their checkpoints (one per optimizer)."""

    records: list[TrialRecord] = field(default_factory=list)
    paused: list[TrialRecord] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    trial_steps: int = 0  # the steps run, over the trials


def _steps_run(records: list[TrialRecord], start: int, stop: int) -> int:
    """The steps the trials of ``records`` ran from ``start``: to ``stop`` (paused there), to
    the last step (ok) or to their divergence (a failed trial ran none)."""
    total = 0
    for r in records:
        status = r["status"]
        reached = stop if status == "ok" else (
            r["diverged_at"] or 0) if status == "diverged" else start
        total += max(0, reached - start)
    return total


def run_segment(spec: SweepSpec, trials: list[Trial], *, stop: int | None = None,
                resume: Sequence[Checkpoint] = (), should_stop: StopCheck | None = None,
                threads: int = 1) -> Segment:
    """Run ``trials`` from step 0 — or from where ``resume`` paused them (checkpoints holding
    their rows, and maybe others') — to step ``stop`` (default: the last step).

    The trials of each of the spec's optimizers run together as one (K, D) batch. Records come
    in the trials' order.
    """
    groups: dict[int, list[Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.entry, []).append(trial)
    by_entry: dict[int, list[Checkpoint]] = {}
    for paused in resume:
        by_entry.setdefault(paused.entry, []).append(paused)
    segment = Segment()
    ended: list[TrialRecord] = []
    for entry, group in groups.items():
        start: Checkpoint | None = None
        if resume:
            parts = by_entry.get(entry, [])
            start = Checkpoint.concat(parts).take(t.index for t in group) if parts else None
            if start is None or len(start) != len(group):
                raise ValueError(f"no checkpoint holds some of the trials of entry {entry}")
        records, checkpoint = _run_batch(spec, group, should_stop=should_stop, threads=threads,
                                         resume=start, stop=stop)
        segment.trial_steps += _steps_run(records, start.step if start else 0,
                                          spec.steps if stop is None else stop)
        if checkpoint is None:
            ended += records
            continue
        running = set(checkpoint.indices.tolist())
        ended += [r for r in records if r["index"] not in running]
        segment.paused += [r for r in records if r["index"] in running]
        segment.checkpoints.append(checkpoint)
    position = {trial.index: i for i, trial in enumerate(trials)}
    segment.records = sorted(ended, key=lambda r: position[r["index"]]) if len(groups) > 1 \
        else ended
    segment.paused.sort(key=lambda r: position[r["index"]])
    return segment


def _run_batch(spec: SweepSpec, trials: list[Trial], *, should_stop: StopCheck | None,
               threads: int, resume: Checkpoint | None = None,
               stop: int | None = None) -> tuple[list[TrialRecord], Checkpoint | None]:
    """Run ``trials``, all of one of the spec's optimizers, as one (K, D) batch, from step 0
    (or from ``resume``, which holds their rows) to step ``stop`` (default: the last).

    Their records, and — when ``stop`` is before the last step — a checkpoint of the trials
    still running, whose records are measured up to ``stop`` (status "ok": the caller decides
    whether they go on or end pruned). A trial run in segments gives the numbers of the same
    trial run in one piece, to the last bit: the step at a segment's end is evaluated again
    (the same gradient, from the same numbers) to take the next update, and every running
    quantity is accumulated in step order.
    """
    entry = spec.entries[trials[0].entry]
    objective, chain = spec.objective, entry.chain
    rule = chain.rule
    k, steps = len(trials), spec.steps
    stop = steps if stop is None else stop
    seeds = [t.seed for t in trials]
    settings = [t.params for t in trials]
    hp = {key: np.array([p[key] for p in settings], dtype=np.float64).reshape(k, 1)
          for key in chain.keys}
    recorded = recorded_steps(steps, spec.record_every)
    binding = objective.bind(seeds, recorded)
    track = _Track(k, recorded, spec.divergence_threshold, binding.curve_stats)
    if resume is None:
        if len(set(seeds)) == 1:  # one start for the whole chunk
            params = np.repeat(spec.start_point(seeds[0])[None, :], k, axis=0)
        else:
            starts = {seed: spec.start_point(seed) for seed in set(seeds)}
            params = np.stack([starts[seed] for seed in seeds])
        state = rule.init(params)
        first = 0
    else:
        if [t.index for t in trials] != resume.indices.tolist():
            raise ValueError("the checkpoint does not hold these trials")
        params = np.array(resume.params)
        state = rule.state_type(resume.step, *(np.array(resume.buffers[b])
                                               for b in rule.buffers))
        track.restore(resume)
        for name, values in binding.extra_curves().items():
            values[...] = resume.extras[name]
        first = resume.step + 1  # the loss at resume.step is counted already
    rows = np.arange(k)  # which trials the arrays' rows hold
    lookahead = rule.lookahead
    window = np.empty((0, 0))
    with np.errstate(all="ignore"):
        stepper = Stepper(chain, params, state, hp, threads=threads)
        try:
            if resume is not None:  # update resume.step + 1, from the gradient at resume.step
                _updates(stepper, binding, rows, resume.step, [np.empty((k, 1))], lookahead)
            for s0 in range(first, stop + 1, WINDOW):
                n = min(WINDOW, stop + 1 - s0)
                updates = min(n, stop - s0)  # the window's last loss may end the segment
                if window.shape[1] != len(rows):  # one window per chunk (and per compaction)
                    window = np.empty((WINDOW, len(rows)))
                    columns = [row.reshape(-1, 1) for row in window]  # step j's losses, (K, 1)
                losses = window[:n]
                x = stepper.params
                _updates(stepper, binding, rows, s0, columns[:updates], lookahead)
                if updates < n and stop == steps:  # the loss after the last update
                    losses[updates] = binding.final(x, rows, steps)
                elif updates < n:  # a rung: the loss at ``stop``, its update left for later
                    binding.evaluator(x, rows, stop)(columns[updates])
                alive = track.absorb(s0, losses, rows)
                if not alive.all():
                    rows = rows[alive]
                    stepper.close()
                    stepper = _compact(stepper, alive, threads)
                if should_stop is not None and should_stop():
                    raise SweepCancelled
                if not len(rows):
                    break
        finally:
            stepper.close()
    records = track.records(trials, entry.name, binding.extra_curves(), upto=stop)
    if stop == steps or not len(rows):
        return records, None
    state = stepper.state
    extras = binding.extra_curves()
    checkpoint = Checkpoint(
        entry.index, stop, np.array([trials[r].index for r in rows], dtype=np.int64),
        stepper.params.copy(), {b: getattr(state, b).copy() for b in rule.buffers},
        track.total[rows].copy(), track.minimum[rows].copy(), track.curve[:, rows].copy(),
        {name: values[:, rows].copy() for name, values in extras.items()})
    return records, checkpoint


def _updates(stepper: Stepper, binding: Binding, rows: npt.NDArray[np.intp], s0: int,
             columns: list[Array], lookahead: Callable[..., Array] | None) -> None:
    """Updates s0 + 1 … s0 + len(columns), each from the gradient at the step before; the
    losses at steps s0 … into ``columns``."""
    if not columns:
        return
    x = stepper.params
    if lookahead is None:  # the hot loop: an objective call and a kernel call a step
        stepper.run(binding.evaluator(x, rows, s0), columns)
        return
    evaluate = binding.evaluator(x, rows, s0, functools.partial(
        _lookahead_point, lookahead, stepper, np.empty_like(x)))
    for loss in columns:
        stepper.advance(evaluate(loss))


def _lookahead_point(lookahead: Callable[..., Array], stepper: Stepper, out: Array) -> Array:
    """Where the rule takes its next gradient (nesterov's θ − momentum·v), written into
    ``out``."""
    return lookahead(stepper.state, stepper.params, stepper.hp, out)


def _compact(stepper: Stepper, alive: npt.NDArray[np.bool_], threads: int) -> Stepper:
    """A stepper over the rows still alive: diverged trials cost nothing further."""
    rule, state = stepper.rule, stepper.state
    state = state._replace(**{b: getattr(state, b)[alive] for b in rule.buffers})
    hp = {name: value if isinstance(value, float) else value[alive]
          for name, value in stepper.hp.items()}
    return Stepper(stepper.chain, stepper.params[alive], state, hp, threads=threads)


class _Track:
    """Per-trial bookkeeping: running sum and minimum of the loss, the curve, divergence.

    The sum is accumulated in step order — ((l₀ + l₁) + l₂) + … — whatever the windows, so a
    trial's mean does not depend on where a window or a segment (``optimizers.checkpoint``)
    ends, nor on the trials beside it. With ``curve_stats`` (a model objective, whose step
    losses are mini-batch losses but whose curve holds the full training loss) ``min_loss``
    and ``mean_loss`` are taken over the curve's values instead of every step's.
    """

    def __init__(self, k: int, recorded: list[int], threshold: float,
                 curve_stats: bool = False) -> None:
        self.recorded = recorded
        self.steps = recorded[-1]
        self.threshold = threshold
        self.curve_stats = curve_stats
        self.curve = np.full((len(recorded), k), np.nan)
        self.total = np.zeros(k)
        self.minimum = np.full(k, np.inf)
        self.diverged_at = np.full(k, -1, dtype=np.int64)
        self._recorded = np.array(recorded)
        # row 0 the sums so far, then a window's losses: reduced down the rows, one column per
        # trial (at least two columns: NumPy sums a single contiguous column pairwise)
        self._sums = np.zeros((WINDOW + 1, max(k, 2)))

    def restore(self, checkpoint: Checkpoint) -> None:
        """Start from a checkpoint's sums, minima and curves (its rows are these trials)."""
        self.total[:] = checkpoint.total
        self.minimum[:] = checkpoint.minimum
        self.curve[:] = checkpoint.curve

    def absorb(self, s0: int, losses: Array, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        """Fold a window of losses (steps s0 …, one column per row); return which rows live on."""
        n = len(losses)
        at = slice(None) if len(rows) == len(self.total) else rows  # no fancy index while all live
        low = np.fmin.reduce(losses, axis=0)
        sums, width = self._sums, len(rows)
        if losses.max() <= self.threshold and low.min() > -np.inf:  # the usual case (NaN fails)
            dead = np.zeros(len(rows), dtype=bool)
            kept = losses
            sums[1:n + 1, :width] = losses
        else:
            bad = ~np.isfinite(losses) | (losses > self.threshold)
            dead = np.asarray(bad.any(axis=0))
            first_bad = np.where(dead, bad.argmax(axis=0), n)
            self.diverged_at[rows[dead]] = s0 + first_bad[dead]
            before = np.arange(n)[:, None] < first_bad
            kept = np.where(before, losses, np.nan)  # the losses before divergence
            sums[1:n + 1, :width] = np.where(before, losses, 0.0)
            low = np.fmin.reduce(kept, axis=0)
        sums[0, :width] = self.total[at]
        self.total[at] = np.add.reduce(sums[:n + 1], axis=0)[:width]
        self.minimum[at] = np.fmin(self.minimum[at], low)
        lo, hi = np.searchsorted(self._recorded, [s0, s0 + n])
        if hi > lo:
            self.curve[lo:hi, at] = kept[self._recorded[lo:hi] - s0]
        return ~dead

    def records(self, trials: list[Trial], optimizer: str,
                extras: Mapping[str, Array] | None = None,
                upto: int | None = None) -> list[TrialRecord]:
        """The trials' result records, standard JSON only (one pass over plain Python lists:
        ``TrialRecord`` is a type for mypy, the records are plain dicts). ``extras``: curves
        recorded beside the loss (name → (recorded steps, K)), with their metrics. ``upto``: a
        rung before the last step (a recorded step): the records of the trials still running
        are measured up to it (their curve ends there)."""
        end = self.steps if upto is None else upto
        n_recorded = bisect.bisect_right(self.recorded, end)
        recorded, inf = self.recorded[:n_recorded], math.inf
        curve = self.curve[:n_recorded]
        curves = curve.T.tolist()
        final = curve[-1].tolist()
        if self.curve_stats:
            by_trial = np.ascontiguousarray(curve.T)
            mean = (by_trial.sum(axis=1) / n_recorded).tolist()
            minimum = np.where(np.isnan(low := np.fmin.reduce(by_trial, axis=1)), np.inf,
                               low).tolist()
        else:
            mean = (self.total / (end + 1)).tolist()
            minimum = self.minimum.tolist()
        diverged = self.diverged_at.tolist()
        out: list[TrialRecord] = []
        append = out.append
        for trial, trial_curve, last, mu, low, at in zip(trials, curves, final, mean, minimum,
                                                         diverged, strict=True):
            if at < 0:
                append({"index": trial.index, "params": trial.params, "optimizer": optimizer,
                        "seed": trial.seed, "status": "ok", "final_loss": last,
                        "min_loss": low if low != inf else None, "mean_loss": mu,
                        "diverged_at": None, "pruned_at": None, "error": None,
                        "curve": {"step": recorded[:], "loss": trial_curve}})
            else:
                kept = bisect.bisect_left(recorded, at)  # the recorded steps before divergence
                append({"index": trial.index, "params": trial.params, "optimizer": optimizer,
                        "seed": trial.seed, "status": "diverged", "final_loss": None,
                        "min_loss": low if low != inf else None, "mean_loss": None,
                        "diverged_at": at, "pruned_at": None, "error": None,
                        "curve": {"step": recorded[:kept], "loss": trial_curve[:kept]}})
        if extras:
            _add_extras(out, {name: values[:n_recorded] for name, values in extras.items()})
        return out


#: A recorded value → its metrics: (name, reduction) with ``final`` the value at the last step.
EXTRA_METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "val_loss": (("final_val_loss", "final"), ("min_val_loss", "min")),
    "val_accuracy": (("final_val_accuracy", "final"), ("max_val_accuracy", "max")),
}


def _add_extras(records: list[TrialRecord], extras: Mapping[str, Array]) -> None:
    """Put each recorded extra into its record's curve (cut where the loss curve stops) and
    its metrics beside the loss's (``final_*`` only for a trial that ended ok)."""
    lists = {name: values.T.tolist() for name, values in extras.items()}
    for i, record in enumerate(records):
        kept = len(record["curve"]["step"])
        ok = record["status"] == "ok"
        metrics: dict[str, float | None] = {}
        for name, values in lists.items():
            curve = values[i][:kept]
            record["curve"][name] = curve  # type: ignore[literal-required]
            for metric, how in EXTRA_METRICS[name]:
                if how == "final":
                    metrics[metric] = curve[-1] if ok and curve else None
                else:
                    known = [v for v in curve if not math.isnan(v)]
                    metrics[metric] = (min(known) if how == "min" else max(known)) if known else None
        # the document's order: the loss metrics, the extras' metrics, then diverged_at, error
        tail = {"diverged_at": record.pop("diverged_at"),  # type: ignore[misc]
                "pruned_at": record.pop("pruned_at"),  # type: ignore[misc]
                "error": record.pop("error"), "curve": record.pop("curve")}  # type: ignore[misc]
        record.update(metrics)  # type: ignore[typeddict-item]
        record.update(tail)  # type: ignore[typeddict-item]


__all__ = [
    "MAX_CHUNK_POINTS",
    "WINDOW",
    "SweepCancelled",
    "chunk_bounds",
    "recorded_steps",
    "run_chunk",
    "run_sweep",
    "run_trials",
]
