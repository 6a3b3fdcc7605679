"""``run_sweep(spec, objective=obj)``: a Python object of the user's own, swept in-process with
the numbers a built-in objective gives; never reachable from JSON."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from optimizers import parse_spec, run_sweep
from optimizers.spec import SweepSpec

SPEC: dict[str, Any] = {"optimizer": "adam", "grid": {"lr": [0.01, 0.1], "beta1": [0.8, 0.9]},
                        "steps": 150, "seeds": 2, "record_every": 10,
                        "init": {"distribution": "normal"}}


class Rosenbrock2:
    """The 2-D Rosenbrock function written as a notebook user would, batched over rows."""

    dim = 2

    def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, x1 = x[:, 0], x[:, 1]
        t = x1 - x0 * x0
        u = 1.0 - x0
        g = np.stack([-2.0 * (200.0 * t * x0 + u), 200.0 * t], axis=1)
        return 100.0 * t * t + u * u, g

    def start(self, seed: int) -> np.ndarray:
        return np.array([-1.2, 1.0])


def test_a_python_objective_gives_the_built_in_numbers() -> None:
    ours = run_sweep(SPEC, objective=Rosenbrock2())
    builtin = run_sweep({**SPEC, "objective": "rosenbrock"})
    assert ours["spec"]["objective"] == {"name": "python", "dim": 2, "label": "Rosenbrock2"}
    for a, b in zip(ours["trials"], builtin["trials"], strict=True):
        assert a["status"] == b["status"]
        np.testing.assert_allclose(a["curve"]["loss"], b["curve"]["loss"], rtol=1e-12)
    assert ours["best"] is not None and builtin["best"] is not None
    assert ours["best"]["params"] == builtin["best"]["params"]


def test_dim_comes_from_init_when_the_object_has_none() -> None:
    class Bowl:
        def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (x * x).sum(axis=1), 2.0 * x

    document = run_sweep({"optimizer": "sgd", "grid": {"lr": 0.25}, "steps": 3,
                          "init": [1.0, 2.0, 3.0]}, objective=Bowl())
    assert document["trials"][0]["curve"]["loss"] == [14.0, 3.5, 0.875, 0.21875]
    assert document["spec"]["objective"]["dim"] == 3


def test_a_diverging_python_objective_is_a_result() -> None:
    class Cliff:
        dim = 1

        def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return -np.exp(x[:, 0]), -np.exp(x)

    document = run_sweep({"optimizer": "sgd", "grid": {"lr": 1.0}, "steps": 50, "init": [0.0]},
                         objective=Cliff())
    trial = document["trials"][0]  # −exp overflows to −inf: diverged, and no warning escapes
    assert trial["status"] == "diverged" and trial["diverged_at"] is not None


@pytest.mark.parametrize(("target", "spec", "error", "message"), [
    (object(), {}, TypeError, "objective= takes an object with value_and_grad"),
    (Rosenbrock2(), {"objective": "sphere"}, ValueError, "either in the spec or as objective="),
    (type("NoDim", (), {"value_and_grad": lambda self, x: (x[:, 0], x)})(), {"init": None},
     ValueError, "no dim attribute and the spec no init"),
])
def test_a_bad_python_objective_is_refused(target: Any, spec: dict[str, Any],
                                           error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        run_sweep({**SPEC, **spec}, objective=target)


def test_no_json_spec_can_name_the_python_objective() -> None:
    """Only a live object becomes one: the normalised spec read back, or any JSON naming
    "python", is refused — so the service can never be made to run code."""
    document = run_sweep(SPEC, objective=Rosenbrock2())
    for data in (document["spec"], {**SPEC, "objective": {"name": "python", "dim": 2}},
                 {**SPEC, "objective": "python"}):
        with pytest.raises(ValidationError, match="unknown objective 'python'"):
            parse_spec(data)  # type: ignore[arg-type]
    assert "python" not in str(SweepSpec.model_json_schema())
