"""The model objectives: losses and gradients (finite differences, torch autograd), training
against torch step by step, mini-batches, common random numbers, the split, validation curves,
metric directions and the spec's refusals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from optimizers import parse_spec, run_sweep
from optimizers.datasets import builtin, split
from optimizers.models import Model, ModelBinding
from optimizers.objectives import ObjectiveSpec
from optimizers.spec import describe_errors

SPEC: TypeAdapter[Any] = TypeAdapter(ObjectiveSpec)

CASES: list[dict[str, Any]] = [
    {"name": "linear_regression", "dataset": "diabetes"},
    {"name": "linear_regression", "dataset": "diabetes", "l2": 0.5},
    {"name": "logistic_regression", "dataset": "breast_cancer"},
    {"name": "logistic_regression", "dataset": "breast_cancer", "l2": 0.01},
    {"name": "softmax_regression", "dataset": "wine", "l2": 0.3},
    {"name": "softmax_regression", "dataset": "digits"},
    {"name": "mlp", "dataset": "iris", "hidden": [5, 4], "l2": 0.1},
    {"name": "mlp", "dataset": "iris", "hidden": [6], "activation": "relu"},
    {"name": "mlp", "dataset": "diabetes", "hidden": [3]},
    {"name": "mlp", "dataset": "digits", "hidden": [16]},
]
IDS = [f"{c['name']}-{c['dataset']}-{i}" for i, c in enumerate(CASES)]


def model(data: dict[str, Any]) -> Model:
    obj = SPEC.validate_python(data)
    assert isinstance(obj, Model)
    return obj


def points(obj: Model, k: int = 3, seed: int = 1) -> np.ndarray:
    """K starts near the Glorot ones, so every unit is in its active range."""
    rng = np.random.default_rng(seed)
    return np.stack([obj.start(s) for s in range(k)]) + 0.1 * rng.standard_normal((k, obj.dim))


@pytest.mark.parametrize("data", CASES, ids=IDS)
def test_gradient_matches_central_differences(data: dict[str, Any]) -> None:
    obj = model(data)
    x = points(obj)
    f, g = obj.value_and_grad(x)
    np.testing.assert_array_equal(obj.value(x), f)
    rng = np.random.default_rng(2)
    h = 1e-6
    for j in rng.choice(obj.dim, size=min(8, obj.dim), replace=False):
        e = np.zeros_like(x)
        e[:, j] = h
        fd = (obj.value(x + e) - obj.value(x - e)) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-5, atol=1e-7)


def torch_loss(obj: Model, theta: Any, x: Any, y: Any) -> Any:
    """The same model written directly in torch: layer by layer over θ's layout."""
    import torch

    net = obj.network
    h = x
    for i, (n_in, n_out, w, b) in enumerate(net.layers):
        h = h @ theta[w:w + n_in * n_out].reshape(n_in, n_out) + theta[b:b + n_out]
        if i < len(net.layers) - 1:
            h = torch.tanh(h) if net.activation == "tanh" else torch.relu(h)
    if net.output == "softmax":
        loss = torch.nn.functional.cross_entropy(h, y)
    elif net.output == "binary":
        loss = torch.nn.functional.binary_cross_entropy_with_logits(h[:, 0], y.double())
    else:
        loss = ((h[:, 0] - y) ** 2).mean()
    penalty = sum((theta[w:w + i * o] ** 2).sum() for i, o, w, _ in net.layers)
    return loss + 0.5 * net.l2 * penalty


@pytest.mark.parametrize("data", CASES, ids=IDS)
def test_loss_and_gradient_match_torch_autograd(data: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    obj = model(data)
    x = points(obj)
    f, g = obj.value_and_grad(x)
    train, _ = obj.data
    tx, ty = torch.tensor(train.X), torch.tensor(train.y)
    for row in range(len(x)):
        theta = torch.tensor(x[row], requires_grad=True)
        loss = torch_loss(obj, theta, tx, ty)
        loss.backward()
        assert abs(loss.item() - f[row]) <= 1e-12 * max(1.0, abs(f[row]))
        np.testing.assert_allclose(g[row], theta.grad.numpy(), rtol=0, atol=1e-12)


TRAINING = [
    ({"name": "softmax_regression", "dataset": "iris"}, "adam"),
    ({"name": "mlp", "dataset": "iris", "hidden": [8], "l2": 0.01}, "adam"),
    ({"name": "mlp", "dataset": "wine", "hidden": [6, 5], "activation": "relu"}, "sgd"),
    ({"name": "logistic_regression", "dataset": "breast_cancer"}, "momentum"),
    ({"name": "linear_regression", "dataset": "diabetes"}, "rmsprop"),
    ({"name": "mlp", "dataset": "diabetes", "hidden": [6], "l2": 0.1}, "adam"),
]


def torch_optimizer(name: str, params: list[Any], lr: float) -> Any:
    import torch

    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=1e-8)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":  # ours equals torch's with its buffer v/lr
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-8)


@pytest.mark.parametrize(("data", "rule"), TRAINING, ids=[f"{d['name']}-{r}" for d, r in TRAINING])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_training_matches_torch_step_by_step(data: dict[str, Any], rule: str,
                                             batch_size: int | None) -> None:
    """Float64, the same Glorot start, the same batches (the documented permutations), the
    same optimizer: every recorded full-training-set loss agrees to 1e-10."""
    torch = pytest.importorskip("torch")
    objective = {**data, "validation": 0.2}
    if batch_size:
        objective["batch_size"] = batch_size
    optimizer: Any = {"name": rule, "eps_placement": "outside"} if rule in (
        "adam", "rmsprop") else rule
    lr = 0.01
    spec = {"objective": objective, "optimizer": optimizer, "grid": {"lr": lr}, "steps": 60,
            "record_every": 5, "seeds": [3]}
    result = run_sweep(spec)["trials"][0]
    obj = parse_spec(spec).objective
    assert isinstance(obj, Model)
    train, val = obj.data
    assert val is not None
    tx, ty = torch.tensor(train.X), torch.tensor(train.y)
    theta = torch.tensor(obj.start(3), requires_grad=True)
    opt = torch_optimizer(rule, [theta], lr)
    rng = np.random.default_rng([3, 1])  # the batches: an epoch is a permutation of the rows
    order: list[int] = []
    losses, val_losses = [], []
    for step in range(61):
        with torch.no_grad():
            if step % 5 == 0 or step == 60:
                losses.append(torch_loss(obj, theta, tx, ty).item())
                val_losses.append(torch_loss(obj, theta, torch.tensor(val.X),
                                             torch.tensor(val.y)).item())
        if step == 60:
            break
        if batch_size:
            if len(order) < batch_size:
                order = rng.permutation(len(train.X)).tolist()
            picked, order = order[:batch_size], order[batch_size:]
            if len(order) < batch_size:  # the short last batch is dropped
                order = []
            bx, by = tx[picked], ty[picked]
        else:
            bx, by = tx, ty
        opt.zero_grad()
        torch_loss(obj, theta, bx, by).backward()
        opt.step()
    assert result["status"] == "ok"
    np.testing.assert_allclose(result["curve"]["loss"], losses, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result["curve"]["val_loss"], val_losses, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", ["adam", "nesterov"])
def test_every_trial_with_a_seed_sees_the_same_batches_whatever_its_neighbours(rule: str) -> None:
    """Common random numbers: a trial's numbers depend on its seed and hyperparameters only —
    not on which trials share its chunk, nor on the chunk's size (nesterov: the look-ahead
    gradient on the same batch)."""
    spec = {"objective": {"name": "mlp", "dataset": "iris", "hidden": [4], "batch_size": 10,
                          "validation": 0.2}, "optimizer": rule,
            "grid": {"lr": [0.001, 0.01, 0.1]}, "seeds": 3, "steps": 50, "record_every": 10}
    together = run_sweep(spec)["trials"]
    alone = run_sweep(spec, chunk_size=1)["trials"]
    pairs = run_sweep(spec, chunk_size=2)["trials"]  # chunks that mix seeds
    assert together == alone == pairs
    again = run_sweep(spec)["trials"]
    assert again == together
    obj = parse_spec(spec).objective
    binding = ModelBinding(obj, [0, 0, 1], [0, 50])  # type: ignore[arg-type]
    first = binding.batch_rows(0, 0)
    assert first is not None and len(first) == 10
    np.testing.assert_array_equal(first, np.random.default_rng([0, 1]).permutation(120)[:10])
    assert not np.array_equal(binding.batch_rows(0, 1), first)
    assert not np.array_equal(binding.batch_rows(1, 0), first)
    # an epoch of 120 rows in batches of 10 is 12 steps; the 13th starts a new permutation
    epoch = np.concatenate([binding.batch_rows(0, s) for s in range(12)])  # type: ignore[misc]
    assert sorted(epoch.tolist()) == list(range(120))


def test_the_split_holds_out_the_last_rows_of_one_fixed_permutation() -> None:
    data = builtin("wine")
    train, val = split(data, 0.25)
    assert val is not None
    held = math.ceil(0.25 * 178)
    assert (len(train.X), len(val.X)) == (178 - held, held)
    order = np.random.default_rng(0).permutation(178)
    np.testing.assert_array_equal(val.X, data.X[order[178 - held:]])
    np.testing.assert_array_equal(train.y, data.y[order[:178 - held]])
    assert split(data, 0.0) == (data, None)


def test_validation_curves_and_metrics_are_recorded() -> None:
    spec = {"objective": {"name": "softmax_regression", "dataset": "iris", "validation": 0.3},
            "optimizer": "adam", "grid": {"lr": [0.01, 0.1]}, "steps": 40, "record_every": 10,
            "metric": "max_val_accuracy"}
    document = run_sweep(spec)
    for trial in document["trials"]:
        curve = trial["curve"]
        assert curve["step"] == [0, 10, 20, 30, 40]
        assert len(curve["val_loss"]) == len(curve["val_accuracy"]) == 5
        assert trial["final_val_loss"] == curve["val_loss"][-1]
        assert trial["min_val_loss"] == min(curve["val_loss"])
        assert trial["max_val_accuracy"] == max(curve["val_accuracy"])
        assert trial["final_loss"] == curve["loss"][-1] and trial["min_loss"] == min(curve["loss"])
        assert trial["mean_loss"] == pytest.approx(sum(curve["loss"]) / 5, rel=1e-15)
        assert all(0 <= a <= 1 for a in curve["val_accuracy"])
    obj = parse_spec(spec).objective
    assert isinstance(obj, Model)
    _, val = obj.data
    assert val is not None and len(val.X) == 45


def test_a_higher_is_better_metric_picks_the_highest_score() -> None:
    spec = {"objective": {"name": "softmax_regression", "dataset": "digits", "validation": 0.2},
            "optimizer": "sgd", "grid": {"lr": [1e-4, 0.3]}, "steps": 30, "record_every": 10,
            "metric": "max_val_accuracy"}
    document = run_sweep(spec)
    scores = [s["score"] for s in document["settings"]]
    assert scores[1] > scores[0]  # the larger lr learns more in 30 steps
    assert document["best"] is not None and document["best"]["score"] == max(scores)
    assert document["best"]["params"]["lr"] == 0.3
    lowest = run_sweep({**spec, "metric": "final_val_loss"})
    assert lowest["best"] is not None and lowest["best"]["params"]["lr"] == 0.3
    assert lowest["best"]["score"] == min(s["score"] for s in lowest["settings"])


def test_a_diverging_model_trial_is_a_result() -> None:
    spec = {"objective": {"name": "linear_regression", "dataset": "diabetes", "validation": 0.1},
            "optimizer": "sgd", "grid": {"lr": [0.01, 50.0]}, "steps": 200, "record_every": 50}
    ok, bad = run_sweep(spec)["trials"]
    assert ok["status"] == "ok" and bad["status"] == "diverged"
    assert bad["final_loss"] is None and bad["final_val_loss"] is None
    assert len(bad["curve"]["val_loss"]) == len(bad["curve"]["step"]) < 5


def test_glorot_start_from_the_seed() -> None:
    obj = model({"name": "mlp", "dataset": "iris", "hidden": [5]})
    theta = obj.start(7)
    rng = np.random.default_rng([7, 0])
    w1 = rng.uniform(-math.sqrt(6 / 9), math.sqrt(6 / 9), 20)
    w2 = rng.uniform(-math.sqrt(6 / 8), math.sqrt(6 / 8), 15)
    np.testing.assert_array_equal(theta, np.concatenate([w1, np.zeros(5), w2, np.zeros(3)]))
    assert obj.dim == 4 * 5 + 5 + 5 * 3 + 3
    assert not np.array_equal(obj.start(8), theta)


def errors(spec: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_spec(spec)
    return "\n".join(describe_errors(info.value))


BASE = {"optimizer": "adam", "grid": {"lr": 0.01}, "steps": 10}


@pytest.mark.parametrize(("objective", "metric", "expected"), [
    ({"name": "mlp", "dataset": "mnist"}, "final_loss",
     "'digits', 'iris', 'breast_cancer', 'wine' or 'diabetes'"),
    ({"name": "logistic_regression", "dataset": "iris"}, "final_loss",
     "logistic_regression is binary: the dataset has 3 classes"),
    ({"name": "softmax_regression", "dataset": "diabetes"}, "final_loss",
     "softmax_regression needs a classification dataset"),
    ({"name": "linear_regression", "dataset": "iris"}, "final_loss",
     "linear_regression needs a regression dataset"),
    ({"name": "mlp", "dataset": "iris", "dim": 5}, "final_loss",
     "dim is derived from the dataset and the layers: 259, not 5; leave it out"),
    ({"name": "mlp", "dataset": "iris", "batch_size": 200}, "final_loss",
     "batch_size = 200 is over the 150 training rows"),
    ({"name": "mlp", "dataset": "iris", "hidden": [0]}, "final_loss",
     "objective.hidden.0: Input should be greater than or equal to 1"),
    ({"name": "mlp", "dataset": "iris", "activation": "gelu"}, "final_loss", "'tanh' or 'relu'"),
    ({"name": "mlp", "dataset": "iris"}, "max_val_accuracy",
     ("metric max_val_accuracy does not apply to this objective (it needs a model with "
      "validation and classes); valid choices: final_loss, min_loss, mean_loss")),
    ({"name": "mlp", "dataset": "diabetes", "validation": 0.2}, "final_val_accuracy",
     "valid choices: final_loss, min_loss, mean_loss, final_val_loss, min_val_loss"),
    ({"name": "mlp", "dataset": "iris", "validation": 1.0}, "final_loss", "less than 1"),
    ({"name": "mlp", "dataset": {"id": "ab"}}, "final_loss", "at least 64 characters"),
    ({"name": "mlp", "dataset": {"id": "a" * 64}}, "final_loss",
     "an uploaded dataset is not available here"),
    ({"name": "mlp", "dataset": {"path": "x.csv", "target": "y"}}, "final_loss",
     "a local file is not available here"),
])
def test_a_bad_model_objective_is_refused_naming_the_field(objective: dict[str, Any],
                                                          metric: str, expected: str) -> None:
    assert expected in errors({**BASE, "objective": objective, "metric": metric})


def test_the_normalised_spec_fills_in_dim_and_round_trips() -> None:
    spec = parse_spec({**BASE, "objective": {"name": "mlp", "dataset": "digits"}})
    data = spec.data()
    assert data["objective"] == {"name": "mlp", "dim": 64 * 32 + 32 + 32 * 10 + 10,
                                 "dataset": "digits", "batch_size": None, "validation": 0.0,
                                 "l2": 0.0, "hidden": [32], "activation": "tanh"}
    assert parse_spec(data) == spec
    assert parse_spec(spec.model_dump_json()) == spec


def test_work_counts_a_model_by_its_matrix_products() -> None:
    """The work limit counts a model's multiply-adds (weighted against element operations), so
    a digits MLP of 100 trials × 500 steps at batch 64 fits the default and its full-batch
    version over 10,000 steps does not."""
    small = {**BASE, "objective": {"name": "mlp", "dataset": "digits", "batch_size": 64},
             "grid": {"lr": [0.001 * i for i in range(1, 101)]}, "steps": 500,
             "record_every": 50}
    parse_spec(small)
    big = {**small, "objective": {"name": "mlp", "dataset": "digits"}, "steps": 10_000}
    assert "over the limit max_work" in errors(big)


def test_a_trials_recorded_losses_do_not_depend_on_its_chunk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The full-set losses are computed in row blocks sized by the chunk's K; each trial's row
    losses are still summed as one row, so its numbers are the same alone or in company."""
    from optimizers import models

    monkeypatch.setattr(models, "BLOCK_ELEMENTS", 2048)  # a trial a block: several blocks
    spec = {"objective": {"name": "mlp", "dataset": "digits", "hidden": [8], "batch_size": 32,
                          "validation": 0.2}, "optimizer": "adam",
            "grid": {"lr": [0.001, 0.003, 0.01, 0.03, 0.1]}, "steps": 20, "record_every": 5}
    assert run_sweep(spec, chunk_size=1)["trials"] == run_sweep(spec)["trials"]
