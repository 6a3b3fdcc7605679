"""The rules beyond the seed, and weight decay on every rule, against torch.optim in float64.

How our rules map onto PyTorch's (2-D rosenbrock from (−1.2, 1), 150 steps, every setting):

- adamw ↔ ``AdamW(lr, betas=(β1, β2), eps, weight_decay)``: decoupled decay θ ← θ·(1 − lr·wd)
  before the adam step; eps outside the root (our default placement for adamw).
- amsgrad ↔ ``Adam(..., amsgrad=True)``; torch's denominator √v_max/√(1−β2ᵗ) + eps is our
  √(v_max/(1−β2ᵗ)) + eps ("outside", our default).
- nadam ↔ ``NAdam(lr, betas, eps, weight_decay, momentum_decay=ψ)``; torch keeps μ_1⋯μ_t in a
  tensor of the default dtype, so the module runs with torch's default dtype set to float64.
- adamax ↔ ``Adamax(lr, betas, eps, weight_decay)``; adadelta ↔ ``Adadelta(lr, rho, eps,
  weight_decay)`` (neither has an eps placement to choose).
- radam ↔ ``RAdam(lr, betas, eps, weight_decay)``: unrectified (θ ← θ − lr·m̂) while
  ρ_t ≤ 5 — always true at t = 1, where ρ_1 = 1 for every β2 — rectified afterwards.
- weight decay of the seed's rules ↔ torch's ``weight_decay`` (g ← g + wd·θ before the step):
  sgd, momentum ↔ ``SGD``; nesterov ↔ ``SGD(nesterov=True)``, whose parameters are our
  look-ahead point θ − momentum·v (``rule.lookahead_point``), where the decay is taken too;
  adagrad, rmsprop, adam with ``eps_placement="outside"`` ↔ ``Adagrad``, ``RMSprop(alpha=decay)``,
  ``Adam``.

eps_placement "inside" is not a torch form: only the rules' default placement is compared with
torch. Lion has no torch.optim equivalent; it is compared with a literal NumPy transcription of
the paper's reference code (google/automl, ``lion_pytorch.py``). Last, a batch of K settings
equals its K trials run alone, bit for bit, for every rule beyond the seed.

The library side takes its gradient from ``optimizers.objectives.Rosenbrock``; torch takes its
own by autograd of the same formula.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

torch = pytest.importorskip("torch")

from optimizers.objectives import Rosenbrock
from optimizers.rules import make_rule

FloatArray = npt.NDArray[np.float64]
Hp = dict[str, float]
START = (-1.2, 1.0)
STEPS = 150
TOLERANCE = 1e-10
BATCH_STEPS = 40  # the batched checks: bit-for-bit from the first step on, no need for 150
NEW_RULES = ("adamw", "amsgrad", "nadam", "adamax", "adadelta", "radam", "lion")


@pytest.fixture(autouse=True)
def float64_default() -> Iterator[None]:
    """torch's default dtype float64 for every test (NAdam's μ product lives in it)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# ---------------------------------------------------------------------------------------------
# torch.optim equivalents, built from our (complete) hyperparameters.


def _betas(hp: Hp) -> tuple[float, float]:
    return hp["beta1"], hp["beta2"]


TORCH_EQUIVALENT: dict[str, Callable[[Any, Hp], Any]] = {
    "sgd": lambda p, hp: torch.optim.SGD([p], lr=hp["lr"], weight_decay=hp["weight_decay"]),
    "momentum": lambda p, hp: torch.optim.SGD([p], lr=hp["lr"], momentum=hp["momentum"],
                                              weight_decay=hp["weight_decay"]),
    "nesterov": lambda p, hp: torch.optim.SGD([p], lr=hp["lr"], momentum=hp["momentum"],
                                              nesterov=True, weight_decay=hp["weight_decay"]),
    "adagrad": lambda p, hp: torch.optim.Adagrad([p], lr=hp["lr"], eps=hp["eps"],
                                                 weight_decay=hp["weight_decay"]),
    "rmsprop": lambda p, hp: torch.optim.RMSprop([p], lr=hp["lr"], alpha=hp["decay"],
                                                 eps=hp["eps"], weight_decay=hp["weight_decay"]),
    "adam": lambda p, hp: torch.optim.Adam([p], lr=hp["lr"], betas=_betas(hp), eps=hp["eps"],
                                           weight_decay=hp["weight_decay"]),
    "adamw": lambda p, hp: torch.optim.AdamW([p], lr=hp["lr"], betas=_betas(hp), eps=hp["eps"],
                                             weight_decay=hp["weight_decay"]),
    "amsgrad": lambda p, hp: torch.optim.Adam([p], lr=hp["lr"], betas=_betas(hp), eps=hp["eps"],
                                              weight_decay=hp["weight_decay"], amsgrad=True),
    "nadam": lambda p, hp: torch.optim.NAdam([p], lr=hp["lr"], betas=_betas(hp), eps=hp["eps"],
                                             weight_decay=hp["weight_decay"],
                                             momentum_decay=hp["momentum_decay"]),
    "adamax": lambda p, hp: torch.optim.Adamax([p], lr=hp["lr"], betas=_betas(hp),
                                               eps=hp["eps"], weight_decay=hp["weight_decay"]),
    "adadelta": lambda p, hp: torch.optim.Adadelta([p], lr=hp["lr"], rho=hp["rho"],
                                                   eps=hp["eps"],
                                                   weight_decay=hp["weight_decay"]),
    "radam": lambda p, hp: torch.optim.RAdam([p], lr=hp["lr"], betas=_betas(hp), eps=hp["eps"],
                                             weight_decay=hp["weight_decay"]),
}


@dataclass(frozen=True)
class TorchCase:
    """One rule at one setting; ``hp`` lists every hyperparameter, as both sides receive them.

    ``placement`` None is the rule's default eps placement (the only one torch has).
    """

    name: str
    hp: Hp
    placement: str | None = None

    @property
    def id(self) -> str:
        settings = "-".join(f"{k}={v:g}" for k, v in self.hp.items())
        where = f"-{self.placement}" if self.placement else ""
        return f"{self.name}{where}-{settings}"


def _adam_hp(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
             weight_decay: float = 0.0) -> Hp:
    return {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}


NEW_CASES = [
    TorchCase("adamw", _adam_hp(1e-3, weight_decay=0.01)),                 # torch's defaults
    TorchCase("adamw", _adam_hp(1e-2, 0.8, 0.99, 1e-6, weight_decay=0.1)),
    TorchCase("adamw", _adam_hp(5e-3, 0.5, 0.9, 1e-8, weight_decay=0.0)),
    TorchCase("amsgrad", _adam_hp(1e-3)),
    TorchCase("amsgrad", _adam_hp(1e-2, 0.8, 0.99, 1e-6, weight_decay=0.1)),
    TorchCase("amsgrad", _adam_hp(5e-3, 0.5, 0.9, 1e-8, weight_decay=0.01)),
    TorchCase("nadam", {**_adam_hp(2e-3), "momentum_decay": 0.004}),        # torch's defaults
    TorchCase("nadam", {**_adam_hp(5e-3, 0.8, 0.99, 1e-6, weight_decay=0.1),
                        "momentum_decay": 0.01}),
    # ψ = 0: μ_t = β1/2 throughout. (β2 0.9 at lr 1e-2 is chaotic here: torch itself moves
    # 1.7e-2 away when the start moves by one ulp, so it is no setting to compare at.)
    TorchCase("nadam", {**_adam_hp(5e-3, 0.95, 0.99, 1e-8, weight_decay=0.01),
                        "momentum_decay": 0.0}),
    TorchCase("adamax", _adam_hp(2e-3)),                                   # torch's defaults
    TorchCase("adamax", _adam_hp(1e-2, 0.8, 0.99, 1e-6, weight_decay=0.1)),
    TorchCase("adamax", _adam_hp(5e-3, 0.5, 0.9, 1e-3, weight_decay=0.01)),
    TorchCase("adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}),  # defaults
    TorchCase("adadelta", {"lr": 10.0, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.1}),
    TorchCase("adadelta", {"lr": 2.0, "rho": 0.5, "eps": 1e-3, "weight_decay": 0.01}),
    TorchCase("radam", _adam_hp(1e-3)),            # β2 0.999: ρ_t ≤ 5 for t ≤ 5, then rectified
    TorchCase("radam", _adam_hp(1e-3, 0.8, 0.9, 1e-6, weight_decay=0.1)),  # ρ∞ = 19
    TorchCase("radam", _adam_hp(5e-4, 0.9, 0.7, 1e-8, weight_decay=0.01)),  # ρ∞ ≈ 5.67: t ≥ 10
    TorchCase("radam", _adam_hp(1e-3, 0.9, 0.6)),  # ρ∞ = 4: never rectified
]

# The seed's rules with torch's weight_decay (L2 on the gradient); eps outside, as torch's.
SEED_DECAY_CASES = [
    TorchCase("sgd", {"lr": 1e-4, "weight_decay": 0.1}),
    TorchCase("sgd", {"lr": 1e-3, "weight_decay": 1.0}),
    TorchCase("momentum", {"lr": 1e-4, "momentum": 0.9, "weight_decay": 0.1}),
    TorchCase("momentum", {"lr": 3e-4, "momentum": 0.5, "weight_decay": 2.0}),
    TorchCase("nesterov", {"lr": 1e-4, "momentum": 0.9, "weight_decay": 0.1}),
    TorchCase("nesterov", {"lr": 3e-4, "momentum": 0.7, "weight_decay": 2.0}),
    TorchCase("adagrad", {"lr": 0.05, "eps": 1e-10, "weight_decay": 0.1}, "outside"),
    TorchCase("adagrad", {"lr": 0.1, "eps": 1e-3, "weight_decay": 1.0}, "outside"),
    TorchCase("rmsprop", {"lr": 1e-3, "decay": 0.99, "eps": 1e-8, "weight_decay": 0.1},
              "outside"),
    TorchCase("rmsprop", {"lr": 2e-3, "decay": 0.5, "eps": 1e-4, "weight_decay": 1.0},
              "outside"),
    TorchCase("adam", _adam_hp(1e-3, weight_decay=0.1), "outside"),
    TorchCase("adam", _adam_hp(5e-3, 0.5, 0.9, 1e-6, weight_decay=1.0), "outside"),
]


def torch_rosenbrock(x: Any, a: float = 1.0, b: float = 100.0) -> Any:
    """f(x) = Σᵢ b·(xᵢ₊₁ − xᵢ²)² + (a − xᵢ)², in torch ops (autograd takes the gradient)."""
    x0, x1 = x[:-1], x[1:]
    return (b * (x1 - x0**2) ** 2 + (a - x0) ** 2).sum()


def torch_trajectory(case: TorchCase, steps: int) -> FloatArray:
    """torch's parameters at steps 0..steps, shape (steps + 1, D)."""
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
    """Our points comparable to torch's parameters (θ, or nesterov's θ − μ·v), (steps + 1, D)."""
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


def radam_rho(beta2: float, t: int) -> float:
    """ρ_t = ρ∞ − 2t·β2ᵗ/(1 − β2ᵗ), ρ∞ = 2/(1 − β2) − 1, as torch.optim.RAdam computes it."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    return rho_inf - 2.0 * t * beta2**t / (1.0 - beta2**t)


# ---------------------------------------------------------------------------------------------
# The table's coverage.


def test_cases_cover_every_new_rule() -> None:
    """Each rule with a torch equivalent has ≥ 2 settings, one with a non-default weight_decay;
    radam's settings are unrectified at first and rectified later (and one never)."""
    defaults = {"adamw": 0.01}
    for name in ("adamw", "amsgrad", "nadam", "adamax", "adadelta", "radam"):
        cases = [c for c in NEW_CASES if c.name == name]
        assert len(cases) >= 2, name
        assert any(c.hp["weight_decay"] != defaults.get(name, 0.0) for c in cases), name
        assert all(c.placement is None for c in cases), name  # torch's placement only
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        assert sum(c.name == name for c in SEED_DECAY_CASES) >= 2, name
    radam = [c.hp["beta2"] for c in NEW_CASES if c.name == "radam"]
    assert all(radam_rho(b2, 1) <= 5.0 for b2 in radam)
    assert sum(any(radam_rho(b2, t) > 5.0 for t in range(1, STEPS + 1)) for b2 in radam) >= 3
    assert any(all(radam_rho(b2, t) <= 5.0 for t in range(1, STEPS + 1)) for b2 in radam)


@pytest.mark.parametrize("name", ["adamw", "amsgrad", "nadam", "radam"])
def test_default_placement_is_torchs(name: str) -> None:
    """adamw, amsgrad, nadam and radam put eps outside the root unless told, as torch."""
    assert make_rule(name).eps_placement == "outside"


# ---------------------------------------------------------------------------------------------
# Against torch.optim.


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in NEW_CASES])
def test_new_rule_matches_torch_optim(case: TorchCase) -> None:
    """Our trajectory of θ equals torch.optim's parameters at every one of 150 steps, max
    relative error (per step, over the step's largest |coordinate|) ≤ 1e-10."""
    theirs = torch_trajectory(case, STEPS)
    ours = library_trajectory(case, STEPS)
    assert np.array_equal(ours[0], theirs[0])
    # Both moved, and stayed near the valley: the comparison is neither between two stalled
    # points nor between two overflowing ones.
    assert 1e-3 < np.max(np.abs(theirs[-1] - theirs[0])) < 10.0
    error = relative_error(ours, theirs)
    assert error <= TOLERANCE, f"{case.id}: relative error {error:.3g} against torch.optim"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in SEED_DECAY_CASES])
def test_seed_rule_weight_decay_matches_torch(case: TorchCase) -> None:
    """The seed's rules with weight_decay (g + wd·θ, at nesterov's look-ahead point) equal
    torch's ``weight_decay`` over 150 steps, max relative error ≤ 1e-10; and the decay changes
    the trajectory (it is not silently ignored)."""
    theirs = torch_trajectory(case, STEPS)
    ours = library_trajectory(case, STEPS)
    error = relative_error(ours, theirs)
    assert error <= TOLERANCE, f"{case.id}: relative error {error:.3g} against torch.optim"
    undecayed = library_trajectory(TorchCase(case.name, {**case.hp, "weight_decay": 0.0},
                                             case.placement), STEPS)
    assert relative_error(undecayed, theirs) > 1e3 * TOLERANCE


# ---------------------------------------------------------------------------------------------
# Lion against the reference code.


def lion_reference(grad: Callable[[FloatArray], FloatArray], start: FloatArray, hp: Hp,
                   steps: int) -> FloatArray:
    """google/automl lion_pytorch.py's step, transcribed literally in NumPy for one trial:

        p.data.mul_(1 - group['lr'] * group['weight_decay'])
        update = exp_avg * beta1 + grad * (1 - beta1)
        p.add_(torch.sign(update), alpha=-group['lr'])
        exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)

    Returns the parameters at steps 0..steps, (steps + 1, D).
    """
    lr, wd, beta1, beta2 = hp["lr"], hp["weight_decay"], hp["beta1"], hp["beta2"]
    p = start.copy()
    exp_avg = np.zeros_like(p)
    out = [p.copy()]
    for _ in range(steps):
        g = grad(p)
        p = p * (1 - lr * wd)
        update = exp_avg * beta1 + g * (1 - beta1)
        p = p + np.sign(update) * -lr
        exp_avg = exp_avg * beta2 + g * (1 - beta2)
        out.append(p.copy())
    return np.array(out)


LION_SETTINGS = [
    {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0},     # the defaults
    {"lr": 1e-3, "beta1": 0.9, "beta2": 0.99, "weight_decay": 1.0},
    {"lr": 3e-3, "beta1": 0.8, "beta2": 0.9, "weight_decay": 0.1},
    {"lr": 1e-2, "beta1": 0.0, "beta2": 0.5, "weight_decay": 0.01},
]


@pytest.mark.parametrize("hp", LION_SETTINGS, ids=lambda hp: "-".join(f"{k}={v:g}"
                                                                    for k, v in hp.items()))
def test_lion_matches_reference_code(hp: Hp) -> None:
    """Lion's trajectory equals the literal transcription of the reference code, bit for bit
    (the same operations in the same order; ≤ 1e-12 would be the fallback, exact is expected)."""
    objective = Rosenbrock(name="rosenbrock", dim=2)

    def grad(p: FloatArray) -> FloatArray:
        g: FloatArray = objective.value_and_grad(p[None, :])[1][0]
        return g

    start = np.array(START, dtype=np.float64)
    theirs = lion_reference(grad, start, hp, STEPS)
    rule = make_rule("lion")
    params = start[None, :].copy()
    state = rule.init(params)
    ours = [params[0].copy()]
    for _ in range(STEPS):
        params, state = rule.update(objective.value_and_grad(params)[1], state, params, hp)
        ours.append(params[0].copy())
    trajectory = np.array(ours)
    assert np.max(np.abs(theirs[-1] - theirs[0])) > 1e-2
    assert relative_error(trajectory, theirs) <= 1e-12
    assert trajectory.tobytes() == theirs.tobytes(), "lion differs from its reference in the last bits"


def test_lion_defaults_are_the_papers() -> None:
    """beta1 0.9, beta2 0.99, weight_decay 0 (lion_pytorch.py's defaults)."""
    assert make_rule("lion").defaults() == {"lr": None, "beta1": 0.9, "beta2": 0.99,
                                            "weight_decay": 0.0}


# ---------------------------------------------------------------------------------------------
# A batch of settings equals its trials alone.

# Per rule: K settings (every hyperparameter differs from row to row).
BATCH_SETTINGS: dict[str, list[Hp]] = {
    "adamw": [c.hp for c in NEW_CASES if c.name == "adamw"],
    "amsgrad": [c.hp for c in NEW_CASES if c.name == "amsgrad"],
    "nadam": [c.hp for c in NEW_CASES if c.name == "nadam"],
    "adamax": [c.hp for c in NEW_CASES if c.name == "adamax"],
    "adadelta": [c.hp for c in NEW_CASES if c.name == "adadelta"],
    "radam": [c.hp for c in NEW_CASES if c.name == "radam"],
    "lion": LION_SETTINGS,
}


def _run(name: str, placement: str | None, hp: dict[str, Any], start: FloatArray,
         steps: int) -> FloatArray:
    """θ after each of ``steps`` updates of rule ``name`` from ``start`` (K, D): (steps, K, D)."""
    rule = make_rule(name, placement)  # type: ignore[arg-type]
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = start.copy()
    state = rule.init(params)
    out = []
    for _ in range(steps):
        params, state = rule.update(objective.value_and_grad(params)[1], state, params, hp)
        out.append(params)
    return np.array(out)


def _single_runs(name: str, placement: str | None, settings: list[Hp]) -> FloatArray:
    """Each setting run alone, hyperparameters as floats, stacked to (steps, K, D)."""
    start = np.array([START], dtype=np.float64)
    return np.concatenate([_run(name, placement, hp, start, BATCH_STEPS) for hp in settings],
                          axis=1)


PLACEMENTS = [(n, None) for n in NEW_RULES] + [(n, "inside") for n in
                                                ("adamw", "amsgrad", "nadam", "radam")]


@pytest.mark.parametrize(("name", "placement"), PLACEMENTS,
                         ids=[f"{n}-{p or 'default'}" for n, p in PLACEMENTS])
def test_batch_of_distinct_settings_equals_single_runs(name: str, placement: str | None) -> None:
    """K settings that differ in every hyperparameter, one (K, 2) batch with (K, 1) columns:
    each row equals its trial run alone with float hyperparameters, bit for bit, at every step."""
    settings = BATCH_SETTINGS[name]
    hp = {key: np.array([[s[key]] for s in settings]) for key in settings[0]}
    start = np.tile(np.array(START), (len(settings), 1))
    batched = _run(name, placement, hp, start, BATCH_STEPS)
    alone = _single_runs(name, placement, settings)
    assert np.all(np.isfinite(batched))
    for i in range(len(settings)):
        assert batched[:, i].tobytes() == alone[:, i].tobytes(), \
            f"{name}: row {i} of the batch differs from its trial alone"


@pytest.mark.parametrize("name", NEW_RULES)
def test_batch_of_one_setting_equals_single_run(name: str) -> None:
    """K copies of one setting in (K, 1) columns (the engine turns them into floats) and K
    different starts: each row equals its trial alone, bit for bit."""
    placement = None
    setting = BATCH_SETTINGS[name][1]
    starts = np.array([START, (0.5, -0.3), (1.5, 2.0)], dtype=np.float64)
    hp = {key: np.full((len(starts), 1), value) for key, value in setting.items()}
    batched = _run(name, placement, hp, starts, BATCH_STEPS)
    for i in range(len(starts)):
        alone = _run(name, placement, setting, starts[i:i + 1], BATCH_STEPS)
        assert batched[:, i].tobytes() == alone[:, 0].tobytes(), f"{name}: row {i}"
