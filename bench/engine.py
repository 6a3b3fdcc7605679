"""Benchmarks of gradsweep's engine: the batched runner, the in-place stepper, scaling in K.

Run from the project root, in the dev virtualenv::

    python bench/engine.py              # full run, about 40 s here (well under 3 minutes)
    python bench/engine.py --quick      # smoke run, about 10 s
    python bench/engine.py --repeat 9   # more repetitions (best-of / median over them)

Every ratio is measured side by side in one run: each repetition times the contenders one after
the other, on a freshly jittered hyperparameter grid (nothing is cached between repetitions), and
the figures are the best of the repetitions (the median is printed next to it). Timing is
``time.perf_counter``; garbage collection stays on, as in real use.

B1  1,000 Adam trials × 1,000 steps on 2-D Rosenbrock (lr log-spaced 1e-4…1e-1, other
    hyperparameters default, start (-1.2, 1), record_every 100, one seed) through
    ``optimizers.run_sweep(spec)`` — spec validation and the results document included — against
    (a) the honest floor: the fastest NumPy code we know for this one sweep, written by hand
        (``floor_batched``): (K, 2) parameters, Rosenbrock value and gradient inline, Adam with
        β1, β2, eps, 1 − β and the bias corrections 1 − βᵗ as scalars (computed once for the
        run), every operation into a buffer made once (25 ufunc calls a step), the loss computed
        every step (a sweep's minimum, mean and divergence check need it) and kept every 100
        steps. Three forms are timed side by side and the fastest is the floor: lr a (K, 1)
        column repeated to (K, 2) once with the scalars as 0-d arrays (NumPy 2 takes those
        faster than Python floats) or as Python floats, and lr left a (K, 1) column (NumPy then
        runs a loop per row) with Python floats, as the issue that asked for this floor wrote
        it. A fourth form, computing the loss at the recorded steps only, does less than a
        sweep and is printed for information. run_sweep's final losses must equal every form's
        to rtol 1e-12 (checked on every repetition; the script stops otherwise);
    (b) a plain-Python trial-by-trial loop (Python floats, ``math.sqrt``, the same arithmetic),
        timed on a sample of trials and scaled to 1,000; its curves must equal the floor's to
        rtol 1e-12;
    (c) a plain NumPy trial-by-trial loop ((2,)-shaped arrays, one trial at a time), timed on a
        sample of trials and scaled to 1,000;
    (d) a ``torch.optim.Adam`` trial-by-trial loop in float64 with autograd (timed on a sample,
        scaled; skipped with a note if torch is not importable). torch puts eps outside the square
        root, so its losses are close to, not equal to, the others'. It runs last: importing torch
        grows the Python heap, which makes every later garbage collection — and so run_sweep's
        per-trial record building — slower in this process.
    Targets: run_sweep ≥ 0.8× the floor's speed and ≥ 10× the plain-Python loop's, ≥ 100× the
    NumPy loop, ≥ 1,000× torch; each ratio is printed for the best times and for the medians.
    Where run_sweep's time goes besides the steps (run_sweep at steps = 1, and its pieces) and
    a per-step breakdown (the runner's objective and stepper calls, the same pieces written
    naively) follow, for information.

B2  One Adam step over K·D = 10⁶ and 10⁷ float64 elements through ``Stepper`` (threads =
    os.cpu_count(), default block), against the memory-traffic floor: the 7 × 8 × K·D bytes the
    step must move (read g, m, v, θ; write m, v, θ) at the copy bandwidth measured in the same run
    (single-threaded ``np.copyto`` of K·D elements into a pre-touched destination, best of several;
    bandwidth = 2 × 8 × K·D / time). Also timed: the Stepper on one thread and a naive NumPy Adam
    step (the obvious expressions, with temporaries). Target: Stepper ≤ 2× the floor at 10⁷.
    A two-thread copy bandwidth is printed for information (a stricter floor on this machine).
    Each repetition takes three samples of the copies and the Stepper steps (one of the naive
    step); the best sample counts. Before timing, one Stepper step is checked against the naive
    step from the same state (rtol 1e-12).

B3  Time per step (µs) and per trial-step (ns) of ``run_sweep`` as K grows (1 … 10,000 trials of
    Adam on 2-D Rosenbrock, 500 steps): as measured, spec validation and result assembly included.
    The last column, run_sweep of the same sweep at steps = 1, shows that fixed per-sweep cost.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import hashlib
import importlib
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import optimizers
from optimizers import Stepper, assemble, make_rule, parse_spec, run_sweep
from optimizers.runner import run_trials
from optimizers.objectives import Rosenbrock

# --- the B1 problem -----------------------------------------------------------------------------

B1_TRIALS = 1000
B1_STEPS = 1000
RECORD_EVERY = 100
INIT = (-1.2, 1.0)
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # adam's defaults in optimizers.rules
ROSEN_A, ROSEN_B = 1.0, 100.0

# NumPy calls per step of ``floor_batched`` below, counted by hand (every one writes into a buffer
# made before the loop; β1, β2, eps, 1 − β1, 1 − β2, the objective's constants and the bias
# corrections are scalars — Python floats or 0-d arrays):
#   Rosenbrock value and gradient on the two columns: x·x, y − ·, a − x, b·d, bd·d, u·u, + (the
#     loss), 2·bd (= ∂f/∂y), ·x, + u, −2·(·) (= ∂f/∂x)                                     = 11
#   Adam: m (3: ·β1, (1−β1)·g, +), v (4: ·β2, g·g, (1−β2)·, +), m̂ (1, skipped once 1 − β1ᵗ
#     rounds to 1), v̂ (1), θ (5: + eps, √, lr/·, ·m̂, θ − ·)                            = 14 (13)
# (the run's first two views of θ, g and the curve rows are not counted: a few per run).
FLOOR_UFUNCS_PER_STEP = 25

TARGET_VS_FLOOR = 0.8     # run_sweep speed ≥ 0.8 × the honest floor's
TARGET_VS_PYTHON = 10.0   # ≥ 10 × the plain-Python trial-by-trial loop
TARGET_VS_LOOP = 100.0    # ≥ 100 × the NumPy trial-by-trial loop
TARGET_VS_TORCH = 1000.0  # ≥ 1,000 × the torch.optim trial-by-trial loop
TARGET_B2_FLOOR = 2.0     # Stepper ≤ 2 × the memory-traffic floor at K·D = 10⁷


def lr_grid(k: int, rep: float) -> np.ndarray:
    """The B1/B3 learning rates, log-spaced 1e-4…1e-1, jittered by a relative 1e-6·rep."""
    return np.logspace(-4, -1, k) * (1.0 + 1e-6 * rep)


def sweep_spec(lrs: list[float], steps: int) -> dict[str, Any]:
    return {"objective": {"name": "rosenbrock", "dim": 2}, "init": list(INIT),
            "optimizer": "adam", "grid": {"lr": lrs}, "steps": steps,
            "record_every": RECORD_EVERY, "seeds": 1}


def n_recorded(steps: int, record_every: int) -> int:
    """Recorded steps of a curve: 0, r, 2r, … and the last step."""
    return steps // record_every + 1 + (steps % record_every != 0)


def floor_batched(lrs: list[float], steps: int, record_every: int, lr_width: int = 2,
                  scalars: str = "0-d", loss_every_step: bool = True) -> np.ndarray:
    """The honest floor: the B1 sweep hand-written in NumPy for that one sweep, all trials at once.

    (K, 2) parameters; β1, β2, eps, 1 − β and the objective's constants as scalars — Python
    floats (``scalars="float"``) or 0-d float64 arrays (``"0-d"``, the default: NumPy 2 takes
    those faster) — and the bias corrections 1 − βᵗ as scalars computed once for the run; lr a
    (K, 1) column, repeated to (K, 2) once (``lr_width=2``, the default: a (K, 1) column against
    (K, 2) arrays costs NumPy a loop per row) or left a column (``lr_width=1``); every operation
    writes into a buffer made once; m̂ = m while 1 − β1ᵗ rounds to 1. The loss is computed every
    step — what a sweep needs for its minimum, mean and divergence check — and kept every
    ``record_every`` steps; ``loss_every_step=False`` computes it at the recorded steps only
    (less than a sweep reports; for information). Returns the curves (K, n_recorded).
    """
    k = len(lrs)
    lr = np.array(lrs, dtype=np.float64)[:, None]
    if lr_width == 2:
        lr = np.repeat(lr, 2, axis=1)
    corr1 = [1.0 - BETA1 ** t for t in range(steps + 1)]
    corr2 = [1.0 - BETA2 ** t for t in range(steps + 1)]
    consts = [BETA1, BETA2, EPS, ROSEN_A, ROSEN_B, 1.0 - BETA1, 1.0 - BETA2, 2.0, -2.0]
    make: Callable[[float], Any] = np.array if scalars == "0-d" else float
    ops1, ops2 = [make(c) for c in corr1], [make(c) for c in corr2]
    b1, b2, eps, a_, b_, omb1, omb2, two, minus_two = (make(c) for c in consts)
    theta = np.empty((k, 2))
    theta[:] = INIT
    m, v, g, tmp, mhat = (np.zeros((k, 2)) for _ in range(5))
    x, y, gx, gy = theta[:, :1], theta[:, 1:], g[:, :1], g[:, 1:]
    d, u, bd, uu, scratch = (np.empty((k, 1)) for _ in range(5))
    curve = np.empty((n_recorded(steps, record_every), k))
    rows = [row.reshape(k, 1) for row in curve]
    multiply, subtract, add, divide, sqrt = np.multiply, np.subtract, np.add, np.divide, np.sqrt
    r = 0
    for t in range(1, steps + 1):
        # Rosenbrock at θ (the loss of step t − 1) and its gradient
        multiply(x, x, out=d)
        subtract(y, d, out=d)
        subtract(a_, x, out=u)
        multiply(b_, d, out=bd)
        if (t - 1) % record_every == 0:
            f = rows[r]
            r += 1
            loss = True
        else:
            f = scratch
            loss = loss_every_step
        if loss:
            multiply(bd, d, out=f)
            multiply(u, u, out=uu)
            add(f, uu, out=f)
        multiply(two, bd, out=gy)
        multiply(gy, x, out=gx)
        add(gx, u, out=gx)
        multiply(minus_two, gx, out=gx)
        # Adam, eps inside the square root
        m *= b1
        multiply(omb1, g, out=tmp)
        m += tmp
        v *= b2
        multiply(g, g, out=tmp)
        multiply(omb2, tmp, out=tmp)
        v += tmp
        if corr1[t] == 1.0:
            mh = m
        else:
            divide(m, ops1[t], out=mhat)
            mh = mhat
        divide(v, ops2[t], out=tmp)
        tmp += eps
        sqrt(tmp, out=tmp)
        divide(lr, tmp, out=tmp)
        tmp *= mh
        theta -= tmp
    xx = theta[:, :1]
    dd = theta[:, 1:] - xx * xx
    uu = ROSEN_A - xx
    rows[r][:] = (ROSEN_B * dd) * dd + uu * uu  # the loss after the last step
    return curve.T


def python_one_trial(lr: float, steps: int, record_every: int) -> list[float]:
    """One trial in plain Python floats (``math.sqrt``): its losses every record_every steps."""
    b1, b2, eps, a_, b_ = BETA1, BETA2, EPS, ROSEN_A, ROSEN_B
    omb1, omb2 = 1.0 - b1, 1.0 - b2
    sqrt = math.sqrt
    x, y = INIT
    mx = my = vx = vy = 0.0
    kept = []
    for t in range(1, steps + 1):
        d = y - x * x
        u = a_ - x
        bd = b_ * d
        f = bd * d + u * u
        if (t - 1) % record_every == 0:
            kept.append(f)
        gy = 2.0 * bd
        gx = -2.0 * (gy * x + u)
        mx = b1 * mx + omb1 * gx
        my = b1 * my + omb1 * gy
        vx = b2 * vx + omb2 * (gx * gx)
        vy = b2 * vy + omb2 * (gy * gy)
        c1 = 1.0 - b1 ** t
        c2 = 1.0 - b2 ** t
        x -= lr / sqrt(vx / c2 + eps) * (mx / c1)
        y -= lr / sqrt(vy / c2 + eps) * (my / c1)
    d = y - x * x
    u = a_ - x
    kept.append((b_ * d) * d + u * u)
    return kept


def numpy_one_trial(lr: float, steps: int, record_every: int) -> list[float]:
    """One trial, plain NumPy on (2,) arrays: its losses every record_every steps."""
    omb1, omb2 = 1.0 - BETA1, 1.0 - BETA2
    theta = np.array(INIT)
    m = np.zeros(2)
    v = np.zeros(2)
    kept = []
    for t in range(1, steps + 1):
        x, y = theta
        d = y - x * x
        u = ROSEN_A - x
        bd = ROSEN_B * d
        f = bd * d + u * u
        if (t - 1) % record_every == 0:
            kept.append(float(f))
        bd2 = 2.0 * bd
        g = np.array([-2.0 * (bd2 * x + u), bd2])
        m = BETA1 * m + omb1 * g
        v = BETA2 * v + omb2 * (g * g)
        mhat = m / (1.0 - BETA1 ** t)
        vhat = v / (1.0 - BETA2 ** t)
        theta = theta - lr / np.sqrt(vhat + EPS) * mhat
    x, y = theta
    d = y - x * x
    u = ROSEN_A - x
    kept.append(float((ROSEN_B * d) * d + u * u))
    return kept


def torch_one_trial(torch: Any, lr: float, steps: int, record_every: int) -> list[float]:
    """One trial through torch.optim.Adam, float64, autograd: its losses every record_every."""
    p = torch.tensor(INIT, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr, betas=(BETA1, BETA2), eps=EPS)
    kept = []
    for s in range(steps):
        opt.zero_grad()
        x, y = p[0], p[1]
        loss = ROSEN_B * (y - x * x) ** 2 + (ROSEN_A - x) ** 2
        if s % record_every == 0:
            kept.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, y = p[0], p[1]
        kept.append((ROSEN_B * (y - x * x) ** 2 + (ROSEN_A - x) ** 2).item())
    return kept


# --- helpers ------------------------------------------------------------------------------------


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """(seconds, result) of one call ``fn(*args)``."""
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def say(*args: Any) -> None:
    print(*args, flush=True)


def one_at_a_time(trial: Callable[[float, int, int], Any], lrs: list[float],
                  steps: int) -> list[Any]:
    """Run ``trial(lr, steps, RECORD_EVERY)`` for each learning rate in turn."""
    return [trial(lr, steps, RECORD_EVERY) for lr in lrs]


def batched_on_one(lr: float, steps: int, record_every: int) -> list[float]:
    """The floor's batched code on a batch of one trial: (1, 2) arrays."""
    out: list[float] = floor_batched([lr], steps, record_every)[0].tolist()
    return out


def sample_indices(k: int, n: int) -> list[int]:
    """n trial indices spread evenly over 0…k-1 (both ends included)."""
    return sorted({int(i) for i in np.linspace(0, k - 1, n).round()})


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), np.finfo(float).tiny)))


# --- machine facts ------------------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    facts: dict[str, str] = {}
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts["CPU"] = model
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts["cores"] = f"{os.cpu_count()} logical, {usable} usable by this process"
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind != "Instruction":
            caches.append(f"L{level} {size}")
    if caches:
        facts["caches (per cpu0 view)"] = ", ".join(caches)
    facts["Python"] = platform.python_version()
    facts["NumPy"] = np.__version__
    with contextlib.suppress(Exception):  # a fact we cannot get is not an error
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        facts["BLAS"] = f"{blas.get('name')} {blas.get('version')}"
    with contextlib.suppress(Exception):
        umath = importlib.import_module("numpy._core._multiarray_umath")
        dispatch, features = umath.__cpu_dispatch__, umath.__cpu_features__
        found = [d for d in dispatch if features.get(d)]
        missing = [d for d in dispatch if not features.get(d)]
        facts["NumPy SIMD"] = (f"baseline {' '.join(umath.__cpu_baseline__)}; found "
                               f"{' '.join(found)}; not found {' '.join(missing) or '—'}")
    limits = {k: v for k, v in os.environ.items()
              if k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    facts["thread env"] = ", ".join(f"{k}={v}" for k, v in limits.items()) or "none set"
    src = Path(optimizers.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(src.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    facts["engine source sha256"] = digest.hexdigest()[:12]
    facts["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return facts


# --- B1 -----------------------------------------------------------------------------------------


# The floor's forms, timed side by side; the fastest of those that compute what a sweep reports
# (the loss every step) is "the floor".
FLOOR_FORMS: dict[str, dict[str, Any]] = {
    "lr (K, 2), 0-d scalars": {"lr_width": 2, "scalars": "0-d"},
    "lr (K, 2), Python-float scalars": {"lr_width": 2, "scalars": "float"},
    "lr (K, 1) column, Python-float scalars": {"lr_width": 1, "scalars": "float"},
}
FLOOR_INFO = {"lr (K, 2), 0-d scalars, loss at the recorded steps only": {
    "lr_width": 2, "scalars": "0-d", "loss_every_step": False}}


def bench_b1(repeat: int, loop_sample: int, loop_repeat: int,
             python_sample: int) -> dict[str, Any]:
    say(f"\n== B1: {B1_TRIALS:,} Adam trials × {B1_STEPS:,} steps, Rosenbrock D=2 ==")
    k, steps = B1_TRIALS, B1_STEPS

    # warm-up (imports, first-call costs), on its own grid
    warm = lr_grid(k, -1).tolist()
    run_sweep(sweep_spec(warm, steps))
    forms = {**FLOOR_FORMS, **FLOOR_INFO}
    for kwargs in forms.values():
        floor_batched(warm, steps, RECORD_EVERY, **kwargs)

    contenders = ["run_sweep", *forms]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    worst = 0.0
    for rep in range(repeat):
        lrs = lr_grid(k, rep).tolist()
        spec = sweep_spec(lrs, steps)
        order = contenders[rep % len(contenders):] + contenders[:rep % len(contenders)]
        curves: dict[str, np.ndarray] = {}
        for name in order:  # each repetition starts with another contender
            if name == "run_sweep":
                t, doc = timed(run_sweep, spec)
            else:
                t, curves[name] = timed(functools.partial(floor_batched, **forms[name]), lrs,
                                        steps, RECORD_EVERY)
            times[name].append(t)
        statuses = {tr["status"] for tr in doc["trials"]}
        if statuses != {"ok"}:
            raise SystemExit(f"B1: run_sweep trials not all ok: {statuses}")
        swept = np.array([tr["curve"]["loss"] for tr in doc["trials"]])
        for name, curve in curves.items():
            np.testing.assert_allclose(swept[:, -1], curve[:, -1], rtol=1e-12, atol=0,
                                       err_msg=f"B1: run_sweep and the floor ({name}) disagree")
            worst = max(worst, max_rel(swept, curve))
    best = {name: min(ts) for name, ts in times.items()}
    median = {name: statistics.median(ts) for name, ts in times.items()}
    floor_name = min(FLOOR_FORMS, key=lambda name: best[name])
    best_sweep, best_floor = best["run_sweep"], best[floor_name]
    med_sweep, med_floor = median["run_sweep"], median[floor_name]
    speed_vs_floor, speed_vs_floor_med = best_floor / best_sweep, med_floor / med_sweep
    say(f"run_sweep            best {fmt_time(best_sweep)}  median {fmt_time(med_sweep)}  "
        f"({repeat} reps; spec validation and the results document included)")
    for name in forms:
        say(f"floor, {name:56s} best {fmt_time(best[name])}  median {fmt_time(median[name])}"
            f"  = {best[name] / steps * 1e6:.1f} µs/step"
            + ("  ← the floor" if name == floor_name else "")
            + ("  (info: less than a sweep computes)" if name in FLOOR_INFO else ""))
    say(f"   the floor makes {FLOOR_UFUNCS_PER_STEP} NumPy ufunc calls a step (24 once m̂ = m) → "
        f"{best_floor / steps / FLOOR_UFUNCS_PER_STEP * 1e6:.2f} µs per call")
    say(f"final losses equal to rtol 1e-12: yes (every rep, every form); whole curves max rel "
        f"diff {worst:.1e} (the floor takes 1 − βᵗ from Python's pow, the engine from NumPy's)")
    say(f"run_sweep speed / floor speed = {speed_vs_floor:.2f}× best, {speed_vs_floor_med:.2f}× "
        f"median  (target ≥ {TARGET_VS_FLOOR}×) {verdict(speed_vs_floor >= TARGET_VS_FLOOR)}")
    info = {name: best[name] / best_sweep for name in FLOOR_INFO}
    for name, ratio in info.items():
        say(f"   (info: vs the floor with {name}: {ratio:.2f}×)")
    fixed = _fixed_costs(repeat)
    say(f"   where run_sweep's time goes besides the steps (best of {repeat}; info): run_sweep "
        f"at steps = 1 {fmt_time(fixed['run_sweep at steps = 1'])} = "
        f"{fixed['run_sweep at steps = 1'] / best_sweep:.0%} of run_sweep; of that "
        + ", ".join(f"{name} {fmt_time(t)}" for name, t in fixed.items()
                    if name != "run_sweep at steps = 1"))

    # (b) plain Python and NumPy, trial by trial, on samples
    lrs = lr_grid(k, repeat)  # one more fresh grid
    pidx = sample_indices(k, python_sample)
    idx = sample_indices(k, loop_sample)
    python_one_trial(float(lrs[pidx[0]]), 50, RECORD_EVERY)  # warm-up
    numpy_one_trial(float(lrs[idx[0]]), 50, RECORD_EVERY)
    t_py, t_loop, t_loop12, py_dev, loop_dev = [], [], [], 0.0, 0.0
    for rep in range(loop_repeat):
        lrs_rep = lr_grid(k, repeat + 1 + rep)
        sample_py = [float(lrs_rep[i]) for i in pidx]
        sample = [float(lrs_rep[i]) for i in idx]
        t, py_curves = timed(one_at_a_time, python_one_trial, sample_py, steps)
        t_py.append(t * k / len(pidx))
        t, curves_np = timed(one_at_a_time, numpy_one_trial, sample, steps)
        t_loop.append(t * k / len(idx))
        # the same, written as the batched floor run on one trial at a time: (1, 2) arrays
        t12, _ = timed(one_at_a_time, batched_on_one, sample, steps)
        t_loop12.append(t12 * k / len(idx))
        if rep == 0:
            ref_rep = floor_batched(lrs_rep.tolist(), steps, RECORD_EVERY)
            py_dev = max_rel(np.array(py_curves), ref_rep[pidx])
            loop_dev = max_rel(np.array(curves_np)[:, -1], ref_rep[idx][:, -1])
            np.testing.assert_allclose(np.array(py_curves), ref_rep[pidx], rtol=1e-12, atol=0,
                                       err_msg="B1: the plain-Python loop and the floor disagree")
    best_py, best_loop, best_loop12 = min(t_py), min(t_loop), min(t_loop12)
    med_py, med_loop = statistics.median(t_py), statistics.median(t_loop)
    speed_vs_python, speed_vs_python_med = best_py / best_sweep, med_py / med_sweep
    speed_vs_loop, speed_vs_loop_med = best_loop / best_sweep, med_loop / med_sweep
    say(f"plain Python (floats, math.sqrt), {len(pidx)} trials scaled to {k:,}: best "
        f"{fmt_time(best_py)}  median {fmt_time(med_py)}  "
        f"({best_py / k / steps * 1e9:.0f} ns per trial-step; curves vs the floor: max rel diff "
        f"{py_dev:.1e})")
    say(f"run_sweep speed / plain-Python speed = {speed_vs_python:.1f}× best, "
        f"{speed_vs_python_med:.1f}× median  (target ≥ {TARGET_VS_PYTHON:g}×) "
        f"{verdict(speed_vs_python >= TARGET_VS_PYTHON)}")
    say(f"NumPy trial-by-trial, (2,) arrays, {len(idx)} trials scaled to {k:,}: best "
        f"{fmt_time(best_loop)}  ({best_loop / k / steps * 1e6:.1f} µs per trial-step; final "
        f"losses vs the floor: max rel diff {loop_dev:.1e})")
    say(f"   (info: the floor's code on one (1, 2) trial at a time: {fmt_time(best_loop12)}, "
        f"{best_loop12 / k / steps * 1e6:.1f} µs per trial-step, run_sweep "
        f"{best_loop12 / best_sweep:,.0f}× faster)")
    say(f"run_sweep speed / NumPy loop speed = {speed_vs_loop:,.0f}× best, "
        f"{speed_vs_loop_med:,.0f}× median  (target ≥ {TARGET_VS_LOOP:,.0f}×) "
        f"{verdict(speed_vs_loop >= TARGET_VS_LOOP)}")

    return {"t_sweep": best_sweep, "t_sweep_median": med_sweep,
            "floor_name": floor_name, "t_floor": best_floor, "t_floor_median": med_floor,
            "speed_vs_floor": speed_vs_floor, "speed_vs_floor_median": speed_vs_floor_med,
            "forms": {name: (best[name], median[name]) for name in forms},
            "t_python": best_py, "t_python_median": med_py, "python_sample": len(pidx),
            "speed_vs_python": speed_vs_python, "speed_vs_python_median": speed_vs_python_med,
            "t_loop": best_loop, "t_loop_median": med_loop, "loop_sample": len(idx),
            "speed_vs_loop": speed_vs_loop, "speed_vs_loop_median": speed_vs_loop_med,
            "t_loop12": best_loop12, "curve_dev": worst, "torch": None,
            "t_fixed": fixed["run_sweep at steps = 1"], "fixed": fixed}


def _fixed_costs(repeat: int) -> dict[str, float]:
    """Best-of times of B1's per-sweep work that does not depend on the steps."""
    k = B1_TRIALS
    out: dict[str, list[float]] = {}
    for rep in range(repeat):
        lrs = lr_grid(k, 500 + rep).tolist()
        one = sweep_spec(lrs, 1)
        spec = parse_spec(sweep_spec(lrs, B1_STEPS))
        trials = spec.trials()
        records = run_trials(parse_spec(one), trials)
        for name, fn in [("run_sweep at steps = 1", lambda: run_sweep(one)),
                         ("parse_spec", lambda: parse_spec(sweep_spec(lrs, B1_STEPS))),
                         ("spec.trials()", spec.trials),
                         ("run_trials at steps = 1 (hp, state, records)",
                          lambda: run_trials(parse_spec(one), trials)),
                         ("assemble (the results document)", lambda: assemble(spec, records))]:
            out.setdefault(name, []).append(timed(fn)[0])
    return {name: min(ts) for name, ts in out.items()}


def bench_b1_torch(b1: dict[str, Any], repeat: int, torch_sample: int, loop_repeat: int) -> None:
    """B1 (c), run last: importing torch grows the heap, which slows every later garbage
    collection (and so run_sweep's record building) in this process."""
    k, steps = B1_TRIALS, B1_STEPS
    best_sweep = b1["t_sweep"]
    say("\n== B1 (c): torch.optim.Adam trial-by-trial loop (run last) ==")
    try:
        t_import, torch = timed(lambda: __import__("torch"))
    except Exception as exc:  # noqa: BLE001 — torch is optional
        say(f"torch.optim.Adam loop: skipped, torch is not importable "
            f"({type(exc).__name__}: {exc})")
        return
    lrs = lr_grid(k, repeat + 99)
    tidx = sample_indices(k, torch_sample)
    torch_one_trial(torch, float(lrs[tidx[0]]), 50, RECORD_EVERY)  # warm-up
    t_torch, torch_dev = [], 0.0
    for rep in range(loop_repeat):
        lrs_rep = lr_grid(k, repeat + 100 + rep)
        sample = [float(lrs_rep[i]) for i in tidx]
        t, curves = timed(one_at_a_time, functools.partial(torch_one_trial, torch), sample, steps)
        t_torch.append(t * k / len(tidx))
        if rep == 0:
            ref_rep = floor_batched(lrs_rep.tolist(), steps, RECORD_EVERY)[tidx]
            torch_dev = max_rel(np.array(curves)[:, -1], ref_rep[:, -1])
    best_torch = min(t_torch)
    speed_vs_torch = best_torch / best_sweep
    say(f"torch {torch.__version__} Adam loop (float64, {torch.get_num_threads()} intra-op "
        f"threads, import {fmt_time(t_import)}) {len(tidx)} trials, scaled to {k:,}: best "
        f"{fmt_time(best_torch)}  ({best_torch / k / steps * 1e6:.1f} µs per trial-step; final "
        f"losses vs the floor: max rel diff {torch_dev:.1e}, eps outside √ in torch)")
    say(f"run_sweep speed (B1 above) / torch loop speed = {speed_vs_torch:,.0f}×  (target ≥ "
        f"{TARGET_VS_TORCH:,.0f}×) {verdict(speed_vs_torch >= TARGET_VS_TORCH)}")
    b1.update(torch=torch.__version__, t_torch=best_torch, torch_sample=len(tidx),
              speed_vs_torch=speed_vs_torch)


def bench_b1_breakdown(repeat: int, calls: int) -> dict[str, float]:
    """Per-step cost of the pieces of a run_sweep step at K = 1,000, D = 2, vs the same inline."""
    k = B1_TRIALS
    rng = np.random.default_rng(1)
    theta0 = np.array(INIT) + 0.1 * rng.standard_normal((k, 2))
    g0 = rng.standard_normal((k, 2))
    out: dict[str, list[float]] = {}
    for rep in range(repeat):
        for name, t in _breakdown_once(theta0, g0, lr_grid(k, 1000 + rep), calls).items():
            out.setdefault(name, []).append(t)
    best = {name: min(ts) for name, ts in out.items()}
    say(f"-- B1 per-step breakdown at K={k:,}, D=2 (best of {repeat} × {calls} calls; info) --")
    for name, t in best.items():
        say(f"   {name:45s} {t * 1e6:7.1f} µs")
    return best


def _per_call(fn: Callable[..., Any], arg: Any, calls: int) -> float:
    fn(arg)
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(arg)
    return (time.perf_counter() - t0) / calls


def _inline_rosenbrock(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Rosenbrock value and gradient written the obvious way, new arrays every call."""
    x = theta[:, :1]
    y = theta[:, 1:]
    d = y - x * x
    u = ROSEN_A - x
    bd = ROSEN_B * d
    f = bd * d + u * u
    bd2 = 2.0 * bd
    g = np.empty_like(theta)
    g[:, :1] = -2.0 * (bd2 * x + u)
    g[:, 1:] = bd2
    return f, g


def _breakdown_once(theta0: np.ndarray, g0: np.ndarray, lrs: np.ndarray,
                    calls: int) -> dict[str, float]:
    k = len(lrs)
    rule = make_rule("adam")
    objective = Rosenbrock(dim=2)
    hp = rule.broadcast({"lr": lrs}, k)
    theta = theta0.copy()
    loss = np.empty((k, 1))
    with np.errstate(all="ignore"), \
            Stepper(rule, theta, rule.init(theta), hp, threads=os.cpu_count() or 1) as stepper:
        return {
            "objective.evaluator(θ) call (the runner's)": _per_call(objective.evaluator(theta0),
                                                                     loss, calls),
            "objective.value_and_grad (the pure API)": _per_call(objective.value_and_grad,
                                                                 theta0, calls),
            "naive Rosenbrock expressions (new arrays)": _per_call(_inline_rosenbrock, theta0,
                                                                   calls),
            "Stepper(adam).advance (the runner's)": _per_call(stepper.advance, g0, calls),
            "naive Adam expressions (new arrays, 1 − β hoisted)": _per_call(
                NaiveAdam(theta0.copy(), hp, precompute=True), g0, calls),
        }


# --- B2 -----------------------------------------------------------------------------------------


class NaiveAdam:
    """The obvious NumPy Adam step, new arrays every step (eps inside the square root).

    ``precompute`` hoists 1 − β out of the step, as the floor does.
    """

    def __init__(self, theta: np.ndarray, hp: dict[str, np.ndarray],
                 precompute: bool = False) -> None:
        self.theta = theta
        self.m = np.zeros_like(theta)
        self.v = np.zeros_like(theta)
        self.t = 0
        self.b1, self.b2, self.eps, self.lr = hp["beta1"], hp["beta2"], hp["eps"], hp["lr"]
        self.omb1 = 1.0 - self.b1 if precompute else None
        self.omb2 = 1.0 - self.b2 if precompute else None

    def __call__(self, g: np.ndarray) -> None:
        b1, b2 = self.b1, self.b2
        omb1 = 1.0 - b1 if self.omb1 is None else self.omb1
        omb2 = 1.0 - b2 if self.omb2 is None else self.omb2
        self.t += 1
        t = self.t
        self.m = b1 * self.m + omb1 * g
        self.v = b2 * self.v + omb2 * (g * g)
        mhat = self.m / (1.0 - b1 ** t)
        vhat = self.v / (1.0 - b2 ** t)
        self.theta = self.theta - self.lr / np.sqrt(vhat + self.eps) * mhat


def bench_b2(shapes: list[tuple[int, int]], repeat: int) -> list[dict[str, Any]]:
    say("\n== B2: one Adam step over K·D float64 elements vs the memory-traffic floor ==")
    rows = []
    for k, d in shapes:
        rows.append(_b2_one(k, d, repeat))
        gc.collect()
    return rows


def _b2_one(k: int, d: int, repeat: int) -> dict[str, Any]:
    rule = make_rule("adam")
    threads = os.cpu_count() or 1
    n = k * d
    rng = np.random.default_rng(n)
    src = rng.standard_normal(n)
    dst = np.zeros(n)  # pre-touched
    half = n // 2
    g = rng.standard_normal((k, d))
    theta0 = 0.1 * rng.standard_normal((k, d))
    hp = rule.broadcast({"lr": lr_grid(k, 0)}, k)

    # correctness first: one Stepper step equals one naive step, from the same state
    theta_check = theta0.copy()
    with Stepper(rule, theta_check, rule.init(theta_check), hp, threads=threads) as check:
        check(g)
    naive_check = NaiveAdam(theta0.copy(), hp)
    naive_check(g)
    np.testing.assert_allclose(theta_check, naive_check.theta, rtol=1e-12, atol=0,
                               err_msg="B2: Stepper and the naive step disagree")
    del theta_check, naive_check

    th_mt, th_st = theta0.copy(), theta0.copy()
    naive = NaiveAdam(theta0, hp)
    t_copy, t_copy2, t_mt, t_st, t_naive = [], [], [], [], []
    with ThreadPoolExecutor(2) as pool, \
            Stepper(rule, th_mt, rule.init(th_mt), hp, threads=threads) as mt, \
            Stepper(rule, th_st, rule.init(th_st), hp, threads=1) as st:

        def copy2() -> None:
            """The same copy, split between two threads."""
            halves = [pool.submit(np.copyto, dst[:half], src[:half]),
                      pool.submit(np.copyto, dst[half:], src[half:])]
            for future in halves:
                future.result()

        np.copyto(dst, src)
        copy2()
        mt(g)  # warm-up
        st(g)
        naive(g)
        for _ in range(repeat):  # three samples of each but the slow naive step per repetition
            for _ in range(3):
                t_copy.append(timed(np.copyto, dst, src)[0])
                t_copy2.append(timed(copy2)[0])
                t_mt.append(timed(mt, g)[0])
                t_st.append(timed(st, g)[0])
            t_naive.append(timed(naive, g)[0])
    bw = 2 * 8 * n / min(t_copy)
    bw2 = 2 * 8 * n / min(t_copy2)
    floor = 7 * 8 * n / bw
    floor2 = 7 * 8 * n / bw2
    row = {"k": k, "d": d, "n": n, "bw": bw, "bw2": bw2, "floor": floor, "floor2": floor2,
           "t_mt": min(t_mt), "t_st": min(t_st), "t_naive": min(t_naive),
           "t_mt_median": statistics.median(t_mt), "threads": threads}
    at_target = n == 10**7
    say(f"K·D = {n:.0e} (K={k:,}, D={d:,}): copy {bw / 1e9:.1f} GB/s → floor {fmt_time(floor)}"
        f"  [2-thread copy {bw2 / 1e9:.1f} GB/s → {fmt_time(floor2)}]")
    say(f"   Stepper {threads} threads  best {fmt_time(row['t_mt'])} median "
        f"{fmt_time(row['t_mt_median'])}  = {row['t_mt'] / floor:.2f}× floor"
        + (f" (target ≤ {TARGET_B2_FLOOR:g}×) {verdict(row['t_mt'] / floor <= TARGET_B2_FLOOR)}"
           if at_target else "")
        + f"  ({row['t_mt'] / floor2:.2f}× the 2-thread floor)")
    say(f"   Stepper 1 thread   best {fmt_time(row['t_st'])}  = {row['t_st'] / floor:.2f}× floor")
    say(f"   naive NumPy step   best {fmt_time(row['t_naive'])}  = {row['t_naive'] / floor:.2f}×"
        " floor")
    return row


# --- B3 -----------------------------------------------------------------------------------------


def bench_b3(ks: list[int], steps: int, repeat: int) -> list[dict[str, Any]]:
    say(f"\n== B3: run_sweep cost as K grows (Adam, Rosenbrock D=2, {steps} steps) ==")
    run_sweep(sweep_spec(lr_grid(10, -1).tolist(), steps))  # warm-up
    times: dict[int, list[float]] = {k: [] for k in ks}
    fixed: dict[int, list[float]] = {k: [] for k in ks}
    for rep in range(repeat):
        for k in ks:
            times[k].append(timed(run_sweep, sweep_spec(lr_grid(k, rep).tolist(), steps))[0])
            fixed[k].append(timed(run_sweep, sweep_spec(lr_grid(k, rep + 0.5).tolist(), 1))[0])
    rows = []
    say(f"{'K':>7} {'total':>10} {'µs/step':>10} {'ns/trial-step':>14} {'steps=1 run':>12}")
    for k in ks:
        t = min(times[k])
        row = {"k": k, "t": t, "us_step": t / steps * 1e6, "ns_trial_step": t / steps / k * 1e9,
               "fixed": min(fixed[k])}
        rows.append(row)
        say(f"{k:>7,} {fmt_time(t):>10} {row['us_step']:>10.1f} {row['ns_trial_step']:>14.1f}"
            f" {fmt_time(row['fixed']):>12}")
    return rows


# --- report -------------------------------------------------------------------------------------


def markdown(facts: dict[str, str], b1: dict[str, Any], b2: list[dict[str, Any]],
             b3: list[dict[str, Any]], b3_steps: int, args: argparse.Namespace,
             breakdown: dict[str, float]) -> str:
    command = " ".join(["python bench/engine.py", *sys.argv[1:]])
    lines = ["## Engine (`python bench/engine.py`)", ""]
    lines.append(f"Command: `{command}`. Run: {time.strftime('%Y-%m-%d %H:%M')}, "
                 f"{'--quick, ' if args.quick else ''}best of {args.repeat_b1} repetitions "
                 "(each on a fresh, jittered grid), all ratios measured side by side in one run.")
    lines.append("")
    for name, value in facts.items():
        lines.append(f"- {name}: {value}")
    lines += ["", "| Benchmark | Measured | Compared with | Ratio | Target | Result |",
              "|---|---|---|---|---|---|"]
    name = f"B1 run_sweep, {B1_TRIALS:,} Adam trials × {B1_STEPS:,} steps, Rosenbrock D=2"
    lines.append(f"| {name} | {fmt_time(b1['t_sweep'])} (median "
                 f"{fmt_time(b1['t_sweep_median'])}) | honest floor: hand-written batched NumPy, "
                 f"{b1['floor_name']}, {fmt_time(b1['t_floor'])} (median "
                 f"{fmt_time(b1['t_floor_median'])}; {FLOOR_UFUNCS_PER_STEP} ufunc calls/step, "
                 f"{b1['t_floor'] / B1_STEPS * 1e6:.0f} µs/step) | "
                 f"{b1['speed_vs_floor']:.2f}× its speed (median "
                 f"{b1['speed_vs_floor_median']:.2f}×) | ≥ {TARGET_VS_FLOOR}× | "
                 f"{verdict(b1['speed_vs_floor'] >= TARGET_VS_FLOOR)} |")
    lines.append(f"| B1 same sweep | {fmt_time(b1['t_sweep'])} | plain-Python trial-by-trial "
                 f"loop (floats, math.sqrt) {fmt_time(b1['t_python'])} (median "
                 f"{fmt_time(b1['t_python_median'])}; {b1['python_sample']} trials, scaled) | "
                 f"{b1['speed_vs_python']:.1f}× (median {b1['speed_vs_python_median']:.1f}×) | "
                 f"≥ {TARGET_VS_PYTHON:g}× | {verdict(b1['speed_vs_python'] >= TARGET_VS_PYTHON)} |")
    lines.append(f"| B1 same sweep | {fmt_time(b1['t_sweep'])} | NumPy trial-by-trial loop "
                 f"{fmt_time(b1['t_loop'])} ({b1['loop_sample']} trials, scaled) | "
                 f"{b1['speed_vs_loop']:,.0f}× (median {b1['speed_vs_loop_median']:,.0f}×) | "
                 f"≥ {TARGET_VS_LOOP:,.0f}× | {verdict(b1['speed_vs_loop'] >= TARGET_VS_LOOP)} |")
    for form, (t_best, t_med) in b1["forms"].items():
        if form != b1["floor_name"]:
            lines.append(f"| B1 same sweep (info) | {fmt_time(b1['t_sweep'])} | the floor with "
                         f"{form} {fmt_time(t_best)} (median {fmt_time(t_med)}) | "
                         f"{t_best / b1['t_sweep']:.2f}× (median "
                         f"{t_med / b1['t_sweep_median']:.2f}×) | — | info |")
    lines.append(f"| B1 same sweep (info) | {fmt_time(b1['t_sweep'])} | the floor's code "
                 f"run one trial at a time, (1, 2) arrays {fmt_time(b1['t_loop12'])} "
                 f"({b1['loop_sample']} trials, scaled) | "
                 f"{b1['t_loop12'] / b1['t_sweep']:,.0f}× | — | info |")
    pieces = ", ".join(f"{name} {fmt_time(t)}" for name, t in b1["fixed"].items()
                       if name != "run_sweep at steps = 1")
    lines.append(f"| B1 same sweep (info) | run_sweep at steps = 1 {fmt_time(b1['t_fixed'])} "
                 f"({pieces}) | run_sweep | {b1['t_fixed'] / b1['t_sweep']:.0%} of its time "
                 "| — | info |")
    if b1.get("torch"):
        lines.append(f"| B1 same sweep | {fmt_time(b1['t_sweep'])} | torch {b1['torch']} "
                     f"optim.Adam loop, float64 {fmt_time(b1['t_torch'])} ({b1['torch_sample']} "
                     f"trials, scaled) | {b1['speed_vs_torch']:,.0f}× | "
                     f"≥ {TARGET_VS_TORCH:,.0f}× | "
                     f"{verdict(b1['speed_vs_torch'] >= TARGET_VS_TORCH)} |")
    else:
        lines.append(f"| B1 same sweep | — | torch.optim.Adam loop: skipped (torch not importable) "
                     f"| — | ≥ {TARGET_VS_TORCH:,.0f}× | — |")
    for row in b2:
        at_target = row["n"] == 10**7
        ratio = row["t_mt"] / row["floor"]
        lines.append(f"| B2 Stepper adam step, K·D = {row['n']:.0e} ({row['threads']} threads) | "
                     f"{fmt_time(row['t_mt'])} | traffic floor {fmt_time(row['floor'])} "
                     f"(7×8×K·D B at copy {row['bw'] / 1e9:.1f} GB/s) | {ratio:.2f}× floor | "
                     f"{'≤ 2×' if at_target else '—'} | "
                     f"{verdict(ratio <= TARGET_B2_FLOOR) if at_target else 'info'} |")
    lines += ["", "B2 detail (one Adam step; ratio = time / floor):", "",
              ("| K·D | K × D | copy GB/s (1 thr / 2 thr) | floor | Stepper, "
               f"{b2[0]['threads'] if b2 else ''} thr | Stepper, 1 thr | naive NumPy |"),
              "|---|---|---|---|---|---|---|"]
    for row in b2:
        f = row["floor"]
        lines.append(f"| {row['n']:.0e} | {row['k']:,} × {row['d']:,} | {row['bw'] / 1e9:.1f} / "
                     f"{row['bw2'] / 1e9:.1f} | {fmt_time(f)} | {fmt_time(row['t_mt'])} "
                     f"({row['t_mt'] / f:.2f}×) | {fmt_time(row['t_st'])} ({row['t_st'] / f:.2f}×) "
                     f"| {fmt_time(row['t_naive'])} ({row['t_naive'] / f:.2f}×) |")
    lines += ["", (f"B3: run_sweep, Adam on Rosenbrock D=2, {b3_steps} steps, as measured "
                   "(spec validation and result assembly included):"), "",
              "| K trials | total | µs / step | ns / trial-step | run_sweep at steps=1 |",
              "|---|---|---|---|---|"]
    for row in b3:
        lines.append(f"| {row['k']:,} | {fmt_time(row['t'])} | {row['us_step']:.1f} | "
                     f"{row['ns_trial_step']:.1f} | {fmt_time(row['fixed'])} |")
    if breakdown:
        lines += ["", f"B1 per-step breakdown at K = {B1_TRIALS:,}, D = 2 (info):", "",
                  "| piece | µs / call |", "|---|---|"]
        for name, t in breakdown.items():
            lines.append(f"| {name} | {t * 1e6:.1f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# B1 with other chains: adamw, lion, and adam with a warmup_cosine schedule and global-norm
# clipping, each against its own hand-written floor (the B1 sweep otherwise).

WD = 0.01          # adamw's default weight decay
LION_B1, LION_B2 = 0.9, 0.99
WARMUP, CLIP = 100, 10.0


def chain_spec(kind: str, lrs: list[float], steps: int) -> dict[str, Any]:
    spec = sweep_spec(lrs, steps)
    if kind == "adamw":
        spec["optimizer"] = "adamw"
    elif kind == "lion":
        spec["optimizer"] = "lion"
        spec["grid"] = {"lr": [lr / 100 for lr in lrs]}
    else:
        spec["schedule"] = {"name": "warmup_cosine", "warmup_steps": WARMUP}
        spec["clip"] = {"global_norm": CLIP}
    return spec


def floor_chain(kind: str, lrs: list[float], steps: int, record_every: int) -> np.ndarray:
    """The honest floor for one chain, in floor_batched's form (lr repeated to (K, 2) once,
    scalars as 0-d arrays, buffers made once, the loss every step): adamw (θ·(1 − lr·wd) with
    the factor computed once, then adam with eps outside), lion (sign of β1·m + (1−β1)·g), or
    adam with lr_t = lr·a_t from a table of the warmup-cosine factors and each row's gradient
    rescaled to norm ≤ M. Returns the curves (K, n_recorded)."""
    k = len(lrs)
    lr = np.repeat(np.array(lrs if kind != "lion" else [x / 100 for x in lrs])[:, None], 2, axis=1)
    corr1 = [np.array(1.0 - BETA1 ** t) for t in range(steps + 1)]
    corr2 = [np.array(1.0 - BETA2 ** t) for t in range(steps + 1)]
    c = {name: np.array(value) for name, value in dict(
        b1=BETA1, b2=BETA2, eps=EPS, a=ROSEN_A, b=ROSEN_B, omb1=1 - BETA1, omb2=1 - BETA2,
        two=2.0, m2=-2.0, lb1=LION_B1, lb2=LION_B2, lomb1=1 - LION_B1, lomb2=1 - LION_B2,
        one=1.0, clip=CLIP).items()}
    t_all = np.arange(1, steps + 1, dtype=np.float64)
    cos = (1.0 + np.cos(np.pi * (t_all - WARMUP) / (steps - WARMUP))) / 2.0
    factors = [np.array(f) for f in np.where(t_all <= WARMUP, t_all / WARMUP, cos)]
    decay = 1.0 - lr * WD
    theta = np.empty((k, 2))
    theta[:] = INIT
    m, v, g, tmp, mhat, lr_t, sq = (np.zeros((k, 2)) for _ in range(7))
    norm, scale = np.empty((k, 1)), np.empty((k, 1))
    x, y, gx, gy = theta[:, :1], theta[:, 1:], g[:, :1], g[:, 1:]
    d, u, bd, uu, scratch = (np.empty((k, 1)) for _ in range(5))
    curve = np.empty((n_recorded(steps, record_every), k))
    rows = [row.reshape(k, 1) for row in curve]
    multiply, subtract, add, divide, sqrt = np.multiply, np.subtract, np.add, np.divide, np.sqrt
    r = 0
    for t in range(1, steps + 1):
        multiply(x, x, out=d)
        subtract(y, d, out=d)
        subtract(c["a"], x, out=u)
        multiply(c["b"], d, out=bd)
        if (t - 1) % record_every == 0:
            f = rows[r]
            r += 1
        else:
            f = scratch
        multiply(bd, d, out=f)
        multiply(u, u, out=uu)
        add(f, uu, out=f)
        multiply(c["two"], bd, out=gy)
        multiply(gy, x, out=gx)
        add(gx, u, out=gx)
        multiply(c["m2"], gx, out=gx)
        if kind == "lion":
            multiply(m, c["lb1"], out=tmp)
            multiply(g, c["lomb1"], out=mhat)
            tmp += mhat
            np.sign(tmp, out=tmp)
            tmp *= lr
            theta -= tmp
            m *= c["lb2"]
            multiply(g, c["lomb2"], out=mhat)
            m += mhat
            continue
        if kind == "adamw":
            theta *= decay
            step_lr = lr
        else:
            multiply(g, g, out=sq)
            np.sum(sq, axis=1, keepdims=True, out=norm)
            sqrt(norm, out=norm)
            divide(c["clip"], norm, out=scale)
            np.minimum(c["one"], scale, out=scale)
            g *= scale
            multiply(lr, factors[t - 1], out=lr_t)
            step_lr = lr_t
        m *= c["b1"]
        multiply(c["omb1"], g, out=tmp)
        m += tmp
        v *= c["b2"]
        multiply(g, g, out=tmp)
        multiply(c["omb2"], tmp, out=tmp)
        v += tmp
        divide(m, corr1[t], out=mhat)
        divide(v, corr2[t], out=tmp)
        if kind == "adamw":
            sqrt(tmp, out=tmp)
            tmp += c["eps"]
        else:
            tmp += c["eps"]
            sqrt(tmp, out=tmp)
        divide(step_lr, tmp, out=tmp)
        tmp *= mhat
        theta -= tmp
    xx = theta[:, :1]
    dd = theta[:, 1:] - xx * xx
    uu = ROSEN_A - xx
    rows[r][:] = (ROSEN_B * dd) * dd + uu * uu
    return curve.T


CHAINS = {"adamw": "adamw", "lion": "lion (lr/100)",
          "schedule": "adam + warmup_cosine + global-norm clip"}


def bench_b1_chains(repeat: int) -> list[dict[str, Any]]:
    """run_sweep against each chain's floor, side by side, best and median of ``repeat``."""
    from optimizers import run_sweep

    say("\nB1 chains: 1,000 trials × 1,000 steps on Rosenbrock, run_sweep vs the hand-written floor")
    out = []
    for kind, label in CHAINS.items():
        ours, floor = [], []
        for rep in range(repeat):
            lrs = lr_grid(B1_TRIALS, rep).tolist()
            t_floor, curves = timed(floor_chain, kind, lrs, B1_STEPS, RECORD_EVERY)
            t_ours, document = timed(run_sweep, chain_spec(kind, lrs, B1_STEPS))
            finals = np.array([tr["final_loss"] if tr["final_loss"] is not None else np.nan
                               for tr in document["trials"]])
            ok = np.isfinite(finals)
            err = max_rel(finals[ok], curves[ok, -1])
            if err > 1e-9:
                raise SystemExit(f"{label}: run_sweep and the floor disagree ({err:.2g})")
            ours.append(t_ours)
            floor.append(t_floor)
        row = {"chain": label, "ours": min(ours), "floor": min(floor),
               "ratio": min(floor) / min(ours),
               "ratio_median": statistics.median(floor) / statistics.median(ours)}
        say(f"  {label:45s} run_sweep {fmt_time(row['ours'])}  floor {fmt_time(row['floor'])}  "
            f"{row['ratio']:.2f}x the floor's speed (median {row['ratio_median']:.2f}x)  "
            f"{verdict(row['ratio'] >= TARGET_VS_FLOOR)}")
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run, about 10-20 s")
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="repetitions per benchmark (default 7, --quick 2)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 7)
    if repeat < 1:
        parser.error("--repeat must be >= 1")
    args.repeat_b1 = repeat
    loop_sample, torch_sample, python_sample = (5, 2, 10) if args.quick else (20, 5, 50)
    loop_repeat = min(repeat, 1 if args.quick else 3)
    b3_steps = 500
    b3_ks = [1, 10, 100, 1_000, 10_000]
    b2_shapes = [(1_000, 1_000), (1_000, 10_000)]

    t_start = time.perf_counter()
    facts = machine_facts()
    say("gradsweep engine benchmarks" + (" (--quick)" if args.quick else ""))
    for name, value in facts.items():
        say(f"  {name}: {value}")

    b1 = bench_b1(repeat, loop_sample, loop_repeat, python_sample)
    chains = bench_b1_chains(repeat)
    breakdown = bench_b1_breakdown(max(1, min(repeat, 3)), 100 if args.quick else 300)
    b2 = bench_b2(b2_shapes, repeat)
    b3 = bench_b3(b3_ks, b3_steps, repeat)
    bench_b1_torch(b1, repeat, torch_sample, loop_repeat)

    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"\n(total wall time {time.perf_counter() - t_start:.1f} s)")
    say("\n----- 8< ----- Markdown for BENCHMARKS.md ----- 8< -----\n")
    say(markdown(facts, b1, b2, b3, b3_steps, args, breakdown))
    say("\n| B1 chain | run_sweep | honest floor | run_sweep's speed vs the floor (median) |")
    say("|---|---|---|---|")
    for row in chains:
        say(f"| {row['chain']} | {fmt_time(row['ours'])} | {fmt_time(row['floor'])} | "
            f"{row['ratio']:.2f}× ({row['ratio_median']:.2f}×) |")
    say("\n----- 8< -----")
    return 0


if __name__ == "__main__":
    sys.exit(main())
