"""The update rules against torch.optim, step by step, on 2-D rosenbrock in float64.

How the conventions map onto PyTorch's (README, "The optimizers"):

- sgd ↔ ``SGD(lr)``; momentum ↔ ``SGD(lr, momentum=μ)`` (PyTorch's buffer is v/lr; the
  parameters agree directly).
- nesterov ↔ ``SGD(lr, momentum=μ, nesterov=True)``: PyTorch's parameters are our look-ahead
  point φ = θ − μ·v (its buffer is v/lr), so PyTorch's parameters are compared with
  ``rule.lookahead_point`` of our state. At t = 0, v₀ = 0 and φ₀ = θ₀: both start at one point.
- adagrad, rmsprop, adam ↔ ``Adagrad``, ``RMSprop(alpha=decay)``, ``Adam(betas=(β1, β2))``:
  PyTorch puts eps outside the square root, so they agree with our default "inside" placement at
  eps = 0, and with ``eps_placement="outside"`` at any eps (here PyTorch-style 1e-8 and larger).

The library side takes its gradient from ``optimizers.objectives.Rosenbrock``; PyTorch takes its
own by autograd of the same formula.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

torch = pytest.importorskip("torch")

from optimizers.objectives import Rosenbrock
from optimizers.rules import make_rule

FloatArray = npt.NDArray[np.float64]
START = (-1.2, 1.0)
STEPS = 150
TOLERANCE = 1e-10


def _sgd(p: Any, hp: dict[str, float]) -> Any:
    return torch.optim.SGD([p], lr=hp["lr"])


def _momentum(p: Any, hp: dict[str, float]) -> Any:
    return torch.optim.SGD([p], lr=hp["lr"], momentum=hp["momentum"])


def _nesterov(p: Any, hp: dict[str, float]) -> Any:
    return torch.optim.SGD([p], lr=hp["lr"], momentum=hp["momentum"], nesterov=True)


def _adagrad(p: Any, hp: dict[str, float]) -> Any:
    return torch.optim.Adagrad([p], lr=hp["lr"], eps=hp["eps"])


def _rmsprop(p: Any, hp: dict[str, float]) -> Any:
    return torch.optim.RMSprop([p], lr=hp["lr"], alpha=hp["decay"], eps=hp["eps"])


def _adam(p: Any, hp: dict[str, float]) -> Any:
    return torch.optim.Adam([p], lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])


# Our rule name → the torch.optim equivalent, built from our (complete) hyperparameters.
TORCH_EQUIVALENT: dict[str, Callable[[Any, dict[str, float]], Any]] = {
    "sgd": _sgd, "momentum": _momentum, "nesterov": _nesterov,
    "adagrad": _adagrad, "rmsprop": _rmsprop, "adam": _adam,
}


@dataclass(frozen=True)
class TorchCase:
    """One rule at one setting; ``hp`` lists every hyperparameter, as both sides receive them."""

    name: str
    placement: str
    hp: dict[str, float]

    @property
    def id(self) -> str:
        settings = "-".join(f"{k}={v:g}" for k, v in self.hp.items())
        return f"{self.name}-{self.placement}-{settings}"


CASES = [
    TorchCase("sgd", "inside", {"lr": 1e-4}),
    TorchCase("sgd", "inside", {"lr": 1e-3}),
    TorchCase("momentum", "inside", {"lr": 1e-4, "momentum": 0.9}),
    TorchCase("momentum", "inside", {"lr": 3e-4, "momentum": 0.5}),
    TorchCase("nesterov", "inside", {"lr": 1e-4, "momentum": 0.9}),
    TorchCase("nesterov", "inside", {"lr": 3e-4, "momentum": 0.7}),
    TorchCase("adagrad", "inside", {"lr": 0.05, "eps": 0.0}),
    TorchCase("adagrad", "inside", {"lr": 0.2, "eps": 0.0}),
    TorchCase("adagrad", "outside", {"lr": 0.05, "eps": 1e-8}),
    TorchCase("adagrad", "outside", {"lr": 0.1, "eps": 1e-3}),
    TorchCase("rmsprop", "inside", {"lr": 1e-3, "decay": 0.9, "eps": 0.0}),
    TorchCase("rmsprop", "inside", {"lr": 5e-3, "decay": 0.99, "eps": 0.0}),
    TorchCase("rmsprop", "outside", {"lr": 1e-3, "decay": 0.9, "eps": 1e-8}),
    TorchCase("rmsprop", "outside", {"lr": 2e-3, "decay": 0.5, "eps": 1e-4}),
    TorchCase("adam", "inside", {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 0.0}),
    TorchCase("adam", "inside", {"lr": 1e-2, "beta1": 0.8, "beta2": 0.99, "eps": 0.0}),
    TorchCase("adam", "outside", {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    TorchCase("adam", "outside", {"lr": 5e-3, "beta1": 0.5, "beta2": 0.9, "eps": 1e-6}),
]


def torch_rosenbrock(x: Any, a: float = 1.0, b: float = 100.0) -> Any:
    """f(x) = Σᵢ b·(xᵢ₊₁ − xᵢ²)² + (a − xᵢ)², in torch ops (autograd takes the gradient)."""
    x0, x1 = x[:-1], x[1:]
    return (b * (x1 - x0**2) ** 2 + (a - x0) ** 2).sum()


def torch_trajectory(case: TorchCase, steps: int) -> FloatArray:
    """PyTorch's parameters at steps 0..steps, shape (steps + 1, D)."""
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = TORCH_EQUIVALENT[case.name](p, case.hp)
    out = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        torch_rosenbrock(p).backward()
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def library_trajectory(case: TorchCase, steps: int) -> FloatArray:
    """Our points comparable to PyTorch's parameters (θ, or nesterov's θ − μ·v), (steps + 1, D)."""
    rule = make_rule(case.name, case.placement)  # type: ignore[arg-type]
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = np.array([START], dtype=np.float64)
    state = rule.init(params)
    out = [rule.lookahead_point(state, params, case.hp)[0].copy()]
    for _ in range(steps):
        _, g = objective.value_and_grad(rule.lookahead_point(state, params, case.hp))
        params, state = rule.update(g, state, params, case.hp)
        out.append(rule.lookahead_point(state, params, case.hp)[0].copy())
    return np.array(out)


def relative_error(ours: FloatArray, theirs: FloatArray) -> float:
    """max over steps of max_i |ours_i − theirs_i| / max_i |theirs_i| (rows are steps)."""
    assert ours.shape == theirs.shape
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(theirs))
    return float(np.max(np.max(np.abs(ours - theirs), axis=1) / np.max(np.abs(theirs), axis=1)))


def test_cases_cover_every_rule_twice() -> None:
    for name in TORCH_EQUIVALENT:
        placements = ["inside", "outside"] if name in ("adagrad", "rmsprop", "adam") else ["inside"]
        for placement in placements:
            assert sum(c.name == name and c.placement == placement for c in CASES) >= 2
    # PyTorch's default eps, "outside", for each rule that has eps.
    for name in ("adagrad", "rmsprop", "adam"):
        assert any(c.name == name and c.placement == "outside" and c.hp["eps"] == 1e-8
                   for c in CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_matches_torch_optim(case: TorchCase) -> None:
    """Our trajectory equals torch.optim's at every step.

    For nesterov the compared point is the look-ahead φ = θ − μ·v of our state, which is what
    PyTorch's parameters are (its momentum buffer being v/lr); φ₀ = θ₀ since v₀ = 0.
    """
    theirs = torch_trajectory(case, STEPS)
    ours = library_trajectory(case, STEPS)
    assert np.array_equal(ours[0], theirs[0])
    # Both moved a long way from the start: the comparison is not between two stalled points.
    assert np.max(np.abs(theirs[-1] - theirs[0])) > 1e-2
    assert relative_error(ours, theirs) <= TOLERANCE


def test_batch_of_settings_matches_torch() -> None:
    """Several adam settings in one (K, 2) batch, each matching its own torch.optim.Adam."""
    cases = [c for c in CASES if c.name == "adam" and c.placement == "outside"]
    rule = make_rule("adam", "outside")
    hp = {k: np.array([[c.hp[k]] for c in cases]) for k in cases[0].hp}
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = np.tile(np.array(START), (len(cases), 1))
    state = rule.init(params)
    trajectory = [params]
    for _ in range(STEPS):
        params, state = rule.update(objective.value_and_grad(params)[1], state, params, hp)
        trajectory.append(params)
    ours = np.array(trajectory)  # (steps + 1, K, 2)
    for i, case in enumerate(cases):
        assert relative_error(ours[:, i], torch_trajectory(case, STEPS)) <= TOLERANCE, case.id
