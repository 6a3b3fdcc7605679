"""The ``expression`` objective: its grammar, its values and exact gradients, and every hostile
input refused with the position, fast."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from optimizers import parse_spec, run_sweep
from optimizers.expression import MAX_DEPTH, ExpressionError, Tape, parse
from optimizers.objectives import Expression, Rastrigin, Rosenbrock, Sphere

RNG = np.random.default_rng(7)
X = RNG.uniform(-2.0, 2.0, size=(64, 3))


def f_and_g(expr: str, x: np.ndarray = X) -> tuple[np.ndarray, np.ndarray]:
    return Expression(expr=expr, dim=x.shape[1]).value_and_grad(x)


def central_differences(expr: str, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    obj = Expression(expr=expr, dim=x.shape[1])
    grad = np.empty_like(x)
    for i in range(x.shape[1]):
        step = np.zeros(x.shape[1])
        step[i] = h
        grad[:, i] = (obj.value(x + step) - obj.value(x - step)) / (2 * h)
    return grad


# --- the same numbers as the built-in objectives ------------------------------------------------

def test_the_rosenbrock_formula_gives_rosenbrocks_values_and_gradients() -> None:
    x = X[:, :2]
    f, g = f_and_g("(1 - x0)**2 + 100*(x1 - x0**2)**2", x)
    rf, rg = Rosenbrock(dim=2).value_and_grad(x)
    np.testing.assert_allclose(f, rf, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(g, rg, rtol=1e-14, atol=1e-12)


def test_sphere_and_rastrigin_formulas() -> None:
    f, g = f_and_g("x0**2 + x1**2 + x2**2")
    sf, sg = Sphere(dim=3).value_and_grad(X)
    np.testing.assert_allclose(f, sf, rtol=1e-15)
    np.testing.assert_allclose(g, sg, rtol=1e-15)
    term = "(x{i}**2 - 10*cos(2*pi*x{i}))"
    f, g = f_and_g("30 + " + " + ".join(term.format(i=i) for i in range(3)))
    rf, rg = Rastrigin(dim=3).value_and_grad(X)
    np.testing.assert_allclose(f, rf, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(g, rg, rtol=1e-13, atol=1e-12)


def test_a_sweep_on_the_formula_is_the_sweep_on_rosenbrock() -> None:
    common: dict[str, Any] = {"optimizer": "adam", "grid": {"lr": [0.001, 0.01, 0.1]},
                              "init": [-1.5, 2.0], "steps": 300, "record_every": 10}
    mine = run_sweep({**common, "objective": {
        "name": "expression", "expr": "(1 - x0)**2 + 100*(x1 - x0**2)**2", "dim": 2}})
    builtin = run_sweep({**common, "objective": "rosenbrock"})
    for a, b in zip(mine["trials"], builtin["trials"], strict=True):
        np.testing.assert_allclose(a["curve"]["loss"], b["curve"]["loss"], rtol=1e-12)
    assert mine["best"]["params"] == builtin["best"]["params"]


# --- every operation's gradient -----------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "x0 + x1 - x2", "x0 * x1 / (x2 + 3)", "-x0**3", "2**x0", "(x0 + 3)**x1**2 / 10 + 5",
    "(x0 + 3)**(x1 + 3)", "sin(x0) * cos(x1) + tan(x2 / 4)", "exp(x0) - log(x1 + 3)",
    "sqrt(x0 + 3) * tanh(x1)", "abs(x0 - 0.3) + abs(x1)", "e**x0 + pi*x1", "x0*x0*x0 - x0",
    "1 / (1 + exp(-x0 * x1))", "-(-(-x0))", "3", "x0 - x0",
])
def test_gradients_match_central_differences(expr: str) -> None:
    x = X + np.array([0.0, 0.01, 0.02])  # off the kinks of abs
    _, g = f_and_g(expr, x)
    np.testing.assert_allclose(g, central_differences(expr, x), rtol=1e-6, atol=1e-6)


OPERANDS = st.sampled_from(["x0", "x1", "x2", "0.5", "2", "pi"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 3 or draw(st.booleans()):
        return draw(OPERANDS)
    kind = draw(st.sampled_from(["+", "-", "*", "/", "f", "neg"]))
    a = draw(expressions(depth + 1))
    if kind == "f":
        name = draw(st.sampled_from(["sin", "cos", "tanh", "exp"]))
        return f"{name}({a} / 4)"
    if kind == "neg":
        return f"-({a})"
    b = draw(expressions(depth + 1))
    if kind == "/":
        return f"({a}) / (3 + ({b})**2)"
    return f"({a}) {kind} ({b})"


@settings(max_examples=60, deadline=None)
@given(expressions())
def test_random_expressions_have_the_gradients_of_central_differences(expr: str) -> None:
    x = X[:8]
    f, g = f_and_g(expr, x)
    assert f.shape == (8,) and g.shape == (8, 3)
    np.testing.assert_allclose(g, central_differences(expr, x), rtol=1e-5, atol=1e-6)


def test_gradients_match_torch_autograd() -> None:
    torch = pytest.importorskip("torch")
    expr = "sin(x0) * exp(x1 / 3) + x2**3 / (1 + x0**2) - sqrt(abs(x1) + 1) * log(x2**2 + 2)"
    x = X + 0.01
    _, g = f_and_g(expr, x)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    x0, x1, x2 = t[:, 0], t[:, 1], t[:, 2]
    value = (torch.sin(x0) * torch.exp(x1 / 3) + x2**3 / (1 + x0**2)
             - torch.sqrt(torch.abs(x1) + 1) * torch.log(x2**2 + 2))
    value.sum().backward()
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-13, atol=1e-13)


# --- the grammar --------------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "expected"), [
    ("-2**2", -4.0), ("2**-1", 0.5), ("2**3**2", 512.0), ("8/4/2", 1.0), ("1-2-3", -4.0),
    ("2*3+4", 10.0), ("2+3*4", 14.0), ("(2+3)*4", 20.0), ("--3", 3.0), ("1e2 + .5", 100.5),
    ("2.5E-1", 0.25), ("pi", math.pi), ("e", math.e), ("  x0 ", 1.5),
])
def test_precedence_and_literals_are_pythons(expr: str, expected: float) -> None:
    f = Expression(expr=expr, dim=1).value(np.array([[1.5]]))
    assert f.tolist() == [expected]


def test_non_finite_values_are_values_not_errors() -> None:
    f, _ = Expression(expr="log(x0)", dim=1).value_and_grad(np.array([[-1.0], [0.0]]))
    assert math.isnan(f[0]) and f[1] == -math.inf
    started = time.perf_counter()
    f, _ = Expression(expr="9**9**9**9 * x0", dim=1).value_and_grad(np.array([[2.0]]))
    assert f[0] == math.inf and time.perf_counter() - started < 1.0


def test_a_diverging_formula_is_a_diverged_trial() -> None:
    result = run_sweep({"objective": {"name": "expression", "expr": "log(x0)", "dim": 1},
                        "optimizer": "sgd", "grid": {"lr": 10.0}, "init": [0.5], "steps": 50})
    assert result["trials"][0]["status"] == "diverged"


# --- hostile input: refused with the position, fast ---------------------------------------------

@pytest.mark.parametrize(("expr", "position", "words"), [
    ("__import__('os').system('ls')", 0, "unknown name '__import__'"),
    ("x0.real", 2, "unexpected character '.'"),
    ("x0[0]", 2, "unexpected character '['"),
    ("lambda: 0", 0, "unknown name 'lambda'"),
    ("x0 if x1 else 2", 3, "unexpected 'if'"),
    ("foo(x0)", 0, "unknown name 'foo'"),
    ("sin x0", 4, "expected '(' after sin"),
    ("x3 + x0", 0, "variable x3 is not one of x0 … x1"),
    ("x0 +", 4, "unexpected the end"),
    ("(x0 + 1", 7, "expected ')' to close the '(' at position 0"),
    ("x0 ** * 2", 6, "unexpected '*'"),
    ("1e999", 0, "out of range"),
    ("x0 = 1", 3, "unexpected character '='"),
    ("'x0'", 0, "unexpected character"),
    ("", 0, "empty"),
    ("x01", 0, "unknown name 'x01'"),
])
def test_bad_expressions_name_the_position(expr: str, position: int, words: str) -> None:
    with pytest.raises(ExpressionError) as error:
        parse(expr, 2)
    assert error.value.position == position and words in str(error.value)
    assert str(error.value).startswith(f"position {position}: ")


@pytest.mark.parametrize("expr", [
    "(" * 10_000 + "x0" + ")" * 10_000,
    "-" * 10_000 + "x0",
    "sin(" * 5_000 + "x0" + ")" * 5_000,
    "x0" + "**x0" * 3_000,
    "(" * 3_000,
])
def test_deep_nesting_is_refused_at_once_whatever_its_length(expr: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError, match=f"nested more than {MAX_DEPTH} levels|characters"):
        parse(expr, 1)
    assert time.perf_counter() - started < 1.0


def test_nesting_up_to_the_limit_is_fine() -> None:
    expr = "(" * (MAX_DEPTH - 1) + "x0" + ")" * (MAX_DEPTH - 1)
    assert Tape(expr, 1).value(np.array([[2.0]])).tolist() == [2.0]


def test_the_longest_expression_parses_and_evaluates_within_a_second() -> None:
    expr = "+".join(["x0*x1"] * 1_666)  # 9,995 characters
    started = time.perf_counter()
    f, _ = Expression(expr=expr, dim=2).value_and_grad(np.ones((10, 2)))
    assert time.perf_counter() - started < 1.0 and f.shape == (10,)
    with pytest.raises(ValidationError, match="at most 10000 characters"):
        Expression(expr="x0+" * 3_334 + "x0", dim=1)


def test_the_spec_names_objective_expr_and_the_position() -> None:
    with pytest.raises(ValidationError) as error:
        parse_spec({"objective": {"name": "expression", "expr": "x0 + __import__", "dim": 1},
                    "optimizer": "sgd", "grid": {"lr": 0.1}})
    (problem,) = error.value.errors()
    assert problem["loc"] == ("objective", "spec", "expression", "expr")  # the union tags
    assert "position 5: unknown name '__import__'" in problem["msg"]


def test_equal_formulas_make_equal_objectives() -> None:
    a, b = Expression(expr="x0 * 2", dim=1), Expression(expr="x0  *  2", dim=1)
    assert a.model_dump() != b.model_dump() and Expression(expr="x0 * 2", dim=1) == a
    assert hash(a) == hash(Expression(expr="x0 * 2", dim=1))
