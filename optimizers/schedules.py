"""Learning-rate schedules: the learning rate of update t, each schedule declared once.

A schedule turns a trial's learning rate lr into lr_t for update t = 1, 2, …: the lr that the
torch scheduler of the same name gives after t − 1 calls of ``scheduler.step()`` (the usual
``opt.step(); sched.step()`` loop), so torch reproduces every one. Every schedule here is affine
in lr, lr_t = a_t·lr + b_t, and is declared by its coefficients: one pair per update for the
whole chunk when its parameters are one number each (a table, computed ahead in blocks), a column
per trial when a parameter is swept. The formulas (README's schedule table and the catalogue
show them):

===============  ==========================================================================
constant         lr_t = lr
step             lr_t = lr·gamma^⌊(t−1)/step_size⌋                                 (StepLR)
exponential      lr_t = lr·gamma^(t−1)                                     (ExponentialLR)
cosine           lr_t = eta_min + (lr − eta_min)·(1 + cos(π·(t−1)/t_max))/2
                                                    (CosineAnnealingLR's closed form)
linear           lr_t = lr·(s + (e − s)·min(t−1, n)/n), s = start_factor, e = end_factor,
                 n = total_iters                                                (LinearLR)
one_cycle        from lr/div_factor up to lr over the first pct_start·total_steps − 1 updates,
                 then down to lr/(div_factor·final_div_factor) at total_steps, both halves
                 cosine annealed            (OneCycleLR, anneal_strategy='cos', no momentum)
warmup_cosine    lr_t = lr·t/W for t ≤ W, then
                 eta_min + (lr − eta_min)·(1 + cos(π·(t − W)/(t_max − W)))/2
===============  ==========================================================================

Parameters whose default is "steps" (t_max, total_steps) take the sweep's step count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .rules import Array, HpValue

#: ``coefficients(t, p) -> (a, b)``: lr_t = a·lr + b for update counts ``t`` (an int, or an
#: array of them) and parameters ``p`` (floats, or (K, 1) columns); b is None where it is 0.
Coefficients = Callable[[Array, Mapping[str, HpValue]], tuple[Array, Array | None]]


@dataclass(frozen=True)
class ScheduleParameter:
    """One parameter of a schedule: its default (None: required; "steps": the sweep's step
    count), whether it is a whole number, and its valid interval."""

    name: str
    description: str
    default: float | str | None = None
    integer: bool = False
    low: float = 0.0
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True

    @property
    def range_text(self) -> str:
        """The valid interval, e.g. ``0 < gamma``, ``1 <= step_size``."""
        low = f"{self.low:g} {'<' if self.low_open else '<='} "
        high = "" if math.isinf(self.high) else f" {'<' if self.high_open else '<='} {self.high:g}"
        return f"{low}{self.name}{high}"

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the valid interval (and is whole, for an integer one)."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and (not self.integer or float(value).is_integer())


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: its parameters, formula, torch equivalent and coefficients."""

    name: str
    formula: str
    torch: str
    parameters: tuple[ScheduleParameter, ...]
    coefficients: Coefficients

    def defaults(self, steps: int) -> dict[str, float | None]:
        """Parameter name → default for a sweep of ``steps`` updates (None where required)."""
        return {p.name: steps if p.default == "steps" else p.default  # type: ignore[misc]
                for p in self.parameters}

    def lr(self, lr: HpValue, t: int, params: Mapping[str, HpValue]) -> HpValue:
        """lr_t for update ``t`` (a reference form: the engine uses ``coefficients``)."""
        a, b = self.coefficients(np.asarray(t, dtype=np.float64), params)
        out = np.multiply(a, lr) if b is None else np.multiply(a, lr) + b
        return float(out) if np.ndim(out) == 0 else out


def _cos_factor(x: Array) -> Array:
    """(1 + cos(π·x))/2."""
    out: Array = (1.0 + np.cos(np.pi * x)) / 2.0
    return out


def _annealed(c: Array, eta_min: HpValue) -> tuple[Array, Array | None]:
    """eta_min + (lr − eta_min)·c = c·lr + eta_min·(1 − c)."""
    if isinstance(eta_min, float) and eta_min == 0.0:
        return c, None
    return c, np.multiply(eta_min, 1.0 - c)


def _constant(t: Array, p: Mapping[str, HpValue]) -> tuple[Array, Array | None]:
    return np.ones_like(t), None


def _step(t: Array, p: Mapping[str, HpValue]) -> tuple[Array, Array | None]:
    return np.power(p["gamma"], np.floor_divide(t - 1.0, p["step_size"])), None


def _exponential(t: Array, p: Mapping[str, HpValue]) -> tuple[Array, Array | None]:
    return np.power(p["gamma"], t - 1.0), None


def _cosine(t: Array, p: Mapping[str, HpValue]) -> tuple[Array, Array | None]:
    return _annealed(_cos_factor((t - 1.0) / p["t_max"]), p["eta_min"])


def _linear(t: Array, p: Mapping[str, HpValue]) -> tuple[Array, Array | None]:
    start, end, n = p["start_factor"], p["end_factor"], p["total_iters"]
    return np.add(start, np.multiply(np.subtract(end, start), np.minimum(t - 1.0, n) / n)), None


def _one_cycle(t: Array, p: Mapping[str, HpValue]) -> tuple[Array, Array | None]:
    total, pct = p["total_steps"], p["pct_start"]
    initial = np.divide(1.0, p["div_factor"])                     # lr/div_factor, over lr
    final = np.divide(initial, p["final_div_factor"])
    n = t - 1.0                                                   # torch's step number
    up_end = np.multiply(pct, total) - 1.0
    down_end = np.subtract(total, 1.0)
    up = n <= up_end
    with np.errstate(all="ignore"):
        rising = np.add(1.0, np.multiply(np.subtract(initial, 1.0), _cos_factor(n / up_end)))
        falling = np.add(final, np.multiply(np.subtract(1.0, final),
                                            _cos_factor((n - up_end) / (down_end - up_end))))
    return np.where(up, rising, falling), None


def _warmup_cosine(t: Array, p: Mapping[str, HpValue]) -> tuple[Array, Array | None]:
    warmup, t_max, eta_min = p["warmup_steps"], p["t_max"], p["eta_min"]
    with np.errstate(all="ignore"):
        c = _cos_factor((t - warmup) / np.subtract(t_max, warmup))
        ramp = t / np.asarray(warmup, dtype=np.float64)
    warming = t <= warmup
    a = np.where(warming, ramp, c)
    if isinstance(eta_min, float) and eta_min == 0.0:
        return a, None
    return a, np.where(warming, 0.0, np.multiply(eta_min, 1.0 - c))


GAMMA = ScheduleParameter("gamma", "the factor lr is multiplied by", 0.1)
ETA_MIN = ScheduleParameter("eta_min", "the lowest learning rate (an absolute lr)", 0.0,
                            low_open=False)
T_MAX = ScheduleParameter("t_max", "updates over which the cosine falls (default: steps)",
                          "steps", integer=True, low=1, low_open=False)

SCHEDULES: dict[str, Schedule] = {s.name: s for s in (
    Schedule("constant", "lr_t = lr", "none (no scheduler)", (), _constant),
    Schedule("step", "lr_t = lr·gamma^⌊(t−1)/step_size⌋", "StepLR(step_size, gamma)",
             (ScheduleParameter("step_size", "updates between decays", integer=True, low=1,
                                low_open=False), GAMMA), _step),
    Schedule("exponential", "lr_t = lr·gamma^(t−1)", "ExponentialLR(gamma)",
             (ScheduleParameter("gamma", "the factor lr is multiplied by at every update"),),
             _exponential),
    Schedule("cosine", "lr_t = eta_min + (lr − eta_min)·(1 + cos(π·(t−1)/t_max))/2",
             "CosineAnnealingLR(T_max=t_max, eta_min) (its closed form)", (T_MAX, ETA_MIN),
             _cosine),
    Schedule("linear", "lr_t = lr·(start_factor + (end_factor − start_factor)·"
             "min(t−1, total_iters)/total_iters)",
             "LinearLR(start_factor, end_factor, total_iters)",
             (ScheduleParameter("start_factor", "the factor of the first update", 1 / 3, high=1.0,
                                high_open=False),
              ScheduleParameter("end_factor", "the factor from update total_iters + 1 on", 1.0,
                                low_open=False, high=1.0, high_open=False),
              ScheduleParameter("total_iters", "updates over which the factor moves", 5,
                                integer=True, low=1, low_open=False)), _linear),
    Schedule("one_cycle", "u = pct_start·total_steps − 1, n = t − 1, c(x) = (1 + cos(πx))/2 ; "
             "n ≤ u: lr_t = lr·(1 + (1/div_factor − 1)·c(n/u)) ; else lr_t = lr·(f + (1 − f)·"
             "c((n − u)/(total_steps − 1 − u))), f = 1/(div_factor·final_div_factor)",
             "OneCycleLR(max_lr=lr, total_steps, pct_start, div_factor, final_div_factor, "
             "anneal_strategy='cos', cycle_momentum=False)",
             (ScheduleParameter("total_steps", "the cycle's length in updates (default: steps; "
                                "at least steps)", "steps", integer=True, low=1, low_open=False),
              ScheduleParameter("pct_start", "the share of the cycle spent rising", 0.3,
                                high=1.0),
              ScheduleParameter("div_factor", "lr/div_factor is the first update's lr", 25.0),
              ScheduleParameter("final_div_factor", "the last lr is the first one divided by "
                                "this", 1e4)), _one_cycle),
    Schedule("warmup_cosine", "lr_t = lr·t/W for t ≤ W, then eta_min + (lr − eta_min)·"
             "(1 + cos(π·(t − W)/(t_max − W)))/2 ; W = warmup_steps",
             "none (the closed form; LinearLR then CosineAnnealingLR chained by SequentialLR "
             "is the same shape)",
             (ScheduleParameter("warmup_steps", "updates of the linear warm-up", integer=True,
                                low=0, low_open=False), T_MAX, ETA_MIN), _warmup_cosine),
)}
SCHEDULE_NAMES: tuple[str, ...] = tuple(SCHEDULES)


__all__ = ["SCHEDULES", "SCHEDULE_NAMES", "Coefficients", "Schedule", "ScheduleParameter"]
