"""Search spaces: the distributions a grid value may be, and how a sweep's samples are drawn.

A grid value (of ``grid``, of an ``optimizers`` entry's grid, of a schedule parameter, of a clip
limit) may be a distribution instead of a number or a list (the keys are W&B sweep config's)::

    {"distribution": "uniform",            "min": a, "max": b}   x = a + u·(b − a)
    {"distribution": "log_uniform_values", "min": a, "max": b}   x = exp(ln a + u·(ln b − ln a))
    {"distribution": "int_uniform",        "min": a, "max": b}   x = a + ⌊u·(b − a + 1)⌋, ≤ b

with a < b (a ≤ b for int_uniform, whose bounds are whole numbers and both drawn), 0 < a for
log_uniform_values. A spec with distributions draws ``samples`` = N configurations; each entry
of the sweep draws its own N from its own distributions, over d of them in the entry's key order
(its grid, then ``schedule.<parameter>``, then ``clip.<kind>``):

* the unit numbers u ∈ [0, 1), an (N, d) array, one column per distribution, from the generator
  ``Generator(PCG64(SeedSequence([search_seed, entry])))``: ``random((N, d))`` for the
  ``random`` sampler, ``scipy.stats.qmc.Sobol(d, scramble=True, seed=generator).random(N)``
  for ``sobol`` (a scrambled Sobol' sequence: lower discrepancy than random points, best at N a
  power of 2, though any N is allowed);
* each u mapped by its distribution's formula above, with Python's ``math`` (its ``exp`` and
  ``log`` are the platform's libm, the same on every machine to the last bit or nearly so; not
  NumPy's SIMD loops, which differ by CPU);
* each float rounded to 6 significant digits (``float(f"{x:.6g}")``) and clamped into
  [a, b]: the numbers read well in a table, and a last-bit difference in a machine's libm
  changes them only when x falls within an ulp of a rounding boundary. An int_uniform value is
  a whole number, exact.

The N configurations are the zip of the drawn columns. The normalised spec shows them: each
distribution carries ``drawn``, its N values; a posted ``drawn`` (a normalised spec read back)
must be what the search seed draws.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    FailFast,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

#: The distributions a grid value may be.
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "log_uniform_values", "int_uniform")
Sampler = Literal["random", "sobol"]
SAMPLERS: tuple[str, ...] = ("random", "sobol")
# The integers of a spec fit a signed 64-bit integer (``spec.MAX_INT``, which is this one).
MAX_INT = 2**63 - 1
# What a distribution object may hold beyond its fields before the unknown keys are one error.
_MAX_EXTRA_KEYS = 20
#: The forms of a grid value that is an object, as an error message lists them.
GRID_VALUE_FORMS = ("uniform, log_uniform_values, int_uniform (each with min and max), or "
                    "{\"values\": [...]} for a list")


class _FailFast(FailFast):
    """pydantic's FailFast, hashable: ``typing`` hashes the members of a union (``X | None``)."""

    def __hash__(self) -> int:
        return hash(_FailFast)


BoundedInt = Annotated[int, Field(le=MAX_INT)]


def _error(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, ctx)


class _DistributionBase(BaseModel):
    """What the two kinds of distribution share: the name's check and the bounds' checks."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
    allowed: ClassVar[tuple[str, ...]] = DISTRIBUTIONS

    distribution: str = Field(description=f"one of {', '.join(DISTRIBUTIONS)}",
                              json_schema_extra={"enum": list(DISTRIBUTIONS)})

    @model_validator(mode="before")
    @classmethod
    def _known_first(cls, value: Any) -> Any:
        """An unknown distribution is one error (not one more per key it has and lacks), and so
        is a flood of unknown keys."""
        if not isinstance(value, Mapping):
            return value
        if len(value) > len(cls.model_fields) + _MAX_EXTRA_KEYS:
            extra = [key for key in value if key not in cls.model_fields]
            raise _error("extra_forbidden", "a distribution has {n} unknown keys; valid: "
                         "{fields}", n=len(extra), fields=", ".join(cls.model_fields))
        name = value.get("distribution")
        if not isinstance(name, str) or name in cls.allowed:
            return value  # a name that is not a string gets the field's own error
        if name in DISTRIBUTIONS:  # uniform or log_uniform_values of a whole-number parameter
            error = _error("integer_parameter", "{name} draws fractions, and this parameter is "
                           "a whole number: give int_uniform (or a list)", name=name)
        else:
            error = _error("unknown_distribution", "unknown distribution '{name}'; valid "
                           "choices: {choices}", name=name[:40], choices=GRID_VALUE_FORMS)
        raise ValidationError.from_exception_data(cls.__name__, [
            {"type": error, "loc": ("distribution",), "input": name}])

    @field_validator("min", "max", check_fields=False)
    @classmethod
    def _bounds(cls, bound: float, info: ValidationInfo) -> float:
        kind = info.data.get("distribution")
        name = info.field_name
        if kind is None:  # refused already, with its own message
            return bound
        if kind == "int_uniform" and not float(bound).is_integer():
            raise _error("int_bounds", "int_uniform draws whole numbers: {name} = {bound} is "
                         "not one", name=name, bound=bound)
        if kind == "log_uniform_values" and bound <= 0:
            raise _error("log_bounds", "log_uniform_values needs {name} > 0 (got {bound}): it "
                         "draws the log of the value uniformly", name=name, bound=bound)
        low = info.data.get("min")
        if name == "max" and low is not None:
            if bound < low:
                raise _error("bounds_order", "max = {high} is below min = {low}", high=bound,
                             low=low)
            if bound == low and kind != "int_uniform":
                raise _error("bounds_order", "max = min = {low}: {distribution} needs min < max "
                             "(for one value give the number itself)", low=low, distribution=kind)
        return bound


class Distribution(_DistributionBase):
    """A distribution of a real-valued parameter: uniform, log-uniform or uniform over the
    whole numbers of [min, max]."""

    min: float = Field(description="the low end (> 0 for log_uniform_values; a whole number "
                       "for int_uniform)")
    max: float = Field(description="the high end (≥ min; > min unless int_uniform)")
    drawn: Annotated[list[float], _FailFast()] | None = Field(
        None, description="its value in each of the samples, as the search seed draws them "
        "(filled in by normalisation; given, it must be what the search seed draws)")

    def value(self, u: float) -> float:
        """The value at the unit number ``u`` ∈ [0, 1): the distribution's formula, rounded to
        6 significant digits and clamped into [min, max] (an int_uniform value is exact)."""
        return float(unit_to_value(self.distribution, self.min, self.max, u))


class IntDistribution(_DistributionBase):
    """A distribution of a whole-number parameter (a schedule's step_size): int_uniform only."""

    allowed: ClassVar[tuple[str, ...]] = ("int_uniform",)

    distribution: str = Field(description="int_uniform: the one distribution of a whole number",
                              json_schema_extra={"enum": ["int_uniform"]})

    min: BoundedInt = Field(description="the low end, a whole number")
    max: BoundedInt = Field(description="the high end, a whole number ≥ min")
    drawn: Annotated[list[BoundedInt], _FailFast()] | None = Field(
        None, description="its value in each of the samples, as the search seed draws them "
        "(filled in by normalisation; given, it must be what the search seed draws)")

    def value(self, u: float) -> int:
        """The whole number at the unit number ``u`` ∈ [0, 1)."""
        return int(unit_to_value("int_uniform", self.min, self.max, u))


AnyDistribution = Distribution | IntDistribution


def unit_to_value(kind: str, low: float, high: float, u: float) -> float | int:
    """``u`` ∈ [0, 1) mapped into [low, high] by distribution ``kind`` (the module's formulas):
    a float rounded to 6 significant digits and clamped, or for int_uniform an int."""
    if kind == "int_uniform":
        first, n = int(low), int(high) - int(low) + 1
        return first + min(math.floor(u * n), n - 1)  # u·n rounds up to n only for u near 1
    if kind == "uniform":
        x = low + u * (high - low)
        if not math.isfinite(x):  # high − low overflows: the same point, weighted apart
            x = low * (1.0 - u) + high * u
    elif kind == "log_uniform_values":
        a, b = math.log(low), math.log(high)
        try:
            x = math.exp(a + u * (b - a))
        except OverflowError:  # only just above the largest float: high itself
            x = high
    else:
        raise ValueError(f"unknown distribution {kind!r}")
    return min(max(float(f"{x:.6g}"), low), high)


def unit_draws(d: int, samples: int, search_seed: int, entry: int,
               sampler: Sampler = "random") -> np.ndarray[Any, np.dtype[np.float64]]:
    """The (samples, d) unit numbers u ∈ [0, 1) of one entry of a sweep: its generator is
    ``Generator(PCG64(SeedSequence([search_seed, entry])))``, drawn directly (``random``) or
    scrambling a Sobol' sequence (``sobol``)."""
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([search_seed, entry])))
    if sampler == "random":
        return generator.random((samples, d))
    from scipy.stats import qmc  # type: ignore[import-untyped]  # loaded when asked for: slow

    with warnings.catch_warnings():  # any N is allowed; a power of 2 balances the sequence best
        warnings.filterwarnings("ignore", message="The balance properties of Sobol",
                                category=UserWarning)
        return np.asarray(qmc.Sobol(d, scramble=True, seed=generator).random(samples),
                          dtype=np.float64)


def draw(distributions: Sequence[AnyDistribution], samples: int, search_seed: int, entry: int,
         sampler: Sampler = "random") -> list[list[float]]:
    """Each distribution's ``samples`` values, for entry ``entry`` of a sweep: column j of
    ``unit_draws`` mapped by distribution j (``unit_to_value``). Row i of the columns is the
    entry's sample i."""
    if not distributions:
        return []
    units = unit_draws(len(distributions), samples, search_seed, entry, sampler)
    return [[dist.value(u) for u in units[:, j].tolist()] for j, dist in enumerate(distributions)]


__all__ = ["DISTRIBUTIONS", "GRID_VALUE_FORMS", "MAX_INT", "SAMPLERS", "AnyDistribution",
           "Distribution", "IntDistribution", "Sampler", "draw", "unit_draws", "unit_to_value"]
