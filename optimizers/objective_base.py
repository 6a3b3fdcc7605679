"""The base of every objective: the batched ``Objective`` model and its per-chunk ``Binding``.

An objective evaluates a batch of ``K`` points at once: ``x`` has shape ``(K, D)`` (float64),
losses have shape ``(K,)`` and gradients ``(K, D)``. ``optimizers.objectives`` holds the
analytic test functions and the user's formula, ``optimizers.models`` the models trained on a
dataset; both build on the classes here.
"""

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

FloatArray = npt.NDArray[np.float64]
#: ``evaluate(loss) -> grad``: losses at the bound point into ``loss`` (K, 1), the gradient returned.
Evaluate = Callable[[FloatArray], FloatArray]

class Objective(BaseModel):
    """Base class: a batched objective ``f: (K, D) -> (K,)`` with its gradient.

    Subclasses set ``name`` to a ``Literal`` (the discriminator of
    :data:`ObjectiveSpec`), ``formula``, ``start_pattern`` and optionally
    ``min_dim``/``max_dim``; they implement :meth:`_value` and
    :meth:`_value_and_grad`, and override :meth:`minimum` when ``f* != 0``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    name: str = Field(description="objective identifier")
    # le: every integer of a spec fits 64 bits whatever the limits (the stores and orjson take
    # nothing wider); the configured max_dim is checked by the sweep spec
    dim: int = Field(default=2, ge=1, le=2**63 - 1, description="number of coordinates D")

    formula: ClassVar[str]
    work_text: ClassVar[str] = "trials × dim × steps"  # what ``work`` counts, for its limit
    min_dim: ClassVar[int] = 1
    max_dim: ClassVar[int | None] = None
    start_pattern: ClassVar[tuple[float, ...]]  # repeated cyclically to length D

    @model_validator(mode="after")
    def _check_dim(self) -> Self:
        lo, hi = self.min_dim, self.max_dim
        if hi is not None and lo == hi and self.dim != lo:
            raise ValueError(f"{self.name} is defined for dim = {lo} only, got dim = {self.dim}")
        if self.dim < lo:
            raise ValueError(f"{self.name} needs dim >= {lo}, got dim = {self.dim}")
        if hi is not None and self.dim > hi:
            raise ValueError(f"{self.name} needs dim <= {hi}, got dim = {self.dim}")
        return self

    # The public methods hand C-ordered arrays to the implementations: row sums then always
    # run along contiguous memory, so a row's result does not depend on the batch it is in.

    def value(self, x: FloatArray) -> FloatArray:
        """Losses ``(K,)`` at the points ``x`` of shape ``(K, D)``."""
        return self._value(np.ascontiguousarray(x))

    def value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Losses ``(K,)`` and gradients ``(K, D)``, sharing sub-expressions."""
        return self._value_and_grad(np.ascontiguousarray(x))

    def grad(self, x: FloatArray) -> FloatArray:
        """Gradients ``(K, D)`` at the points ``x`` of shape ``(K, D)``."""
        return self._value_and_grad(np.ascontiguousarray(x))[1]

    def evaluator(self, x: FloatArray) -> Evaluate:
        """``evaluate(loss)``: the losses at the current contents of ``x`` (K, D) into ``loss``,
        a (K, 1) column, and the gradient there returned — ``value_and_grad(x)``, bit for bit,
        for an ``x`` that is updated in place between calls. The gradient may be a buffer that
        the next call overwrites."""

        def evaluate(loss: FloatArray) -> FloatArray:
            f, g = self._value_and_grad(np.ascontiguousarray(x))
            loss[:, 0] = f
            return g

        return evaluate

    @abstractmethod
    def _value(self, x: FloatArray) -> FloatArray:
        """:meth:`value` for a C-contiguous ``x``; must equal ``_value_and_grad(x)[0]``."""

    @abstractmethod
    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """:meth:`value_and_grad` for a C-contiguous ``x``."""

    def start(self, seed: int = 0) -> FloatArray:
        """The customary starting point, shape ``(D,)`` (a fresh array); a model objective
        draws its start from the trial's ``seed``."""
        return np.resize(np.array(self.start_pattern), self.dim)

    def work(self, trials: int, steps: int, recorded: int) -> float:
        """The cost of ``trials`` trials of ``steps`` updates recording ``recorded`` steps, in
        element operations: trials × dim × steps (what the work limit and chunk sizes count)."""
        return float(trials) * self.dim * steps

    def metrics(self) -> tuple[str, ...]:
        """The metrics a sweep of this objective can rank by."""
        return ("final_loss", "min_loss", "mean_loss")

    def curves(self) -> tuple[str, ...]:
        """The values a curve records beside ``loss`` (validation metrics of a model)."""
        return ()

    def bind(self, seeds: Sequence[int], recorded: Sequence[int]) -> "Binding":
        """How the runner evaluates this objective over a chunk of trials with these seeds."""
        return Binding(self)

    def minimum(self) -> float | None:
        """The known global minimum value ``f*`` at this ``dim`` (None: not known)."""
        return 0.0

    @classmethod
    def example(cls) -> Self:
        """An instance for the catalogue: the smallest dim of at least 2 it allows."""
        return cls.model_validate({"dim": max(2, cls.min_dim) if cls.max_dim != 1 else 1})


class Binding:
    """An objective bound to a chunk of trials: what the runner calls each step.

    The analytic objectives need nothing per chunk: every step evaluates the objective at the
    current points. A model objective (``optimizers.models``) binds each trial's mini-batches
    and its validation set; then ``curve_stats`` is True (the curve's values, the full training
    loss at the recorded steps, give ``min_loss`` and ``mean_loss``) and ``extra_curves`` holds
    what it records beside the loss.
    """

    curve_stats: bool = False

    def __init__(self, objective: Objective) -> None:
        self.objective = objective

    def evaluator(self, x: FloatArray, rows: npt.NDArray[np.intp], s0: int,
                  at: Callable[[], FloatArray] | None = None) -> Evaluate:
        """``evaluate(loss) -> grad`` for steps s0, s0 + 1, … of the trials ``rows`` (their
        places in the chunk), at the current contents of ``x``; with ``at``, the gradient is
        taken at the point ``at()`` returns (nesterov's look-ahead) and the loss at ``x``."""
        objective = self.objective
        if at is None:
            return objective.evaluator(x)

        def evaluate(loss: FloatArray) -> FloatArray:
            loss[:, 0] = objective.value(x)
            return objective.grad(at())

        return evaluate

    def final(self, x: FloatArray, rows: npt.NDArray[np.intp], step: int) -> FloatArray:
        """The losses (K,) after the last update, at ``step``."""
        return self.objective.value(x)

    def extra_curves(self) -> dict[str, FloatArray]:
        """Name → (recorded steps, K) values recorded beside the loss."""
        return {}


__all__ = ["Binding", "Evaluate", "FloatArray", "Objective"]
