"""The engine's fast paths give the numbers of its plain ones, bit for bit.

- ``rules.constant`` turns a hyperparameter that is one number for a whole chunk into a Python
  float, and leaves any other array alone (a −0.0 beside a 0.0 is two numbers);
- ``BiasCorrection`` reads 1 − βᵗ from a table that equals what ``1.0 - beta_array ** t``
  gives, for every t (NumPy's pow is not Python's, and t = 2 is NumPy's square fast path), and
  hands it to the step as a 0-d array, or None where it is exactly 1 (m̂ = m);
- a chunk whose hyperparameters are constant (Python floats in the kernel) gives the numbers of
  the same chunk with the hyperparameters as full arrays (the kernel's array path);
- ``Objective.evaluator`` — the runner's hot path, bound to an array updated in place — gives
  ``value_and_grad``'s numbers for every objective, and for 2-D Rosenbrock takes the tuned path;
- ``Stepper.run`` equals one ``advance`` per step;
- the B1 benchmark's honest floor and plain-Python loop compute the sweep ``run_sweep`` computes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from optimizers import run_sweep
from optimizers.objectives import OBJECTIVES, Objective, Rosenbrock
from optimizers.rules import (
    RULE_NAMES,
    RULES_WITH_EPS,
    BiasCorrection,
    constant,
    make_rule,
    scalar,
    scratch,
)
from optimizers.stepper import Stepper

FloatArray = npt.NDArray[np.float64]
ROOT = Path(__file__).resolve().parents[2]
BETAS = [0.9, 0.999, 0.5, 0.8, 0.99, 0.9999, 0.123456789, 0.0, 1.0 - 2.0**-40]


def test_constant_arrays_become_floats_and_others_stay() -> None:
    same = np.full((5, 1), 0.9)
    assert constant(same) == 0.9 and type(constant(same)) is float
    assert constant(np.full((3, 2), 0.25)) == 0.25
    assert constant(1e-8) == 1e-8
    varying = np.array([[0.9], [0.8]])
    assert constant(varying) is varying
    signed = np.array([[0.0], [-0.0]])
    assert constant(signed) is signed  # equal as numbers, not bit for bit


@pytest.mark.parametrize("beta", BETAS)
def test_bias_correction_table_equals_numpy_power_of_an_array(beta: float) -> None:
    corr = BiasCorrection(beta)
    full = np.full((3, 2), beta)
    for t in range(1, 1200):
        expected = (1.0 - full**t)[1, 1]
        got = corr(t)
        assert isinstance(got, float)
        assert np.float64(got).tobytes() == expected.tobytes(), t
    assert len(corr.table) == BiasCorrection.BLOCK  # a bounded block of steps, refilled
    skipping = BiasCorrection(beta, skip_one=True)
    for t in range(1, 1200):
        plain, skipped = corr.operand(t), skipping.operand(t)
        assert plain is not None and plain.shape == () and plain.tobytes() == \
            np.float64(corr(t)).tobytes()
        assert (skipped is None) == (corr(t) == 1.0), t
        assert skipped is None or skipped.tobytes() == plain.tobytes()
    if beta < 0.99:
        assert skipping.operand(1199) is None  # 1 − βᵗ has rounded to 1 by then


def test_bias_correction_table_stays_bounded_and_refills_for_any_t() -> None:
    corr = BiasCorrection(0.999)
    full = np.full(1, 0.999)
    for t in [*range(1, 3000), 10**6, 5, 2, 1]:  # a long run, then a jump, then back
        assert np.float64(corr(t)).tobytes() == (1.0 - full**t)[0].tobytes(), t
        assert len(corr.table) <= BiasCorrection.BLOCK


def test_bias_correction_of_a_varying_beta_is_the_array_formula() -> None:
    beta = np.array([[0.9], [0.99], [0.5]])
    corr = BiasCorrection(beta)
    for t in (1, 2, 3, 17):
        assert np.array_equal(corr(t), 1.0 - beta**t)
    assert corr.table == []


def _settings(name: str, k: int) -> dict[str, FloatArray]:
    """One setting for all k trials, every hyperparameter away from its default."""
    values = {"lr": 3e-3, "momentum": 0.7, "decay": 0.95, "beta1": 0.8, "beta2": 0.99,
              "eps": 1e-6, "weight_decay": 0.05, "momentum_decay": 0.006, "rho": 0.85}
    rule = make_rule(name)
    return {h.name: np.full((k, 1), values[h.name]) for h in rule.hyperparameters}


PLACED = [(n, "inside") for n in RULE_NAMES] + [(n, "outside") for n in RULES_WITH_EPS]


@pytest.mark.parametrize(("name", "placement"), PLACED, ids=[f"{n}-{p}" for n, p in PLACED])
def test_float_hyperparameters_give_the_array_path_numbers(name: str, placement: str) -> None:
    """The kernel bound to Python floats against the kernel bound to (K, D) arrays holding the
    same numbers: ``prepare`` keeps an array when it is given rows that differ, so the array
    path is forced by one extra row with another setting, dropped from the comparison."""
    k, d, steps = 6, 3, 400  # 400 steps: past the point where 1 − 0.8ᵗ rounds to 1
    rule = make_rule(name, placement)  # type: ignore[arg-type]
    hp = _settings(name, k)
    grad_scale = np.linspace(0.5, 2.0, k * d).reshape(k, d)
    start = np.random.default_rng(7).normal(size=(k, d))

    floats = start.copy()
    state_f = rule.init(floats)
    step_f = rule.prepare({n: constant(v) for n, v in hp.items()})
    wide = np.vstack([start, start[:1]])  # one more row, with other hyperparameters
    state_a = rule.init(wide)
    hp_a = {n: np.vstack([np.broadcast_to(v, (k, d)), np.full((1, d), 0.5)])
            for n, v in hp.items()}
    step_a = rule.prepare(hp_a)
    assert all(not isinstance(constant(v), float) for v in hp_a.values())
    tmp_f, tmp_a = scratch(floats), scratch(wide)
    lr_f, lr_a = scalar(constant(hp["lr"])), hp_a["lr"]
    for t in range(1, steps + 1):
        g_f = grad_scale * np.sin(floats)
        g_a = np.vstack([grad_scale * np.sin(wide[:k]), np.sin(wide[k:])])
        step_f(g_f, state_f, floats, t, lr_f, tmp_f)
        step_a(g_a, state_a, wide, t, lr_a, tmp_a)
        assert wide[:k].tobytes() == floats.tobytes(), t
    for b in rule.buffers:
        assert getattr(state_a, b)[:k].tobytes() == getattr(state_f, b).tobytes()
    assert not np.allclose(floats, start)


def _points(obj: Objective, k: int, seed: int) -> FloatArray:
    return obj.start() + np.random.default_rng(seed).uniform(-0.5, 0.5, size=(k, obj.dim))


EVALUATED = [cls.example() for cls in OBJECTIVES.values()] + [
    Rosenbrock(dim=5), Rosenbrock(dim=2, a=0.5, b=3.0)]


@pytest.mark.parametrize("obj", EVALUATED, ids=lambda o: f"{o.name}-{o.dim}")
def test_evaluator_equals_value_and_grad_on_an_array_updated_in_place(obj: Objective) -> None:
    k = 37
    x = _points(obj, k, seed=1)
    evaluate = obj.evaluator(x)
    loss = np.full((k, 1), np.nan)
    for step in range(4):
        f, g = obj.value_and_grad(x)
        got = evaluate(loss)
        assert loss[:, 0].tobytes() == f.tobytes(), step
        assert got.shape == (k, obj.dim) and np.array_equal(got, g), step
        x -= 1e-3 * g  # in place, as the stepper does; the evaluator follows
    assert not np.array_equal(x, _points(obj, k, seed=1))


def test_rosenbrock_2d_evaluator_takes_the_tuned_path_and_others_the_generic_one() -> None:
    x = np.ones((4, 2))
    tuned = Rosenbrock(dim=2).evaluator(x)
    generic = Objective.evaluator(Rosenbrock(dim=2), x)
    assert tuned.__qualname__ != generic.__qualname__
    assert Rosenbrock(dim=2).evaluator(np.ones((2, 4))[:, ::2]).__qualname__ == \
        generic.__qualname__  # a strided x takes the generic path
    assert Rosenbrock(dim=3).evaluator(np.ones((4, 3))).__qualname__ == generic.__qualname__


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_stepper_run_equals_one_advance_per_step(name: str) -> None:
    k, steps = 50, 300
    rule = make_rule(name)
    objective = Rosenbrock(dim=2)
    hp = rule.broadcast({"lr": np.linspace(1e-5, 1e-3, k)}, k)
    start = np.random.default_rng(3).uniform(-1.5, 1.5, size=(k, 2))

    a = start.copy()
    losses_a = np.empty((steps, k, 1))
    with Stepper(rule, a, rule.init(a), hp) as stepper_a:
        stepper_a.run(objective.evaluator(a), list(losses_a))
    b = start.copy()
    losses_b = np.empty((steps, k))
    with Stepper(rule, b, rule.init(b), hp) as stepper_b:
        for j in range(steps):
            f, g = objective.value_and_grad(b)
            losses_b[j] = f
            stepper_b.advance(g)
    assert stepper_a.state.count == stepper_b.state.count == steps
    assert a.tobytes() == b.tobytes()
    assert losses_a[:, :, 0].tobytes() == losses_b.tobytes()


# --- the benchmark's comparisons compute the sweep run_sweep computes --------------------------


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = ROOT / "bench" / "engine.py"
    spec = importlib.util.spec_from_file_location("gradsweep_bench_engine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("k", "steps"), [(40, 1000), (7, 250)])
def test_bench_floor_and_python_loop_compute_the_sweep(bench: ModuleType, k: int,
                                                       steps: int) -> None:
    lrs = bench.lr_grid(k, 0).tolist()
    doc = run_sweep(bench.sweep_spec(lrs, steps))
    swept = np.array([t["curve"]["loss"] for t in doc["trials"]])
    for form in [*bench.FLOOR_FORMS.values(), *bench.FLOOR_INFO.values()]:
        curve = bench.floor_batched(lrs, steps, bench.RECORD_EVERY, **form)
        assert curve.shape == swept.shape
        np.testing.assert_allclose(curve, swept, rtol=1e-12, atol=0)
    for i in (0, k // 2, k - 1):
        python = bench.python_one_trial(lrs[i], steps, bench.RECORD_EVERY)
        np.testing.assert_allclose(python, swept[i], rtol=1e-12, atol=0)
