"""The chain around a rule: gradient clipping, weight decay, the learning-rate schedule.

In the spirit of optax's ``chain``, an optimizer is a rule with transformations around it, each
defined once and composed, never a kernel per combination. For update t, with g the objective's
gradient at the point φ where the rule takes it (θ, or nesterov's look-ahead point):

1. clipping (``clip``): ``global_norm`` M rescales each trial's gradient row,
   g ← g·min(1, M/‖g‖₂) (optax's ``clip_by_global_norm``, per trial); ``value`` c clips each
   coordinate to [−c, c];
2. weight decay, for a rule whose decay is an L2 penalty: g ← g + weight_decay·φ, as torch
   applies it (``Rule.l2``; skipped when weight_decay is 0 for the whole chunk, so the numbers are
   the rule's own to the last bit); adamw and lion decay θ in their kernels instead;
3. the rule's kernel at the learning rate lr_t of the schedule (``optimizers.schedules``).

A chain's own parameters are named in a trial's params as ``schedule.<parameter>`` and
``clip.<kind>``, beside the rule's hyperparameters, and may be swept like them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .rules import Array, HpValue, Rule, State, constant, scalar, scratch
from .schedules import Schedule

ClipKind = Literal["global_norm", "value"]
CLIP_KINDS: tuple[ClipKind, ...] = ("global_norm", "value")
SCHEDULE_PREFIX = "schedule."
CLIP_PREFIX = "clip."
#: ``pre(g, state, params) -> g'``: the gradient transformations before the kernel.
Pre = Callable[[Array, State, Array], Array]


def clip_global_norm(limit: HpValue, out: Array, sq: Array) -> Callable[[Array], Array]:
    """``clip(g) -> out``: out ← g·min(1, M/‖g‖₂) row by row (``sq`` is scratch; a row of
    zeros is left as it is)."""
    m = scalar(limit)

    def clip(g: Array) -> Array:
        np.multiply(g, g, out=sq)
        norm = np.sqrt(sq.sum(axis=1, keepdims=True))
        np.multiply(g, np.minimum(1.0, np.divide(m, norm)), out=out)
        return out

    return clip


def clip_value(limit: HpValue, out: Array) -> Callable[[Array], Array]:
    """``clip(g) -> out``: each coordinate clipped to [−c, c]."""
    c = scalar(limit)
    low = np.negative(c)

    def clip(g: Array) -> Array:
        np.clip(g, low, c, out=out)
        return out

    return clip


class LearningRate:
    """lr_t for update t, as the kernels take it: a 0-d array when it is one number for the
    chunk, else an array of the trials' rows.

    Without a schedule lr_t is lr, the same operand at every update. With one, lr_t = a_t·lr +
    b_t (``Schedule.coefficients``): when the schedule's parameters are one number each, a_t and
    b_t come from a table computed ahead ``BLOCK`` updates at a time, and a single lr gives a
    table of operands; otherwise they are computed at the update. A new array each update: a
    kernel may keep what it derived from one operand (adamw's 1 − lr·wd) while it is the same.
    """

    BLOCK = 256

    def __init__(self, lr: HpValue, schedule: Schedule | None,
                 params: Mapping[str, HpValue]) -> None:
        self.lr = constant(lr)
        self.schedule = schedule
        self.params = {name: constant(value) for name, value in params.items()}
        self.fixed = scalar(self.lr) if schedule is None or schedule.name == "constant" else None
        self._tabled = all(isinstance(v, float) for v in self.params.values())
        self._start = 0
        self._a: list[float] = []
        self._b: list[float] | None = None
        self._operands: list[Array] = []

    def __call__(self, t: int) -> Array:
        if self.fixed is not None:
            return self.fixed
        assert self.schedule is not None
        if not self._tabled:
            a, b = self.schedule.coefficients(np.array(float(t)), self.params)
            return self._apply(a, b)
        i = t - self._start
        if not 0 <= i < len(self._a):
            self._fill(t - (t - 1) % self.BLOCK)  # blocks from 1: a resumed run's tables too
            i = t - self._start
        if self._operands:
            return self._operands[i]
        return self._apply(self._a[i], None if self._b is None else self._b[i])

    def _apply(self, a: HpValue, b: HpValue | None) -> Array:
        out = np.multiply(a, self.lr)
        if b is not None:
            out += b
        return out if np.ndim(out) else np.asarray(out)

    def _fill(self, t: int) -> None:
        assert self.schedule is not None
        ts = np.arange(t, t + self.BLOCK, dtype=np.float64)
        a, b = self.schedule.coefficients(ts, self.params)
        self._start = t
        self._a = np.broadcast_to(a, ts.shape).tolist()
        self._b = None if b is None else np.broadcast_to(b, ts.shape).tolist()
        if isinstance(self.lr, float):
            lr = np.multiply(np.array(self._a), self.lr)
            if self._b is not None:
                lr += np.array(self._b)
            self._operands = [np.asarray(v) for v in lr]


@dataclass(frozen=True)
class Chain:
    """A rule with its schedule and clipping: what a sweep's entry runs."""

    rule: Rule
    schedule: Schedule | None = None
    clip: ClipKind | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The names a trial's params give this chain's numbers: the rule's hyperparameters,
        then ``schedule.<parameter>`` and ``clip.<kind>``."""
        own = tuple(h.name for h in self.rule.hyperparameters)
        sched = tuple(SCHEDULE_PREFIX + p.name for p in self.schedule.parameters) \
            if self.schedule else ()
        return own + sched + ((CLIP_PREFIX + self.clip,) if self.clip else ())

    def split(self, hp: Mapping[str, HpValue]) -> tuple[dict[str, HpValue], dict[str, HpValue],
                                                         HpValue | None]:
        """A trial batch's numbers as (the rule's, the schedule's by parameter name, the clip
        limit)."""
        rule = {h.name: hp[h.name] for h in self.rule.hyperparameters}
        sched = {p.name: hp[SCHEDULE_PREFIX + p.name] for p in self.schedule.parameters} \
            if self.schedule else {}
        return rule, sched, hp[CLIP_PREFIX + self.clip] if self.clip else None

    def learning_rate(self, hp: Mapping[str, HpValue]) -> LearningRate:
        """lr_t of the batch whose numbers are ``hp``."""
        rule, sched, _ = self.split(hp)
        return LearningRate(rule["lr"], self.schedule, sched)

    def pre(self, hp: Mapping[str, HpValue], shape: tuple[int, int]) -> Pre | None:
        """The transformations before the kernel, bound to a batch of ``shape`` (each with its
        own buffers); None when there are none (no clipping, no L2 decay)."""
        rule_hp, _, limit = self.split(hp)
        clip: Callable[[Array], Array] | None = None
        if self.clip == "global_norm":
            clip = clip_global_norm(_column(limit), np.empty(shape), np.empty(shape))
        elif self.clip == "value":
            clip = clip_value(_column(limit), np.empty(shape))
        decay = self.rule.l2(rule_hp)
        if clip is None and decay is None:
            return None
        out = np.empty(shape)

        def pre(g: Array, state: State, params: Array) -> Array:
            if clip is not None:
                g = clip(g)
            if decay is not None:
                g = decay(g, state, params, out)
            return g

        return pre

    def init(self, params: Array) -> State:
        """The rule's starting state."""
        return self.rule.init(params)

    def update(self, grads: Array, state: State, params: Array,
               hp: Mapping[str, HpValue]) -> tuple[Array, State]:
        """The pure update, chain and all: new parameters and state; inputs untouched.

        ``hp`` holds the rule's hyperparameters and the chain's ``schedule.*`` / ``clip.*``
        numbers, each a scalar or a (K, 1) array.
        """
        params = np.array(params, dtype=np.float64)
        k = len(params)
        state = state._replace(**{b: np.array(getattr(state, b)) for b in self.rule.buffers})
        columns: dict[str, HpValue] = {**self.rule.broadcast(hp, k), **{
            key: np.broadcast_to(np.asarray(hp[key], dtype=np.float64).reshape(-1, 1),
                                 (k, 1)).copy() for key in self.keys if "." in key}}
        t = state.count + 1
        rule_hp, _, _ = self.split(columns)
        with np.errstate(all="ignore"):
            pre = self.pre(columns, params.shape)
            g = np.asarray(grads, dtype=np.float64)
            if pre is not None:
                g = pre(g, state, params)
            lr = self.learning_rate(columns)(t)
            self.rule.prepare(rule_hp)(g, state, params, t, lr, scratch(params))
        return params, state._replace(count=t)


def _column(value: HpValue | None) -> HpValue:
    """A clip limit as the clip takes it: a float, or a (K, 1) column."""
    assert value is not None
    value = constant(value)
    return value if isinstance(value, float) else np.asarray(value)[:, :1]


__all__ = ["CLIP_KINDS", "CLIP_PREFIX", "SCHEDULE_PREFIX", "Chain", "ClipKind", "LearningRate",
           "clip_global_norm", "clip_value"]
