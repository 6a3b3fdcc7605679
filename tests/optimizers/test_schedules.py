"""The learning-rate schedules against torch.optim.lr_scheduler, in float64.

The factor of update t (t = 1, 2, …) is what the torch scheduler of the same name gives after
t − 1 calls of ``scheduler.step()`` — the lr torch's optimizer uses at its t-th ``opt.step()`` in
the usual ``opt.step(); sched.step()`` loop. The mapping (our parameter → torch's argument):

- constant ↔ no scheduler;
- step ↔ ``StepLR(step_size, gamma)``; exponential ↔ ``ExponentialLR(gamma)``;
- cosine ↔ ``CosineAnnealingLR(T_max=t_max, eta_min)``: our closed form against torch's
  recursive one (they agree to ~1e-12, also past t_max, where both rise again);
- linear ↔ ``LinearLR(start_factor, end_factor, total_iters)``;
- one_cycle ↔ ``OneCycleLR(max_lr=lr, total_steps, pct_start, div_factor, final_div_factor,
  anneal_strategy='cos', cycle_momentum=False)``;
- warmup_cosine has no single torch scheduler: it is compared with a literal transcription of
  its closed form (and, through the full optimizer, with ``LambdaLR`` of that closed form).

Three kinds of check: ``Schedule.lr`` for t = 1..150 against torch (relative error ≤ 1e-10); a
schedule parameter swept as a (K, 1) column in ``Chain.update`` equals each row run alone with
that value as a float, bit for bit; and adam (eps outside, torch's) with each schedule through
``Chain.update`` against ``torch.optim.Adam`` with the scheduler over 150 steps of 2-D
rosenbrock (relative error ≤ 1e-10).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

torch = pytest.importorskip("torch")

from optimizers.objectives import Rosenbrock
from optimizers.rules import make_rule
from optimizers.schedules import SCHEDULE_NAMES, SCHEDULES
from optimizers.transforms import SCHEDULE_PREFIX, Chain

FloatArray = npt.NDArray[np.float64]
Params = dict[str, float]
N = 150
LR = 0.01
TOLERANCE = 1e-10
START = (-1.2, 1.0)
ADAM_HP = {"lr": LR, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}


@pytest.fixture(autouse=True)
def float64_default() -> Iterator[None]:
    """torch's default dtype float64 for every test."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# ---------------------------------------------------------------------------------------------
# torch's schedulers, built from our (complete) parameters.


def _step(opt: Any, lr: float, p: Params) -> Any:
    return torch.optim.lr_scheduler.StepLR(opt, step_size=int(p["step_size"]), gamma=p["gamma"])


def _exponential(opt: Any, lr: float, p: Params) -> Any:
    return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=p["gamma"])


def _cosine(opt: Any, lr: float, p: Params) -> Any:
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(p["t_max"]),
                                                      eta_min=p["eta_min"])


def _linear(opt: Any, lr: float, p: Params) -> Any:
    return torch.optim.lr_scheduler.LinearLR(opt, start_factor=p["start_factor"],
                                             end_factor=p["end_factor"],
                                             total_iters=int(p["total_iters"]))


def _one_cycle(opt: Any, lr: float, p: Params) -> Any:
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=int(p["total_steps"]), pct_start=p["pct_start"],
        div_factor=p["div_factor"], final_div_factor=p["final_div_factor"],
        anneal_strategy="cos", cycle_momentum=False)


TORCH_SCHEDULER: dict[str, Callable[[Any, float, Params], Any] | None] = {
    "constant": None, "step": _step, "exponential": _exponential, "cosine": _cosine,
    "linear": _linear, "one_cycle": _one_cycle,
}


@dataclass(frozen=True)
class ScheduleCase:
    """One schedule at one setting; ``given`` overrides the schedule's defaults for N steps."""

    name: str
    given: Params

    @property
    def params(self) -> Params:
        """Every parameter of the schedule: the defaults for N steps, then ``given``."""
        out = {k: float(v) for k, v in SCHEDULES[self.name].defaults(N).items() if v is not None}
        out.update(self.given)
        assert set(out) == {p.name for p in SCHEDULES[self.name].parameters}, self.name
        return out

    @property
    def id(self) -> str:
        return "-".join([self.name, *(f"{k}={v:g}" for k, v in self.given.items())])


TORCH_CASES = [
    ScheduleCase("constant", {}),
    ScheduleCase("step", {"step_size": 7}),                          # 7 does not divide 150
    ScheduleCase("step", {"step_size": 40, "gamma": 0.5}),           # nor does 40
    ScheduleCase("step", {"step_size": 1, "gamma": 0.97}),
    ScheduleCase("exponential", {"gamma": 0.99}),
    ScheduleCase("exponential", {"gamma": 0.9}),
    ScheduleCase("cosine", {}),                                      # t_max = N, eta_min 0
    ScheduleCase("cosine", {"t_max": 40, "eta_min": 1e-4}),          # past t_max: rises again
    ScheduleCase("cosine", {"t_max": 400, "eta_min": 1e-3}),
    ScheduleCase("linear", {}),                                      # 1/3 → 1 over 5 updates
    ScheduleCase("linear", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 100}),
    ScheduleCase("linear", {"start_factor": 0.25, "end_factor": 0.0, "total_iters": 150}),
    ScheduleCase("one_cycle", {}),                                   # total_steps = N
    ScheduleCase("one_cycle", {"total_steps": 400}),                 # > N, default pct_start
    ScheduleCase("one_cycle", {"pct_start": 0.1, "div_factor": 10.0,
                               "final_div_factor": 100.0}),
    ScheduleCase("one_cycle", {"total_steps": 200, "pct_start": 0.5, "div_factor": 4.0,
                               "final_div_factor": 1e6}),
]


def torch_lrs(case: ScheduleCase, lr: float, steps: int) -> FloatArray:
    """The lr of torch's 1st..steps-th ``opt.step()`` (the scheduler stepped after each)."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    build = TORCH_SCHEDULER[case.name]
    sched = None if build is None else build(opt, lr, case.params)
    out = []
    for t in range(1, steps + 1):
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradient: nothing moves, but the scheduler sees the optimizer step
        if sched is not None and t < steps:
            sched.step()
    return np.array(out, dtype=np.float64)


def our_lrs(name: str, lr: float, params: Params, steps: int) -> FloatArray:
    """``Schedule.lr`` for t = 1..steps."""
    schedule = SCHEDULES[name]
    return np.array([schedule.lr(lr, t, params) for t in range(1, steps + 1)], dtype=np.float64)


def relative_errors(ours: FloatArray, theirs: FloatArray) -> FloatArray:
    """|ours − theirs|/|theirs| entry by entry (0 where both are 0)."""
    assert ours.shape == theirs.shape
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(theirs))
    out: FloatArray = np.abs(ours - theirs) / np.maximum(np.abs(theirs), np.finfo(float).tiny)
    return out


def test_cases_cover_every_torch_schedule() -> None:
    """Every schedule with a torch scheduler has a case; the cases the brief names are there."""
    assert set(TORCH_SCHEDULER) | {"warmup_cosine"} == set(SCHEDULE_NAMES)
    for name in TORCH_SCHEDULER:
        assert sum(c.name == name for c in TORCH_CASES) >= (1 if name == "constant" else 2)
    assert any(c.name == "linear" and not c.given for c in TORCH_CASES)
    assert any(c.name == "step" and N % c.params["step_size"] for c in TORCH_CASES)
    assert any(c.name == "one_cycle" and c.params["total_steps"] > N
               and "pct_start" not in c.given for c in TORCH_CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in TORCH_CASES])
@pytest.mark.parametrize("lr", [LR, 0.3])
def test_lr_matches_torch_scheduler(case: ScheduleCase, lr: float) -> None:
    """lr_t for t = 1..150 equals the lr of torch's t-th optimizer step, relative error ≤
    1e-10 at every t."""
    theirs = torch_lrs(case, lr, N)
    ours = our_lrs(case.name, lr, case.params, N)
    errors = relative_errors(ours, theirs)
    worst = int(np.argmax(errors))
    assert errors[worst] <= TOLERANCE, \
        f"{case.id}: lr_{worst + 1} = {ours[worst]!r}, torch {theirs[worst]!r}"
    if case.name != "constant":
        assert len(np.unique(theirs)) > 1  # the schedule is not flat over the run


# ---------------------------------------------------------------------------------------------
# warmup_cosine against its closed form.


def warmup_cosine_reference(lr: float, t: int, warmup: float, t_max: float,
                            eta_min: float) -> float:
    """lr·t/W for t ≤ W, then eta_min + (lr − eta_min)·(1 + cos(π·(t − W)/(t_max − W)))/2."""
    if t <= warmup:
        return lr * t / warmup
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * (t - warmup) / (t_max - warmup))) / 2


WARMUP_CASES = [
    {"warmup_steps": 0.0, "t_max": 150.0, "eta_min": 0.0},    # W = 0: pure cosine
    {"warmup_steps": 0.0, "t_max": 100.0, "eta_min": 1e-4},
    {"warmup_steps": 10.0, "t_max": 150.0, "eta_min": 0.0},
    {"warmup_steps": 25.0, "t_max": 150.0, "eta_min": 1e-3},
    {"warmup_steps": 1.0, "t_max": 200.0, "eta_min": 1e-5},
    {"warmup_steps": 20.0, "t_max": 120.0, "eta_min": 0.0},   # past t_max, as the formula says
]


@pytest.mark.parametrize("params", WARMUP_CASES,
                         ids=lambda p: "-".join(f"{k}={v:g}" for k, v in p.items()))
@pytest.mark.parametrize("lr", [LR, 0.3])
def test_warmup_cosine_matches_closed_form(params: Params, lr: float) -> None:
    """lr_t for t = 1..150 equals the literal closed form, relative error ≤ 1e-10."""
    theirs = np.array([warmup_cosine_reference(lr, t, params["warmup_steps"], params["t_max"],
                                               params["eta_min"]) for t in range(1, N + 1)])
    ours = our_lrs("warmup_cosine", lr, params, N)
    errors = relative_errors(ours, theirs)
    worst = int(np.argmax(errors))
    assert errors[worst] <= TOLERANCE, \
        f"{params}: lr_{worst + 1} = {ours[worst]!r}, closed form {theirs[worst]!r}"
    if params["warmup_steps"] > 0:
        assert ours[0] == pytest.approx(lr / params["warmup_steps"], rel=1e-15)


# ---------------------------------------------------------------------------------------------
# A swept schedule parameter: each row of the batch equals its trial alone.

BATCH_STEPS = 30
# For each schedule parameter, K distinct values (the other parameters at ``BASE``).
BASE: dict[str, Params] = {
    "constant": {},
    "step": {"step_size": 7.0, "gamma": 0.5},
    "exponential": {"gamma": 0.95},
    "cosine": {"t_max": 20.0, "eta_min": 1e-4},
    "linear": {"start_factor": 0.25, "end_factor": 0.8, "total_iters": 10.0},
    "one_cycle": {"total_steps": 30.0, "pct_start": 0.3, "div_factor": 25.0,
                  "final_div_factor": 1e4},
    "warmup_cosine": {"warmup_steps": 5.0, "t_max": 30.0, "eta_min": 1e-4},
}
SWEPT: dict[str, dict[str, list[float]]] = {
    "constant": {},
    "step": {"step_size": [3.0, 7.0, 10.0], "gamma": [0.5, 0.9, 0.99]},
    "exponential": {"gamma": [0.9, 0.95, 0.99]},
    "cosine": {"t_max": [10.0, 20.0, 40.0], "eta_min": [0.0, 1e-4, 1e-3]},
    "linear": {"start_factor": [0.1, 1 / 3, 0.9], "end_factor": [0.0, 0.5, 1.0],
               "total_iters": [5.0, 10.0, 30.0]},
    "one_cycle": {"total_steps": [20.0, 30.0, 50.0], "pct_start": [0.1, 0.3, 0.5],
                  "div_factor": [5.0, 25.0, 100.0], "final_div_factor": [10.0, 1e4, 1e6]},
    "warmup_cosine": {"warmup_steps": [0.0, 5.0, 10.0], "t_max": [20.0, 30.0, 60.0],
                      "eta_min": [0.0, 1e-5, 1e-3]},
}
SWEEPS = [(name, param) for name in SCHEDULE_NAMES for param in SWEPT[name]]


def test_sweeps_cover_every_schedule_parameter() -> None:
    for name in SCHEDULE_NAMES:
        assert set(SWEPT[name]) == {p.name for p in SCHEDULES[name].parameters}
        assert set(BASE[name]) == set(SWEPT[name])


def chain_run(chain: Chain, hp: dict[str, Any], start: FloatArray, steps: int) -> FloatArray:
    """θ after each of ``steps`` updates of ``chain`` on rosenbrock from ``start`` (K, D):
    (steps, K, D)."""
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = start.copy()
    state = chain.init(params)
    out = []
    for _ in range(steps):
        params, state = chain.update(objective.value_and_grad(params)[1], state, params, hp)
        out.append(params)
    return np.array(out)


def _chain_hp(name: str, values: Params) -> dict[str, Any]:
    return {**ADAM_HP, **{SCHEDULE_PREFIX + k: v for k, v in values.items()}}


@pytest.mark.parametrize(("name", "param"), SWEEPS, ids=[f"{n}-{p}" for n, p in SWEEPS])
def test_swept_schedule_parameter_rows_equal_trials_alone(name: str, param: str) -> None:
    """``schedule.<param>`` as a (K, 1) column of distinct values, the rest floats: each row of
    ``Chain.update`` over K rows equals that row run alone with its value as a float, bit for
    bit, at every one of 30 steps (the values put each phase of the schedule in them)."""
    chain = Chain(make_rule("adam", "outside"), SCHEDULES[name])
    values = SWEPT[name][param]
    hp = _chain_hp(name, BASE[name])
    hp[SCHEDULE_PREFIX + param] = np.array(values).reshape(-1, 1)
    start = np.tile(np.array(START), (len(values), 1))
    batched = chain_run(chain, hp, start, BATCH_STEPS)
    assert np.all(np.isfinite(batched))
    rows = []
    for i, value in enumerate(values):
        alone = chain_run(chain, _chain_hp(name, {**BASE[name], param: value}), start[:1],
                          BATCH_STEPS)
        rows.append(alone[:, 0])
        assert batched[:, i].tobytes() == alone[:, 0].tobytes(), \
            f"{name}: row {i} ({param} = {value}) differs from its trial alone"
    assert len({r.tobytes() for r in rows}) == len(values)  # the values do make a difference


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_swept_lr_rows_equal_trials_alone(name: str) -> None:
    """lr as a (K, 1) column under each schedule (constant included, which has no parameter of
    its own): each row equals its trial alone with a float lr, bit for bit."""
    chain = Chain(make_rule("adam", "outside"), SCHEDULES[name])
    lrs = [1e-3, 1e-2, 3e-2]
    hp = _chain_hp(name, BASE[name])
    hp["lr"] = np.array(lrs).reshape(-1, 1)
    start = np.tile(np.array(START), (len(lrs), 1))
    batched = chain_run(chain, hp, start, BATCH_STEPS)
    for i, lr in enumerate(lrs):
        alone = chain_run(chain, {**_chain_hp(name, BASE[name]), "lr": lr}, start[:1],
                          BATCH_STEPS)
        assert batched[:, i].tobytes() == alone[:, 0].tobytes(), f"{name}: row {i} (lr = {lr})"


# ---------------------------------------------------------------------------------------------
# The full optimizer: adam with a schedule, through the chain, against torch.


def torch_rosenbrock(x: Any, a: float = 1.0, b: float = 100.0) -> Any:
    """f(x) = Σᵢ b·(xᵢ₊₁ − xᵢ²)² + (a − xᵢ)², in torch ops (autograd takes the gradient)."""
    x0, x1 = x[:-1], x[1:]
    return (b * (x1 - x0**2) ** 2 + (a - x0) ** 2).sum()


def _warmup_lambda(lr: float, p: Params) -> Callable[[int], float]:
    """LambdaLR's factor for epoch e (update e + 1): the closed form over lr."""
    return lambda e: warmup_cosine_reference(lr, e + 1, p["warmup_steps"], p["t_max"],
                                             p["eta_min"]) / lr


FULL_CASES = [
    *(c for c in TORCH_CASES if c.name in ("constant", "linear") or c.given in (
        {"step_size": 7}, {"gamma": 0.99}, {"t_max": 40, "eta_min": 1e-4}, {"total_steps": 400},
        {})),
    ScheduleCase("warmup_cosine", {"warmup_steps": 10.0, "eta_min": 1e-4}),
]


def torch_adam_trajectory(case: ScheduleCase, steps: int) -> FloatArray:
    """torch.optim.Adam's parameters with the scheduler, ``opt.step(); sched.step()``."""
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=LR, betas=(ADAM_HP["beta1"], ADAM_HP["beta2"]),
                           eps=ADAM_HP["eps"])
    if case.name == "warmup_cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_lambda(LR, case.params))
    else:
        build = TORCH_SCHEDULER[case.name]
        sched = None if build is None else build(opt, LR, case.params)
    out = [p.detach().numpy().copy()]
    for t in range(1, steps + 1):
        opt.zero_grad()
        torch_rosenbrock(p).backward()
        opt.step()
        if sched is not None and t < steps:
            sched.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in FULL_CASES])
def test_adam_with_schedule_matches_torch(case: ScheduleCase) -> None:
    """adam (eps outside) with the schedule through ``Chain.update`` equals torch's Adam with
    the scheduler over 150 steps of rosenbrock, max relative error (per step, over its largest
    |coordinate|) ≤ 1e-10."""
    chain = Chain(make_rule("adam", "outside"), SCHEDULES[case.name])
    ours = np.concatenate([np.array([START]),
                           chain_run(chain, _chain_hp(case.name, case.params),
                                     np.array([START]), N)[:, 0]])
    theirs = torch_adam_trajectory(case, N)
    assert 1e-2 < np.max(np.abs(theirs[-1] - theirs[0])) < 10.0
    error = float(np.max(np.max(np.abs(ours - theirs), axis=1) / np.max(np.abs(theirs), axis=1)))
    assert error <= TOLERANCE, f"{case.id}: relative error {error:.3g} against torch"


def test_full_cases_cover_every_schedule() -> None:
    assert {c.name for c in FULL_CASES} == set(SCHEDULE_NAMES)
