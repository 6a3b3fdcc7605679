"""Tests for optimizers.objectives: gradients, batching, minima, validation."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import TypeAdapter, ValidationError

from optimizers.models import Model
from optimizers.objectives import (
    OBJECTIVES,
    Ackley,
    Beale,
    Objective,
    ObjectiveSpec,
    Quadratic,
    Rastrigin,
    Rosenbrock,
    Sphere,
    StyblinskiTang,
)

FloatArray = npt.NDArray[np.float64]
DIMS = (1, 2, 3, 7, 20)
SPEC: TypeAdapter[Any] = TypeAdapter(ObjectiveSpec)


#: The analytic test functions (each has a reference implementation and known minimisers below);
#: the user's own ``expression`` is tested in test_expression.py, the models in test_models.py.
FUNCTIONS = {name: cls for name, cls in OBJECTIVES.items()
             if name != "expression" and not issubclass(cls, Model)}


def _valid_dims(cls: type[Objective]) -> list[int]:
    return [d for d in DIMS if cls.min_dim <= d and (cls.max_dim is None or d <= cls.max_dim)]


def _defaults() -> Iterator[Any]:
    for name, cls in FUNCTIONS.items():
        for d in _valid_dims(cls):
            yield pytest.param(cls.model_validate({"dim": d}), id=f"{name}-{d}")


# Non-default parameters, so that every field is exercised by the numeric tests.
_CUSTOM = [
    Rosenbrock(dim=4, a=0.5, b=10.0),
    Quadratic(dim=5, condition=1e3),
    Rastrigin(dim=3, A=3.0),
    Ackley(dim=4, a=5.0, b=0.5, c=3.0),
]
DEFAULTS = list(_defaults())
CASES = DEFAULTS + [pytest.param(o, id=f"{o.name}-custom-{i}") for i, o in enumerate(_CUSTOM)]


def _points(obj: Objective, k: int = 6, seed: int = 0) -> FloatArray:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(k, obj.dim))


def _fd_grad(obj: Objective, x: FloatArray, rel: float = 1e-6) -> FloatArray:
    """Central finite differences, one coordinate at a time for the whole batch."""
    g = np.empty_like(x)
    for j in range(x.shape[1]):
        h = rel * np.maximum(1.0, np.abs(x[:, j]))
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        g[:, j] = (obj.value(xp) - obj.value(xm)) / (xp[:, j] - xm[:, j])
    return g


# --- literal scalar transcriptions of the formulas, one point at a time --------------------------


def _rosenbrock(o: Any, x: list[float]) -> float:
    terms = [o.b * (x[i + 1] - x[i] ** 2) ** 2 + (o.a - x[i]) ** 2 for i in range(len(x) - 1)]
    return float(sum(terms))


def _quadratic(o: Any, x: list[float]) -> float:
    d = len(x)
    lam = [o.condition ** (i / (d - 1)) if d > 1 else 1.0 for i in range(d)]
    return 0.5 * sum(lam[i] * x[i] ** 2 for i in range(d))


def _rastrigin(o: Any, x: list[float]) -> float:
    return float(o.A * len(x) + sum(xi**2 - o.A * math.cos(2 * math.pi * xi) for xi in x))


def _ackley(o: Any, x: list[float]) -> float:
    d = len(x)
    r = math.sqrt(sum(xi**2 for xi in x) / d)
    mean_cos = sum(math.cos(o.c * xi) for xi in x) / d
    return float(-o.a * math.exp(-o.b * r) - math.exp(mean_cos) + o.a + math.e)


REFERENCE: dict[str, Callable[[Any, list[float]], float]] = {
    "rosenbrock": _rosenbrock,
    "sphere": lambda o, x: sum(xi**2 for xi in x),
    "quadratic": _quadratic,
    "rastrigin": _rastrigin,
    "ackley": _ackley,
    "styblinski_tang": lambda o, x: 0.5 * sum(xi**4 - 16 * xi**2 + 5 * xi for xi in x),
    "beale": lambda o, p: (
        (1.5 - p[0] + p[0] * p[1]) ** 2
        + (2.25 - p[0] + p[0] * p[1] ** 2) ** 2
        + (2.625 - p[0] + p[0] * p[1] ** 3) ** 2
    ),
    "booth": lambda o, p: (p[0] + 2 * p[1] - 7) ** 2 + (2 * p[0] + p[1] - 5) ** 2,
    "himmelblau": lambda o, p: (p[0] ** 2 + p[1] - 11) ** 2 + (p[0] + p[1] ** 2 - 7) ** 2,
}

MINIMISERS: dict[str, Callable[[int], FloatArray]] = {
    "rosenbrock": np.ones,
    "sphere": np.zeros,
    "quadratic": np.zeros,
    "rastrigin": np.zeros,
    "ackley": np.zeros,
    "styblinski_tang": lambda d: np.full(d, -2.903534027771178),
    "beale": lambda d: np.array([3.0, 0.5]),
    "booth": lambda d: np.array([1.0, 3.0]),
    "himmelblau": lambda d: np.array([3.0, 2.0]),
}


# --- catalogue -----------------------------------------------------------------------------------


def test_catalogue_order_and_names() -> None:
    assert list(OBJECTIVES) == [
        "rosenbrock", "sphere", "quadratic", "rastrigin", "ackley",
        "styblinski_tang", "beale", "booth", "himmelblau", "expression",
        "linear_regression", "logistic_regression", "softmax_regression", "mlp",
    ]  # fmt: skip
    assert set(REFERENCE) == set(FUNCTIONS) == set(MINIMISERS)
    for name, cls in OBJECTIVES.items():
        assert cls.example().name == name


@pytest.mark.parametrize("cls", OBJECTIVES.values(), ids=list(OBJECTIVES))
def test_documented(cls: type[Objective]) -> None:
    assert cls.formula.startswith("f(")
    doc = cls.__doc__ or ""
    assert "Args:" in doc and "Start" in doc and "Reference" in doc
    for field_name, field in cls.model_fields.items():
        assert field.description, field_name


# --- numerics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", CASES)
def test_gradient_matches_finite_differences(obj: Objective) -> None:
    x = _points(obj, k=8, seed=1)
    _, g = obj.value_and_grad(x)
    np.testing.assert_allclose(g, _fd_grad(obj, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("obj", CASES)
@pytest.mark.parametrize("k", [1, 5])
def test_shapes_and_consistency(obj: Objective, k: int) -> None:
    x = _points(obj, k=k, seed=2)
    f, g = obj.value_and_grad(x)
    assert f.shape == (k,) and g.shape == (k, obj.dim)
    assert f.dtype == np.float64 and g.dtype == np.float64
    assert np.array_equal(obj.value(x), f)
    assert np.array_equal(obj.grad(x), g)


@pytest.mark.parametrize("obj", CASES)
def test_value_matches_scalar_transcription(obj: Objective) -> None:
    x = _points(obj, k=6, seed=3)
    expected = [REFERENCE[obj.name](obj, row.tolist()) for row in x]
    np.testing.assert_allclose(obj.value(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("obj", CASES)
def test_rows_are_independent(obj: Objective) -> None:
    x = _points(obj, k=37, seed=4)  # odd K exercises SIMD remainders
    f, g = obj.value_and_grad(x)
    v = obj.value(x)
    for k in range(x.shape[0]):
        fk, gk = obj.value_and_grad(x[k : k + 1])
        assert np.array_equal(fk[0], f[k]) and np.array_equal(gk[0], g[k])
        assert np.array_equal(obj.value(x[k : k + 1].copy())[0], v[k])


@pytest.mark.parametrize("obj", CASES)
def test_memory_layout_does_not_matter(obj: Objective) -> None:
    x = _points(obj, k=37, seed=5)
    f, g = obj.value_and_grad(x)
    wide = np.repeat(x, 2, axis=1)  # wide[:, ::2] is a strided view equal to x
    for view in (np.asfortranarray(x), np.ascontiguousarray(x.T).T, wide[:, ::2], x[::-1][::-1]):
        fv, gv = obj.value_and_grad(view)
        assert np.array_equal(fv, f) and np.array_equal(gv, g)
        assert np.array_equal(obj.value(view), f) and np.array_equal(obj.grad(view), g)


@pytest.mark.parametrize("obj", DEFAULTS)
def test_minimum_is_attained(obj: Objective) -> None:
    x = MINIMISERS[obj.name](obj.dim)[None, :]
    f, g = obj.value_and_grad(x)
    assert abs(f[0] - obj.minimum()) <= 1e-9
    assert np.linalg.norm(g) <= 1e-8


def test_rosenbrock_minimum_for_other_a() -> None:
    obj = Rosenbrock(a=0.5, b=3.0)
    f, g = obj.value_and_grad(np.array([[0.5, 0.25]]))
    assert f[0] == obj.minimum() == 0.0 and not g.any()
    assert Rosenbrock(dim=5, a=0.0).minimum() == 0.0
    with pytest.raises(ValueError, match="no closed-form minimum"):
        Rosenbrock(dim=3, a=0.5).minimum()


def test_styblinski_tang_minimum_scales_with_dim() -> None:
    assert StyblinskiTang(dim=3).minimum() == pytest.approx(3 * -39.16616570377142, rel=1e-15)


@pytest.mark.parametrize("obj", CASES)
def test_no_warnings_at_origin(obj: Objective) -> None:
    x = np.zeros((3, obj.dim))
    with warnings.catch_warnings(), np.errstate(divide="raise", invalid="raise", over="raise"):
        warnings.simplefilter("error")
        f, g = obj.value_and_grad(x)
        obj.value(x)
        obj.grad(x[:1])
    assert np.isfinite(f).all() and np.isfinite(g).all()


def test_ackley_origin_is_exact() -> None:
    obj = Ackley(dim=3)
    f, g = obj.value_and_grad(np.zeros((2, 3)))
    assert not f.any() and not g.any()


@pytest.mark.parametrize("obj", CASES)
def test_start_is_not_stationary(obj: Objective) -> None:
    x0 = obj.start()
    assert x0.shape == (obj.dim,) and x0.dtype == np.float64
    assert np.linalg.norm(obj.grad(x0[None, :])) > 1e-6
    x0[...] = 123.0  # a fresh array each call
    assert not np.array_equal(obj.start(), x0)


def test_start_points() -> None:
    np.testing.assert_array_equal(Rosenbrock(dim=5).start(), [-1.2, 1.0, -1.2, 1.0, -1.2])
    np.testing.assert_array_equal(Rastrigin(dim=3).start(), [2.5, 2.5, 2.5])
    np.testing.assert_array_equal(Beale().start(), [1.0, 1.0])
    np.testing.assert_array_equal(StyblinskiTang(dim=2).start(), [0.0, 0.0])


def test_quadratic_eigenvalues() -> None:
    np.testing.assert_array_equal(Quadratic(dim=1, condition=50.0).eigenvalues(), [1.0])
    lam = Quadratic(dim=3, condition=100.0).eigenvalues()
    np.testing.assert_allclose(lam, [1.0, 10.0, 100.0], rtol=1e-15)
    assert lam[-1] == 100.0
    # a copy with other parameters must not reuse anything computed for the original
    q = Quadratic(dim=3)
    q.value(np.ones((1, 3)))
    q2 = q.model_copy(update={"dim": 4, "condition": 8.0})
    np.testing.assert_allclose(q2.eigenvalues(), [1.0, 2.0, 4.0, 8.0], rtol=1e-15)


# --- specs and validation ------------------------------------------------------------------------


def test_spec_round_trip() -> None:
    obj = SPEC.validate_python({"name": "ackley", "dim": 5})
    assert isinstance(obj, Ackley) and obj.dim == 5 and obj.a == 20.0
    assert SPEC.validate_json('{"name": "quadratic", "condition": 4}') == Quadratic(condition=4.0)
    for cls in OBJECTIVES.values():
        obj = cls.example()
        assert SPEC.validate_json(obj.model_dump_json()) == obj
        assert hash(SPEC.validate_python(obj.model_dump())) == hash(obj)


def test_frozen() -> None:
    obj = Sphere(dim=3)
    with pytest.raises(ValidationError):
        obj.dim = 4


def _error(spec: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        SPEC.validate_python(spec)
    return str(info.value)


@pytest.mark.parametrize("name", ["beale", "booth", "himmelblau"])
def test_two_dimensional_only(name: str) -> None:
    assert f"{name} is defined for dim = 2 only" in _error({"name": name, "dim": 3})
    assert "dim = 2 only" in _error({"name": name, "dim": 1})


def test_min_dim() -> None:
    assert "rosenbrock needs dim >= 2" in _error({"name": "rosenbrock", "dim": 1})
    _error({"name": "sphere", "dim": 0})


def test_unknown_name_lists_valid_names() -> None:
    message = _error({"name": "nope"})
    assert "nope" in message
    for name in OBJECTIVES:
        assert repr(name) in message


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"name": "sphere", "dim": 2, "step": 1.0}, "Extra inputs are not permitted"),
        ({"name": "quadratic", "condition": -1.0}, "greater than or equal to 1"),
        ({"name": "quadratic", "condition": 0.5}, "greater than or equal to 1"),
        ({"name": "rosenbrock", "b": 0.0}, "greater than 0"),
        ({"name": "rastrigin", "A": -1.0}, "greater than 0"),
        ({"name": "sphere", "dim": "3"}, "valid integer"),
        ({"name": "sphere", "dim": 2.0}, "valid integer"),
        ({"name": "sphere", "dim": True}, "valid integer"),
        ({"name": "rosenbrock", "a": "1.0"}, "valid number"),
        ({"name": "ackley", "a": float("nan")}, "finite number"),
        ({"name": "quadratic", "condition": float("inf")}, "finite number"),
        ({"dim": 2}, "Unable to extract tag using discriminator 'name'"),
    ],
)
def test_invalid_specs_rejected(spec: dict[str, Any], fragment: str) -> None:
    assert fragment in _error(spec)
