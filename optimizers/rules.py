"""Update rules: pure, batched gradient-descent optimizers.

Every rule works on a batch of K trials at once. Parameters θ have shape (K, D), the gradient g
has the same shape, and every hyperparameter arrives as a (K, 1) array, so that one NumPy step
advances all K trials, each with its own settings. ``t`` counts updates from 1.

A rule is defined once, as an in-place *kernel* over arrays the caller owns; the pure, optax-style
pair ``init(params) -> state`` and ``update(grads, state, params, hp) -> (params, state)`` is built
on that kernel and never writes into its inputs. The runner binds the kernel to a chunk once
(``Rule.prepare``: hyperparameters that are one number for the whole chunk become Python floats,
per-chunk constants are computed there) and calls the bound step on its own buffers, which is
what makes a step cost one pass over memory and no more NumPy calls than the formula has.

The formulas (the project's definition of each rule; README's table and the catalogue show them):

==========  ====================================================================================
sgd         θ ← θ − lr·g
momentum    v ← momentum·v + lr·g ;  θ ← θ − v
nesterov    v ← momentum·v + lr·∇J(θ − momentum·v) ;  θ ← θ − v
adagrad     v ← v + g² ;  θ ← θ − lr/√(v + eps) · g
rmsprop     v ← decay·v + (1−decay)·g² ;  θ ← θ − lr/√(v + eps) · g
adam        m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g² ;  m̂ = m/(1−β1ᵗ) ;  v̂ = v/(1−β2ᵗ) ;
            θ ← θ − lr/√(v̂ + eps) · m̂
==========  ====================================================================================

eps sits inside the square root by default; ``eps_placement="outside"`` gives PyTorch's and
optax's √(·) + eps instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Hyper = Mapping[str, Array]
EpsPlacement = Literal["inside", "outside"]
Scratch = tuple[Array, Array, Array]  # three arrays of the parameters' shape, owned by the caller


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a rule: its default and its valid interval.

    ``default`` None means the hyperparameter is required (the learning rate).
    """

    name: str
    description: str
    default: float | None = None
    low: float = 0.0
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True

    @property
    def range_text(self) -> str:
        """The valid interval in the notation the error messages use, e.g. ``0 <= momentum < 1``."""
        low = f"{_num(self.low)} {'<' if self.low_open else '<='} "
        high = "" if math.isinf(self.high) else f" {'<' if self.high_open else '<='} {_num(self.high)}"
        return f"{low}{self.name}{high}"

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the valid interval."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


def _num(x: float) -> str:
    return f"{x:g}"


LR = Hyperparameter("lr", "learning rate (step size)")
MOMENTUM = Hyperparameter("momentum", "momentum coefficient", 0.9, 0.0, 1.0, low_open=False)
DECAY = Hyperparameter("decay", "decay rate of the squared-gradient average", 0.9, 0.0, 1.0,
                       low_open=False)
BETA1 = Hyperparameter("beta1", "decay rate of the first-moment estimate", 0.9, 0.0, 1.0,
                       low_open=False)
BETA2 = Hyperparameter("beta2", "decay rate of the second-moment estimate", 0.999, 0.0, 1.0,
                       low_open=False)
EPS = Hyperparameter("eps", "small constant that keeps the denominator away from zero", 1e-8,
                     0.0, low_open=False)
WEIGHT_DECAY = Hyperparameter("weight_decay", "L2 penalty added to the gradient: g ← g + "
                              "weight_decay·θ", 0.0, 0.0, low_open=False)
DECOUPLED_WEIGHT_DECAY = Hyperparameter("weight_decay", "decoupled weight decay: θ ← θ·(1 − "
                                        "lr·weight_decay) before the step", 0.01, 0.0,
                                        low_open=False)
LION_WEIGHT_DECAY = Hyperparameter("weight_decay", DECOUPLED_WEIGHT_DECAY.description, 0.0, 0.0,
                                   low_open=False)
MOMENTUM_DECAY = Hyperparameter("momentum_decay", "ψ of the momentum schedule μ_t = β1·(1 − "
                                "½·0.96^(t·ψ))", 0.004, 0.0, low_open=False)
RHO = Hyperparameter("rho", "decay rate of the squared-gradient and squared-update averages",
                     0.9, 0.0, 1.0, low_open=False)
ADADELTA_EPS = Hyperparameter("eps", "small constant inside both square roots", 1e-6, 0.0,
                              low_open=False)
LION_BETA1 = Hyperparameter("beta1", "interpolation between momentum and gradient whose sign "
                            "is the step", 0.9, 0.0, 1.0, low_open=False)
LION_BETA2 = Hyperparameter("beta2", "decay rate of the momentum", 0.99, 0.0, 1.0,
                            low_open=False)


# ---------------------------------------------------------------------------------------------
# States. Each holds the update count and the rule's per-coordinate buffers, all (K, D).


class SGDState(NamedTuple):
    """State of sgd: only the update count."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it


class MomentumState(NamedTuple):
    """State of momentum and nesterov: the velocity v."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    v: Array


class AdagradState(NamedTuple):
    """State of adagrad: the running sum of squared gradients v."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    v: Array


class RMSpropState(NamedTuple):
    """State of rmsprop: the running average of squared gradients v."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    v: Array


class AdamState(NamedTuple):
    """State of adam, adamw, nadam and radam: first moment m and second moment v."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    m: Array
    v: Array


class AMSGradState(NamedTuple):
    """State of amsgrad: adam's m and v, and the largest v so far."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    m: Array
    v: Array
    v_max: Array


class AdamaxState(NamedTuple):
    """State of adamax: first moment m and the infinity norm u."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    m: Array
    u: Array


class AdadeltaState(NamedTuple):
    """State of adadelta: the averages of squared gradients v and of squared updates u."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    v: Array
    u: Array


class LionState(NamedTuple):
    """State of lion: the momentum m."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    m: Array


State = Any  # one of the NamedTuples above
HpValue = Array | float
Prepared = Mapping[str, HpValue]
#: ``step(g, state, params, t, lr, tmp)``: one in-place update, number ``t``, with the settings
#: bound and the learning rate of this update (``lr``: a 0-d array or an array of the rows').
Step = Callable[[Array, Any, Array, int, Array, Scratch], None]
#: ``prepare(hp) -> step``: bind a chunk's hyperparameters once, with their per-chunk constants.
Prepare = Callable[[Prepared], Step]


# ---------------------------------------------------------------------------------------------
# Kernels. ``prepare(hp)`` binds a chunk's hyperparameters and returns the chunk's ``step``, which
# updates ``params`` and the state's buffers in place for update number ``t`` with learning rate
# ``lr`` (the schedule's, ``optimizers.transforms``); ``tmp`` is three scratch arrays of the
# parameters' shape, owned by the caller. Hyperparameters arrive as arrays
# ((K, 1) columns, or the parameters' full (K, D) shape); one whose entries are all the same
# number becomes that Python float (``constant``), so the step multiplies by a scalar instead of
# streaming an array. Per-chunk constants (1 − β) are computed once in ``prepare``, per-step
# scalars (the bias corrections 1 − βᵗ) once per block of steps (``BiasCorrection``). A scalar
# reaches NumPy as a 0-d float64 array (``scalar``): the same number, but NumPy 2 takes a 0-d
# array as an operand in about half the time it spends on a Python float (whose "weak" type it
# resolves on every call) — a third of a microsecond per call at K = 1,000, D = 2. Every
# operation is elementwise and the arithmetic is the same whichever form a hyperparameter takes:
# a chunk gives the same numbers, bit for bit, as its trials run one at a time.


def scratch(params: Array) -> Scratch:
    """Three scratch arrays of ``params``' shape, for a kernel."""
    return np.empty_like(params), np.empty_like(params), np.empty_like(params)


def constant(value: HpValue) -> HpValue:
    """``value`` as a Python float if every entry is the same number (bit for bit), else the
    array as it is."""
    if isinstance(value, float):
        return value
    flat = np.ravel(value)
    if flat.size and np.all(flat.view(np.int64) == flat[:1].view(np.int64)):
        return float(flat[0])
    return value


def scalar(value: HpValue) -> Array:
    """A ufunc operand for ``value``: a 0-d float64 array for a float, the array itself else."""
    return np.array(value, dtype=np.float64) if isinstance(value, float) else value


def _power_table(beta: float, start: int, stop: int) -> list[float]:
    """1 − βᵗ for start ≤ t < stop, bit for bit as ``1.0 - beta_array ** t`` computes it.

    NumPy's ``array ** t`` squares for t = 2 (its fast path) and calls its own pow otherwise,
    which is not always the C library's that Python's ``**`` on floats uses; the table takes
    NumPy's, so a chunk's numbers do not depend on the form its hyperparameters took.
    """
    ts = np.arange(start, stop, dtype=np.float64)
    powers = np.power(np.float64(beta), ts)
    if start <= 2 < stop:
        powers[2 - start] = (np.full(1, beta) ** 2)[0]
    if start <= 1 < stop:
        powers[1 - start] = beta
    out: list[float] = (1.0 - powers).tolist()
    return out


class BiasCorrection:
    """``corr(t)`` = 1 − βᵗ: when β is one number for the chunk, a Python float from ``table``,
    which holds the ``BLOCK`` steps from ``start`` on (``table[t - start]``) and is refilled in
    place when t leaves it, so its size stays bounded however long the run; when β varies, an
    array computed at the step (``table`` stays empty). ``operands`` holds the same numbers as
    0-d arrays (``scalar``), or None where the number is exactly 1 and ``skip_one`` asked for
    that (dividing by 1 changes nothing: the step skips the division). A step reads
    ``operands[t - start]`` itself while it is in range and calls ``operand(t)`` otherwise.
    """

    BLOCK = 256

    def __init__(self, beta: HpValue, skip_one: bool = False) -> None:
        self.beta = beta
        self.skip_one = skip_one
        self.start = 0
        self.table: list[float] = []
        self.operands: list[Array | None] = []

    def __call__(self, t: int) -> HpValue:
        beta = self.beta
        if not isinstance(beta, float):
            out: Array = 1.0 - beta**t
            return out
        i = t - self.start
        if not 0 <= i < len(self.table):  # blocks start at 1, 1 + BLOCK, …: whatever t a run
            self.start = start = t - (t - 1) % self.BLOCK  # resumes at, the same tables
            i = t - start
            self.table[:] = _power_table(beta, start, start + self.BLOCK)
            self.operands[:] = [None if self.skip_one and c == 1.0 else scalar(c)
                                for c in self.table]
        return self.table[i]

    def operand(self, t: int) -> Array | None:
        """1 − βᵗ as the step's operand (see the class)."""
        value = self(t)
        if not isinstance(value, float):
            return value
        return self.operands[t - self.start]

    def divisor(self, t: int) -> Array:
        """``operand(t)`` of a correction made without ``skip_one``: never None."""
        value = self(t)
        return value if not isinstance(value, float) else scalar(value)


def _root_denominator(v: Array, eps: HpValue, outside: bool, out: Array) -> Array:
    """out ← √(v + eps) (inside) or √v + eps (outside)."""
    if outside:
        np.sqrt(v, out=out)
        out += eps
    else:
        np.add(v, eps, out=out)
        np.sqrt(out, out=out)
    return out


def _sgd(hp: Prepared) -> Step:
    def step(g: Array, state: SGDState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        np.multiply(lr, g, out=tmp[0])
        params -= tmp[0]

    return step


def _momentum(hp: Prepared) -> Step:
    mu = scalar(constant(hp["momentum"]))

    def step(g: Array, state: MomentumState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        v = state.v
        v *= mu
        np.multiply(lr, g, out=tmp[0])
        v += tmp[0]
        params -= v

    return step


def _adagrad(hp: Prepared, *, outside: bool) -> Step:
    eps = scalar(constant(hp["eps"]))

    def step(g: Array, state: AdagradState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a = tmp[0]
        np.multiply(g, g, out=a)
        v = state.v
        v += a
        denom = _root_denominator(v, eps, outside, out=a)
        np.divide(lr, denom, out=a)
        a *= g
        params -= a

    return step


def _rmsprop(hp: Prepared, *, outside: bool) -> Step:
    eps = scalar(constant(hp["eps"]))
    decay = constant(hp["decay"])
    one_minus_decay = scalar(1.0 - decay)
    decay = scalar(decay)

    def step(g: Array, state: RMSpropState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a = tmp[0]
        v = state.v
        v *= decay
        np.multiply(g, g, out=a)
        np.multiply(one_minus_decay, a, out=a)
        v += a
        denom = _root_denominator(v, eps, outside, out=a)
        np.divide(lr, denom, out=a)
        a *= g
        params -= a

    return step


def _adam(hp: Prepared, *, outside: bool) -> Step:
    eps = scalar(constant(hp["eps"]))
    beta1, beta2 = constant(hp["beta1"]), constant(hp["beta2"])
    omb1, omb2 = scalar(1.0 - beta1), scalar(1.0 - beta2)
    corr1, corr2 = BiasCorrection(beta1, skip_one=True), BiasCorrection(beta2)
    ops1 = corr1.operands
    ops2: list[Array] = corr2.operands  # type: ignore[assignment]  # None only with skip_one
    beta1, beta2 = scalar(beta1), scalar(beta2)
    multiply, divide, sqrt = np.multiply, np.divide, np.sqrt

    def step(g: Array, state: AdamState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a, b = tmp[0], tmp[1]
        m, v = state.m, state.v
        m *= beta1
        multiply(omb1, g, out=a)
        m += a
        v *= beta2
        multiply(g, g, out=a)
        multiply(omb2, a, out=a)
        v += a
        i = t - corr1.start
        c1 = ops1[i] if 0 <= i < len(ops1) else corr1.operand(t)
        if c1 is None:  # 1 − β1ᵗ is exactly 1 (βᵗ under half an ulp): m̂ = m/1 is m
            b = m
        else:
            divide(m, c1, out=b)                                                  # m̂
        i = t - corr2.start
        divide(v, ops2[i] if 0 <= i < len(ops2) else corr2.divisor(t), out=a)  # v̂
        if outside:
            sqrt(a, out=a)
            a += eps
        else:
            a += eps
            sqrt(a, out=a)
        divide(lr, a, out=a)
        a *= b
        params -= a

    return step


def _moments(hp: Prepared) -> Callable[[Array, AdamState, Array], None]:
    """``update(g, state, a)``: m ← β1·m + (1−β1)·g ; v ← β2·v + (1−β2)·g², as adam writes it
    (``a`` is scratch)."""
    beta1, beta2 = constant(hp["beta1"]), constant(hp["beta2"])
    omb1, omb2 = scalar(1.0 - beta1), scalar(1.0 - beta2)
    b1, b2 = scalar(beta1), scalar(beta2)
    multiply = np.multiply

    def update(g: Array, state: AdamState, a: Array) -> None:
        m, v = state.m, state.v
        m *= b1
        multiply(omb1, g, out=a)
        m += a
        v *= b2
        multiply(g, g, out=a)
        multiply(omb2, a, out=a)
        v += a

    return update


def _decoupled_decay(hp: Prepared) -> Callable[[Array, Array], None]:
    """``decay(params, lr)``: θ ← θ·(1 − lr·wd), the decoupled weight decay of adamw and lion
    (nothing at all when wd is 0 for the whole chunk). The factor is computed once per distinct
    ``lr`` operand: without a schedule, once per chunk."""
    wd = constant(hp["weight_decay"])
    if isinstance(wd, float) and wd == 0.0:
        return lambda params, lr: None
    wd_op = scalar(wd)
    cache: list[Any] = [None, None]

    def decay(params: Array, lr: Array) -> None:
        if cache[0] is not lr:
            cache[0], cache[1] = lr, 1.0 - np.multiply(lr, wd_op)
        params *= cache[1]

    return decay


def _adamw(hp: Prepared, *, outside: bool) -> Step:
    decay, adam_step = _decoupled_decay(hp), _adam(hp, outside=outside)

    def step(g: Array, state: AdamState, params: Array, t: int, lr: Array, tmp: Scratch) -> None:
        decay(params, lr)
        adam_step(g, state, params, t, lr, tmp)

    return step


def _amsgrad(hp: Prepared, *, outside: bool) -> Step:
    eps = scalar(constant(hp["eps"]))
    moments = _moments(hp)
    corr1, corr2 = BiasCorrection(constant(hp["beta1"])), BiasCorrection(constant(hp["beta2"]))
    divide = np.divide

    def step(g: Array, state: AMSGradState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a, b = tmp[0], tmp[1]
        moments(g, state, a)  # type: ignore[arg-type]  # m and v as adam's
        np.maximum(state.v_max, state.v, out=state.v_max)
        divide(state.m, corr1.divisor(t), out=b)                                  # m̂
        divide(state.v_max, corr2.divisor(t), out=a)                              # v̂_max
        _root_denominator(a, eps, outside, out=a)
        divide(lr, a, out=a)
        a *= b
        params -= a

    return step


def _nadam(hp: Prepared, *, outside: bool) -> Step:
    eps = scalar(constant(hp["eps"]))
    beta1, psi = constant(hp["beta1"]), constant(hp["momentum_decay"])
    moments = _moments(hp)
    corr2 = BiasCorrection(constant(hp["beta2"]))
    product: list[Any] = [0, 1.0]  # (t, μ_1·…·μ_t), carried from update to update
    divide, multiply = np.divide, np.multiply

    def mu(t: int) -> HpValue:
        """μ_t = β1·(1 − ½·0.96^(t·ψ)), through NumPy whatever form ψ takes."""
        power = np.power(np.full(np.shape(psi), 0.96), np.multiply(float(t), psi))
        out: Array = np.multiply(beta1, 1.0 - 0.5 * power)
        return float(out) if np.ndim(out) == 0 else out

    def mu_product(t: int) -> HpValue:
        if product[0] != t - 1:  # not the next update: multiply up from the first
            product[0], product[1] = 0, 1.0
        while product[0] < t:
            product[0] += 1
            product[1] = np.multiply(product[1], mu(product[0]))
        out: HpValue = product[1]
        return out

    def step(g: Array, state: AdamState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a, b = tmp[0], tmp[1]
        moments(g, state, a)
        mu_t, mu_next = mu(t), mu(t + 1)
        prod = mu_product(t)
        divide(state.v, corr2.divisor(t), out=a)                                  # v̂
        _root_denominator(a, eps, outside, out=a)                                 # √v̂ + eps
        # two steps, as torch writes them: lr·(1−μ_t)/(1−Π_t)·g/d, then lr·μ_(t+1)/(1−Π_t·μ_(t+1))·m/d
        grad_coef = np.divide(1.0 - np.asarray(mu_t), 1.0 - np.asarray(prod))
        mom_coef = np.divide(mu_next, 1.0 - np.multiply(prod, mu_next))
        for coef, x in ((grad_coef, g), (mom_coef, state.m)):
            divide(x, a, out=b)
            multiply(np.multiply(lr, coef), b, out=b)
            params -= b

    return step


def _adamax(hp: Prepared) -> Step:
    eps = scalar(constant(hp["eps"]))
    beta1, beta2 = constant(hp["beta1"]), constant(hp["beta2"])
    omb1, b1, b2 = scalar(1.0 - beta1), scalar(beta1), scalar(beta2)
    corr1 = BiasCorrection(beta1)
    multiply, divide = np.multiply, np.divide

    def step(g: Array, state: AdamaxState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a, b = tmp[0], tmp[1]
        m, u = state.m, state.u
        m *= b1
        multiply(omb1, g, out=a)
        m += a
        u *= b2
        np.abs(g, out=a)
        a += eps
        np.maximum(u, a, out=u)
        divide(m, corr1.divisor(t), out=b)                                        # m̂
        divide(b, u, out=b)
        multiply(lr, b, out=b)
        params -= b

    return step


def _adadelta(hp: Prepared) -> Step:
    eps = scalar(constant(hp["eps"]))
    rho = constant(hp["rho"])
    omr, r = scalar(1.0 - rho), scalar(rho)
    multiply, sqrt = np.multiply, np.sqrt

    def step(g: Array, state: AdadeltaState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a, b = tmp[0], tmp[1]
        v, u = state.v, state.u
        v *= r
        multiply(g, g, out=a)
        multiply(omr, a, out=a)
        v += a
        np.add(v, eps, out=a)
        sqrt(a, out=a)                                                            # √(v + eps)
        np.add(u, eps, out=b)
        sqrt(b, out=b)                                                            # √(u + eps)
        b /= a
        b *= g                                                                    # Δ
        u *= r
        multiply(b, b, out=a)
        multiply(omr, a, out=a)
        u += a
        multiply(lr, b, out=b)
        params -= b

    return step


def _radam(hp: Prepared, *, outside: bool) -> Step:
    eps = scalar(constant(hp["eps"]))
    beta2 = constant(hp["beta2"])
    moments = _moments(hp)
    corr1, corr2 = BiasCorrection(constant(hp["beta1"])), BiasCorrection(beta2)
    rho_inf = np.divide(2.0, 1.0 - np.asarray(beta2)) - 1.0
    divide, multiply = np.divide, np.multiply

    def rectification(t: int) -> tuple[HpValue, Any]:
        """r_t and where ρ_t > 5 (a bool, or an array of them for a β2 that varies)."""
        c2 = corr2(t)
        beta2_t = 1.0 - np.asarray(c2)  # β2ᵗ, as the bias correction computed it
        rho_t = rho_inf - 2.0 * t * beta2_t / c2
        on = rho_t > 5.0
        with np.errstate(all="ignore"):
            r = np.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                        / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        if np.ndim(on) == 0:
            return float(r), bool(on)
        return r, on

    def step(g: Array, state: AdamState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a, b = tmp[0], tmp[1]
        moments(g, state, a)
        divide(state.m, corr1.divisor(t), out=b)                                  # m̂
        r, on = rectification(t)
        if on is False:
            multiply(lr, b, out=b)
            params -= b
            return
        _root_denominator(state.v, eps, outside, out=a)                          # √v + eps
        divide(scalar(np.sqrt(corr2(t))), a, out=a)                              # √(1−β2ᵗ)/(√v + eps)
        if on is True:
            multiply(scalar(r), a, out=a)
        else:  # β2 varies: each row rectified or not by its own ρ_t
            np.copyto(a, np.where(on, np.multiply(r, a), 1.0))
        a *= b
        multiply(lr, a, out=a)
        params -= a

    return step


def _lion(hp: Prepared) -> Step:
    decay = _decoupled_decay(hp)
    beta1, beta2 = constant(hp["beta1"]), constant(hp["beta2"])
    omb1, b1 = scalar(1.0 - beta1), scalar(beta1)
    omb2, b2 = scalar(1.0 - beta2), scalar(beta2)
    multiply = np.multiply

    def step(g: Array, state: LionState, params: Array, t: int, lr: Array,
             tmp: Scratch) -> None:
        a, b = tmp[0], tmp[1]
        m = state.m
        decay(params, lr)
        multiply(m, b1, out=a)
        multiply(g, omb1, out=b)
        a += b                                                                    # β1·m + (1−β1)·g
        np.sign(a, out=a)
        multiply(lr, a, out=a)
        params -= a
        m *= b2
        multiply(g, omb2, out=b)
        m += b

    return step


def _nesterov_lookahead(state: MomentumState, params: Array, hp: Prepared, out: Array) -> Array:
    """out ← θ − momentum·v, the point where nesterov evaluates the gradient."""
    np.multiply(hp["momentum"], state.v, out=out)
    np.subtract(params, out, out=out)
    return out


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """An update rule: its hyperparameters, its formula and its in-place kernel.

    Attributes:
      name: the rule's name in specs and in the catalogue.
      summary: one line on what the rule does.
      formula: the update, in the notation of the table above.
      hyperparameters: the swept quantities, in the order trials enumerate them.
      state_type: the NamedTuple of the rule's state.
      prepare: ``prepare(hp)`` binds a chunk's hyperparameters (all but the learning rate,
        which each update is given) and returns its in-place ``step(g, state, params, t, lr,
        tmp)`` (see ``kernel`` for a single call).
      lookahead: for rules that take the gradient somewhere else than at θ (nesterov),
        ``lookahead(state, params, hp, out)`` writes that point into ``out``.
      eps_placement: where eps sits, for rules that have one.
      reference: where the rule comes from.
      weight_decay: "l2", the penalty added to the gradient before the kernel (``l2``), or
        "decoupled", inside the kernel.
    """

    name: str
    summary: str
    formula: str
    hyperparameters: tuple[Hyperparameter, ...]
    state_type: type[Any]
    prepare: Prepare
    lookahead: Callable[[Any, Array, Prepared, Array], Array] | None = None
    eps_placement: EpsPlacement = "inside"
    reference: str = ""
    weight_decay: Literal["l2", "decoupled"] = "l2"
    buffers: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "buffers", tuple(self.state_type._fields[1:]))

    @property
    def has_eps(self) -> bool:
        """Whether the rule offers the eps_placement option (adamax and adadelta have an eps
        but not the choice)."""
        return self.name in RULES_WITH_EPS

    def defaults(self) -> dict[str, float | None]:
        """Hyperparameter name → default (None where required)."""
        return {h.name: h.default for h in self.hyperparameters}

    def init(self, params: Array) -> State:
        """The starting state for ``params`` (K, D): count 0, every buffer zero."""
        return self.state_type(0, *(np.zeros_like(params) for _ in self.buffers))

    def l2(self, hp: Prepared) -> Callable[[Array, State, Array, Array], Array] | None:
        """For a rule whose weight decay is an L2 penalty, and a chunk whose weight_decay is not
        0 throughout: ``add(g, state, params, out) -> out``, out ← g + weight_decay·φ, with φ
        the point where the gradient was taken (θ, or nesterov's look-ahead point); else None
        (at 0 the gradient is the objective's, bit for bit)."""
        if self.weight_decay != "l2":
            return None
        wd = constant(hp["weight_decay"])
        if isinstance(wd, float) and wd == 0.0:
            return None
        wd_op, lookahead = scalar(wd), self.lookahead

        def add(g: Array, state: State, params: Array, out: Array) -> Array:
            point = params if lookahead is None else lookahead(state, params, hp, out)
            np.multiply(wd_op, point, out=out)
            out += g
            return out

        return add

    def kernel(self, grads: Array, state: State, params: Array, hp: Hyper, t: int,
               tmp: Scratch) -> None:
        """Update ``params`` and the state's buffers in place for update number ``t``, weight
        decay included, at the learning rate ``hp["lr"]``."""
        add = self.l2(hp)
        if add is not None:
            grads = add(grads, state, params, np.empty_like(params))
        self.prepare(hp)(grads, state, params, t, scalar(constant(hp["lr"])), tmp)

    def step(self, grads: Array, state: State, params: Array, hp: Hyper, tmp: Scratch) -> State:
        """Advance ``params`` and ``state`` in place by one update; return the state, count + 1."""
        t = state.count + 1
        self.kernel(grads, state, params, hp, t, tmp)
        return state._replace(count=t)

    def update(self, grads: Array, state: State, params: Array,
               hp: Mapping[str, Array | float]) -> tuple[Array, State]:
        """The pure update: new parameters and state; the inputs are left untouched.

        Args:
          grads: gradient (K, D) — for nesterov, taken at ``lookahead_point``.
          state: the state from ``init`` or the previous ``update``.
          params: current parameters θ, (K, D).
          hp: every hyperparameter as a (K, 1) array or a scalar.

        Returns:
          ``(new_params, new_state)``.
        """
        params = np.array(params, dtype=np.float64)
        state = state._replace(**{b: np.array(getattr(state, b)) for b in self.buffers})
        hp = self.broadcast(hp, len(params))
        tmp = scratch(params)
        return params, self.step(np.asarray(grads, dtype=np.float64), state, params, hp, tmp)

    def lookahead_point(self, state: State, params: Array, hp: Mapping[str, Array | float]) -> Array:
        """Where the gradient of the next update is to be taken: θ, or nesterov's θ − momentum·v."""
        if self.lookahead is None:
            return np.asarray(params)
        return self.lookahead(state, params, self.broadcast(hp, len(params)),
                              np.empty_like(params, dtype=np.float64))

    def broadcast(self, hp: Mapping[str, Array | float], k: int) -> dict[str, Array]:
        """Every hyperparameter as a (K, 1) float64 array, defaults filled in."""
        out = {}
        for h in self.hyperparameters:
            value = hp.get(h.name, h.default)
            if value is None:
                raise KeyError(f"{self.name} needs the hyperparameter {h.name!r}")
            out[h.name] = np.broadcast_to(np.asarray(value, dtype=np.float64).reshape(-1, 1),
                                          (k, 1)).copy()
        return out


def _check_placement(eps_placement: str) -> None:
    if eps_placement not in ("inside", "outside"):
        raise ValueError(f"eps_placement must be 'inside' or 'outside', not {eps_placement!r}")


def _eps_formula(eps_placement: EpsPlacement, inner: str) -> str:
    return f"√({inner} + eps)" if eps_placement == "inside" else f"(√{inner} + eps)"


@dataclass(frozen=True)
class RuleDefinition:
    """A rule declared once: what the catalogue, the validation, the README's table and the
    dashboard's form read, and its kernel.

    ``formula`` writes the denominators that hold eps as placeholders, ``{root_v}``,
    ``{root_vhat}``, ``{root_vmax}``: ``√(v + eps)`` inside, ``(√v + eps)`` outside (a rule
    without the choice writes its eps out). ``prepare(hp)`` binds the kernel (with
    ``outside=`` for a rule with the choice). ``placement``: the rule's default eps placement,
    None where there is no choice. ``weight_decay``: "l2" (added to the gradient by the chain
    of ``optimizers.transforms``, as torch does) or "decoupled" (the kernel's own
    θ ← θ·(1 − lr·wd)).
    """

    name: str
    summary: str
    formula: str
    hyperparameters: tuple[Hyperparameter, ...]
    state_type: type[Any]
    prepare: Callable[..., Step]
    reference: str
    placement: EpsPlacement | None = None
    weight_decay: Literal["l2", "decoupled"] = "l2"
    lookahead: Callable[[Any, Array, Prepared, Array], Array] | None = None

    def formula_at(self, eps_placement: EpsPlacement) -> str:
        """The formula with eps where ``eps_placement`` puts it."""
        return self.formula.format(**{f"root_{key}": _eps_formula(eps_placement, symbol)
                                      for key, symbol in (("v", "v"), ("vhat", "v̂"),
                                                          ("vmax", "v̂_max"))})

    def build(self, eps_placement: EpsPlacement | None = None) -> Rule:
        """The rule, with eps where ``eps_placement`` puts it (default: the rule's own)."""
        if self.placement is None:
            if eps_placement not in (None, "inside"):
                _check_placement(eps_placement)
                raise ValueError(f"eps_placement applies to {', '.join(RULES_WITH_EPS)} only, "
                                 f"not {self.name}")
            placement: EpsPlacement = "inside"
            prepare = self.prepare
        else:
            placement = self.placement if eps_placement is None else eps_placement
            _check_placement(placement)
            prepare = partial(self.prepare, outside=placement == "outside")
        return Rule(self.name, self.summary, self.formula_at(placement), self.hyperparameters,
                    self.state_type, prepare, lookahead=self.lookahead, eps_placement=placement,
                    reference=self.reference, weight_decay=self.weight_decay)


ADAM_HP = (LR, BETA1, BETA2, EPS)
DEFINITIONS: tuple[RuleDefinition, ...] = (
    RuleDefinition("sgd", "plain gradient descent", "θ ← θ − lr·g", (LR, WEIGHT_DECAY),
                   SGDState, _sgd, "Robbins & Monro, 1951"),
    RuleDefinition("momentum", "gradient descent with heavy-ball momentum",
                   "v ← momentum·v + lr·g ; θ ← θ − v", (LR, MOMENTUM, WEIGHT_DECAY),
                   MomentumState, _momentum, "Polyak, 1964"),
    RuleDefinition("nesterov", "Nesterov's accelerated gradient (look-ahead momentum)",
                   "v ← momentum·v + lr·∇J(θ − momentum·v) ; θ ← θ − v",
                   (LR, MOMENTUM, WEIGHT_DECAY), MomentumState, _momentum,
                   "Nesterov, 1983; Sutskever et al., 2013", lookahead=_nesterov_lookahead),
    RuleDefinition("adagrad", "per-coordinate steps scaled by the sum of squared gradients",
                   "v ← v + g² ; θ ← θ − lr/{root_v} · g", (LR, EPS, WEIGHT_DECAY),
                   AdagradState, _adagrad, "Duchi, Hazan & Singer, 2011", placement="inside"),
    RuleDefinition("rmsprop", "per-coordinate steps scaled by a decaying mean of squared "
                   "gradients", "v ← decay·v + (1−decay)·g² ; θ ← θ − lr/{root_v} · g",
                   (LR, DECAY, EPS, WEIGHT_DECAY), RMSpropState, _rmsprop,
                   "Tieleman & Hinton, 2012", placement="inside"),
    RuleDefinition("adam", "bias-corrected first and second moment estimates",
                   "m ← β1·m + (1−β1)·g ; v ← β2·v + (1−β2)·g² ; m̂ = m/(1−β1ᵗ) ; "
                   "v̂ = v/(1−β2ᵗ) ; θ ← θ − lr/{root_vhat} · m̂", (*ADAM_HP, WEIGHT_DECAY),
                   AdamState, _adam, "Kingma & Ba, 2015", placement="inside"),
    RuleDefinition("adamw", "adam with decoupled weight decay",
                   "θ ← θ·(1 − lr·weight_decay) ; m, v, m̂, v̂ as adam ; "
                   "θ ← θ − lr·m̂/{root_vhat}", (*ADAM_HP, DECOUPLED_WEIGHT_DECAY), AdamState,
                   _adamw, "Loshchilov & Hutter, 2019; torch.optim.AdamW", placement="outside",
                   weight_decay="decoupled"),
    RuleDefinition("amsgrad", "adam with the largest second moment so far",
                   "m, v as adam ; v_max ← max(v_max, v) ; m̂ = m/(1−β1ᵗ) ; "
                   "v̂_max = v_max/(1−β2ᵗ) ; θ ← θ − lr·m̂/{root_vmax}",
                   (*ADAM_HP, WEIGHT_DECAY), AMSGradState, _amsgrad,
                   "Reddi, Kale & Kumar, 2018; torch.optim.Adam(amsgrad=True)",
                   placement="outside"),
    RuleDefinition("nadam", "adam with Nesterov momentum and a momentum schedule",
                   "μ_t = β1·(1 − ½·0.96^(t·ψ)) ; Π_t = μ_1⋯μ_t ; m, v as adam ; "
                   "v̂ = v/(1−β2ᵗ) ; θ ← θ − lr·[(1−μ_t)/(1−Π_t)·g + "
                   "μ_(t+1)/(1−Π_t·μ_(t+1))·m]/{root_vhat}",
                   (*ADAM_HP, MOMENTUM_DECAY, WEIGHT_DECAY), AdamState, _nadam,
                   "Dozat, 2016; torch.optim.NAdam", placement="outside"),
    RuleDefinition("adamax", "adam with the infinity norm in place of the second moment",
                   "m ← β1·m + (1−β1)·g ; u ← max(β2·u, |g| + eps) ; "
                   "θ ← θ − lr/(1−β1ᵗ) · m/u", (*ADAM_HP, WEIGHT_DECAY), AdamaxState, _adamax,
                   "Kingma & Ba, 2015; torch.optim.Adamax"),
    RuleDefinition("adadelta", "steps scaled by the ratio of the updates' and the gradients' "
                   "root mean squares", "v ← ρ·v + (1−ρ)·g² ; Δ = √(u + eps)/√(v + eps) · g ; "
                   "u ← ρ·u + (1−ρ)·Δ² ; θ ← θ − lr·Δ", (LR, RHO, ADADELTA_EPS, WEIGHT_DECAY),
                   AdadeltaState, _adadelta, "Zeiler, 2012; torch.optim.Adadelta"),
    RuleDefinition("radam", "adam with the variance of its adaptive step rectified",
                   "m, v as adam ; m̂ = m/(1−β1ᵗ) ; ρ∞ = 2/(1−β2) − 1 ; "
                   "ρ_t = ρ∞ − 2t·β2ᵗ/(1−β2ᵗ) ; if ρ_t > 5: "
                   "r_t = √((ρ_t−4)(ρ_t−2)ρ∞/((ρ∞−4)(ρ∞−2)ρ_t)), "
                   "θ ← θ − lr·r_t·m̂·√(1−β2ᵗ)/{root_v} ; else θ ← θ − lr·m̂",
                   (*ADAM_HP, WEIGHT_DECAY), AdamState, _radam,
                   "Liu et al., 2020; torch.optim.RAdam", placement="outside"),
    RuleDefinition("lion", "the sign of an interpolated momentum (evolved sign momentum)",
                   "θ ← θ·(1 − lr·weight_decay) ; θ ← θ − lr·sign(β1·m + (1−β1)·g) ; "
                   "m ← β2·m + (1−β2)·g", (LR, LION_BETA1, LION_BETA2, LION_WEIGHT_DECAY),
                   LionState, _lion, "Chen et al., 2023 (google/automl, lion)",
                   weight_decay="decoupled"),
)
_DEFINITIONS: dict[str, RuleDefinition] = {d.name: d for d in DEFINITIONS}
RULE_NAMES: tuple[str, ...] = tuple(_DEFINITIONS)
RULES_WITH_EPS: tuple[str, ...] = tuple(d.name for d in DEFINITIONS if d.placement is not None)


def definition(name: str) -> RuleDefinition:
    """The declaration of the rule called ``name``.

    Raises:
      KeyError: ``name`` is not a rule; the message lists the valid names.
    """
    if name not in _DEFINITIONS:
        raise KeyError(f"unknown optimizer {name!r}; valid choices: {', '.join(RULE_NAMES)}")
    return _DEFINITIONS[name]


def default_placement(name: str) -> EpsPlacement:
    """Where ``name`` puts eps unless told: inside for the seed's rules, outside (as torch) for
    adamw, amsgrad, nadam and radam; "inside" (the only form) for a rule without the choice."""
    return definition(name).placement or "inside"


def make_rule(name: str, eps_placement: EpsPlacement | None = None) -> Rule:
    """The rule called ``name``, with eps inside or outside the square root (default: the
    rule's own placement).

    Raises:
      KeyError: ``name`` is not a rule; the message lists the valid names.
      ValueError: ``eps_placement`` is not "inside"/"outside", or "outside" for a rule without
        the choice.
    """
    return definition(name).build(eps_placement)


def sgd() -> Rule:
    """Plain gradient descent: θ ← θ − lr·g."""
    return make_rule("sgd")


def momentum() -> Rule:
    """Heavy-ball momentum: v ← momentum·v + lr·g ; θ ← θ − v.

    PyTorch's SGD with momentum is the same rule: its buffer is v/lr.
    """
    return make_rule("momentum")


def nesterov() -> Rule:
    """Nesterov momentum: v ← momentum·v + lr·∇J(θ − momentum·v) ; θ ← θ − v.

    PyTorch's ``SGD(nesterov=True)`` follows the look-ahead point φ = θ − momentum·v with the
    buffer v/lr; the two trajectories map onto each other exactly under that change of variables.
    """
    return make_rule("nesterov")


def adagrad(eps_placement: EpsPlacement = "inside") -> Rule:
    """Adagrad: v ← v + g² ; θ ← θ − lr/√(v + eps) · g."""
    return make_rule("adagrad", eps_placement)


def rmsprop(eps_placement: EpsPlacement = "inside") -> Rule:
    """RMSprop: v ← decay·v + (1−decay)·g² ; θ ← θ − lr/√(v + eps) · g."""
    return make_rule("rmsprop", eps_placement)


def adam(eps_placement: EpsPlacement = "inside") -> Rule:
    """Adam: m ← β1·m + (1−β1)·g ; v ← β2·v + (1−β2)·g² ; m̂ = m/(1−β1ᵗ) ; v̂ = v/(1−β2ᵗ) ;
    θ ← θ − lr/√(v̂ + eps) · m̂."""
    return make_rule("adam", eps_placement)


__all__ = [
    "DEFINITIONS", "RULES_WITH_EPS", "RULE_NAMES", "AMSGradState", "AdadeltaState",
    "AdagradState", "AdamState", "AdamaxState", "BiasCorrection", "Hyperparameter", "LionState",
    "MomentumState", "RMSpropState", "Rule", "RuleDefinition", "SGDState", "adagrad", "adam",
    "constant", "default_placement", "definition", "make_rule", "momentum", "nesterov",
    "rmsprop", "scalar", "scratch", "sgd",
]
