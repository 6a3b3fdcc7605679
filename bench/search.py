"""Benchmark of early stopping: successive halving (η = 3) on a 729-point grid against the same
grid unpruned — trial-steps and wall time side by side, and the best found by each.

Run from the project root, in the dev virtualenv::

    python bench/search.py              # full run, about a minute here (--repeat 5: 90 s)
    python bench/search.py --quick      # smoke run, under 30 s
    python bench/search.py --repeat 5   # more repetitions (best-of / median over them)
    python bench/search.py --no-pool    # the in-process rows only

Every ratio is measured side by side in one run: each repetition times the contenders one after
the other (starting with a different one each time) on a freshly jittered grid (lr × (1 +
1e-6·rep): nothing is cached between repetitions), and the figures are the best of the
repetitions (the median is printed next to it). Timing is ``time.perf_counter`` around the whole
call — spec validation and the results document included; garbage collection stays on.

S1  The sweep: Adam on a 9 × 9 × 9 = 729-point grid — lr log-spaced 1e-4…1 (half a decade
    apart), β1 = 1 − (1 … 0.01 log-spaced: 0 … 0.99), β2 = 1 − (0.1 … 1e-4 log-spaced: 0.9 …
    0.9999), 4 significant digits — seeds 1, 2, 3 (2,187 trials), each from its own random start
    (normal, scale 0.5, around the objective's customary start), 2,187 = 3⁷ steps, recorded every
    27 steps, metric final_loss (the mean over the seeds), on two objectives: Rosenbrock D = 2
    (one narrow valley) and Rastrigin D = 10 (a bowl under a grid of local minima). Each objective
    is run
      - unpruned: every trial to the last step;
      - successive halving: ``"pruning": {"kind": "successive_halving", "min_steps": 27,
        "reduction": 3}``: rungs at 27, 81, 243, 729 (k = 4), 729 → 243 → 81 → 27 → 9 grid
        points. With n = η^j points and steps = r·η^k every stage costs n·r·(η − 1)/η
        trial-steps after the first one's n·r, so the expected cost is
        (1 + k(η − 1)/η) / η^k of the full sweep: 11/243 = 4.53 % here (the bench computes it
        from the plan, ceilings included, and prints it beside the measured count);
      - hyperband, the same ladder (brackets s = 4 … 0), for comparison;
    each in-process (``optimizers.run_sweep(spec)``) and through the embedded pool
    (``workers.local.run_local(spec, jobs=2)``: a private SQLite store, 2 processes, the
    stages as chunks with checkpoints in the store — what ``gradsweep run`` does). Per row:
    trial-steps (the document's ``summary.trial_steps``), their fraction of the full sweep,
    wall time, speed-up against the unpruned run in the same mode, trials/s and trial-steps/s,
    and the best grid point found (``best``: params and score) with its rank among the
    unpruned run's 729 grid points (by score, ties by grid index; where other grid points'
    scores are within a relative 1e-9 of it — one local minimum reached by many — the range of
    their ranks too, since the last bits then decide the order), and what each pruned run did
    with the unpruned run's best grid point (the step that pruned it and its rank there).

    Checked on every repetition (the script stops, exit status 1, otherwise): every trial of a
    pruned run that was not pruned — the survivors — is the unpruned run's trial byte for byte
    (its record serialised with orjson, which writes every float's shortest round-trip form);
    every pruned trial's curve is the unpruned curve up to its rung; the pruned set is the one
    computed by hand from the unpruned run's curves (per bracket, the ⌈n/η⌉ best means at each
    rung go on); ``summary.trial_steps`` is the sum over the trials' statuses; the pool's
    documents have the in-process documents' trials, byte for byte.

    For information: where an in-process halving run's time goes (``optimizers.runner``'s
    stage chunks, ``promote`` and ``assemble`` timed by wrappers patched in with
    ``unittest.mock``; the rest is ``_run_pruned``'s own bookkeeping: checkpoints taken and
    joined, the running list filtered), and the unpruned sweep of the 27 trials that halving
    runs to the end (9 grid points × 3 seeds, all steps): every stage of a synchronous
    halving runs at least that many trials and the stages together run every step one after
    another, so that run is a floor for halving's wall time in this engine.

--quick: 243 = 3⁵ steps, recorded every 3, min_steps 3 (the same 4 rungs and expected 4.53 %),
one repetition.

Threads: the objectives are element-wise (no GEMM), so NumPy's BLAS threads do not enter;
``run_sweep``'s own step threads only split a batch bigger than the Stepper's block
(``DEFAULT_BLOCK`` elements an array), and the largest batch here (2,187 × 10) is smaller, so the
in-process rows run on one core. The pool rows use 2 processes on this machine's 2 cores (shared
with whatever else runs on it: the load averages are printed).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import engine  # machine facts, formatting
import numpy as np
import orjson

from optimizers import chunk_bounds, parse_spec, run_sweep, runner
from optimizers.pruning import Plan
from optimizers.spec import rank_key
from optimizers.stepper import DEFAULT_BLOCK

fmt_time, say, timed = engine.fmt_time, engine.say, engine.timed

# --- the S1 sweep -------------------------------------------------------------------------------


def _sig4(values: np.ndarray) -> list[float]:
    return [float(f"{x:.4g}") for x in values]


LRS = _sig4(np.geomspace(1e-4, 1.0, 9))
BETA1S = _sig4(1.0 - np.geomspace(1.0, 0.01, 9))
BETA2S = _sig4(1.0 - np.geomspace(0.1, 1e-4, 9))
SEEDS = [1, 2, 3]
INIT = {"distribution": "normal", "scale": 0.5}
ETA = 3
METRIC = "final_loss"
OBJECTIVES: dict[str, dict[str, Any]] = {
    "rosenbrock D=2": {"name": "rosenbrock", "dim": 2},
    "rastrigin D=10": {"name": "rastrigin", "dim": 10},
}
FULL = {"steps": 3 ** 7, "min_steps": 27, "record_every": 27}
QUICK = {"steps": 3 ** 5, "min_steps": 3, "record_every": 3}
RUNS = ("unpruned", "successive halving", "hyperband")
PRUNING_KIND = {"successive halving": "successive_halving", "hyperband": "hyperband"}
POOL_JOBS = 2


def lr_grid(rep: int) -> list[float]:
    """The learning rates, jittered by a relative 1e-6·rep (a fresh grid each repetition)."""
    return [lr * (1.0 + 1e-6 * rep) for lr in LRS]


def sweep_spec(objective: dict[str, Any], run: str, rep: int, steps: int, min_steps: int,
               record_every: int, *, grid: dict[str, list[float]] | None = None
               ) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "objective": objective, "optimizer": "adam", "init": INIT, "seeds": SEEDS,
        "grid": grid or {"lr": lr_grid(rep), "beta1": BETA1S, "beta2": BETA2S},
        "steps": steps, "record_every": record_every, "metric": METRIC}
    if run != "unpruned":
        spec["pruning"] = {"kind": PRUNING_KIND[run], "min_steps": min_steps, "reduction": ETA}
    return spec


def plan_of(spec: dict[str, Any]) -> Plan:
    plan = parse_spec(spec).plan
    assert plan is not None
    return plan


def expected_trial_steps(plan: Plan, n_seeds: int) -> int:
    """The trial-steps of a pruned sweep in which no trial diverges: per bracket, its grid
    points through the stages, ⌈n/η⌉ of them going on at each rung from its first."""
    bounds = (0, *plan.rungs, plan.steps)
    total = 0
    for bracket, n in Counter(plan.bracket_of).items():
        alive = n
        for stage in range(plan.n_stages):
            total += alive * (bounds[stage + 1] - bounds[stage])
            if stage < len(plan.rungs) and stage >= plan.starts[bracket]:
                alive = math.ceil(alive / plan.reduction)
    return total * n_seeds


def closed_form_fraction(k: int, eta: int) -> float:
    """(1 + k(η − 1)/η) / η^k: successive halving's cost, n = η^j points, steps = r·η^k."""
    return (1.0 + k * (eta - 1) / eta) / float(eta) ** k


# --- the contract, checked ----------------------------------------------------------------------


class ContractBroken(SystemExit):
    """A pruned run disagrees with the unpruned run: the bench stops (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"S1 CONTRACT BROKEN: {message}")


def pruned_by_hand(full: dict[str, Any], plan: Plan) -> dict[int, int]:
    """Grid point → the rung that prunes it, from the unpruned run's curves alone: per bracket,
    at each of its rungs the grid points still running ranked by the mean over their seeds of
    the loss at the rung (a seed ended by then — diverged — the worst), ties by index; the best
    ⌈n/η⌉ go on."""
    n = plan.n_settings
    by_setting: dict[int, list[dict[str, Any]]] = {}
    for trial in full["trials"]:
        by_setting.setdefault(trial["index"] % n, []).append(trial)

    def ended_by(trial: dict[str, Any], step: int) -> bool:
        return trial["status"] == "failed" or (
            trial["status"] == "diverged" and (trial.get("diverged_at") or 0) <= step)

    def loss_at(trial: dict[str, Any], step: int) -> float:
        if ended_by(trial, step):
            return math.inf
        curve = trial["curve"]
        value = curve["loss"][curve["step"].index(step)]
        return math.inf if value is None else float(value)

    brackets: dict[int, list[int]] = {}
    for setting, bracket in enumerate(plan.bracket_of):
        brackets.setdefault(bracket, []).append(setting)
    out: dict[int, int] = {}
    for bracket, settings in brackets.items():
        alive = settings
        for rung in plan.rungs[plan.starts[bracket]:]:
            # a grid point whose every seed has ended (diverged) is not ranked, nor counted
            alive = [s for s in alive if not all(ended_by(t, rung) for t in by_setting[s])]
            score = {s: math.fsum(loss_at(t, rung) for t in by_setting[s]) / len(by_setting[s])
                     for s in alive}
            ranked = sorted(alive, key=lambda s: (rank_key(score[s], METRIC), s))
            keep = ranked[:math.ceil(len(ranked) / plan.reduction)]
            kept = set(keep)
            out.update({s: rung for s in alive if s not in kept})
            alive = keep
    return out


def check_pruned(full: dict[str, Any], doc: dict[str, Any], plan: Plan, label: str) -> int:
    """Check ``doc`` (a pruned run) against ``full`` (the same grid unpruned); raise
    ``ContractBroken`` on the first disagreement. Returns the number of survivors."""
    n = plan.n_settings
    if len(doc["trials"]) != len(full["trials"]):
        raise ContractBroken(f"{label}: {len(doc['trials'])} trials, unpruned "
                             f"{len(full['trials'])}")
    survivors = 0
    pruned: dict[int, int] = {}
    for trial in doc["trials"]:
        index = trial["index"]
        same = full["trials"][index]
        if same["index"] != index:
            raise ContractBroken(f"{label}: the unpruned document's trial {index} is not at "
                                 f"{index}")
        if trial["status"] == "pruned":
            at = trial["pruned_at"]
            steps, losses = trial["curve"]["step"], trial["curve"]["loss"]
            kept = len(steps)
            if steps[-1] != at or steps != same["curve"]["step"][:kept] or \
                    orjson.dumps(losses) != orjson.dumps(same["curve"]["loss"][:kept]):
                raise ContractBroken(f"{label}: trial {index}, pruned at {at}: its curve is not "
                                     "the unpruned curve up to the rung")
            if pruned.setdefault(index % n, at) != at:
                raise ContractBroken(f"{label}: grid point {index % n}'s seeds pruned at "
                                     f"different rungs")
            continue
        if orjson.dumps(trial) != orjson.dumps(same):
            diff = sorted(k for k in trial if trial[k] != same.get(k))
            raise ContractBroken(f"{label}: survivor {index} ({trial['status']}) differs from the "
                                 f"unpruned trial in {diff or 'the last bits of its numbers'}")
        survivors += trial["status"] == "ok"
    expected = pruned_by_hand(full, plan)
    if pruned != expected:
        wrong = sorted(set(pruned.items()) ^ set(expected.items()))[:5]
        raise ContractBroken(f"{label}: pruned set is not the one the unpruned curves give "
                             f"(e.g. {wrong})")
    summary = doc["summary"]
    by_status = sum(plan.steps if t["status"] == "ok" else
                    t.get("pruned_at") or t.get("diverged_at") or 0 for t in doc["trials"])
    if summary["trial_steps"] != by_status:
        raise ContractBroken(f"{label}: summary.trial_steps {summary['trial_steps']} != "
                             f"{by_status} from the trials' statuses")
    if summary["full_trial_steps"] != len(doc["trials"]) * plan.steps:
        raise ContractBroken(f"{label}: summary.full_trial_steps {summary['full_trial_steps']}")
    return survivors


def check_same_trials(reference: dict[str, Any], doc: dict[str, Any], label: str) -> None:
    """The pool's document has the in-process document's trials, byte for byte."""
    if orjson.dumps(doc["trials"]) != orjson.dumps(reference["trials"]):
        raise ContractBroken(f"{label}: run_local's trials differ from run_sweep's")
    if orjson.dumps(doc["best"]) != orjson.dumps(reference["best"]):
        raise ContractBroken(f"{label}: run_local's best differs from run_sweep's")


def rank_in(full: dict[str, Any], best: dict[str, Any] | None) -> tuple[int, float | None]:
    """(rank 1…n of ``best``'s grid point among the unpruned run's, by score then index; its
    unpruned score)."""
    if best is None:
        return 0, None
    settings = full["settings"]
    n = len(settings)
    index = best["trials"][0] % n
    if settings[index]["params"] != best["params"]:
        raise ContractBroken(f"best {best['params']} is not grid point {index} of the unpruned run")

    def key(s: dict[str, Any]) -> tuple[bool, float, int]:
        score = s["score"]
        return score is None, 0.0 if score is None else rank_key(score, METRIC), s["index"]

    order = [s["index"] for s in sorted(settings, key=key)]
    return order.index(index) + 1, settings[index]["score"]


TIE = 1e-9  # scores this close (relative) are the same value: one local minimum reached


def tied_ranks(full: dict[str, Any], rank: int) -> tuple[int, int]:
    """The ranks (first, last) of the unpruned grid points whose score is within ``TIE`` of
    that of the grid point ranked ``rank``: where rounding alone decides the order."""
    scores = sorted(rank_key(s["score"], METRIC) for s in full["settings"]
                    if s["score"] is not None)
    if not 1 <= rank <= len(scores):
        return rank, rank
    value = scores[rank - 1]
    near = [i + 1 for i, v in enumerate(scores)
            if abs(v - value) <= TIE * max(abs(value), 1e-300)]
    return near[0], near[-1]


def fate_of_best(full: dict[str, Any], doc: dict[str, Any]) -> str:
    """What a pruned run did with the unpruned run's best grid point."""
    n = len(full["settings"])
    best = full["best"]["trials"][0] % n
    mine = [t for t in doc["trials"] if t["index"] % n == best]
    if all(t["status"] == "ok" for t in mine):
        return "ran the unpruned best to the end"
    at = max(t.get("pruned_at") or 0 for t in mine)
    steps = full["trials"][0]["curve"]["step"]
    if at not in steps:
        return f"ended the unpruned best at step {at}"
    k = steps.index(at)
    mean: dict[int, float] = {}
    for t in full["trials"]:
        loss = t["curve"]["loss"][k] if len(t["curve"]["loss"]) > k else None
        mean[t["index"] % n] = mean.get(t["index"] % n, 0.0) + (
            math.inf if loss is None else float(loss))
    order = sorted(mean, key=lambda s: (mean[s], s))
    return (f"pruned the unpruned best at step {at}, where its mean loss "
            f"{mean[best] / len(mine):.4g} was #{order.index(best) + 1} of {n}")


# --- timing -------------------------------------------------------------------------------------


def run_in_process(spec: dict[str, Any]) -> dict[str, Any]:
    return dict(run_sweep(spec))


def run_pool(spec: dict[str, Any]) -> dict[str, Any]:
    from workers.local import run_local

    return dict(run_local(spec, jobs=POOL_JOBS))


MODES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "run_sweep": run_in_process, f"run_local(jobs={POOL_JOBS})": run_pool}


def stage_trials(plan: Plan, n_seeds: int) -> list[int]:
    """The trials each stage of a pruned sweep runs when none diverges."""
    alive = Counter(plan.bracket_of)
    out = []
    for stage in range(plan.n_stages):
        out.append(sum(alive.values()) * n_seeds)
        if stage < len(plan.rungs):
            alive = Counter({b: math.ceil(n / plan.reduction) if stage >= plan.starts[b] else n
                             for b, n in alive.items()})
    return out


def pool_chunks(spec: dict[str, Any], plan: Plan | None) -> str:
    """How the pool cuts the sweep: an unpruned sweep in n even chunks
    (``workers.jobs.chunk_range``); a pruned one's first stage as ``chunk_bounds`` gives, each
    later stage in the fewest even pieces of at most the first stage's largest chunk
    (``workers.stages.run_promote``). Stages separated by " → "."""
    from workers.local import CHUNKS_PER_JOB

    parsed = parse_spec(spec)
    bounds = chunk_bounds(parsed, None, min_chunks=POOL_JOBS * CHUNKS_PER_JOB)
    total = parsed.n_trials
    if plan is None:
        per = -(-total // len(bounds))
        sizes = [min(per, total - i * per) for i in range(len(bounds))]
        return " + ".join(f"{k:,}" for k in sizes)
    size = max(stop - start for start, stop in bounds)
    stages = [" + ".join(f"{stop - start:,}" for start, stop in bounds)]
    for going in stage_trials(plan, parsed.n_seeds)[1:]:
        pieces = -(-going // size)
        per = -(-going // pieces)
        stages.append(" + ".join(f"{min(per, going - i * per):,}" for i in range(pieces)))
    return " → ".join(stages)


def bench_objective(name: str, objective: dict[str, Any], modes: list[str], repeat: int,
                    sizes: dict[str, int]) -> dict[str, Any]:
    say(f"\n== S1: {name}, 729 grid points × {len(SEEDS)} seeds × {sizes['steps']:,} steps ==")

    def make(run: str, rep: int) -> dict[str, Any]:
        return sweep_spec(objective, run, rep, **sizes)

    plans = {run: plan_of(make(run, 0)) for run in RUNS if run != "unpruned"}
    for run, plan in plans.items():
        sizes_of = dict(sorted(Counter(plan.bracket_of).items()))
        say(f"{run}: rungs {', '.join(map(str, plan.rungs))}, {plan.n_stages} stages"
            + (f", {len(plan.starts)} brackets (grid points per bracket {sizes_of})"
               if len(plan.starts) > 1 else ""))
    contenders = [(run, mode) for mode in modes for run in RUNS]
    times: dict[tuple[str, str], list[float]] = {c: [] for c in contenders}
    first: dict[tuple[str, str], dict[str, Any]] = {}
    ranks: dict[tuple[str, str], list[int]] = {c: [] for c in contenders}
    survivors: dict[str, int] = {}
    for rep in range(repeat):
        shift = rep % len(contenders)
        docs: dict[tuple[str, str], dict[str, Any]] = {}
        for run, mode in contenders[shift:] + contenders[:shift]:
            t, docs[(run, mode)] = timed(MODES[mode], make(run, rep))
            times[(run, mode)].append(t)
        full = docs[("unpruned", "run_sweep")]
        for (run, mode), doc in docs.items():
            label = f"{name}, {run}, {mode}, rep {rep}"
            if doc["status"] != "succeeded":
                raise ContractBroken(f"{label}: status {doc['status']}")
            if mode != "run_sweep":
                check_same_trials(docs[(run, "run_sweep")], doc, label)
            elif run != "unpruned":
                survivors[run] = check_pruned(full, doc, plans[run], label)
            rank, unpruned_score = rank_in(full, doc["best"])
            if doc["best"] is not None and unpruned_score != doc["best"]["score"]:
                raise ContractBroken(f"{label}: its best's score {doc['best']['score']!r} is "
                                     f"not the unpruned run's {unpruned_score!r} for the same "
                                     "grid point")
            ranks[(run, mode)].append(rank)
            if rep == 0:
                first[(run, mode)] = doc
        say(f"rep {rep}: checked — every survivor is the unpruned trial byte for byte, pruned "
            "curves are its prefixes, the pruned set is the by-hand one"
            + (", the pool's trials are run_sweep's" if len(modes) > 1 else ""))
    full = first[("unpruned", "run_sweep")]
    n_trials, steps = len(full["trials"]), sizes["steps"]
    full_steps = n_trials * steps
    best = {c: min(ts) for c, ts in times.items()}
    median = {c: statistics.median(ts) for c, ts in times.items()}
    rows = []
    for run, mode in contenders:
        doc = first[(run, mode)]
        trial_steps = doc["summary"]["trial_steps"]
        t = best[(run, mode)]
        expected = (expected_trial_steps(plans[run], len(SEEDS)) if run in plans
                    else full_steps)
        row = {"run": run, "mode": mode, "trial_steps": trial_steps, "expected": expected,
               "fraction": trial_steps / full_steps, "best": t, "median": median[(run, mode)],
               "speedup": best[("unpruned", mode)] / t, "trials_per_s": n_trials / t,
               "steps_per_s": trial_steps / t, "pick": doc["best"], "rank": ranks[(run, mode)][0],
               "ranks": ranks[(run, mode)],
               "statuses": dict(Counter(tr["status"] for tr in doc["trials"])),
               "ties": tied_ranks(full, ranks[(run, mode)][0]),
               "fate": fate_of_best(full, doc) if run in plans else None,
               "survivors": survivors.get(run)}
        if mode != "run_sweep":
            row["chunks"] = pool_chunks(make(run, 0), plans.get(run))
        rows.append(row)
    for row in rows:
        say(describe_row(row))
    for row in rows:
        if row["fate"] is not None and row["mode"] == "run_sweep":
            say(f"{row['run']} {row['fate']}")
    out = {"name": name, "rows": rows, "n_trials": n_trials, "steps": steps,
           "n_settings": len(full["settings"]), "plans": plans, "sizes": sizes,
           "full_best": full["best"]}
    out["floor"] = floor_run(objective, sizes, repeat)
    out["breakdown"] = breakdown(make("successive halving", 0), repeat)
    if len(modes) > 1:
        out["timeline"] = pool_timeline(make("successive halving", 0), repeat)
    return out


def describe_row(row: dict[str, Any]) -> str:
    pick = row["pick"]
    picked = ("no trial ran to the end" if pick is None else
              f"best {params_text(pick['params'])} score {pick['score']:.4g}, the unpruned "
              f"#{row['rank']}{ties_text(row)}")
    return (f"{row['run']:18s} {row['mode']:14s} {row['trial_steps']:>10,} trial-steps "
            f"({row['fraction']:.2%} of the full sweep; expected {row['expected']:,})"
            f"  best {fmt_time(row['best'])} (median {fmt_time(row['median'])})  "
            f"{row['speedup']:.2f}× the unpruned speed  {row['trials_per_s']:,.0f} trials/s  "
            f"{row['steps_per_s'] / 1e6:.2f} M trial-steps/s  {picked}  trials: "
            + ", ".join(f"{n:,} {status}" for status, n in sorted(row["statuses"].items()))
            + ("" if len(set(row["ranks"])) == 1 else
               f"  (ranks over the repetitions: {', '.join(f'#{r}' for r in row['ranks'])})"))


def ties_text(row: dict[str, Any]) -> str:
    first, last = row["ties"]
    return "" if first == last else f" (tied within {TIE:g} with #{first}–#{last})"


def params_text(params: dict[str, Any]) -> str:
    return (f"lr {params['lr']:.4g}, β1 {params['beta1']:.4g}, β2 {params['beta2']:.4g}")


def floor_run(objective: dict[str, Any], sizes: dict[str, int], repeat: int) -> dict[str, Any]:
    """The unpruned run, for all the steps, of as many trials as halving runs to the end, each
    with its own lr, β1 and β2 as there (3 × 3 × 3 grid points, one seed): a floor for any
    synchronous halving of the sweep in this engine (best of ``repeat`` after a warm-up)."""
    plan = plan_of(sweep_spec(objective, "successive halving", 0, **sizes))
    last = stage_trials(plan, len(SEEDS))[-1]
    side = round(last ** (1 / 3))
    assert side ** 3 == last, "the floor is a cube of grid points"
    points = {"lr": LRS[::-(-len(LRS) // side)][:side], "beta1": BETA1S[2::3][:side],
              "beta2": BETA2S[2::3][:side]}
    spec = {**sweep_spec(objective, "unpruned", 0, sizes["steps"], sizes["min_steps"],
                         sizes["record_every"], grid=points), "seeds": SEEDS[:1]}
    t = min(timed(run_sweep, spec)[0] for _ in range(repeat + 1))  # the first: a warm-up
    say(f"(info) the floor: {last} trials ({side}³ grid points, one seed) × {sizes['steps']:,} "
        f"steps unpruned, run_sweep: {fmt_time(t)} ({t / sizes['steps'] * 1e6:.1f} µs/step)")
    return {"trials": last, "time": t}


@contextmanager
def instrumented() -> Iterator[dict[str, Any]]:
    """``optimizers.runner``'s stage chunks, ``promote`` and ``assemble`` timed while inside."""
    spent: dict[str, Any] = {"stages": {}, "promote": 0.0, "assemble": 0.0, "ended": 0}
    run_stage_chunk, promote, assemble = runner.run_stage_chunk, runner.promote, runner.assemble

    def stage(spec: Any, trials: Any, stop: int, resume: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = run_stage_chunk(spec, trials, stop, resume, **kwargs)
        t = time.perf_counter() - t0
        start = resume[0].step if resume else 0
        entry = spent["stages"].setdefault((start, stop), {"trials": 0, "chunks": 0, "time": 0.0})
        entry["trials"] += len(trials)
        entry["chunks"] += 1
        entry["time"] += t
        return out

    def timed_promote(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        ended, going = promote(*args, **kwargs)
        spent["promote"] += time.perf_counter() - t0
        spent["ended"] += len(ended)
        return ended, going

    def timed_assemble(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = assemble(*args, **kwargs)
        spent["assemble"] += time.perf_counter() - t0
        return out

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(runner, "run_stage_chunk", stage))
        stack.enter_context(mock.patch.object(runner, "promote", timed_promote))
        stack.enter_context(mock.patch.object(runner, "assemble", timed_assemble))
        yield spent


def breakdown(spec: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Where an in-process halving run's time goes: the fastest of ``repeat`` instrumented runs."""
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        with instrumented() as spent:
            total, _doc = timed(run_sweep, spec)
        spent["total"] = total
        if best is None or total < best["total"]:
            best = spent
    assert best is not None
    stage_time = sum(s["time"] for s in best["stages"].values())
    best["rest"] = best["total"] - stage_time - best["promote"] - best["assemble"]
    say(f"(info) where an in-process halving run's time goes (fastest of {repeat} instrumented "
        f"runs, {fmt_time(best['total'])}):")
    for (start, stop), s in best["stages"].items():
        steps = stop - start
        say(f"   stage {start:>5}→{stop:<5} {s['trials']:>5} trials × {steps:>5} steps "
            f"({s['chunks']} chunk(s)): {fmt_time(s['time'])}  = {s['time'] / steps * 1e6:.1f} "
            f"µs/step, {s['time'] / steps / s['trials'] * 1e9:.0f} ns/trial-step")
    say(f"   promote (rank, pruned records; {best['ended']} trials) {fmt_time(best['promote'])}, "
        f"assemble {fmt_time(best['assemble'])}, the rest (checkpoints taken and joined, "
        f"spec, …) {fmt_time(best['rest'])}")
    return best


def pool_timeline(spec: dict[str, Any], repeat: int) -> list[tuple[float, int]]:
    """When the pool's halving run reported its trials done (``progress``): a stage's trials
    are reported once its rung has pruned (and the last stage's as its chunks are saved). The
    fastest of ``repeat`` runs."""
    from workers.local import run_local

    best: list[tuple[float, int]] | None = None
    for _ in range(repeat):
        marks: list[tuple[float, int]] = []
        t0 = time.perf_counter()

        def progress(done: int, _total: int, marks: list[tuple[float, int]] = marks,
                     t0: float = t0) -> None:
            marks.append((time.perf_counter() - t0, done))

        run_local(spec, jobs=POOL_JOBS, progress=progress)
        marks.append((time.perf_counter() - t0, -1))  # run_local returned
        if best is None or marks[-1][0] < best[-1][0]:
            best = marks
    assert best is not None
    say(f"(info) run_local(jobs={POOL_JOBS}) halving, trials reported done at (fastest of "
        f"{repeat}): {timeline_text(best)}")
    return best


def timeline_text(marks: list[tuple[float, int]]) -> str:
    seen: list[str] = []
    last = None
    for t, done in marks:
        if done == last or done == 0:
            continue
        last = done
        seen.append(f"{t * 1e3:.0f} ms: returned" if done < 0 else f"{t * 1e3:.0f} ms: {done:,}")
    return ", ".join(seen)


# --- report -------------------------------------------------------------------------------------


def summary_line(results: list[dict[str, Any]]) -> str:
    parts = []
    for res in results:
        row = next(r for r in res["rows"]
                   if r["run"] == "successive halving" and r["mode"] == "run_sweep")
        full = next(r for r in res["rows"] if r["run"] == "unpruned" and r["mode"] == "run_sweep")
        first, last = row["ties"]
        tie = "" if first == last else f", tied within {TIE:g} with #{first}–#{last}"
        pick = ("no pick" if row["pick"] is None else
                f"its pick the unpruned #{row['rank']} of {res['n_settings']}"
                + ("" if row["rank"] == 1 else
                   f" (score {row['pick']['score']:.4g}{tie}; the unpruned best's "
                   f"{res['full_best']['score']:.4g})"))
        parts.append(f"{res['name']}: {row['fraction']:.2%} of the trial-steps (expected "
                     f"{row['expected'] / (res['n_trials'] * res['steps']):.2%}), "
                     f"{fmt_time(row['best'])} vs {fmt_time(full['best'])}, a speed-up of "
                     f"{row['speedup']:.2f}×, {pick}")
    return "S1 successive halving (η = 3), in-process — " + "; ".join(parts)


def markdown(facts: dict[str, str], args: argparse.Namespace,
             results: list[dict[str, Any]]) -> str:
    command = " ".join(["python bench/search.py", *sys.argv[1:]])
    lines = ["## S1 — successive halving on a 729-point grid (`python bench/search.py`)", "",
             (f"Command: `{command}`. Run: {time.strftime('%Y-%m-%d %H:%M')}, "
              f"{'--quick, ' if args.quick else ''}best of {args.repeat} repetitions (each on "
              "a fresh, jittered grid), all rows of an objective measured side by side in one "
              "run."), ""]
    lines += [f"- {name}: {value}" for name, value in facts.items()]
    res0 = results[0]
    sizes = res0["sizes"]
    lines += ["", (f"Adam, 9 × 9 × 9 grid (lr 1e-4…1, β1 0…0.99, β2 0.9…0.9999), seeds "
                   f"{', '.join(map(str, SEEDS))} ({res0['n_trials']:,} trials), "
                   f"{sizes['steps']:,} steps, record_every {sizes['record_every']}, pruning "
                   f"min_steps {sizes['min_steps']}, η = {ETA}; speed-up against the unpruned "
                   "run in the same mode; rank = the grid point's place among the unpruned "
                   "run's 729 by score."), "",
              ("| objective | run | mode | trial-steps | of the full sweep (expected) | wall, "
               "best (median) | speed-up | trials/s | M trial-steps/s | best found (lr, β1, "
               "β2): score | its rank unpruned |"),
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        full_steps = res["n_trials"] * res["steps"]
        for row in res["rows"]:
            pick = row["pick"]
            found = ("—" if pick is None else
                     f"{params_text(pick['params'])}: {pick['score']:.4g}")
            mode = row["mode"] + (f" (chunks: {row['chunks']})" if "chunks" in row else "")
            lines.append(
                f"| {res['name']} | {row['run']} | {mode} | {row['trial_steps']:,} | "
                f"{row['fraction']:.2%} ({row['expected'] / full_steps:.2%}) | "
                f"{fmt_time(row['best'])} ({fmt_time(row['median'])}) | "
                f"{row['speedup']:.2f}× | {row['trials_per_s']:,.0f} | "
                f"{row['steps_per_s'] / 1e6:.2f} | {found} | "
                f"#{row['rank']} of {res['n_settings']}{ties_text(row)}"
                + ("" if len(set(row["ranks"])) == 1 else
                   f" (reps: {', '.join(f'#{r}' for r in row['ranks'])})") + " |")
    lines += ["", "What the pruned runs did with the unpruned run's best grid point:", ""]
    lines += [f"- {res['name']}: {row['run']} {row['fate']}." for res in results
              for row in res["rows"] if row["fate"] is not None and row["mode"] == "run_sweep"]
    lines += ["", ("For information — the floor (the unpruned run of the trials halving runs to "
                   "the end, all steps) and where the in-process halving run's time goes "
                   "(fastest of the instrumented runs):"), "",
              ("| objective | floor | halving, instrumented | stages (trials × steps: time) | "
               "promote | assemble | rest |"), "|---|---|---|---|---|---|---|"]
    for res in results:
        b, f = res["breakdown"], res["floor"]
        stages = "; ".join(f"{s['trials']:,} × {stop - start:,}: {fmt_time(s['time'])} "
                           f"({s['time'] / (stop - start) * 1e6:.0f} µs/step)"
                           for (start, stop), s in b["stages"].items())
        lines.append(f"| {res['name']} | {f['trials']} trials × {res['steps']:,} steps: "
                     f"{fmt_time(f['time'])} ({f['time'] / res['steps'] * 1e6:.0f} µs/step) | "
                     f"{fmt_time(b['total'])} | {stages} | "
                     f"{fmt_time(b['promote'])} | {fmt_time(b['assemble'])} | "
                     f"{fmt_time(b['rest'])} |")
    timelines = [f"- {res['name']}: {timeline_text(res['timeline'])}" for res in results
                 if "timeline" in res]
    if timelines:
        lines += ["", (f"run_local(jobs={POOL_JOBS}) halving: when the trials were reported done "
                       "(`progress`; a stage's pruned trials once its rung has run), fastest "
                       "of the timeline runs:"), "", *timelines]
    lines += ["", summary_line(results)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run, under 30 s")
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="repetitions (default 3, --quick 1)")
    parser.add_argument("--no-pool", action="store_true",
                        help=f"skip the run_local(jobs={POOL_JOBS}) rows")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 3)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    sizes = QUICK if args.quick else FULL
    modes = list(MODES)[:1] if args.no_pool else list(MODES)

    t_start = time.perf_counter()
    facts = engine.machine_facts()
    facts["threads"] = (f"run_sweep's default (os.cpu_count() = {os.cpu_count()}), used only "
                        f"above {DEFAULT_BLOCK:,} elements an array: every batch here is "
                        "smaller, so one core; no BLAS call (element-wise objectives)")
    say("gradsweep search benchmark" + (" (--quick)" if args.quick else ""))
    for name, value in facts.items():
        say(f"  {name}: {value}")

    # warm-up (imports, first-call costs, the pool's forkserver), on a small sweep of its own
    warm = {"steps": 9 * sizes["min_steps"], "min_steps": sizes["min_steps"],
            "record_every": sizes["record_every"]}
    for objective in OBJECTIVES.values():
        for run in RUNS:
            for mode in modes:
                MODES[mode](sweep_spec(objective, run, -1, **warm))
    if len(modes) > 1:
        say("(warm-up done: the pool's first call, the forkserver's start, is not timed)")

    results = [bench_objective(name, objective, modes, args.repeat, sizes)
               for name, objective in OBJECTIVES.items()]

    say("\n" + summary_line(results))
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"\n(total wall time {time.perf_counter() - t_start:.1f} s)")
    say("\n----- 8< ----- Markdown for BENCHMARKS.md ----- 8< -----\n")
    say(markdown(facts, args, results))
    say("\n----- 8< -----")
    return 0


if __name__ == "__main__":
    sys.exit(main())
