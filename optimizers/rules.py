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
Scratch = tuple[Array, Array]


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
    """State of adam: first moment m and second moment v."""

    count: int  # type: ignore[assignment]  # the update count t, as optax names it
    m: Array
    v: Array


State = Any  # one of the NamedTuples above
HpValue = Array | float
Prepared = Mapping[str, HpValue]
#: ``step(g, state, params, t, tmp)``: one in-place update, number ``t``, with the settings bound.
Step = Callable[[Array, Any, Array, int, Scratch], None]
#: ``prepare(hp) -> step``: bind a chunk's hyperparameters once, with their per-chunk constants.
Prepare = Callable[[Prepared], Step]


# ---------------------------------------------------------------------------------------------
# Kernels. ``prepare(hp)`` binds a chunk's hyperparameters and returns the chunk's ``step``, which
# updates ``params`` and the state's buffers in place for update number ``t``; ``tmp`` is two
# scratch arrays of the parameters' shape, owned by the caller. Hyperparameters arrive as arrays
# ((K, 1) columns, or the parameters' full (K, D) shape); one whose entries are all the same
# number becomes that Python float (``constant``), so the step multiplies by a scalar instead of
# streaming an array. Per-chunk constants (1 − β) are computed once in ``prepare``, per-step
# scalars (the bias corrections 1 − βᵗ) once per block of steps (``BiasCorrection``). A scalar
# reaches NumPy as a 0-d float64 array (``scalar``): the same number, but NumPy 2 takes a 0-d
# array as an operand in about half the time it spends on a Python float (whose "weak" type it
# resolves on every call) — a third of a microsecond per call at K = 1,000, D = 2. Every
# operation is elementwise and the arithmetic is the same whichever form a hyperparameter takes:
# a chunk gives the same numbers, bit for bit, as its trials run one at a time.


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
        if not 0 <= i < len(self.table):
            self.start, i = t, 0
            self.table[:] = _power_table(beta, t, t + self.BLOCK)
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
    lr = scalar(constant(hp["lr"]))

    def step(g: Array, state: SGDState, params: Array, t: int, tmp: Scratch) -> None:
        np.multiply(lr, g, out=tmp[0])
        params -= tmp[0]

    return step


def _momentum(hp: Prepared) -> Step:
    lr, mu = scalar(constant(hp["lr"])), scalar(constant(hp["momentum"]))

    def step(g: Array, state: MomentumState, params: Array, t: int, tmp: Scratch) -> None:
        v = state.v
        v *= mu
        np.multiply(lr, g, out=tmp[0])
        v += tmp[0]
        params -= v

    return step


def _adagrad(hp: Prepared, *, outside: bool) -> Step:
    lr, eps = scalar(constant(hp["lr"])), scalar(constant(hp["eps"]))

    def step(g: Array, state: AdagradState, params: Array, t: int, tmp: Scratch) -> None:
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
    lr, eps = scalar(constant(hp["lr"])), scalar(constant(hp["eps"]))
    decay = constant(hp["decay"])
    one_minus_decay = scalar(1.0 - decay)
    decay = scalar(decay)

    def step(g: Array, state: RMSpropState, params: Array, t: int, tmp: Scratch) -> None:
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
    lr, eps = scalar(constant(hp["lr"])), scalar(constant(hp["eps"]))
    beta1, beta2 = constant(hp["beta1"]), constant(hp["beta2"])
    omb1, omb2 = scalar(1.0 - beta1), scalar(1.0 - beta2)
    corr1, corr2 = BiasCorrection(beta1, skip_one=True), BiasCorrection(beta2)
    ops1 = corr1.operands
    ops2: list[Array] = corr2.operands  # type: ignore[assignment]  # None only with skip_one
    beta1, beta2 = scalar(beta1), scalar(beta2)
    multiply, divide, sqrt = np.multiply, np.divide, np.sqrt

    def step(g: Array, state: AdamState, params: Array, t: int, tmp: Scratch) -> None:
        a, b = tmp
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
      prepare: ``prepare(hp)`` binds a chunk's hyperparameters and returns its in-place
        ``step(g, state, params, t, tmp)`` (see ``kernel`` for a single call).
      lookahead: for rules that take the gradient somewhere else than at θ (nesterov),
        ``lookahead(state, params, hp, out)`` writes that point into ``out``.
      eps_placement: where eps sits, for rules that have one.
      reference: where the rule comes from.
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
    buffers: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "buffers", tuple(self.state_type._fields[1:]))

    @property
    def has_eps(self) -> bool:
        """Whether the rule has an eps hyperparameter (and so an eps_placement option)."""
        return any(h.name == "eps" for h in self.hyperparameters)

    def defaults(self) -> dict[str, float | None]:
        """Hyperparameter name → default (None where required)."""
        return {h.name: h.default for h in self.hyperparameters}

    def init(self, params: Array) -> State:
        """The starting state for ``params`` (K, D): count 0, every buffer zero."""
        return self.state_type(0, *(np.zeros_like(params) for _ in self.buffers))

    def kernel(self, grads: Array, state: State, params: Array, hp: Hyper, t: int,
               tmp: Scratch) -> None:
        """Update ``params`` and the state's buffers in place for update number ``t``."""
        self.prepare(hp)(grads, state, params, t, tmp)

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
        tmp = (np.empty_like(params), np.empty_like(params))
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


def _eps_formula(eps_placement: EpsPlacement, inner: str) -> str:
    return f"√({inner} + eps)" if eps_placement == "inside" else f"(√{inner} + eps)"


def _check_placement(eps_placement: str) -> None:
    if eps_placement not in ("inside", "outside"):
        raise ValueError(f"eps_placement must be 'inside' or 'outside', not {eps_placement!r}")


def sgd() -> Rule:
    """Plain gradient descent: θ ← θ − lr·g."""
    return Rule("sgd", "plain gradient descent", "θ ← θ − lr·g", (LR,), SGDState, _sgd,
                reference="Robbins & Monro, 1951")


def momentum() -> Rule:
    """Heavy-ball momentum: v ← momentum·v + lr·g ; θ ← θ − v.

    PyTorch's SGD with momentum is the same rule: its buffer is v/lr.
    """
    return Rule("momentum", "gradient descent with heavy-ball momentum",
                "v ← momentum·v + lr·g ; θ ← θ − v", (LR, MOMENTUM), MomentumState, _momentum,
                reference="Polyak, 1964")


def nesterov() -> Rule:
    """Nesterov momentum: v ← momentum·v + lr·∇J(θ − momentum·v) ; θ ← θ − v.

    PyTorch's ``SGD(nesterov=True)`` follows the look-ahead point φ = θ − momentum·v with the
    buffer v/lr; the two trajectories map onto each other exactly under that change of variables.
    """
    return Rule("nesterov", "Nesterov's accelerated gradient (look-ahead momentum)",
                "v ← momentum·v + lr·∇J(θ − momentum·v) ; θ ← θ − v", (LR, MOMENTUM),
                MomentumState, _momentum, lookahead=_nesterov_lookahead,
                reference="Nesterov, 1983; Sutskever et al., 2013")


def adagrad(eps_placement: EpsPlacement = "inside") -> Rule:
    """Adagrad: v ← v + g² ; θ ← θ − lr/√(v + eps) · g."""
    _check_placement(eps_placement)
    return Rule("adagrad", "per-coordinate steps scaled by the sum of squared gradients",
                f"v ← v + g² ; θ ← θ − lr/{_eps_formula(eps_placement, 'v')} · g",
                (LR, EPS), AdagradState, partial(_adagrad, outside=eps_placement == "outside"),
                eps_placement=eps_placement, reference="Duchi, Hazan & Singer, 2011")


def rmsprop(eps_placement: EpsPlacement = "inside") -> Rule:
    """RMSprop: v ← decay·v + (1−decay)·g² ; θ ← θ − lr/√(v + eps) · g."""
    _check_placement(eps_placement)
    return Rule("rmsprop", "per-coordinate steps scaled by a decaying mean of squared gradients",
                "v ← decay·v + (1−decay)·g² ; "
                f"θ ← θ − lr/{_eps_formula(eps_placement, 'v')} · g",
                (LR, DECAY, EPS), RMSpropState, partial(_rmsprop, outside=eps_placement == "outside"),
                eps_placement=eps_placement, reference="Tieleman & Hinton, 2012")


def adam(eps_placement: EpsPlacement = "inside") -> Rule:
    """Adam: m ← β1·m + (1−β1)·g ; v ← β2·v + (1−β2)·g² ; m̂ = m/(1−β1ᵗ) ; v̂ = v/(1−β2ᵗ) ;
    θ ← θ − lr/√(v̂ + eps) · m̂."""
    _check_placement(eps_placement)
    return Rule("adam", "bias-corrected first and second moment estimates",
                "m ← β1·m + (1−β1)·g ; v ← β2·v + (1−β2)·g² ; m̂ = m/(1−β1ᵗ) ; "
                f"v̂ = v/(1−β2ᵗ) ; θ ← θ − lr/{_eps_formula(eps_placement, 'v̂')} · m̂",
                (LR, BETA1, BETA2, EPS), AdamState, partial(_adam, outside=eps_placement == "outside"),
                eps_placement=eps_placement, reference="Kingma & Ba, 2015")


_FACTORIES: dict[str, Callable[..., Rule]] = {
    "sgd": sgd, "momentum": momentum, "nesterov": nesterov,
    "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam,
}
RULE_NAMES: tuple[str, ...] = tuple(_FACTORIES)
RULES_WITH_EPS: tuple[str, ...] = ("adagrad", "rmsprop", "adam")


def make_rule(name: str, eps_placement: EpsPlacement = "inside") -> Rule:
    """The rule called ``name``, with eps inside or outside the square root.

    Raises:
      KeyError: ``name`` is not a rule; the message lists the valid names.
      ValueError: ``eps_placement`` is not "inside"/"outside", or "outside" for a rule without eps.
    """
    if name not in _FACTORIES:
        raise KeyError(f"unknown optimizer {name!r}; valid choices: {', '.join(RULE_NAMES)}")
    if name in RULES_WITH_EPS:
        return _FACTORIES[name](eps_placement)
    if eps_placement != "inside":
        raise ValueError(f"eps_placement applies to {', '.join(RULES_WITH_EPS)} only, not {name}")
    return _FACTORIES[name]()


__all__ = [
    "RULES_WITH_EPS",
    "BiasCorrection",
    "RULE_NAMES",
    "AdagradState",
    "AdamState",
    "Hyperparameter",
    "MomentumState",
    "RMSpropState",
    "Rule",
    "SGDState",
    "adagrad",
    "adam",
    "constant",
    "make_rule",
    "momentum",
    "nesterov",
    "rmsprop",
    "scalar",
    "sgd",
]
