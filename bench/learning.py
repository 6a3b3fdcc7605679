"""Benchmarks of gradsweep's model objectives: a batched Adam sweep training an MLP on digits.

Run from the project root, in the dev virtualenv::

    python bench/learning.py              # full run, about 6–7 minutes here
    python bench/learning.py --quick      # smoke run, under 30 s
    python bench/learning.py --repeat 5   # more repetitions (best-of / median over them)
    python bench/learning.py --blas-threads 0   # NumPy's default BLAS threads (see below)

Every ratio is measured side by side in one run: each repetition times the contenders one after
the other (starting with a different one each time) on a freshly jittered learning-rate grid, and
the figures are the best of the repetitions (the median is printed next to it). Timing is
``time.perf_counter``; garbage collection stays on, as in real use.

Threads: NumPy's OpenBLAS is limited to ``--blas-threads`` (default 1, with threadpoolctl) for
the whole run, and torch's intra-op threads are set to the same number. On this shared 2-core
machine, with a CI run on the other core, two OpenBLAS threads make every GEMM wait for a busy
core: the floor and run_sweep both take 2–4× longer (measured, L3) and the noise swamps the
ratios. The big square GEMM is also measured on NumPy's default threads, for information.

L1  The sweep: 100 Adam trials × 500 steps of an MLP 64-32-10 (tanh hidden layer, softmax
    cross-entropy) on scikit-learn's digits (X = pixels / 16, all 1,797 rows train: validation
    0), mini-batches of 64 rows (each epoch a permutation from ``default_rng([seed, 1])``, the
    short last batch dropped), Glorot start from ``default_rng([seed, 0])``, lr
    geomspace(1e-4, 1e-1, 100) (× 1 + 1e-6·rep), the other hyperparameters adam's defaults (eps
    inside the square root), one seed, record_every 100: the full training-set loss at steps
    0, 100, …, 500. Timed through ``optimizers.run_sweep`` — spec validation and the results
    document included — twice: as called, ``run_sweep(spec)`` (its default chunking, printed:
    ``Model.work`` against ``TARGET_CHUNK_WORK``), and with ``chunk_size=100``, the whole sweep
    as one batch. Against:

    (a) the honest floor (``Floor``): this one sweep hand-written in batched NumPy. The K trials'
        parameters live in one flat buffer in the layout the arithmetic wants — W1 side by side
        as (64, K·32), so the first layer and its gradient are one GEMM each with no copies —
        and every step writes into buffers made once: the batch rows gathered with ``np.take``,
        one softmax pass that gives the batch loss (computed every step, as a sweep needs it for
        its divergence check) and ∂loss/∂z, the row maxima over the 10 classes as 9
        ``np.maximum`` calls over strided views (order-free; ~6× faster than ``max(axis=2)``),
        the row sums in NumPy's pairwise order by hand (so they are NumPy's sums bit for bit),
        the same Adam as gradsweep's (eps inside the square root; 1 − βᵗ from NumPy's pow,
        as the engine) with lr repeated to full width once, in cache-sized blocks. The full
        training-set loss every 100 steps. The floor does the engine's arithmetic in the
        engine's order (÷ Σ, −1 at the label, ÷ B; tanh' as 1 − h·h; the same GEMM shapes):
        only data movement and repeated work are saved, because the trials with lr ≳ 0.03 are
        chaotic — a last-place difference in a few of the 1 − βᵗ (Python's pow instead of
        NumPy's, an info variant) moves their final losses by tens of percent in 500 steps.
        Checks: its final losses equal run_sweep's to rtol 1e-10 on every repetition, and its
        final parameters equal run_sweep's bit for bit (``ModelBinding.final`` wrapped to copy
        them; the recorded full-set losses, summed in other row blocks, differ in the last
        place). Three forms are timed; the fastest is the floor. Target: run_sweep ≥ 0.8× its
        speed.
    (b) ``torch.optim.Adam``, one trial at a time, float64 (``nn.Sequential`` of the same
        layers, the same start, the same batches, ``F.cross_entropy``, the full training-set
        loss every 100 steps), timed on a sample of trials and scaled to 100, at torch's intra-op
        threads = NumPy's BLAS threads (and at 1 thread if that differs), with the default
        (foreach), the for-loop and the fused Adam; the fastest is the baseline. torch puts eps
        outside the square root, so its curves are checked against run_sweep with
        ``eps_placement: "outside"``. Target: run_sweep ≥ 3× faster for the 100 trials.
    (c) the torch.func model-ensembling recipe: ``vmap(grad_and_value(loss))`` of a
        ``functional_call`` over stacked (K, …) weights, float64, with a hand-written in-place
        Adam on the stacked tensors (eps inside the square root, per-trial lr), at the same
        thread counts; the faster is reported. No target.
    Torch runs after the NumPy measurements (importing it grows the heap and starts its thread
    pool). Curves of (b) and (c) must agree with run_sweep's to rtol 1e-8 for lr ≤ 0.03; the
    chaotic trials' differences are printed.

L2  Step time as K grows (K = 1, 10, 100, 1,000, one chunk of K trials): the marginal time of a
    step, (T(3S) − T(S)) / 2S with each run recording only its first and last step, so spec
    validation, the results document and the full-set losses cancel; per step and per
    trial-step, for run_sweep and for the floor, beside the FLOP rate NumPy's BLAS reaches on
    this machine (the (64 × 64) @ (64 × 32·K) first-layer GEMM and a big square GEMM). A
    step's FLOPs are counted as 3 × 2·B·(64·32 + 32·10) per trial (forward and backward
    GEMMs; the element-wise work is not counted).

L3  Where run_sweep's time goes: a cProfile of a batched run_sweep, a per-step breakdown of its
    pieces at K = 100 (objective call, ``Network.loss_and_grad`` and its parts, the Stepper's
    Adam) beside the floor's, and two engine changes prototyped here (``optimizers/`` is not
    modified): ``ProtoLossAndGrad``, a drop-in ``Network.loss_and_grad`` (one softmax pass,
    strided-view maxima and sums, no take/put_along_axis, buffers reused; the same (f, grad)
    bit for bit, checked) and the Stepper's Adam in cache-sized blocks; run_sweep is timed with
    them patched in (``unittest.mock``) and its documents must equal the unpatched ones. Last,
    run_sweep and the floor at this run's BLAS threads against NumPy's default, for information.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import itertools
import math
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import engine  # machine facts, formatting
import numpy as np
import numpy.typing as npt

import optimizers
from optimizers import Stepper, make_rule, parse_spec, run_sweep
from optimizers.datasets import builtin
from optimizers.models import Model, ModelBinding, Network

fmt_time, say, timed, verdict = engine.fmt_time, engine.say, engine.timed, engine.verdict

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# --- the L1 sweep -------------------------------------------------------------------------------

TRIALS = 100
STEPS = 500
RECORD_EVERY = 100
BATCH = 64
HIDDEN = 32
SEED = 0
DATASET = "digits"
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # adam's defaults in optimizers.rules
DIVERGENCE = 1e12  # the spec's default divergence_threshold
CHAOTIC_LR = 0.03  # above this lr the trials' trajectories amplify rounding differences
ADAM_BLOCK = 16_384  # elements per block of the floor's Adam (128 KiB per array: L2-resident)
FULL_BLOCK = 1 << 20  # elements of the (rows, K·H) intermediate of a full-set loss block

TARGET_VS_FLOOR = 0.8  # run_sweep speed ≥ 0.8 × the floor's
TARGET_VS_TORCH = 3.0  # run_sweep ≥ 3 × faster than torch.optim one trial at a time


def lr_grid(k: int, rep: float) -> list[float]:
    """The learning rates, geomspace(1e-4, 1e-1, k), jittered by a relative 1e-6·rep."""
    out: list[float] = (np.geomspace(1e-4, 1e-1, k) * (1.0 + 1e-6 * rep)).tolist()
    return out


def sweep_spec(lrs: list[float], steps: int, record_every: int,
               optimizer: str | dict[str, Any] = "adam") -> dict[str, Any]:
    return {"objective": {"name": "mlp", "dataset": DATASET, "hidden": [HIDDEN],
                          "activation": "tanh", "batch_size": BATCH, "validation": 0.0,
                          "l2": 0.0},
            "optimizer": optimizer, "grid": {"lr": lrs}, "steps": steps,
            "record_every": record_every, "seeds": 1}


def curves_of(doc: dict[str, Any]) -> FloatArray:
    """The documents' loss curves, (trials, recorded), after checking every trial ended ok."""
    statuses = {t["status"] for t in doc["trials"]}
    if statuses != {"ok"}:
        raise SystemExit(f"run_sweep trials not all ok: {statuses}")
    return np.array([t["curve"]["loss"] for t in doc["trials"]])


def n_recorded(steps: int, record_every: int) -> int:
    return steps // record_every + 1 + (steps % record_every != 0)


def batch_indices(rows: int, batch: int, steps: int, seed: int) -> IntArray:
    """The rows of each update, (steps, batch): epoch after epoch a permutation from
    ``default_rng([seed, 1])``, the next ``batch`` rows per update, the short last batch
    dropped (``ModelBinding.batch_rows``' documented rule, written out)."""
    rng = np.random.default_rng([seed, 1])
    per_epoch = rows // batch
    out = np.empty((steps, batch), dtype=np.intp)
    order = np.empty(0, dtype=np.intp)
    for step in range(steps):
        j = step % per_epoch
        if j == 0:
            order = rng.permutation(rows)
        out[step] = order[j * batch:(j + 1) * batch]
    return out


def glorot(widths: list[int], seed: int) -> list[FloatArray]:
    """Glorot-uniform weight matrices (n_in, n_out) from ``default_rng([seed, 0])``, layer by
    layer (the biases start at 0)."""
    rng = np.random.default_rng([seed, 0])
    out = []
    for n_in, n_out in itertools.pairwise(widths):
        bound = math.sqrt(6.0 / (n_in + n_out))
        out.append(rng.uniform(-bound, bound, n_in * n_out).reshape(n_in, n_out))
    return out


def corrections(beta: float, steps: int) -> list[float]:
    """1 − βᵗ for t = 0 … steps as the engine computes it: ``1.0 - beta_array ** t`` (NumPy's
    pow, which is not always the C library's that Python's ``**`` uses)."""
    base = np.full(1, beta)
    return [float((1.0 - base ** t)[0]) for t in range(steps + 1)]


# --- (a) the floor ------------------------------------------------------------------------------


def _pairwise_plan(n: int) -> list[tuple[str, int, int]] | None:
    """NumPy's pairwise summation of n contiguous values (8 ≤ n ≤ 128: eight running sums, then
    ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the rest one by one) as a list of
    (op, a, b) on slots; None when n is outside that range."""
    if not 8 <= n <= 128:
        return None
    plan: list[tuple[str, int, int]] = []
    for i in range(8, n - n % 8, 8):
        plan += [("acc", j, i + j) for j in range(8)]
    plan += [("tree", 0, 0)]
    plan += [("tail", i, 0) for i in range(n - n % 8, n)]
    return plan


class RowSum:
    """out[k, b] = Σ_c z[k, b, c] over the short last axis, bit for bit as ``z.sum(axis=2)``
    (NumPy's pairwise order), as element-wise adds over the class columns: a reduction over a
    10-long axis costs NumPy a loop per row, 3× these adds. Checked against ``np.sum`` when
    made; ``np.sum`` it is if they differ."""

    def __init__(self, z: FloatArray, out: FloatArray) -> None:
        self.z, self.out = z, out
        n = z.shape[-1]
        self.cols = [z[..., c] for c in range(n)]
        self.plan = _pairwise_plan(n)
        self.slots = [np.empty(out.shape) for _ in range(8)] if self.plan else []
        if self.plan is not None:
            probe = np.random.default_rng(7).standard_normal(z.shape) * 10.0 ** np.arange(n)
            z[...] = probe
            self()
            if not np.array_equal(out, probe.sum(axis=-1)):
                self.plan = None

    def __call__(self) -> FloatArray:
        if self.plan is None:
            return np.sum(self.z, axis=-1, out=self.out)
        cols, r, out, add = self.cols, self.slots, self.out, np.add
        for j in range(8):
            np.copyto(r[j], cols[j])
        for op, a, b in self.plan:
            if op == "acc":
                r[a] += cols[b]
            elif op == "tree":
                add(r[0], r[1], out=r[0])
                add(r[2], r[3], out=r[2])
                add(r[0], r[2], out=r[0])
                add(r[4], r[5], out=r[4])
                add(r[6], r[7], out=r[6])
                add(r[4], r[6], out=r[4])
                add(r[0], r[4], out=out)
            else:
                out += cols[a]
        return out


def row_max(cols: list[FloatArray], out: FloatArray) -> FloatArray:
    """out = max over the columns (order-free: the same as ``max(axis=-1)``, NaN included)."""
    np.maximum(cols[0], cols[1], out=out)
    for col in cols[2:]:
        np.maximum(out, col, out=out)
    return out


class Floor:
    """The L1 sweep hand-written in batched NumPy for this one model: K trials of Adam on an
    MLP p-H-C (tanh, softmax cross-entropy), one seed, mini-batches of B rows.

    Args:
      x, y: the training set (n × p float64, class indices).
      lrs: the trials' learning rates.
      steps, record_every: updates, and every how many the full training-set loss is recorded.
      adam_block: elements per block of the Adam step (None: each operation over the whole
        buffer at once).
      numpy_reductions: the row maxima and sums with ``max``/``sum(axis=…)`` instead of
        element-wise calls over strided views.
      batch_loss: compute each step's batch loss (a sweep's divergence check needs it).
      python_pow: take 1 − βᵗ from Python's float ``**`` instead of NumPy's pow (the same
        math, a last-place difference at a few t; for the chaos demonstration only).
    """

    def __init__(self, x: FloatArray, y: npt.NDArray[np.int64], lrs: list[float], steps: int,
                 record_every: int, *, adam_block: int | None = ADAM_BLOCK,
                 numpy_reductions: bool = False, batch_loss: bool = True,
                 python_pow: bool = False) -> None:
        k = len(lrs)
        n, p = x.shape
        h, c, b = HIDDEN, int(y.max()) + 1, BATCH
        kh = k * h
        self.k, self.n, self.p, self.h, self.c, self.b = k, n, p, h, c, b
        self.x, self.y = x, y
        self.steps, self.record_every = steps, record_every
        self.numpy_reductions, self.batch_loss = numpy_reductions, batch_loss
        # θ, its gradient, Adam's m and v and the per-element lr: one flat buffer each, laid out
        # [W1 (p, K·H) | b1 (K·H) | W2 (K, H, C) | b2 (K, C)]
        sizes = [p * kh, kh, kh * c, k * c]
        self.size = sum(sizes)
        ends = list(itertools.accumulate(sizes, initial=0))

        def views(a: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
            return (a[ends[0]:ends[1]].reshape(p, kh), a[ends[1]:ends[2]],
                    a[ends[2]:ends[3]].reshape(k, h, c), a[ends[3]:ends[4]].reshape(k, c))

        self.theta, self.grad = np.empty(self.size), np.empty(self.size)
        self.w1, self.b1, self.w2, self.b2 = views(self.theta)
        self.gw1, self.gb1, self.gw2, self.gb2 = views(self.grad)
        w1, w2 = glorot([p, h, c], SEED)
        self.w1.reshape(p, k, h)[:] = w1[:, None, :]
        self.w2[:] = w2
        self.b1[:] = 0.0
        self.b2[:] = 0.0
        lr = np.empty(self.size)
        l1, lb1, l2, lb2 = views(lr)
        column = np.array(lrs, dtype=np.float64)
        l1.reshape(p, k, h)[:] = column[None, :, None]
        lb1.reshape(k, h)[:] = column[:, None]
        l2[:] = column[:, None, None]
        lb2[:] = column[:, None]
        self.m, self.v = np.zeros(self.size), np.zeros(self.size)
        block = adam_block or self.size
        scratch = (np.empty(min(block, self.size)), np.empty(min(block, self.size)))
        self.blocks = []
        for lo in range(0, self.size, block):
            hi = min(lo + block, self.size)
            self.blocks.append((self.grad[lo:hi], self.m[lo:hi], self.v[lo:hi],
                                self.theta[lo:hi], lr[lo:hi], scratch[0][:hi - lo],
                                scratch[1][:hi - lo]))
        if python_pow:
            c1 = [1.0 - BETA1 ** t for t in range(steps + 1)]
            c2 = [1.0 - BETA2 ** t for t in range(steps + 1)]
        else:
            c1, c2 = corrections(BETA1, steps), corrections(BETA2, steps)
        self.ops1 = [None if v == 1.0 else np.array(v) for v in c1]  # m̂ = m once 1 − β1ᵗ is 1
        self.ops2 = [np.array(v) for v in c2]
        self.consts = [np.array(v) for v in (BETA1, BETA2, 1.0 - BETA1, 1.0 - BETA2, EPS)]
        # the batches, their labels' one-hot rows and the labels' places in a flat (B·C) row
        self.rows = batch_indices(n, b, steps, SEED)
        labels = y[self.rows]
        self.onehot = np.eye(c)[labels]
        self.flat = np.arange(b) * c + labels
        self.batch_b = np.array(float(b))
        self.inv_b = np.array(1.0 / b)
        # the step's buffers
        self.xb = np.empty((b, p))
        self.xbt = self.xb.T
        self.a1 = np.empty((b, kh))
        self.a1_kbh = self.a1.reshape(b, k, h).transpose(1, 0, 2)  # (K, B, H) view
        self.a1_khb = self.a1_kbh.transpose(0, 2, 1)
        self.d1 = np.empty((b, kh))
        self.d1_kbh = self.d1.reshape(b, k, h).transpose(1, 0, 2)
        self.t1 = np.empty((b, kh))
        self.z = np.empty((k, b, c))
        self.zf = self.z.reshape(k, b * c)
        self.zcols = [self.z[:, :, j] for j in range(c)]
        self.zrows = [self.z[:, j, :] for j in range(b)]
        self.top = np.empty((k, b))
        self.top3 = self.top[:, :, None]
        self.s = np.empty((k, b))
        self.s3 = self.s[:, :, None]
        self.picked = np.empty((k, b))
        self.w2t = self.w2.transpose(0, 2, 1)
        self.b1v, self.b2v = self.b1, self.b2[:, None, :]
        self.rowsum = RowSum(self.z, self.s)
        self.losses = np.empty((steps, k))
        self._full: dict[int, tuple[Any, ...]] = {}

    def run(self) -> FloatArray:
        """Train; return the curves (K, recorded): the full training-set loss at 0, r, 2r, … and
        the last step."""
        curve = np.empty((n_recorded(self.steps, self.record_every), self.k))
        r = 0
        for t in range(self.steps):
            if t % self.record_every == 0:
                curve[r] = self.full_loss()
                r += 1
            self.loss_and_grad(t)
            self.adam(t + 1)
            if self.batch_loss and ((t + 1) % self.record_every == 0 or t + 1 == self.steps):
                window = self.losses[t + 1 - ((t % self.record_every) + 1):t + 1]
                if not (np.isfinite(window).all() and window.max() <= DIVERGENCE):
                    raise RuntimeError("a trial diverged: this floor is written for a sweep "
                                       "where none does")
        curve[r] = self.full_loss()
        return curve.T

    def loss_and_grad(self, t: int) -> None:
        """Forward and backward over step t's batch: the batch loss into ``losses[t]``, the
        gradient into ``grad``."""
        z, top, s = self.z, self.top, self.s
        np.take(self.x, self.rows[t], axis=0, out=self.xb)
        np.matmul(self.xb, self.w1, out=self.a1)  # the first layer: one GEMM for all K
        self.a1 += self.b1v
        np.tanh(self.a1, out=self.a1)
        np.matmul(self.a1_kbh, self.w2, out=z)
        z += self.b2v
        if self.numpy_reductions:
            np.max(z, axis=2, out=top)
        else:
            row_max(self.zcols, top)
        z -= self.top3
        if self.batch_loss:
            np.take(self.zf, self.flat[t], axis=1, out=self.picked)  # z_y − max
        np.exp(z, out=z)
        self.rowsum()
        if self.batch_loss:
            loss = self.losses[t]
            np.log(s, out=top)
            top -= self.picked  # log Σ e^(z − max) − (z_y − max)
            np.sum(top, axis=1, out=loss)
            loss /= self.batch_b
        z /= self.s3  # ∂loss/∂z = (softmax − onehot)/B, in the engine's order
        z -= self.onehot[t]
        z /= self.batch_b
        if self.numpy_reductions:
            np.sum(z, axis=1, out=self.gb2)
        else:
            gb2 = self.gb2
            np.copyto(gb2, self.zrows[0])
            for row in self.zrows[1:]:
                gb2 += row
        np.matmul(self.a1_khb, z, out=self.gw2)
        np.matmul(z, self.w2t, out=self.d1_kbh)
        np.multiply(self.a1, self.a1, out=self.t1)
        np.subtract(1.0, self.t1, out=self.t1)
        self.d1 *= self.t1
        np.sum(self.d1, axis=0, out=self.gb1)
        np.matmul(self.xbt, self.d1, out=self.gw1)  # the first layer's gradient: one GEMM

    def adam(self, t: int) -> None:
        """Update t of gradsweep's adam, block by block: m ← β1 m + (1−β1) g; v ← β2 v + (1−β2)
        g²; θ ← θ − lr/√(v/(1−β2ᵗ) + eps) · m/(1−β1ᵗ)."""
        beta1, beta2, omb1, omb2, eps = self.consts
        c1, c2 = self.ops1[t], self.ops2[t]
        multiply, divide, sqrt = np.multiply, np.divide, np.sqrt
        for g, m, v, theta, lr, a, b in self.blocks:
            m *= beta1
            multiply(omb1, g, out=a)
            m += a
            v *= beta2
            multiply(g, g, out=a)
            multiply(omb2, a, out=a)
            v += a
            if c1 is None:
                mhat = m
            else:
                divide(m, c1, out=b)
                mhat = b
            divide(v, c2, out=a)
            a += eps
            sqrt(a, out=a)
            divide(lr, a, out=a)
            a *= mhat
            theta -= a

    def full_loss(self) -> FloatArray:
        """The mean loss over the whole training set, (K,), in blocks of rows."""
        k, h, c, kh = self.k, self.h, self.c, self.k * self.h
        rows = max(1, min(self.n, FULL_BLOCK // kh))
        total = np.zeros(k)
        for lo in range(0, self.n, rows):
            hi = min(lo + rows, self.n)
            r = hi - lo
            if r not in self._full:
                a = np.empty((r, kh))
                z = np.empty((k, r, c))
                self._full[r] = (a, a.reshape(r, k, h).transpose(1, 0, 2), z,
                                 [z[:, :, j] for j in range(c)], np.empty((k, r)),
                                 np.empty((k, r)), np.empty((k, r)))
            a, a_kbh, z, cols, top, s, picked = self._full[r]
            np.matmul(self.x[lo:hi], self.w1, out=a)
            a += self.b1v
            np.tanh(a, out=a)
            np.matmul(a_kbh, self.w2, out=z)
            z += self.b2v
            row_max(cols, top)
            np.take(z.reshape(k, r * c), np.arange(r) * c + self.y[lo:hi], axis=1, out=picked)
            z -= top[:, :, None]
            np.exp(z, out=z)
            np.sum(z, axis=2, out=s)
            np.log(s, out=s)
            s += top  # (log Σ e^(z − max) + max) − z_y, the engine's order: a loss near 0 is
            s -= picked  # a difference of O(|z|) numbers, so the order shows in its last places
            total += s.sum(axis=1)
        out: FloatArray = total / self.n
        return out


def floor_run(x: FloatArray, y: npt.NDArray[np.int64], lrs: list[float], steps: int,
              record_every: int, **form: Any) -> FloatArray:
    """Build the floor (its buffers, start, batches) and train: its curves (K, recorded)."""
    return Floor(x, y, lrs, steps, record_every, **form).run()


FLOOR_FORMS: dict[str, dict[str, Any]] = {
    "Adam in 16k-element blocks, reductions as strided element-wise calls": {},
    "Adam over whole buffers, reductions as strided element-wise calls": {"adam_block": None},
    "Adam in 16k-element blocks, reductions with max/sum(axis=…)": {"numpy_reductions": True},
}
FLOOR_INFO: dict[str, dict[str, Any]] = {
    "the first form without the per-step batch loss": {"batch_loss": False},
}


# --- L1 -----------------------------------------------------------------------------------------


def training_set() -> tuple[FloatArray, npt.NDArray[np.int64]]:
    data = builtin(DATASET)
    return data.X, data.y  # type: ignore[return-value]


def max_rel(a: FloatArray, b: FloatArray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b))) if a.size else 0.0


def bench_l1(repeat: int, steps: int, record_every: int) -> dict[str, Any]:
    k = TRIALS
    say(f"\n== L1: {k} Adam trials × {steps} steps, MLP 64-{HIDDEN}-10 tanh on {DATASET}, "
        f"batch {BATCH}, record_every {record_every} ==")
    x, y = training_set()
    warm = lr_grid(k, -1)
    spec = parse_spec(sweep_spec(warm, steps, record_every))
    bounds = optimizers.chunk_bounds(spec)
    say(f"run_sweep(spec)'s default chunking: {len(bounds)} chunks of {bounds[0][1]} trial(s) "
        f"(Model.work rates a trial at {spec.objective.work(1, steps, spec.curve_length):.2g})")
    run_sweep(sweep_spec(warm, 20, 10), chunk_size=k)  # warm-up: imports, the dataset, BLAS
    forms = {**FLOOR_FORMS, **FLOOR_INFO}
    for form in forms.values():
        floor_run(x, y, warm, 20, 10, **form)
    sweeps = {"run_sweep(spec)": None, "run_sweep(spec, chunk_size=100)": k}
    contenders = [*sweeps, *forms]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    worst_final, worst_curve, by_chunking = 0.0, 0.0, 0.0
    for rep in range(repeat):
        lrs = lr_grid(k, rep)
        body = sweep_spec(lrs, steps, record_every)
        order = contenders[rep % len(contenders):] + contenders[:rep % len(contenders)]
        curves: dict[str, FloatArray] = {}
        for name in order:
            if name in sweeps:
                t, doc = timed(functools.partial(run_sweep, body, chunk_size=sweeps[name]))
                curves[name] = curves_of(doc)
            else:
                t, curves[name] = timed(functools.partial(floor_run, **forms[name]), x, y, lrs,
                                        steps, record_every)
            times[name].append(t)
        swept = curves["run_sweep(spec)"]
        by_chunking = max(by_chunking, max_rel(swept, curves["run_sweep(spec, chunk_size=100)"]))
        if by_chunking > 1e-13:
            raise SystemExit(f"L1: run_sweep's curves depend on its chunking ({by_chunking:.1e})")
        for name in forms:
            np.testing.assert_allclose(curves[name][:, -1], swept[:, -1], rtol=1e-10, atol=0,
                                       err_msg=f"L1: the floor ({name}) and run_sweep disagree")
            worst_final = max(worst_final, max_rel(curves[name][:, -1], swept[:, -1]))
            worst_curve = max(worst_curve, max_rel(curves[name], swept))
    best = {name: min(ts) for name, ts in times.items()}
    median = {name: statistics.median(ts) for name, ts in times.items()}
    floor_name = min(FLOOR_FORMS, key=lambda name: best[name])
    t_floor = best[floor_name]
    for name in sweeps:
        say(f"{name:34s} best {fmt_time(best[name])}  median {fmt_time(median[name])}  "
            f"({best[name] / steps * 1e3:.2f} ms/step overall)")
    for name in forms:
        say(f"floor, {name:70s} best {fmt_time(best[name])}  median {fmt_time(median[name])}"
            + ("  ← the floor" if name == floor_name else "")
            + ("  (info: less than a sweep computes)" if name in FLOOR_INFO else ""))
    say(f"floor vs run_sweep: final losses max rel diff {worst_final:.1e} (target ≤ 1e-10, every "
        f"rep, every form); whole curves {worst_curve:.1e}")
    say(f"run_sweep(spec) vs run_sweep(spec, chunk_size=100): curves max rel diff "
        f"{by_chunking:.1e} (a trial's numbers must not depend on its chunk)")
    ratios = {}
    for name in sweeps:
        ratios[name] = (t_floor / best[name], median[floor_name] / median[name])
        say(f"{name} speed / floor speed = {ratios[name][0]:.2f}× best, {ratios[name][1]:.2f}× "
            f"median  (target ≥ {TARGET_VS_FLOOR}×) {verdict(ratios[name][0] >= TARGET_VS_FLOOR)}")
    say(f"   floor: {t_floor / steps * 1e3:.2f} ms/step overall; run_sweep(spec, chunk_size=100) "
        f"is {best['run_sweep(spec, chunk_size=100)'] / t_floor:.1f}× the floor's time, "
        f"run_sweep(spec) {best['run_sweep(spec)'] / t_floor:.1f}×")
    return {"times": best, "medians": median, "floor_name": floor_name, "ratios": ratios,
            "worst_final": worst_final, "worst_curve": worst_curve, "steps": steps,
            "by_chunking": by_chunking,
            "chunks": len(bounds), "chunk_trials": bounds[0][1],
            "work": spec.objective.work(1, steps, spec.curve_length)}


def engine_rows(floor: Floor) -> FloatArray:
    """The floor's parameters in θ's (K, D) layout: per trial W1 (p × H, row-major), b1, W2, b2."""
    k, p, h, c = floor.k, floor.p, floor.h, floor.c
    return np.concatenate([floor.w1.reshape(p, k, h).transpose(1, 0, 2).reshape(k, p * h),
                           floor.b1.reshape(k, h), floor.w2.reshape(k, h * c), floor.b2], axis=1)


def exactness_check(steps: int, record_every: int) -> dict[str, Any]:
    """Does the floor train exactly as run_sweep does? Its final parameters against the ones
    run_sweep's chunk ends with (``ModelBinding.final`` is wrapped to copy them), bit for bit;
    and, for the chaos, the floor with 1 − βᵗ from Python's ``**`` (the same math; a last-place
    difference at a few t) against run_sweep: how far rounding alone moves the final losses."""
    x, y = training_set()
    lrs = lr_grid(TRIALS, 77)
    final = ModelBinding.final
    seen: list[FloatArray] = []

    def keep(self: ModelBinding, params: FloatArray, rows: IntArray, step: int) -> FloatArray:
        seen.append(params.copy())
        return final(self, params, rows, step)

    with mock.patch.object(ModelBinding, "final", keep):
        swept = curves_of(run_sweep(sweep_spec(lrs, steps, record_every), chunk_size=TRIALS))
    floor = Floor(x, y, lrs, steps, record_every)
    floor.run()
    ours = engine_rows(floor)
    theirs = seen[-1]
    out: dict[str, Any] = {"bitwise": bool(np.array_equal(ours, theirs)),
                           "param_diff": float(np.max(np.abs(ours - theirs)))}
    table = corrections(BETA2, steps)
    out["pow_differs"] = sum(1.0 - BETA2 ** t != table[t] for t in range(steps + 1))
    out["pow_differs"] += sum(1.0 - BETA1 ** t != v for t, v in enumerate(corrections(BETA1,
                                                                                     steps)))
    other = floor_run(x, y, lrs, steps, record_every, python_pow=True)
    calm = np.array(lrs) <= CHAOTIC_LR
    out.update(calm=max_rel(other[calm, -1], swept[calm, -1]),
               chaotic=max_rel(other[~calm, -1], swept[~calm, -1]), n_chaotic=int((~calm).sum()))
    say(f"   the floor's final parameters equal run_sweep's bit for bit: "
        f"{'yes' if out['bitwise'] else 'NO'} (max abs diff {out['param_diff']:.1e})")
    say(f"   (info: the floor with 1 − βᵗ from Python's ** — {out['pow_differs']} of the "
        f"{2 * (steps + 1)} values differ from NumPy's pow in the last place — vs run_sweep: "
        f"final losses max rel diff {out['calm']:.1e} for lr ≤ {CHAOTIC_LR}, "
        f"{out['chaotic']:.1e} for the {out['n_chaotic']} trials above)")
    return out


# --- L2 -----------------------------------------------------------------------------------------


def step_flops(k: int) -> float:
    """FLOPs of a training step, counted as 3 × 2·B·(64·32 + 32·10) per trial (forward and
    backward GEMMs)."""
    return 3 * 2 * BATCH * (64 * HIDDEN + HIDDEN * 10) * k


def gemm_rate(m: int, kk: int, n: int, repeat: int) -> float:
    """Best FLOP rate of an (m × kk) @ (kk × n) float64 GEMM into a buffer made once."""
    rng = np.random.default_rng(m * n)
    a, b, out = rng.random((m, kk)), rng.random((kk, n)), np.empty((m, n))
    np.matmul(a, b, out=out)
    flops = 2.0 * m * kk * n
    calls = max(1, min(200, int(2e8 / flops)))
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            np.matmul(a, b, out=out)
        best = min(best, (time.perf_counter() - t0) / calls)
    return flops / best


def _numpy_blas() -> dict[str, Any] | None:
    """threadpoolctl's record of NumPy's own BLAS (SciPy, loaded by scikit-learn, has another)."""
    with contextlib.suppress(Exception):  # threadpoolctl comes with scikit-learn
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

        home = os.path.dirname(os.path.dirname(np.__file__))
        for pool in threadpool_info():
            if pool.get("user_api") == "blas" and os.path.basename(
                    os.path.dirname(pool["filepath"])) == "numpy.libs" and pool[
                    "filepath"].startswith(home):
                return pool  # type: ignore[no-any-return]
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return pool  # type: ignore[no-any-return]
    return None


def blas_threads() -> str:
    pool = _numpy_blas()
    return f"{pool['internal_api']} {pool['num_threads']}" if pool else "unknown"


def numpy_threads() -> int:
    """The threads NumPy's BLAS runs on now."""
    pool = _numpy_blas()
    return int(pool["num_threads"]) if pool else os.cpu_count() or 1


def blas_limit(threads: int) -> contextlib.AbstractContextManager[Any]:
    """Limit NumPy's BLAS to ``threads`` threads inside the block (0: leave it alone)."""
    if threads <= 0:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        say("threadpoolctl is not importable: NumPy's BLAS threads are left as they are")
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")  # type: ignore[no-any-return]


def bench_l2(ks: list[int], steps: dict[int, int], repeat: int, square: int,
             default_threads: int) -> dict[str, Any]:
    say("\n== L2: the step as K grows (one chunk of K trials; marginal time per step) ==")
    x, y = training_set()
    rows: list[dict[str, Any]] = []
    for k in ks:
        s1 = steps[k]
        s3 = 3 * s1
        lrs = lr_grid(k, 0)
        run_sweep(sweep_spec(lrs, 2, 2), chunk_size=k)  # warm-up at this size
        floor_run(x, y, lrs, 2, 2)
        t: dict[str, list[float]] = {"sweep1": [], "sweep3": [], "floor1": [], "floor3": []}
        for rep in range(repeat):
            lrs = lr_grid(k, rep)
            jobs: list[tuple[str, Callable[[], Any]]] = [
                ("sweep1", functools.partial(run_sweep, sweep_spec(lrs, s1, s1), chunk_size=k)),
                ("sweep3", functools.partial(run_sweep, sweep_spec(lrs, s3, s3), chunk_size=k)),
                ("floor1", functools.partial(floor_run, x, y, lrs, s1, s1)),
                ("floor3", functools.partial(floor_run, x, y, lrs, s3, s3))]
            for name, job in jobs[rep % 4:] + jobs[:rep % 4]:
                t[name].append(timed(job)[0])
        sweep_step = max(1e-9, (min(t["sweep3"]) - min(t["sweep1"])) / (s3 - s1))
        floor_step = max(1e-9, (min(t["floor3"]) - min(t["floor1"])) / (s3 - s1))
        rate = gemm_rate(BATCH, 64, HIDDEN * k, repeat + 2)
        row = {"k": k, "s1": s1, "s3": s3, "sweep_step": sweep_step, "floor_step": floor_step,
               "sweep_total": min(t["sweep3"]), "gemm_rate": rate,
               "sweep_rate": step_flops(k) / sweep_step, "floor_rate": step_flops(k) / floor_step}
        rows.append(row)
        say(f"K={k:>5,}: run_sweep {sweep_step * 1e3:8.3f} ms/step ({sweep_step / k * 1e6:7.1f} µs "
            f"per trial-step, {row['sweep_rate'] / 1e9:5.2f} GFLOP/s); floor "
            f"{floor_step * 1e3:8.3f} ms/step ({floor_step / k * 1e6:7.1f} µs/trial-step, "
            f"{row['floor_rate'] / 1e9:5.2f} GFLOP/s); run_sweep/floor time "
            f"{sweep_step / floor_step:5.2f}×; GEMM (64×64)@(64×{HIDDEN * k:,}) "
            f"{rate / 1e9:5.1f} GFLOP/s  [steps {s1} and {s3}]")
    threads = numpy_threads()
    big = gemm_rate(square, square, square, max(2, repeat))
    say(f"big square GEMM ({square}×{square})@({square}×{square}): {big / 1e9:.1f} GFLOP/s "
        f"on {threads} BLAS thread(s)")
    big_default = None
    if default_threads != threads:
        with blas_limit(default_threads):
            big_default = gemm_rate(square, square, square, max(2, repeat))
        say(f"   (info: the same GEMM on NumPy's default {default_threads} threads: "
            f"{big_default / 1e9:.1f} GFLOP/s)")
    return {"rows": rows, "big": big, "square": square, "threads": threads,
            "big_default": big_default, "default_threads": default_threads}


# --- L3: where the time goes, and prototypes ----------------------------------------------------


class ProtoLossAndGrad:
    """A prototype of a faster ``Network.loss_and_grad`` for one tanh hidden layer and a
    softmax output (anything else goes to the engine's own): the same (f, grad) bit for bit.

    Written against an earlier engine (which took the softmax twice and used the side-by-side
    GEMM with its copies; the engine now takes one softmax pass and batched matmuls). What it
    changes: one softmax pass for the batch loss and ∂loss/∂z; the row maxima and sums over the
    classes as element-wise calls over strided views (``row_max``, ``RowSum``), not reductions
    over a 10-long axis; the label subtracted as a one-hot row; the back-propagated δ written
    straight into the (B, K·H) side-by-side layout the first layer's gradient GEMM reads; every
    buffer, the gradient included, made once per (K, B) and reused (the runner reads the
    gradient before the next call). It keeps a copy of W1 into the side-by-side layout and of
    its gradient back into θ's rows: θ's (K, D) layout needs them.
    """

    def __init__(self) -> None:
        self.original = Network.loss_and_grad
        self.cache: dict[tuple[int, int, int], dict[str, Any]] = {}

    def __call__(self, net: Network, theta: FloatArray, x: FloatArray,
                 y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        if (net.output != "softmax" or net.l2 or net.activation != "tanh"
                or len(net.layers) != 2):
            return self.original(net, theta, x, y)
        k, n = len(theta), len(x)
        (p, h, w1o, b1o), (_, c, w2o, b2o) = net.layers
        buf = self.cache.get((id(net), k, n))
        if buf is None:
            buf = self.cache[(id(net), k, n)] = self._buffers(net, k, n)
        side, a1, a1_kbh, d1, d1_kbh, t1, z, top, s, rowsum, grad, eye = (
            buf[name] for name in ("side", "a1", "a1_kbh", "d1", "d1_kbh", "t1", "z", "top",
                                   "s", "rowsum", "grad", "eye"))
        np.copyto(side.reshape(p, k, h), theta[:, w1o:w1o + p * h].reshape(k, p, h)
                  .transpose(1, 0, 2))
        np.matmul(x, side, out=a1)
        a1_kbh += theta[:, b1o:b1o + h][:, None, :]
        np.tanh(a1, out=a1)
        w2 = theta[:, w2o:w2o + h * c].reshape(k, h, c)
        np.matmul(a1_kbh, w2, out=z)
        z += theta[:, b2o:b2o + c][:, None, :]
        row_max(buf["zcols"], top)
        picked = np.take(z.reshape(k, n * c), np.arange(n) * c + y, axis=1)  # z_y
        z -= top[:, :, None]
        np.exp(z, out=z)
        rowsum()
        lse = np.log(s)
        lse += top
        lse -= picked
        f: FloatArray = lse.mean(axis=1)  # the engine's (log Σ + max − z_y).mean
        z /= s[:, :, None]
        z -= eye[y]
        z /= n
        np.sum(z, axis=1, out=grad[:, b2o:b2o + c])
        np.matmul(a1_kbh.transpose(0, 2, 1), z, out=grad[:, w2o:w2o + h * c].reshape(k, h, c))
        np.matmul(z, w2.transpose(0, 2, 1), out=d1_kbh)
        np.multiply(a1, a1, out=t1)
        np.subtract(1.0, t1, out=t1)
        d1 *= t1
        np.sum(d1, axis=0, out=buf["gb1"])
        grad[:, b1o:b1o + h] = buf["gb1"].reshape(k, h)
        np.matmul(x.T, d1, out=side)  # side now holds W1's gradient, side by side
        grad[:, w1o:w1o + p * h].reshape(k, p, h)[:] = side.reshape(p, k, h).transpose(1, 0, 2)
        return f, grad

    @staticmethod
    def _buffers(net: Network, k: int, n: int) -> dict[str, Any]:
        (p, h, _, _), (_, c, _, _) = net.layers
        a1, d1 = np.empty((n, k * h)), np.empty((n, k * h))
        z, s = np.empty((k, n, c)), np.empty((k, n))
        return {"side": np.empty((p, k * h)), "a1": a1,
                "a1_kbh": a1.reshape(n, k, h).transpose(1, 0, 2), "d1": d1,
                "d1_kbh": d1.reshape(n, k, h).transpose(1, 0, 2), "t1": np.empty((n, k * h)),
                "z": z, "zcols": [z[:, :, j] for j in range(c)], "top": np.empty((k, n)),
                "s": s, "rowsum": RowSum(z, s), "grad": np.empty((k, net.dim)),
                "gb1": np.empty(k * h), "eye": np.eye(c)}


class BlockedStepper(Stepper):
    """The engine's Stepper with its Adam in ``ADAM_BLOCK``-element blocks at any K·D (the
    engine blocks only above 4 × 131,072 elements; this sweep's 241,000 run whole), on one
    thread."""

    def __init__(self, rule: Any, params: FloatArray, state: Any, hp: Any,
                 threads: int = 1, block: int = ADAM_BLOCK) -> None:
        super().__init__(rule, params, state, hp, threads=1, block=block)


@contextlib.contextmanager
def prototype(loss_and_grad: bool, stepper: bool) -> Iterator[None]:
    """Patch the prototypes into the engine for the duration (nothing is written to disk)."""
    with contextlib.ExitStack() as stack:
        if loss_and_grad:
            proto = ProtoLossAndGrad()

            def patched(self: Network, theta: FloatArray, x: FloatArray,
                        y: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
                return proto(self, theta, x, y)

            stack.enter_context(mock.patch.object(Network, "loss_and_grad", patched))
        if stepper:
            stack.enter_context(mock.patch("optimizers.runner.Stepper", BlockedStepper))
        yield


def check_proto() -> bool:
    """Whether ProtoLossAndGrad's (f, grad) equal the engine's bit for bit, at several points
    (the prototype was written against an earlier engine: a change of the engine's arithmetic
    makes it a different computation, and it is then not timed)."""
    spec = parse_spec(sweep_spec(lr_grid(TRIALS, 0), 10, 10))
    model = spec.objective
    assert isinstance(model, Model)
    net = model.network
    x, y = training_set()
    rng = np.random.default_rng(5)
    proto = ProtoLossAndGrad()
    for scale in (0.0, 0.3, 3.0):
        theta = model.start(0) + scale * rng.standard_normal((TRIALS, net.dim))
        rows = rng.permutation(len(x))[:BATCH]
        f0, g0 = net.loss_and_grad(theta, x[rows], y[rows])
        f1, g1 = proto(net, theta, x[rows], y[rows])
        if not (np.array_equal(f0, f1) and np.array_equal(g0, g1)):
            return False
    return True


def per_call(fn: Callable[[], Any], calls: int, repeat: int) -> float:
    """Best-of-``repeat`` mean time of ``calls`` calls of ``fn``."""
    fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def breakdown(calls: int, repeat: int) -> dict[str, float]:
    """Per-call times of the pieces of a batched run_sweep step at K = 100, and the floor's."""
    k = TRIALS
    x, y = training_set()
    spec = parse_spec(sweep_spec(lr_grid(k, 0), 200, 100))
    model = spec.objective
    assert isinstance(model, Model)
    net = model.network
    rng = np.random.default_rng(3)
    theta = model.start(0) + 0.1 * rng.standard_normal((k, net.dim))
    rows = np.arange(k)
    binding = ModelBinding(model, [SEED] * k, [0, 100, 200])
    picked = binding.batch_rows(SEED, 1)
    xb, yb = x[picked], y[picked]
    outs = net.forward(theta, xb)
    zout = outs[-1]
    loss = np.empty((k, 1))
    rule = make_rule("adam")
    hp = rule.broadcast({"lr": np.array(lr_grid(k, 0))}, k)
    g = rng.standard_normal((k, net.dim)) * 1e-3
    proto = ProtoLossAndGrad()
    floor = Floor(x, y, lr_grid(k, 0), 200, 100)
    out: dict[str, float] = {}
    evaluate = binding.evaluator(theta, rows, 1)  # step 1 is not a recorded step

    def one_evaluate() -> None:
        nonlocal evaluate
        evaluate(loss)
        evaluate = binding.evaluator(theta, rows, 1)

    pieces: list[tuple[str, Callable[[], Any]]] = [
        ("engine: ModelBinding.evaluator's evaluate (the runner's objective call)",
         one_evaluate),
        ("engine:   Network.loss_and_grad", lambda: net.loss_and_grad(theta, xb, yb)),
        ("engine:     forward (batched matmuls over θ's views)", lambda: net.forward(theta, xb)),
        ("engine:     _loss_and_delta (one softmax pass)", lambda: net._loss_and_delta(
            zout.copy(), yb)),
        ("(info) a W1 side-by-side copy, as the floor's layout avoids", lambda: net.weights(
            theta, 0).transpose(1, 0, 2).reshape(64, k * HIDDEN)),
        ("engine:   batch_rows + _groups (per-step Python)", lambda: (
            binding.batch_rows(SEED, 1), binding._groups(rows))),
        ("engine: Network.loss, the full training set (a recorded step)",
         lambda: net.loss(theta, x, y)),
        ("floor: the full training-set loss (a recorded step)", floor.full_loss),
        ("prototype: ProtoLossAndGrad", lambda: proto(net, theta, xb, yb)),
        ("floor: forward + backward (loss_and_grad)", lambda: floor.loss_and_grad(1)),
    ]
    for name, fn in pieces:
        slow = "full training set" in name  # about 20 steps' work: fewer calls
        out[name] = per_call(fn, max(2, calls // 20) if slow else calls, repeat)
    steppers = [("engine: Stepper(adam).advance, default (whole arrays)", {}),
                (f"prototype: Stepper, {ADAM_BLOCK:,}-element blocks, 1 thread",
                 {"block": ADAM_BLOCK, "threads": 1}),
                (f"prototype: Stepper, {ADAM_BLOCK:,}-element blocks, 2 threads",
                 {"block": ADAM_BLOCK, "threads": 2})]
    with np.errstate(all="ignore"):
        for name, kwargs in steppers:
            params = theta.copy()
            with Stepper(rule, params, rule.init(params), hp, **kwargs) as stepper:
                out[name] = per_call(functools.partial(stepper.advance, g), calls, repeat)
    floor.grad[:] = rng.standard_normal(floor.size) * 1e-3
    out["floor: Adam (16k-element blocks)"] = per_call(functools.partial(floor.adam, 1), calls,
                                                       repeat)
    say(f"-- per-step pieces at K = {k} (best of {repeat} × {calls} calls) --")
    for name, t in out.items():
        say(f"   {name:72s} {t * 1e6:8.1f} µs")
    return out


def profile_sweep(steps: int, top: int) -> str:
    """cProfile of a batched run_sweep (chunk_size=100): the top functions by own time."""
    body = sweep_spec(lr_grid(TRIALS, 31), steps, RECORD_EVERY)
    profiler = cProfile.Profile()
    profiler.enable()
    run_sweep(body, chunk_size=TRIALS)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    table = "\n".join(lines[start:start + top + 1])
    say(f"-- cProfile of run_sweep(spec, chunk_size=100) at {steps} steps, top {top} by own time "
        f"(ufunc and matmul time counts as their caller's) --")
    say(table.replace(str(optimizers.__file__).rsplit("/", 2)[0] + "/", ""))
    return table


def bench_prototypes(repeat: int, steps: int) -> dict[str, Any]:
    """run_sweep(chunk_size=100) as it is and with the prototypes patched in, side by side."""
    say(f"\n-- prototypes in run_sweep(spec, chunk_size=100), {steps} steps (info) --")
    if not check_proto():
        say("   skipped: ProtoLossAndGrad no longer computes the engine's numbers bit for bit "
            "(the engine's arithmetic changed since it was written)")
        return {}
    k = TRIALS
    x, y = training_set()
    variants = {"engine as it is": (False, False),
                "ProtoLossAndGrad": (True, False),
                "ProtoLossAndGrad + Adam in 16k-element blocks": (True, True)}
    times: dict[str, list[float]] = {name: [] for name in [*variants, "floor"]}
    for rep in range(repeat):
        lrs = lr_grid(k, 200 + rep)
        body = sweep_spec(lrs, steps, RECORD_EVERY)
        trials: dict[str, Any] = {}
        names = list(times)
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            if name == "floor":
                times[name].append(timed(floor_run, x, y, lrs, steps, RECORD_EVERY)[0])
                continue
            with prototype(*variants[name]):
                t, doc = timed(functools.partial(run_sweep, body, chunk_size=k))
            times[name].append(t)
            trials[name] = doc["trials"]
        if any(trials[name] != trials["engine as it is"] for name in variants):
            raise SystemExit("L3: a prototype changed run_sweep's results")
    best = {name: min(ts) for name, ts in times.items()}
    for name, t in best.items():
        say(f"   {name:50s} {fmt_time(t):>9}  speed / floor {best['floor'] / t:.2f}×  "
            f"(vs engine as it is: {best['engine as it is'] / t:.2f}× faster)")
    say("   (results documents equal to the engine's, every rep)")
    return {"times": best, "steps": steps}


def bench_threads(repeat: int, steps: int, default_threads: int) -> dict[str, Any]:
    """run_sweep(chunk_size=100) and the floor on this run's BLAS threads and on NumPy's
    default, side by side (info: what the thread setting costs on this shared machine)."""
    threads = numpy_threads()
    if threads == default_threads:
        return {}
    say(f"\n-- BLAS threads: {threads} (this run) vs NumPy's default {default_threads}, "
        f"{steps} steps at K = {TRIALS} (info) --")
    x, y = training_set()
    times: dict[tuple[str, int], list[float]] = {}
    for rep in range(repeat):
        lrs = lr_grid(TRIALS, 400 + rep)
        for n in (threads, default_threads) if rep % 2 == 0 else (default_threads, threads):
            with blas_limit(n):
                times.setdefault(("run_sweep", n), []).append(timed(functools.partial(
                    run_sweep, sweep_spec(lrs, steps, RECORD_EVERY), chunk_size=TRIALS))[0])
                times.setdefault(("floor", n), []).append(
                    timed(floor_run, x, y, lrs, steps, RECORD_EVERY)[0])
    best = {key: min(ts) for key, ts in times.items()}
    for who in ("run_sweep", "floor"):
        say(f"   {who:9s} {threads} thread(s) {fmt_time(best[(who, threads)])}, "
            f"{default_threads} threads {fmt_time(best[(who, default_threads)])}: "
            f"{best[(who, default_threads)] / best[(who, threads)]:.2f}× the time")
    return {"best": best, "threads": threads, "default": default_threads, "steps": steps}


# --- (b), (c): torch ----------------------------------------------------------------------------


def torch_model(torch: Any, weights: list[FloatArray]) -> Any:
    """nn.Sequential(Linear, Tanh, Linear) in float64 holding ``weights`` (biases 0)."""
    nn = torch.nn
    model = nn.Sequential(nn.Linear(64, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, 10)).double()
    with torch.no_grad():
        for layer, w in zip((model[0], model[2]), weights, strict=True):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            layer.bias.zero_()
    return model


def torch_one_trial(torch: Any, data: dict[str, Any], lr: float, steps: int,
                    record_every: int, impl: dict[str, bool]) -> list[float]:
    """One trial through torch.optim.Adam: its full training-set losses at the recorded steps."""
    functional = torch.nn.functional
    x, y, rows = data["x"], data["y"], data["rows"]
    model = torch_model(torch, data["weights"])
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(BETA1, BETA2), eps=EPS, **impl)
    kept = []
    for t in range(steps):
        if t % record_every == 0:
            with torch.no_grad():
                kept.append(functional.cross_entropy(model(x), y).item())
        batch = rows[t]
        loss = functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        kept.append(functional.cross_entropy(model(x), y).item())
    return kept


def torch_trials(torch: Any, data: dict[str, Any], lrs: list[float], steps: int,
                 record_every: int, impl: dict[str, bool]) -> list[list[float]]:
    """``torch_one_trial`` for each learning rate in turn."""
    return [torch_one_trial(torch, data, lr, steps, record_every, impl) for lr in lrs]


def torch_vmap_run(torch: Any, data: dict[str, Any], lrs: list[float], steps: int,
                   record_every: int) -> FloatArray:
    """All trials at once, the torch.func ensembling recipe: vmap(grad_and_value) of a
    functional_call over stacked weights, and Adam (eps inside √, per-trial lr) on the stacks."""
    from torch.func import functional_call, grad_and_value, vmap

    functional = torch.nn.functional
    k = len(lrs)
    x, y, rows = data["x"], data["y"], data["rows"]
    base = torch_model(torch, data["weights"])
    params = {name: p.detach().unsqueeze(0).repeat(k, *([1] * p.dim())).contiguous()
              for name, p in base.named_parameters()}
    base = base.to("meta")

    def loss_fn(p: dict[str, Any], xb: Any, yb: Any) -> Any:
        return functional.cross_entropy(functional_call(base, p, (xb,)), yb)

    step = vmap(grad_and_value(loss_fn), in_dims=(0, None, None))
    full = vmap(loss_fn, in_dims=(0, None, None))
    lr = torch.tensor(lrs, dtype=torch.float64)
    lr_of = {name: lr.view(k, *([1] * (p.dim() - 1))) for name, p in params.items()}
    m = {name: torch.zeros_like(p) for name, p in params.items()}
    v = {name: torch.zeros_like(p) for name, p in params.items()}
    c1, c2 = corrections(BETA1, steps), corrections(BETA2, steps)
    kept = []
    for t in range(steps):
        if t % record_every == 0:
            with torch.no_grad():
                kept.append(full(params, x, y))
        batch = rows[t]
        grads, _ = step(params, x[batch], y[batch])
        with torch.no_grad():
            for name, p in params.items():
                g, mk, vk = grads[name], m[name], v[name]
                mk.mul_(BETA1).add_(g, alpha=1.0 - BETA1)
                vk.mul_(BETA2).addcmul_(g, g, value=1.0 - BETA2)
                denom = (vk / c2[t + 1]).add_(EPS).sqrt_()
                p.sub_(lr_of[name] / denom * (mk / c1[t + 1]))
    with torch.no_grad():
        kept.append(full(params, x, y))
    out: FloatArray = torch.stack(kept).T.numpy()
    return out


TORCH_IMPLS: dict[str, dict[str, bool]] = {"default (foreach)": {}, "for-loop": {"foreach": False},
                                           "fused": {"fused": True}}


def sample_indices(k: int, n: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, k - 1, n).round()})


def bench_torch(l1: dict[str, Any], repeat: int, steps: int, record_every: int, sample: int,
                vmap_repeat: int) -> dict[str, Any]:
    say("\n== L1 (b), (c): torch (run after the NumPy measurements) ==")
    try:
        t_import, torch = timed(lambda: __import__("torch"))
    except Exception as exc:  # noqa: BLE001 — torch is optional
        say(f"torch: skipped, not importable ({type(exc).__name__}: {exc})")
        return {}
    k = TRIALS
    x, y = training_set()
    data = {"x": torch.from_numpy(x), "y": torch.from_numpy(y),
            "rows": torch.from_numpy(batch_indices(len(x), BATCH, steps, SEED).astype(np.int64)),
            "weights": glorot([64, HIDDEN, 10], SEED)}
    matched = numpy_threads()
    thread_counts = sorted({matched, 1}, reverse=True)
    idx = sample_indices(k, sample)
    # correctness: torch's Adam (eps outside √) against run_sweep with eps_placement outside
    lrs = lr_grid(k, 0)
    ref = curves_of(run_sweep(sweep_spec([lrs[i] for i in idx], steps, record_every,
                                         {"name": "adam", "eps_placement": "outside"}),
                              chunk_size=len(idx)))
    torch.set_num_threads(1)
    got = np.array([torch_one_trial(torch, data, lrs[i], steps, record_every, {}) for i in idx])
    calm = np.array([lrs[i] for i in idx]) <= CHAOTIC_LR
    dev_calm = max_rel(got[calm], ref[calm])
    dev_chaotic = max_rel(got[~calm, -1], ref[~calm, -1])
    np.testing.assert_allclose(got[calm], ref[calm], rtol=1e-8,
                               err_msg="torch.optim loop and run_sweep disagree")
    say(f"torch {torch.__version__} (import {fmt_time(t_import)}): the loop's curves vs run_sweep "
        f"(eps outside √): max rel diff {dev_calm:.1e} for lr ≤ {CHAOTIC_LR}, final losses "
        f"{dev_chaotic:.1e} above (chaotic)")
    times: dict[tuple[int, str], list[float]] = {}
    for rep in range(repeat):
        lrs = lr_grid(k, 300 + rep)
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for name, impl in TORCH_IMPLS.items():
                t, _ = timed(torch_trials, torch, data, [lrs[i] for i in idx], steps,
                             record_every, impl)
                times.setdefault((threads, name), []).append(t * k / len(idx))
    best = {key: min(ts) for key, ts in times.items()}
    fastest = min(best, key=lambda key: best[key])
    matched_best = min((key for key in best if key[0] == matched), key=lambda key: best[key])
    for (threads, name), t in sorted(best.items()):
        say(f"torch.optim.Adam {name:18s} {threads} thread(s): {fmt_time(t)} for {k} trials "
            f"({t / k / steps * 1e6:.0f} µs per trial-step; {len(idx)} trials, scaled)"
            + ("  ← the baseline" if (threads, name) == fastest else ""))
    out: dict[str, Any] = {"torch": torch.__version__, "sample": len(idx), "best": best,
                           "fastest": fastest, "matched": matched, "matched_best": matched_best,
                           "dev_calm": dev_calm, "dev_chaotic": dev_chaotic}
    t_torch = best[fastest]
    out["ratios_b"] = {}
    for name, t_sweep in l1["times"].items():
        if not name.startswith("run_sweep"):
            continue
        ratio = t_torch / t_sweep
        out["ratios_b"][name] = ratio
        say(f"{name} vs torch.optim loop ({fastest[1]}, {fastest[0]} thread(s)): {ratio:.2f}× "
            f"faster  (target ≥ {TARGET_VS_TORCH:g}×) {verdict(ratio >= TARGET_VS_TORCH)}")
    floor_t = l1["times"][l1["floor_name"]]
    say(f"   (info: the floor is {t_torch / floor_t:.1f}× faster than the torch loop)")
    out["floor_vs_torch"] = t_torch / floor_t

    # (c) vmap
    lrs = lr_grid(k, 0)
    sweep_curves = curves_of(run_sweep(sweep_spec(lrs, steps, record_every), chunk_size=k))
    vm_times: dict[int, list[float]] = {}
    calm = np.array(lrs) <= CHAOTIC_LR
    for rep in range(vmap_repeat):
        for threads in thread_counts:
            torch.set_num_threads(threads)
            t, curves = timed(torch_vmap_run, torch, data, lrs, steps, record_every)
            vm_times.setdefault(threads, []).append(t)
            if rep == 0:
                np.testing.assert_allclose(curves[calm], sweep_curves[calm], rtol=1e-8,
                                           err_msg="torch.func vmap and run_sweep disagree")
                out["vmap_dev_calm"] = max_rel(curves[calm], sweep_curves[calm])
                out["vmap_dev_chaotic"] = max_rel(curves[~calm, -1], sweep_curves[~calm, -1])
    vm_best = {threads: min(ts) for threads, ts in vm_times.items()}
    vm_threads = min(vm_best, key=lambda th: vm_best[th])
    t_vmap = vm_best[vm_threads]
    for threads, t in sorted(vm_best.items()):
        say(f"torch.func vmap + grad_and_value, stacked Adam, {threads} thread(s): "
            f"{fmt_time(t)} ({t / steps * 1e3:.2f} ms/step)"
            + ("  ← reported" if threads == vm_threads else ""))
    say(f"   curves vs run_sweep: max rel diff {out['vmap_dev_calm']:.1e} for lr ≤ {CHAOTIC_LR}, "
        f"final losses {out['vmap_dev_chaotic']:.1e} above (chaotic)")
    out["vmap"] = vm_best
    out["vmap_threads"] = vm_threads
    out["ratios_c"] = {}
    for name, t_sweep in l1["times"].items():
        if name.startswith("run_sweep"):
            out["ratios_c"][name] = t_vmap / t_sweep
            say(f"{name} vs torch.func vmap: {t_vmap / t_sweep:.2f}× faster (no target)")
    say(f"   (info: the floor is {t_vmap / floor_t:.1f}× faster than torch.func vmap)")
    out["floor_vs_vmap"] = t_vmap / floor_t
    return out


# --- report -------------------------------------------------------------------------------------


def markdown(facts: dict[str, str], args: argparse.Namespace, l1: dict[str, Any],
             chaos: dict[str, Any], l2: dict[str, Any], pieces: dict[str, float],
             protos: dict[str, Any], threads: dict[str, Any], th: dict[str, Any]) -> str:
    command = " ".join(["python bench/learning.py", *sys.argv[1:]])
    steps = l1["steps"]
    times, ratios = l1["times"], l1["ratios"]
    t_floor = times[l1["floor_name"]]
    lines = ["## Learning (`python bench/learning.py`)", "",
             (f"Command: `{command}`. Run: {time.strftime('%Y-%m-%d %H:%M')}, "
              f"{'--quick, ' if args.quick else ''}best of {args.repeat} repetitions (each on "
              "a fresh, jittered grid), all ratios measured side by side in one run."), ""]
    lines += [f"- {name}: {value}" for name, value in facts.items()]
    sweep = (f"{TRIALS} Adam trials × {steps} steps, MLP 64-{HIDDEN}-10 tanh, {DATASET}, "
             f"batch {BATCH}")
    lines += ["", "| Benchmark | Measured | Compared with | Ratio | Target | Result |",
              "|---|---|---|---|---|---|"]
    floor_cell = (f"honest floor: hand-written batched NumPy ({l1['floor_name']}) "
                  f"{fmt_time(t_floor)} (median {fmt_time(l1['medians'][l1['floor_name']])}; "
                  f"{t_floor / steps * 1e3:.2f} ms/step)")
    for name in ("run_sweep(spec)", "run_sweep(spec, chunk_size=100)"):
        label = (f"L1 {name}, {sweep}" if name == "run_sweep(spec)"
                 else f"L1 {name} (one batch)")
        if name == "run_sweep(spec)":
            label += f" — default chunking: {l1['chunks']} chunks of {l1['chunk_trials']}"
        best, med = ratios[name]
        lines.append(f"| {label} | {fmt_time(times[name])} (median "
                     f"{fmt_time(l1['medians'][name])}) | {floor_cell} | {best:.2f}× its speed "
                     f"(median {med:.2f}×) | ≥ {TARGET_VS_FLOOR}× | "
                     f"{verdict(best >= TARGET_VS_FLOOR)} |")
    for name in [*FLOOR_FORMS, *FLOOR_INFO]:
        if name != l1["floor_name"]:
            lines.append(f"| L1 (info) floor form | {name} | the floor | "
                         f"{t_floor / times[name]:.2f}× its speed | — | info |")
    lines.append(f"| L1 floor vs run_sweep | final losses max rel diff {l1['worst_final']:.1e} "
                 f"(whole curves {l1['worst_curve']:.1e}) | every rep, every form | — | "
                 f"≤ 1e-10 | {verdict(l1['worst_final'] <= 1e-10)} |")
    lines.append(f"| L1 (info) run_sweep(spec) vs chunk_size=100 | curves max rel diff "
                 f"{l1['by_chunking']:.1e} | the same sweep | — | — | info |")
    lines.append(f"| L1 floor vs run_sweep, final parameters | bit for bit: "
                 f"{'yes' if chaos['bitwise'] else 'no'} (max abs diff "
                 f"{chaos['param_diff']:.1e}) | run_sweep's chunk at its last step | — | — | "
                 "info |")
    lines.append(f"| L1 (info) rounding alone | the floor with 1 − βᵗ from Python's ** "
                 f"({chaos['pow_differs']} of the values differ in the last place) | run_sweep | "
                 f"final losses max rel diff {chaos['calm']:.1e} at lr ≤ {CHAOTIC_LR}, "
                 f"{chaos['chaotic']:.1e} for the {chaos['n_chaotic']} trials above | — | "
                 "info |")
    if th:
        fastest = th["fastest"]
        t_torch = th["best"][fastest]
        for name, ratio in th["ratios_b"].items():
            lines.append(f"| L1 {name} | {fmt_time(times[name])} | torch {th['torch']} "
                         f"optim.Adam one trial at a time, float64, {fastest[1]}, "
                         f"{fastest[0]} thread(s) {fmt_time(t_torch)} ({th['sample']} trials, "
                         f"scaled) | {ratio:.2f}× faster | ≥ {TARGET_VS_TORCH:g}× | "
                         f"{verdict(ratio >= TARGET_VS_TORCH)} |")
        matched = th["matched_best"]
        if matched != fastest:
            lines.append(f"| L1 (info) torch at NumPy's {th['matched']} threads | "
                         f"{matched[1]} {fmt_time(th['best'][matched])} | the torch baseline | "
                         f"{th['best'][matched] / t_torch:.2f}× its time | — | info |")
        t_vmap = th["vmap"][th["vmap_threads"]]
        for name, ratio in th["ratios_c"].items():
            lines.append(f"| L1 {name} | {fmt_time(times[name])} | torch.func vmap + "
                         f"grad_and_value, stacked Adam, {th['vmap_threads']} thread(s) "
                         f"{fmt_time(t_vmap)} | {ratio:.2f}× faster | — | info |")
        lines.append(f"| L1 (info) the floor | {fmt_time(t_floor)} | torch.optim loop / "
                     f"torch.func vmap | {th['floor_vs_torch']:.1f}× / {th['floor_vs_vmap']:.1f}× "
                     "faster | — | info |")
        lines.append(f"| L1 torch curves vs run_sweep | loop (eps outside √) "
                     f"{th['dev_calm']:.1e}, vmap {th['vmap_dev_calm']:.1e} max rel diff at "
                     f"lr ≤ {CHAOTIC_LR} (chaotic trials above: {th['dev_chaotic']:.0e}, "
                     f"{th['vmap_dev_chaotic']:.0e}) | run_sweep's curves | — | ≤ 1e-8 | PASS |")
    lines += ["", ("L2: the marginal time of a step, one chunk of K trials ((T(3S) − T(S)) / "
                   "2S, each run recording only its first and last step); FLOPs counted as "
                   "3 × 2·B·(64·32 + 32·10) per trial-step:"), "",
              ("| K | run_sweep ms/step | µs/trial-step | GFLOP/s | % of the first-layer "
               "GEMM's rate | % of the big GEMM's | floor ms/step | floor GFLOP/s | run_sweep / "
               "floor time | GEMM (64×64)@(64×32K) GFLOP/s |"),
              "|---|---|---|---|---|---|---|---|---|---|"]
    big = l2["big"]
    for row in l2["rows"]:
        lines.append(f"| {row['k']:,} | {row['sweep_step'] * 1e3:.3f} | "
                     f"{row['sweep_step'] / row['k'] * 1e6:.1f} | {row['sweep_rate'] / 1e9:.2f} | "
                     f"{row['sweep_rate'] / row['gemm_rate']:.0%} | {row['sweep_rate'] / big:.0%} "
                     f"| {row['floor_step'] * 1e3:.3f} | {row['floor_rate'] / 1e9:.2f} | "
                     f"{row['sweep_step'] / row['floor_step']:.2f}× | "
                     f"{row['gemm_rate'] / 1e9:.1f} |")
    lines += ["", f"Big square GEMM ({l2['square']}²): {big / 1e9:.1f} GFLOP/s.", ""]
    if pieces:
        lines += [f"L3: per-step pieces at K = {TRIALS} (µs per call):", "",
                  "| piece | µs |", "|---|---|"]
        lines += [f"| {name} | {t * 1e6:.0f} |" for name, t in pieces.items()]
    if protos:
        best = protos["times"]
        lines += ["", (f"L3: prototypes patched into run_sweep(spec, chunk_size=100), "
                       f"{protos['steps']} steps (documents equal to the engine's):"), "",
                  "| engine | time | speed / floor | vs the engine as it is |", "|---|---|---|---|"]
        lines += [f"| {name} | {fmt_time(t)} | {best['floor'] / t:.2f}× | "
                  f"{best['engine as it is'] / t:.2f}× faster |" for name, t in best.items()]
    if threads:
        best, n, d = threads["best"], threads["threads"], threads["default"]
        lines += ["", (f"L3 (info): BLAS threads, {threads['steps']} steps at K = {TRIALS}: "
                       f"{n} (this run) against NumPy's default {d}:"), "",
                  f"| contender | {n} thread(s) | {d} threads | ratio |", "|---|---|---|---|"]
        lines += [f"| {who} | {fmt_time(best[(who, n)])} | {fmt_time(best[(who, d)])} | "
                  f"{best[(who, d)] / best[(who, n)]:.2f}× the time |"
                  for who in ("run_sweep", "floor")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run, under 30 s")
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="repetitions (default 3, --quick 1)")
    parser.add_argument("--blas-threads", type=int, default=1, metavar="N",
                        help="NumPy's BLAS threads for the run, and torch's (default 1; 0 leaves "
                        "NumPy's default)")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 3)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    quick = args.quick
    steps, record_every = (40, 20) if quick else (STEPS, RECORD_EVERY)
    l2_ks = [1, 10, 100] if quick else [1, 10, 100, 1000]
    l2_steps = ({1: 10, 10: 10, 100: 3} if quick else {1: 100, 10: 100, 100: 40, 1000: 10})

    t_start = time.perf_counter()
    facts = engine.machine_facts()
    training_set()  # loads scikit-learn, and with it SciPy's BLAS and libgomp: before the limit
    default_threads = numpy_threads()
    say("gradsweep learning benchmarks" + (" (--quick)" if quick else ""))
    # the errstate: the floor, like the runner, lets a trial diverge quietly
    with blas_limit(args.blas_threads), np.errstate(all="ignore"):
        facts["NumPy BLAS threads"] = (f"{blas_threads()} in this run (NumPy's default here: "
                                       f"{default_threads})")
        for name, value in facts.items():
            say(f"  {name}: {value}")
        l1 = bench_l1(args.repeat, steps, record_every)
        chaos = exactness_check(steps, record_every)
        l2 = bench_l2(l2_ks, l2_steps, args.repeat, 1000 if quick else 2000, default_threads)
        say("\n== L3: where run_sweep's time goes ==")
        pieces = breakdown(5 if quick else 100, args.repeat + 2)
        if not quick:
            profile_sweep(100, 14)
        protos = bench_prototypes(args.repeat, 10 if quick else 200)
        threads = {} if quick else bench_threads(args.repeat, 50, default_threads)
        th = bench_torch(l1, args.repeat, steps, record_every, 2 if quick else 6,
                         1 if quick else min(args.repeat, 2))

    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"\n(total wall time {time.perf_counter() - t_start:.1f} s)")
    say("\n----- 8< ----- Markdown for BENCHMARKS.md ----- 8< -----\n")
    say(markdown(facts, args, l1, chaos, l2, pieces, protos, threads, th))
    say("\n----- 8< -----")
    return 0


if __name__ == "__main__":
    sys.exit(main())
