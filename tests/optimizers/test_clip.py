"""Gradient clipping in the chain (``optimizers.transforms.Chain``), in float64.

What is compared:

- ``clip="global_norm"`` with limit M rescales each trial's row, g·min(1, M/‖g‖₂), and
  ``clip="value"`` with limit c clips each coordinate to [−c, c]: ``Chain.update`` against a
  literal NumPy reference that takes one trial at a time — equal, bit for bit. The clipped
  gradient is observed directly (sgd at lr 1 from θ = 0 moves to −g exactly) and through whole
  adam trajectories (the reference clips, then runs the bare rule on one trial).
- A row whose gradient is zero is left as it is (no 0/0: ‖g‖ = 0 gives the factor min(1, ∞)).
- The order clip → weight decay → rule: adam with weight_decay 0.1 and a clip against torch,
  where the raw gradient in ``p.grad`` is clipped (``clip_grad_value_``; for the norm,
  g·min(1, M/‖g‖) written out) and ``Adam(weight_decay=0.1)`` then adds wd·θ: relative error
  ≤ 1e-10. ``torch.nn.utils.clip_grad_norm_`` itself divides by ‖g‖ + 1e-6 where the
  definition (and optax) divides by ‖g‖; that moves the trajectory by ~1e-9, so against it
  the bound is 1e-7 (measured and explained at the test).
- Clipping does not depend on how the trials are cut into chunks, nor on the stepper's blocks:
  rows that differ in M give the same numbers in a chunk of any size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from optimizers.objectives import Rosenbrock
from optimizers.rules import make_rule
from optimizers.stepper import Stepper
from optimizers.transforms import Chain

FloatArray = npt.NDArray[np.float64]
START = (-1.2, 1.0)
STEPS = 150
ADAM_HP: dict[str, float] = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                             "weight_decay": 0.0}
# Limits per row; two rows share one, so some chunks see a limit that is one number.
NORM_LIMITS = [1.0, 5.0, 5.0, 20.0, 100.0, 1000.0]
VALUE_LIMITS = [0.5, 2.0, 2.0, 10.0, 50.0, 500.0]


def reference_global_norm(g: FloatArray, limit: float) -> FloatArray:
    """One trial's gradient (D,) clipped to norm ``limit``: g·min(1, M/‖g‖₂), literally."""
    out: FloatArray = g * min(1.0, limit / np.sqrt(np.sum(g * g)))
    return out


def reference_value(g: FloatArray, limit: float) -> FloatArray:
    """One trial's gradient (D,) with each coordinate clipped to [−c, c]."""
    out: FloatArray = np.clip(g, -limit, limit)
    return out


REFERENCE = {"global_norm": reference_global_norm, "value": reference_value}
LIMITS = {"global_norm": NORM_LIMITS, "value": VALUE_LIMITS}


def random_grads(k: int, d: int, seed: int) -> FloatArray:
    """K gradient rows of dimension D with norms spread over five decades."""
    rng = np.random.default_rng(seed)
    g: FloatArray = rng.standard_normal((k, d)) * 10.0 ** rng.uniform(-2, 3, (k, 1))
    return g


# ---------------------------------------------------------------------------------------------
# The clipped gradient itself.


def clipped_by_chain(kind: str, grads: FloatArray, limits: list[float] | float) -> FloatArray:
    """The gradient ``Chain(sgd, clip=kind)`` steps with: sgd at lr 1 from θ = 0 moves to −g'."""
    chain = Chain(make_rule("sgd"), clip=kind)  # type: ignore[arg-type]
    zeros = np.zeros_like(grads)
    limit = np.array(limits).reshape(-1, 1) if isinstance(limits, list) else limits
    params, _ = chain.update(grads, chain.init(zeros), zeros,
                             {"lr": 1.0, "weight_decay": 0.0, f"clip.{kind}": limit})
    out: FloatArray = -params
    return out


@pytest.mark.parametrize("kind", ["global_norm", "value"])
@pytest.mark.parametrize("d", [2, 7, 300])
def test_clipped_gradient_equals_per_trial_reference(kind: str, d: int) -> None:
    """Each row of the clipped gradient (K rows, a limit per row) equals the reference applied
    to that row alone, exactly; some rows are clipped and some are not."""
    limits = LIMITS[kind] * 4
    grads = random_grads(len(limits), d, seed=d)
    ours = clipped_by_chain(kind, grads, limits)
    clipped = 0
    for i, limit in enumerate(limits):
        expected = REFERENCE[kind](grads[i], limit)
        assert np.array_equal(ours[i], expected), f"{kind}: row {i} (limit {limit})"
        clipped += not np.array_equal(expected, grads[i])
    assert 0 < clipped < len(limits)


@pytest.mark.parametrize("kind", ["global_norm", "value"])
def test_one_limit_for_all_rows_equals_reference(kind: str) -> None:
    """A limit that is one float for the batch clips each row as the reference does."""
    grads = random_grads(12, 3, seed=1)
    ours = clipped_by_chain(kind, grads, 3.0)
    for i in range(len(grads)):
        assert np.array_equal(ours[i], REFERENCE[kind](grads[i], 3.0)), f"{kind}: row {i}"


def test_global_norm_bounds_the_norm() -> None:
    """After the clip every row's norm is ≤ M (to rounding), and a clipped row keeps its
    direction: the literal reference's properties, checked on the chain's output."""
    grads = random_grads(len(NORM_LIMITS), 4, seed=2)
    ours = clipped_by_chain("global_norm", grads, NORM_LIMITS)
    norms = np.sqrt(np.sum(grads * grads, axis=1))
    for i, limit in enumerate(NORM_LIMITS):
        assert np.linalg.norm(ours[i]) <= limit * (1 + 1e-15)
        if norms[i] > limit:
            assert np.allclose(ours[i] / limit, grads[i] / norms[i], rtol=1e-14, atol=0)


@pytest.mark.parametrize("kind", ["global_norm", "value"])
def test_zero_gradient_row_is_untouched(kind: str) -> None:
    """A row of zeros stays zeros (no NaN from 0/0), its parameters do not move, and the other
    rows are clipped as the reference says; no floating-point warning escapes."""
    grads = random_grads(4, 3, seed=3)
    grads[1] = 0.0
    limits = LIMITS[kind][:4]
    ours = clipped_by_chain(kind, grads, limits)
    assert np.all(ours[1] == 0.0)
    for i in (0, 2, 3):
        assert np.array_equal(ours[i], REFERENCE[kind](grads[i], limits[i]))
    # Through adam from a nonzero point: the row with zero gradient does not move.
    chain = Chain(make_rule("adam", "outside"), clip=kind)  # type: ignore[arg-type]
    params = np.tile(np.array(START), (4, 1))
    hp: dict[str, Any] = {**ADAM_HP, f"clip.{kind}": np.array(limits).reshape(-1, 1)}
    new, state = chain.update(grads[:, :2], chain.init(params), params, hp)
    assert new[1].tobytes() == params[1].tobytes()
    assert np.all(np.isfinite(new)) and np.all(state.m[1] == 0.0) and np.all(state.v[1] == 0.0)


# ---------------------------------------------------------------------------------------------
# Whole trajectories against the per-trial reference.


def chain_trajectory(chain: Chain, hp: dict[str, Any], start: FloatArray,
                     steps: int) -> FloatArray:
    """θ after each update of ``chain`` on rosenbrock from ``start`` (K, D): (steps, K, D)."""
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = start.copy()
    state = chain.init(params)
    out = []
    for _ in range(steps):
        params, state = chain.update(objective.value_and_grad(params)[1], state, params, hp)
        out.append(params)
    return np.array(out)


REFERENCE_STEPS = 60  # bit for bit from the first update: no need for 150


def reference_trajectory(kind: str, limit: float, hp: dict[str, float],
                         steps: int) -> FloatArray:
    """One trial: the gradient clipped by the literal reference, then the bare rule (L2 decay
    in ``Rule.update``, after the clip): (steps, D)."""
    rule = make_rule("adam", "outside")
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = np.array([START])
    state = rule.init(params)
    out = []
    for _ in range(steps):
        g = objective.value_and_grad(params)[1]
        params, state = rule.update(REFERENCE[kind](g[0], limit)[None, :], state, params, hp)
        out.append(params[0])
    return np.array(out)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("kind", ["global_norm", "value"])
def test_trajectories_equal_per_trial_reference(kind: str, weight_decay: float) -> None:
    """adam with the clip, K rows with their own limit in one batch: each row's trajectory
    equals one trial clipped by the reference and stepped by the bare rule, bit for bit."""
    limits = LIMITS[kind]
    chain = Chain(make_rule("adam", "outside"), clip=kind)  # type: ignore[arg-type]
    hp = {**ADAM_HP, "weight_decay": weight_decay,
          f"clip.{kind}": np.array(limits).reshape(-1, 1)}
    batched = chain_trajectory(chain, hp, np.tile(np.array(START), (len(limits), 1)),
                               REFERENCE_STEPS)
    for i, limit in enumerate(limits):
        alone = reference_trajectory(kind, limit, {**ADAM_HP, "weight_decay": weight_decay},
                                     REFERENCE_STEPS)
        assert batched[:, i].tobytes() == alone.tobytes(), f"{kind}: row {i} (limit {limit})"


# ---------------------------------------------------------------------------------------------
# Clip, then weight decay: against torch.

TORCH_TOLERANCE = 1e-10


def torch_trajectory(kind: str, limit: float, weight_decay: float, steps: int,
                     exact_norm: bool = False) -> FloatArray:
    """torch: backward, clip ``p.grad`` (``clip_grad_norm_`` / ``clip_grad_value_``; with
    ``exact_norm``, g·min(1, M/‖g‖) by hand, without torch's + 1e-6), then
    ``Adam(weight_decay)`` adds wd·θ and steps. (steps + 1, D)."""
    torch = pytest.importorskip("torch")
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=ADAM_HP["lr"], betas=(ADAM_HP["beta1"], ADAM_HP["beta2"]),
                           eps=ADAM_HP["eps"], weight_decay=weight_decay)
    out = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        x0, x1 = p[:-1], p[1:]
        (100.0 * (x1 - x0**2) ** 2 + (1.0 - x0) ** 2).sum().backward()
        if kind == "value":
            torch.nn.utils.clip_grad_value_([p], limit)
        elif exact_norm:
            with torch.no_grad():
                p.grad.mul_(min(1.0, limit / float(p.grad.norm())))
        else:
            torch.nn.utils.clip_grad_norm_([p], limit)
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def relative_error(ours: FloatArray, theirs: FloatArray) -> float:
    """max over steps of max_i |ours_i − theirs_i| / max_i |theirs_i| (rows are steps)."""
    assert ours.shape == theirs.shape
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(theirs))
    return float(np.max(np.max(np.abs(ours - theirs), axis=1) / np.max(np.abs(theirs), axis=1)))


@pytest.fixture
def float64_torch() -> Iterator[None]:
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _ours(kind: str, limit: float, weight_decay: float, steps: int = STEPS) -> FloatArray:
    """Our θ at steps 0..steps: adam (eps outside) in the chain with the clip."""
    chain = Chain(make_rule("adam", "outside"), clip=kind)  # type: ignore[arg-type]
    hp = {**ADAM_HP, "weight_decay": weight_decay, f"clip.{kind}": limit}
    return np.concatenate([np.array([START]),
                           chain_trajectory(chain, hp, np.array([START]), steps)[:, 0]])


CONTRAST_STEPS = 40  # the contrasting runs part from torch's within a few steps


def _decay_then_clip(kind: str, limit: float, weight_decay: float) -> FloatArray:
    """The other order, for contrast: g + wd·θ clipped, then the rule without decay; θ at
    steps 0..CONTRAST_STEPS."""
    rule = make_rule("adam", "outside")
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = np.array([START])
    state = rule.init(params)
    out = [params[0]]
    for _ in range(CONTRAST_STEPS):
        g = objective.value_and_grad(params)[1][0] + weight_decay * params[0]
        params, state = rule.update(REFERENCE[kind](g, limit)[None, :], state, params,
                                    {**ADAM_HP, "weight_decay": 0.0})
        out.append(params[0])
    return np.array(out)


CLIP_CASES = [("global_norm", 10.0), ("global_norm", 50.0), ("value", 5.0), ("value", 30.0)]


@pytest.mark.usefixtures("float64_torch")
@pytest.mark.parametrize(("kind", "limit"), CLIP_CASES)
def test_clip_then_weight_decay_matches_torch(kind: str, limit: float) -> None:
    """adam (eps outside) with weight_decay 0.1 and the clip equals torch clipping the raw
    gradient in ``p.grad`` followed by ``Adam(weight_decay=0.1)`` over 150 steps, relative
    error ≤ 1e-10 — for the norm clip with torch's clip written as the definition says
    (g·min(1, M/‖g‖), ``clip_grad_norm_`` has its own + 1e-6: the next test). The other order
    (decay, then clip) and no decay at all are both far from torch: the comparison sees the
    order."""
    theirs = torch_trajectory(kind, limit, 0.1, STEPS, exact_norm=True)
    ours = _ours(kind, limit, 0.1)
    assert 1e-2 < np.max(np.abs(theirs[-1] - theirs[0])) < 10.0
    error = relative_error(ours, theirs)
    assert error <= TORCH_TOLERANCE, f"{kind} {limit}: relative error {error:.3g} against torch"
    early = theirs[:CONTRAST_STEPS + 1]
    assert relative_error(_decay_then_clip(kind, limit, 0.1), early) > 1e-6
    assert relative_error(_ours(kind, limit, 0.0, CONTRAST_STEPS), early) > 1e-6  # decay applied


# torch.nn.utils.clip_grad_norm_ scales by min(1, M/(‖g‖ + 1e-6)): against ours the factor
# differs by ≈ 1e-6/‖g‖ relative while the clip is active, which moves adam's trajectory by
# ~1e-9 (measured: 9.6e-9 at M = 10, 1.1e-9 at M = 50). Not an engine error: ours is the
# definition (optax's clip_by_global_norm has no such term), which the exact-norm comparison
# above checks at 1e-10. Here the bound is what torch's + 1e-6 explains.
CLIP_GRAD_NORM_TOLERANCE = 1e-7


@pytest.mark.usefixtures("float64_torch")
@pytest.mark.parametrize("limit", [10.0, 50.0])
def test_clip_then_weight_decay_near_torch_clip_grad_norm(limit: float) -> None:
    """Against ``torch.nn.utils.clip_grad_norm_`` itself (then ``Adam(weight_decay=0.1)``):
    within what its + 1e-6 in the denominator explains (≤ 1e-7), and much closer to it than
    the other order (decay, then clip) is."""
    theirs = torch_trajectory("global_norm", limit, 0.1, STEPS)
    error = relative_error(_ours("global_norm", limit, 0.1), theirs)
    assert error <= CLIP_GRAD_NORM_TOLERANCE, \
        f"{limit}: relative error {error:.3g} against clip_grad_norm_ (+ 1e-6 explains ~1e-8)"
    early = theirs[:CONTRAST_STEPS + 1]
    assert relative_error(_decay_then_clip("global_norm", limit, 0.1), early) > 100 * error


# ---------------------------------------------------------------------------------------------
# Chunk-size independence.

CHUNK_STEPS = 25


@pytest.mark.parametrize("kind", ["global_norm", "value"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 4])
def test_clipping_does_not_depend_on_chunk_size(kind: str, chunk: int) -> None:
    """The K rows (each its own limit; two share one) run as one batch, and cut into chunks of
    ``chunk`` rows each run as its own batch: the same numbers, bit for bit."""
    limits = np.array(LIMITS[kind]).reshape(-1, 1)
    k = len(limits)
    starts = np.array([START, (0.5, -0.3), (1.5, 2.0), (-0.5, 0.5), (2.0, 1.0), (0.0, 0.0)])
    chain = Chain(make_rule("adam", "outside"), clip=kind)  # type: ignore[arg-type]
    hp = {**ADAM_HP, "weight_decay": 0.1}
    whole = chain_trajectory(chain, {**hp, f"clip.{kind}": limits}, starts, CHUNK_STEPS)
    parts = [chain_trajectory(chain, {**hp, f"clip.{kind}": limits[i:i + chunk]},
                              starts[i:i + chunk], CHUNK_STEPS) for i in range(0, k, chunk)]
    assert np.concatenate(parts, axis=1).tobytes() == whole.tobytes()


@pytest.mark.parametrize("kind", ["global_norm", "value"])
@pytest.mark.parametrize(("threads", "block"), [(1, 2), (2, 2), (3, 4)])
def test_stepper_blocks_clip_as_chain_update(kind: str, threads: int, block: int) -> None:
    """The blocked, threaded ``Stepper`` running the chain equals ``Chain.update``, bit for
    bit (the clip sees whole rows whatever the blocks)."""
    limits = np.array(LIMITS[kind] * 3).reshape(-1, 1)
    k = len(limits)
    rng = np.random.default_rng(4)
    starts = rng.uniform(-1.5, 1.5, (k, 2))
    chain = Chain(make_rule("adam", "outside"), clip=kind)  # type: ignore[arg-type]
    hp = {**ADAM_HP, "weight_decay": 0.1, f"clip.{kind}": limits}
    expected = chain_trajectory(chain, hp, starts, CHUNK_STEPS)
    objective = Rosenbrock(name="rosenbrock", dim=2)
    params = starts.copy()
    hp_columns: dict[str, Any] = {key: np.full((k, 1), v) if isinstance(v, float) else v for key, v in hp.items()}
    with Stepper(chain, params, chain.init(params), hp_columns, threads=threads,
                 block=block) as stepper:
        for step in range(CHUNK_STEPS):
            stepper.advance(objective.value_and_grad(params)[1])
            assert params.tobytes() == expected[step].tobytes(), f"step {step + 1}"
