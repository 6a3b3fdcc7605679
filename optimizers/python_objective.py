"""A Python object as the objective of an embedded sweep: ``run_sweep(spec, objective=obj)``.

Any object with the batched protocol the built-in objectives follow,
``value_and_grad(x) -> (f, g)`` with ``x`` of shape (K, D), ``f`` (K,) and ``g`` (K, D), can be
swept in-process: a NumPy model of the user's own in a notebook. It may also have ``dim`` (else
the spec's ``init`` gives D), ``value(x) -> f`` (else ``value_and_grad``'s first half is used)
and ``start(seed) -> (D,)`` (else the spec must give ``init``).

Only a live Python object becomes one: it reaches the spec as the object itself, never as
JSON, so the service — which parses JSON — can never be made to run code. In the normalised
spec it reads ``{"name": "python", "dim": D, "label": "<its class>"}``, which no JSON spec may
name.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import Field, PrivateAttr

from .objective_base import FloatArray, Objective


@runtime_checkable
class BatchedObjective(Protocol):
    """What ``run_sweep(spec, objective=...)`` takes: losses and gradients of K points at once."""

    def value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Losses (K,) and gradients (K, D) at the points ``x`` (K, D)."""


class PythonObjective(Objective):
    """The user's own batched Python objective, wrapped for the engine (embedded runs only).

    Args:
      dim: number of coordinates D.
      label: the wrapped object's class name, for the record.
    """

    name: Literal["python"] = Field(default="python", description="objective identifier")
    label: str = Field("", max_length=200, description="the object's class name")
    formula: ClassVar[str] = "f(x) = the user's Python objective"
    start_pattern: ClassVar[tuple[float, ...]] = (0.0,)
    _target: Any = PrivateAttr(None)

    @classmethod
    def wrap(cls, target: Any, dim: int | None) -> PythonObjective:
        """Wrap ``target`` (a ``BatchedObjective``); ``dim`` from it, else the given one."""
        if not isinstance(target, BatchedObjective):
            raise TypeError("objective= takes an object with value_and_grad(x) -> (f, g) over "
                            f"a (K, D) batch; {type(target).__name__} has none")
        own = getattr(target, "dim", None)
        d = own if isinstance(own, int) else dim
        if d is None:
            raise ValueError("the objective has no dim attribute and the spec no init to take "
                             "D from: give one of them")
        wrapped = cls(dim=d, label=type(target).__name__)
        wrapped._target = target
        return wrapped

    def start(self, seed: int = 0) -> FloatArray:
        start = getattr(self._target, "start", None)
        if not callable(start):
            raise ValueError("the Python objective has no start(seed): give the spec an init")
        out: FloatArray = np.array(start(seed), dtype=np.float64).reshape(self.dim)
        return out

    def minimum(self) -> float | None:
        return None

    def _value(self, x: FloatArray) -> FloatArray:
        value = getattr(self._target, "value", None)
        if callable(value):
            return np.asarray(value(x), dtype=np.float64).reshape(len(x))
        return self._value_and_grad(x)[0]

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        f, g = self._target.value_and_grad(x)
        return (np.asarray(f, dtype=np.float64).reshape(len(x)),
                np.asarray(g, dtype=np.float64).reshape(x.shape))


__all__ = ["BatchedObjective", "PythonObjective"]
