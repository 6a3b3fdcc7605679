"""Tests for optimizers.rules and optimizers.stepper: the update rules against their formulas.

One table (``CASES``) holds every rule with every eps placement it offers, together with the
hyperparameter settings the numeric checks run at; every check is parametrised over it:

- the library's pure ``update`` follows a literal, plain-float transcription of the §1 formula;
- a batch of K trials equals K single-trial runs bit for bit;
- ``update`` leaves its inputs alone, and the state keeps the trial axis K;
- the blocked, multi-threaded ``Stepper`` equals the pure ``update`` bit for bit;
- the loss falls on a convex problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import optimizers.rules as rules_module
from optimizers.rules import RULE_NAMES, RULES_WITH_EPS, Rule, make_rule
from optimizers.stepper import Stepper

FloatArray = npt.NDArray[np.float64]
Vector = list[float]
Hp = dict[str, float]


# ---------------------------------------------------------------------------------------------
# The table.


@dataclass(frozen=True)
class Case:
    """One rule (with one eps placement) and the settings the numeric checks use.

    Attributes:
      name: the rule's name.
      placement: where eps sits ("inside" or "outside").
      settings: hyperparameter settings that keep 2-D rosenbrock from (−1.2, 1) stable; the first
        is the base of the batched checks. Together they leave every default at least once.
      convex_hp: a setting that makes the loss of ``QUADRATIC`` fall fast.
    """

    name: str
    placement: str
    settings: tuple[Hp, ...]
    convex_hp: Hp

    @property
    def id(self) -> str:
        return self.name if self.placement == "inside" else f"{self.name}-{self.placement}"

    def rule(self) -> Rule:
        return make_rule(self.name, self.placement)  # type: ignore[arg-type]


_SGD = ({"lr": 1e-4}, {"lr": 5e-4}, {"lr": 1e-3})
_MOMENTUM = ({"lr": 1e-4}, {"lr": 2e-4, "momentum": 0.5}, {"lr": 5e-5, "momentum": 0.95})
_ADAGRAD = ({"lr": 0.05}, {"lr": 0.1, "eps": 1e-3}, {"lr": 0.02, "eps": 0.0})
_RMSPROP = ({"lr": 1e-3}, {"lr": 5e-3, "decay": 0.99, "eps": 1e-4},
            {"lr": 2e-3, "decay": 0.5, "eps": 0.0})
_ADAM = ({"lr": 1e-3}, {"lr": 1e-2, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
         {"lr": 5e-3, "beta1": 0.5, "beta2": 0.9, "eps": 0.0})

CASES = [
    Case("sgd", "inside", _SGD, {"lr": 0.05}),
    Case("momentum", "inside", _MOMENTUM, {"lr": 0.01, "momentum": 0.8}),
    Case("nesterov", "inside", _MOMENTUM, {"lr": 0.01, "momentum": 0.8}),
    Case("adagrad", "inside", _ADAGRAD, {"lr": 0.5}),
    Case("adagrad", "outside", _ADAGRAD, {"lr": 0.5}),
    Case("rmsprop", "inside", _RMSPROP, {"lr": 0.01}),
    Case("rmsprop", "outside", _RMSPROP, {"lr": 0.01}),
    Case("adam", "inside", _ADAM, {"lr": 0.05}),
    Case("adam", "outside", _ADAM, {"lr": 0.05}),
]
CASE_PARAMS = [pytest.param(c, id=c.id) for c in CASES]
# The rules beyond the seed: torch.optim's definitions (tests/optimizers/test_torch_rules.py checks
# them against torch); here the batched, stepper and purity checks that every rule must pass.
_ADAMW = ({"lr": 1e-3}, {"lr": 1e-2, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6,
                         "weight_decay": 0.1})
NEW_CASES = [
    Case("adamw", "outside", _ADAMW, {"lr": 0.05}),
    Case("adamw", "inside", _ADAMW, {"lr": 0.05}),
    Case("amsgrad", "outside", _ADAM, {"lr": 0.05}),
    Case("amsgrad", "inside", _ADAM, {"lr": 0.05}),
    Case("nadam", "outside", ({"lr": 1e-3}, {"lr": 5e-3, "momentum_decay": 0.01}),
         {"lr": 0.05}),
    Case("nadam", "inside", ({"lr": 1e-3},), {"lr": 0.05}),
    Case("adamax", "inside", _ADAM, {"lr": 0.05}),
    Case("adadelta", "inside", ({"lr": 1.0}, {"lr": 0.5, "rho": 0.95, "eps": 1e-4}),
         {"lr": 10.0}),
    Case("radam", "outside", _ADAM, {"lr": 0.05}),
    Case("radam", "inside", _ADAM, {"lr": 0.05}),
    Case("lion", "inside", ({"lr": 1e-4}, {"lr": 1e-3, "beta1": 0.8, "beta2": 0.9,
                                           "weight_decay": 0.1}), {"lr": 0.03}),
]
ALL_CASES = CASES + NEW_CASES
ALL_PARAMS = [pytest.param(c, id=c.id) for c in ALL_CASES]

# The hyperparameters of each formula and their defaults (None: required).
# Every rule has weight_decay (0: the seed's formulas unchanged; adamw's decoupled default 0.01).
_ADAM_DEFAULTS = {"lr": None, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
FORMULA_DEFAULTS: dict[str, dict[str, float | None]] = {
    "sgd": {"lr": None, "weight_decay": 0.0},
    "momentum": {"lr": None, "momentum": 0.9, "weight_decay": 0.0},
    "nesterov": {"lr": None, "momentum": 0.9, "weight_decay": 0.0},
    "adagrad": {"lr": None, "eps": 1e-8, "weight_decay": 0.0},
    "rmsprop": {"lr": None, "decay": 0.9, "eps": 1e-8, "weight_decay": 0.0},
    "adam": {**_ADAM_DEFAULTS, "weight_decay": 0.0},
    "adamw": {**_ADAM_DEFAULTS, "weight_decay": 0.01},
    "amsgrad": {**_ADAM_DEFAULTS, "weight_decay": 0.0},
    "nadam": {**_ADAM_DEFAULTS, "momentum_decay": 0.004, "weight_decay": 0.0},
    "adamax": {**_ADAM_DEFAULTS, "weight_decay": 0.0},
    "adadelta": {"lr": None, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
    "radam": {**_ADAM_DEFAULTS, "weight_decay": 0.0},
    "lion": {"lr": None, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0},
}
# The rules whose eps placement is outside unless told (as torch's).
OUTSIDE_BY_DEFAULT = {"adamw", "amsgrad", "nadam", "radam"}


def test_table_covers_every_rule_and_placement() -> None:
    assert set(RULE_NAMES) == set(FORMULA_DEFAULTS)
    expected = {(n, "inside") for n in RULE_NAMES} | {(n, "outside") for n in RULES_WITH_EPS}
    assert {(c.name, c.placement) for c in ALL_CASES} == expected


# ---------------------------------------------------------------------------------------------
# Problems, written by hand in plain floats (independent of optimizers.objectives).

GradFn = Callable[[Sequence[float]], Vector]


def rosenbrock_grad(x: Sequence[float], a: float = 1.0, b: float = 100.0) -> Vector:
    """∇ of f(x) = Σᵢ b·(xᵢ₊₁ − xᵢ²)² + (a − xᵢ)², coordinate by coordinate."""
    d = len(x)
    g = [0.0] * d
    for i in range(d - 1):
        g[i] += -4.0 * b * x[i] * (x[i + 1] - x[i] ** 2) - 2.0 * (a - x[i])
        g[i + 1] += 2.0 * b * (x[i + 1] - x[i] ** 2)
    return g


QUAD_LAMBDA = (1.0, 2.0, 3.5, 6.0, 10.0)


def quadratic_loss(x: Sequence[float]) -> float:
    """f(x) = ½ Σᵢ λᵢ·xᵢ² with λ = QUAD_LAMBDA."""
    return 0.5 * sum(lam * xi * xi for lam, xi in zip(QUAD_LAMBDA, x, strict=True))


def quadratic_grad(x: Sequence[float]) -> Vector:
    return [lam * xi for lam, xi in zip(QUAD_LAMBDA, x, strict=True)]


PROBLEMS: dict[str, tuple[GradFn, Vector]] = {
    "rosenbrock2": (rosenbrock_grad, [-1.2, 1.0]),
    "quadratic5": (quadratic_grad, [1.0, -0.5, 0.8, -1.1, 0.3]),
}


def batched_rosenbrock_grad(x: FloatArray) -> FloatArray:
    """The same rosenbrock gradient for a (K, D) batch, rows independent."""
    x0, x1 = x[:, :-1], x[:, 1:]
    t = x1 - x0 * x0
    g = np.zeros_like(x)
    g[:, :-1] = -400.0 * x0 * t - 2.0 * (1.0 - x0)
    g[:, 1:] += 200.0 * t
    return g


# ---------------------------------------------------------------------------------------------
# The reference: each formula transcribed literally, one trial, plain Python floats.


def _root(x: float, eps: float, placement: str) -> float:
    """√(x + eps) with eps inside, √x + eps with eps outside."""
    return math.sqrt(x + eps) if placement == "inside" else math.sqrt(x) + eps


# Each takes one coordinate: (θ, g, m, v, hp, t, placement) -> (θ, m, v).
def _ref_sgd(th: float, g: float, m: float, v: float, hp: Hp, t: int,
             placement: str) -> tuple[float, float, float]:
    return th - hp["lr"] * g, m, v


def _ref_momentum(th: float, g: float, m: float, v: float, hp: Hp, t: int,
                  placement: str) -> tuple[float, float, float]:
    v = hp["momentum"] * v + hp["lr"] * g
    return th - v, m, v


def _ref_adagrad(th: float, g: float, m: float, v: float, hp: Hp, t: int,
                 placement: str) -> tuple[float, float, float]:
    v = v + g**2
    return th - hp["lr"] / _root(v, hp["eps"], placement) * g, m, v


def _ref_rmsprop(th: float, g: float, m: float, v: float, hp: Hp, t: int,
                 placement: str) -> tuple[float, float, float]:
    decay = hp["decay"]
    v = decay * v + (1 - decay) * g**2
    return th - hp["lr"] / _root(v, hp["eps"], placement) * g, m, v


def _ref_adam(th: float, g: float, m: float, v: float, hp: Hp, t: int,
              placement: str) -> tuple[float, float, float]:
    b1, b2 = hp["beta1"], hp["beta2"]
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    mhat = m / (1 - b1**t)
    vhat = v / (1 - b2**t)
    return th - hp["lr"] / _root(vhat, hp["eps"], placement) * mhat, m, v


REFERENCE = {
    "sgd": _ref_sgd,
    "momentum": _ref_momentum,
    "nesterov": _ref_momentum,  # the same update; the gradient is taken at θ − momentum·v
    "adagrad": _ref_adagrad,
    "rmsprop": _ref_rmsprop,
    "adam": _ref_adam,
}


def with_defaults(name: str, hp: Hp) -> Hp:
    """``hp`` with the formulas' defaults filled in (plain floats)."""
    out = {k: v for k, v in FORMULA_DEFAULTS[name].items() if v is not None}
    out.update(hp)
    return out


def reference_run(name: str, placement: str, hp: Hp, grad: GradFn, start: Vector,
                  steps: int) -> list[Vector]:
    """θ after each of ``steps`` updates, by the literal formulas."""
    hp = with_defaults(name, hp)
    theta = list(start)
    d = len(theta)
    m, v = [0.0] * d, [0.0] * d
    out = []
    for t in range(1, steps + 1):
        if name == "nesterov":
            g = grad([theta[i] - hp["momentum"] * v[i] for i in range(d)])
        else:
            g = grad(theta)
        for i in range(d):
            theta[i], m[i], v[i] = REFERENCE[name](theta[i], g[i], m[i], v[i], hp, t, placement)
        out.append(list(theta))
    return out


# ---------------------------------------------------------------------------------------------
# The library, driven the same way.


def library_run(rule: Rule, hp: dict[str, Any], grad: Callable[[FloatArray], FloatArray],
                start: FloatArray, steps: int) -> tuple[list[FloatArray], Any]:
    """Parameters after each of ``steps`` pure updates, and the final state.

    ``grad`` maps a (K, D) batch to its (K, D) gradient; it is taken at ``lookahead_point``.
    """
    params = np.array(start, dtype=np.float64)
    state = rule.init(params)
    out = []
    for _ in range(steps):
        g = grad(rule.lookahead_point(state, params, hp))
        params, state = rule.update(g, state, params, hp)
        out.append(params)
    return out, state


def rows(grad: GradFn) -> Callable[[FloatArray], FloatArray]:
    """A plain-float gradient applied to each row of a (K, D) batch."""
    return lambda x: np.array([grad(list(map(float, row))) for row in x], dtype=np.float64)


def max_relative_error(ours: FloatArray, ref: FloatArray) -> float:
    """max over steps of max_i |ours_i − ref_i| / max_i |ref_i| (rows are steps).

    Each step's error is measured against the size of that step's iterate, not coordinate by
    coordinate: a coordinate converging to 0 (the quadratic's minimum) makes a per-coordinate
    ratio of two values near 1e-10 meaningless.
    """
    ours, ref = np.atleast_2d(ours), np.atleast_2d(ref)
    assert ours.shape == ref.shape
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(ref))
    diff = np.max(np.abs(ours - ref), axis=1)
    scale = np.max(np.abs(ref), axis=1)
    assert np.all(scale > 0)
    return float(np.max(diff / scale))


# ---------------------------------------------------------------------------------------------
# Literal transcription.

LITERAL_STEPS = 200


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_update_matches_literal_formula(case: Case, problem: str) -> None:
    grad, start = PROBLEMS[problem]
    rule = case.rule()
    for hp in case.settings:
        ref = np.array(reference_run(case.name, case.placement, hp, grad, start, LITERAL_STEPS))
        ours, state = library_run(rule, hp, rows(grad), np.array([start]), LITERAL_STEPS)
        assert state.count == LITERAL_STEPS
        ours_arr = np.array([p[0] for p in ours])
        # The trajectory really moved: the comparison is not between two stalled points.
        assert np.max(np.abs(ours_arr[-1] - np.array(start))) > 1e-3, hp
        assert max_relative_error(ours_arr, ref) <= 1e-12, hp


def test_settings_leave_every_default() -> None:
    """The literal check runs each non-lr hyperparameter away from its default at least once."""
    for case in CASES:
        for name, default in FORMULA_DEFAULTS[case.name].items():
            if default is not None and name != "weight_decay":  # against torch's elsewhere
                assert any(name in s and s[name] != default for s in case.settings), (case.id, name)


# ---------------------------------------------------------------------------------------------
# Batched checks: K trials with different hyperparameters (each a (K, 1) array).


def batch_hp(case: Case, k: int) -> dict[str, FloatArray]:
    """K different, stable settings around the case's first setting, each as (K, 1)."""
    base = with_defaults(case.name, case.settings[0])
    spread = {
        "lr": base["lr"] * np.linspace(0.5, 1.0, k),
        "momentum": np.linspace(0.5, 0.95, k),
        "decay": np.linspace(0.8, 0.99, k),
        "beta1": np.linspace(0.5, 0.95, k),
        "beta2": np.linspace(0.9, 0.9999, k),
        "eps": np.concatenate([[0.0], np.logspace(-8, -3, k - 1)]),
        "weight_decay": np.linspace(0.0, 0.1, k),
        "momentum_decay": np.linspace(0.002, 0.01, k),
        "rho": np.linspace(0.8, 0.99, k),
    }
    return {name: spread[name].reshape(k, 1).copy() for name in base}


def batch_start(k: int, d: int = 2, seed: int = 0) -> FloatArray:
    """K starting points near rosenbrock's (−1.2, 1, …)."""
    start = np.resize(np.array([-1.2, 1.0]), d)
    return start + np.random.default_rng(seed).uniform(-0.1, 0.1, size=(k, d))


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_batch_equals_single_runs(case: Case) -> None:
    k, steps = 7, 50
    rule = case.rule()
    hp, start = batch_hp(case, k), batch_start(k)
    batch, batch_state = library_run(rule, hp, batched_rosenbrock_grad, start, steps)
    for i in range(k):
        hp_i = {name: value[i:i + 1] for name, value in hp.items()}
        single, single_state = library_run(rule, hp_i, batched_rosenbrock_grad, start[i:i + 1],
                                           steps)
        for t in range(steps):
            assert np.array_equal(batch[t][i:i + 1], single[t]), (i, t)
        for b in rule.buffers:
            assert np.array_equal(getattr(batch_state, b)[i:i + 1], getattr(single_state, b))
    # The trials really differ from one another.
    assert len({tuple(row) for row in batch[-1]}) == k


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_update_is_pure(case: Case) -> None:
    k = 4
    rule = case.rule()
    hp, params = batch_hp(case, k), batch_start(k)
    state = rule.init(params)
    for _ in range(3):  # non-zero buffers and count
        params, state = rule.update(batched_rosenbrock_grad(params), state, params, hp)
    grads = batched_rosenbrock_grad(rule.lookahead_point(state, params, hp))
    saved = (params.copy(), grads.copy(), {b: getattr(state, b).copy() for b in rule.buffers},
             {n: v.copy() for n, v in hp.items()}, state.count)

    new_params, new_state = rule.update(grads, state, params, hp)

    assert np.array_equal(params, saved[0])
    assert np.array_equal(grads, saved[1])
    for b in rule.buffers:
        assert np.array_equal(getattr(state, b), saved[2][b])
        assert not np.shares_memory(getattr(new_state, b), getattr(state, b))
    for n in hp:
        assert np.array_equal(hp[n], saved[3][n])
    assert state.count == saved[4]
    assert new_state.count == saved[4] + 1
    assert not np.shares_memory(new_params, params)
    assert not np.array_equal(new_params, params)


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_state_keeps_trial_axis(case: Case) -> None:
    k, d = 5, 3
    rule = case.rule()
    hp, params = batch_hp(case, k), batch_start(k, d)
    state = rule.init(params)
    assert type(state) is rule.state_type
    assert state.count == 0
    assert rule.buffers == tuple(type(state)._fields[1:])
    for b in rule.buffers:
        buf = getattr(state, b)
        assert buf.shape == (k, d) and buf.dtype == np.float64
        assert not np.any(buf)
    for n in range(1, 4):
        grads = batched_rosenbrock_grad(rule.lookahead_point(state, params, hp))
        params, state = rule.update(grads, state, params, hp)
        assert params.shape == (k, d) and params.dtype == np.float64
        assert state.count == n
        for b in rule.buffers:
            assert getattr(state, b).shape == (k, d)
            assert getattr(state, b).dtype == np.float64


# ---------------------------------------------------------------------------------------------
# Stepper: blocked, threaded, in place — and bit for bit the pure update.


def smooth_grad(x: FloatArray) -> FloatArray:
    """An elementwise, well-behaved gradient for any D (of ½Σcᵢ(xᵢ − 0.3)² + Σ sin xᵢ / 10)."""
    c = 1.0 + 0.5 * np.cos(np.arange(x.shape[1]))
    return c * (x - 0.3) + 0.1 * np.cos(x)


@pytest.mark.parametrize("shape", [(37, 50), (37, 20), (3, 300)],
                         ids=["row-blocks", "multi-row-blocks", "column-blocks"])
@pytest.mark.parametrize("case", ALL_PARAMS)
def test_stepper_equals_pure_update(case: Case, shape: tuple[int, int]) -> None:
    k, d = shape
    steps, block = 20, 64
    rule = case.rule()
    hp = batch_hp(case, k)
    hp["lr"] = hp["lr"] / case.settings[0]["lr"] * 0.05  # move visibly in 20 steps
    start = np.random.default_rng(1).normal(size=(k, d))

    expected, expected_state = library_run(rule, hp, smooth_grad, start, steps)

    params = start.copy()
    state = rule.init(params)
    with Stepper(rule, params, state, rule.broadcast(hp, k), threads=2, block=block) as stepper:
        assert len(stepper._blocks) > 4  # the blocked path, many blocks (white-box sanity check)
        for t in range(steps):
            grads = smooth_grad(rule.lookahead_point(stepper.state, stepper.params, hp))
            returned = stepper(grads)
            assert returned is stepper.state
            assert stepper.params is params  # in place
            assert np.array_equal(params, expected[t]), t
    assert stepper.state.count == steps == expected_state.count
    for b in rule.buffers:
        assert getattr(stepper.state, b) is getattr(state, b)  # in place
        assert np.array_equal(getattr(stepper.state, b), getattr(expected_state, b))
    assert not np.allclose(params, start)


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_stepper_small_batch_single_call(case: Case) -> None:
    """Below 4 blocks the Stepper makes one kernel call; still equal to the pure update."""
    k, d, steps = 7, 2, 30
    rule = case.rule()
    hp, start = batch_hp(case, k), batch_start(k)
    expected, _ = library_run(rule, hp, batched_rosenbrock_grad, start, steps)
    params = start.copy()
    with Stepper(rule, params, rule.init(params), rule.broadcast(hp, k), threads=2) as stepper:
        assert not stepper._blocks  # the single-call path (white-box sanity check)
        for t in range(steps):
            stepper(batched_rosenbrock_grad(rule.lookahead_point(stepper.state, params, hp)))
            assert np.array_equal(params, expected[t]), t


# ---------------------------------------------------------------------------------------------
# Convergence on a convex problem.


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_loss_falls_on_convex_quadratic(case: Case) -> None:
    _, start = PROBLEMS["quadratic5"]
    rule = case.rule()
    trajectory, _ = library_run(rule, case.convex_hp, rows(quadratic_grad), np.array([start]),
                                200)
    losses = [quadratic_loss(start)] + [quadratic_loss(list(p[0])) for p in trajectory]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 1e-2 * losses[0]
    assert min(losses[:10]) < losses[0]  # it starts downhill


# ---------------------------------------------------------------------------------------------
# The registry: names, placements, formulas, defaults.


def test_unknown_rule_raises_key_error_listing_names() -> None:
    with pytest.raises(KeyError) as excinfo:
        make_rule("nope")
    message = str(excinfo.value)
    assert "nope" in message
    for name in RULE_NAMES:
        assert name in message


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov"])
def test_outside_placement_rejected_without_eps(name: str) -> None:
    with pytest.raises(ValueError, match="eps_placement"):
        make_rule(name, "outside")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(RULES_WITH_EPS))
def test_unknown_placement_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="eps_placement"):
        make_rule(name, "middle")  # type: ignore[arg-type]


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_formula_text(case: Case) -> None:
    rule = case.rule()
    assert rule.name == case.name
    assert rule.eps_placement == case.placement
    assert rule.formula and "θ ←" in rule.formula
    # the seed's six have a factory whose docstring carries the formula; every rule's
    # declaration writes it at both placements
    assert rule.formula == rules_module.definition(case.name).formula_at(rule.eps_placement)
    factory = getattr(rules_module, case.name, None)
    if factory is None:
        return
    doc = factory.__doc__
    assert doc and "θ ←" in doc
    if case.placement == "inside":
        assert _squash(rule.formula) in _squash(doc)
    if rule.has_eps:
        if case.placement == "inside":
            assert "+ eps)" in rule.formula and "√(" in rule.formula
        else:
            assert "√(" not in rule.formula and "+ eps)" in rule.formula


@pytest.mark.parametrize("name", list(RULE_NAMES))
def test_hyperparameters_and_defaults_match_design(name: str) -> None:
    rule = make_rule(name)
    assert rule.defaults() == FORMULA_DEFAULTS[name]
    assert rule.has_eps == (name in RULES_WITH_EPS)
    assert rule.eps_placement == ("outside" if name in OUTSIDE_BY_DEFAULT else "inside")


def test_missing_learning_rate_raises() -> None:
    rule = make_rule("sgd")
    params = np.zeros((1, 2))
    with pytest.raises(KeyError, match="lr"):
        rule.update(np.ones((1, 2)), rule.init(params), params, {})
