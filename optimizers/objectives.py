"""Batched analytic test functions for optimizers.

Every objective evaluates a batch of ``K`` points at once: ``x`` has shape
``(K, D)`` (float64), losses have shape ``(K,)`` and gradients ``(K, D)``.
Gradients are exact and analytic. Rows never interact, so evaluating a batch
gives bit-for-bit the same numbers as evaluating each row on its own.

Each objective is a frozen pydantic model, so an instance is also the JSON spec
of the objective: ``TypeAdapter(ObjectiveSpec).validate_python({"name":
"ackley", "dim": 5})`` builds an :class:`Ackley` in five dimensions.

The methods do not check the shape of ``x`` (they are called in hot loops);
pass ``(K, dim)`` arrays of float64.

``evaluator(x)`` is the runner's hot path: bound to the parameter array the
runner updates in place, it writes each step's losses straight into the
runner's window and returns the gradient, the same numbers as
``value_and_grad``; objectives with a tuned form (2-D Rosenbrock, the B1 sweep)
reuse preallocated buffers and make no call that the formula does not need.
"""

from typing import Annotated, Any, ClassVar, Literal, Self, get_args

import numpy as np
from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)

from .expression import FUNCTIONS, MAX_DEPTH, MAX_LENGTH, Tape, parse
from .models import MLP, LinearRegression, LogisticRegression, SoftmaxRegression
from .objective_base import Binding, Evaluate, FloatArray, Objective

__all__ = [
    "OBJECTIVES", "Ackley", "Beale", "Binding", "Booth", "Expression", "Himmelblau", "Objective",
    "ObjectiveSpec", "Quadratic", "Rastrigin", "Rosenbrock", "Sphere", "StyblinskiTang",
]

_TWO_PI = 2.0 * np.pi
# Styblinski–Tang, per coordinate: ½(x⁴ − 16x² + 5x) at its minimiser
# x = −2.903534027771178, the smallest root of 4x³ − 32x + 5
_ST_MIN = -39.16616570377142


def _columns(gx: FloatArray, gy: FloatArray) -> FloatArray:
    """Stacks two ``(K,)`` arrays into a C-contiguous ``(K, 2)`` array."""
    g = np.empty((gx.shape[0], 2))
    g[:, 0] = gx
    g[:, 1] = gy
    return g


class Rosenbrock(Objective):
    """Rosenbrock's banana: a curved, narrow, flat-bottomed valley.

    ``f(x) = Σᵢ₌₀^{D−2} b·(xᵢ₊₁ − xᵢ²)² + (a − xᵢ)²``

    Args:
      a: location parameter.
      b: valley steepness, ``b > 0``.
      dim: number of coordinates ``D >= 2``.

    Start ``(−1.2, 1, −1.2, 1, …)``. ``f* = 0`` at ``(a, a²)`` when ``D = 2``
    and at ``(1, …, 1)`` when ``a = 1``. For ``D > 2`` and ``a ∉ {0, 1}`` the
    conditions ``xᵢ₊₁ = xᵢ²``, ``xᵢ = a`` conflict: ``f* > 0`` has no closed
    form and :meth:`minimum` raises ``ValueError``.

    References: Rosenbrock, The Computer Journal 3(3), 1960; Moré, Garbow &
    Hillstrom, *Testing unconstrained optimization software*, ACM TOMS 7(1), 1981.
    """

    name: Literal["rosenbrock"] = Field(default="rosenbrock", description="objective identifier")
    a: float = Field(default=1.0, description="location parameter a")
    b: float = Field(default=100.0, gt=0, description="valley steepness b > 0")

    formula: ClassVar[str] = "f(x) = Σᵢ₌₀^{D−2} b·(xᵢ₊₁ − xᵢ²)² + (a − xᵢ)²"
    start_pattern: ClassVar[tuple[float, ...]] = (-1.2, 1.0)
    min_dim: ClassVar[int] = 2

    def _value(self, x: FloatArray) -> FloatArray:
        x0 = x[:, :-1]
        t = x[:, 1:] - x0 * x0
        u = self.a - x0
        f: FloatArray = (self.b * t * t + u * u).sum(axis=1)
        return f

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        x0 = x[:, :-1]
        t = x[:, 1:] - x0 * x0
        u = self.a - x0
        bt = self.b * t
        f: FloatArray = (bt * t + u * u).sum(axis=1)
        bt2 = 2.0 * bt
        g = np.zeros_like(x)
        g[:, :-1] = -2.0 * (bt2 * x0 + u)
        g[:, 1:] += bt2
        return f, g

    def evaluator(self, x: FloatArray) -> Evaluate:
        if self.dim != 2 or x.ndim != 2 or not x.flags.c_contiguous:
            return super().evaluator(x)
        # D = 2: ``_value_and_grad``'s operations on the two columns, into buffers made once.
        # The row sum of one term is that term, so the loss lands in place with no copy. Same
        # numbers bit for bit, but for the sign of a zero ∂f/∂x1 (there ``0 + 2·bt``, here
        # ``2·bt``: −0 only at x = (±0, −0)), which no sum, product or square root carries on.
        k = x.shape[0]
        # the constants as 0-d arrays: NumPy takes those faster than Python floats (same numbers)
        a, b, two, minus_two = (np.array(c) for c in (self.a, self.b, 2.0, -2.0))
        x0, x1 = x[:, :1], x[:, 1:]
        t, u, bt, uu = (np.empty((k, 1)) for _ in range(4))
        g = np.empty((k, 2))
        g0, g1 = g[:, :1], g[:, 1:]
        multiply, subtract, add = np.multiply, np.subtract, np.add

        def evaluate(f: FloatArray) -> FloatArray:
            multiply(x0, x0, out=t)
            subtract(x1, t, out=t)       # t = x1 − x0²
            subtract(a, x0, out=u)       # u = a − x0
            multiply(b, t, out=bt)       # bt = b·t
            multiply(bt, t, out=f)
            multiply(u, u, out=uu)
            add(f, uu, out=f)            # f = bt·t + u·u
            multiply(two, bt, out=g1)    # ∂f/∂x1 = 2·bt
            multiply(g1, x0, out=g0)
            add(g0, u, out=g0)
            multiply(minus_two, g0, out=g0)  # ∂f/∂x0 = −2·(2·bt·x0 + u)
            return g

        return evaluate

    def minimum(self) -> float:
        if self.dim == 2 or self.a in (0.0, 1.0):
            return 0.0
        raise ValueError(f"rosenbrock with a = {self.a} and dim > 2 has no closed-form minimum")


class Sphere(Objective):
    """The sphere (De Jong's F1): the simplest convex bowl.

    ``f(x) = Σᵢ xᵢ²``

    Args:
      dim: number of coordinates ``D``.

    Start ``(1, …, 1)``. ``f* = 0`` at the origin.

    Reference: De Jong, *An analysis of the behavior of a class of genetic
    adaptive systems*, PhD thesis, University of Michigan, 1975.
    """

    name: Literal["sphere"] = Field(default="sphere", description="objective identifier")

    formula: ClassVar[str] = "f(x) = Σᵢ xᵢ²"
    start_pattern: ClassVar[tuple[float, ...]] = (1.0,)

    def _value(self, x: FloatArray) -> FloatArray:
        f: FloatArray = (x * x).sum(axis=1)
        return f

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self._value(x), 2.0 * x


class Quadratic(Objective):
    """An ill-conditioned diagonal quadratic.

    ``f(x) = ½ Σᵢ λᵢ·xᵢ²`` with ``λᵢ = κ^{i/(D−1)}`` log-spaced from 1 to ``κ``
    (``λ = [1]`` when ``D = 1``): ``κ`` is the Hessian's condition number.

    Args:
      condition: condition number ``κ >= 1``.
      dim: number of coordinates ``D``.

    Start ``(1, …, 1)``. ``f* = 0`` at the origin.

    Reference: Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006, §3.3
    (steepest descent slows down as ``κ`` grows).
    """

    name: Literal["quadratic"] = Field(default="quadratic", description="objective identifier")
    condition: float = Field(default=10.0, ge=1.0, description="Hessian condition number κ >= 1")

    formula: ClassVar[str] = "f(x) = ½ Σᵢ λᵢ·xᵢ², λᵢ = κ^{i/(D−1)}"
    start_pattern: ClassVar[tuple[float, ...]] = (1.0,)

    def eigenvalues(self) -> FloatArray:
        """The Hessian diagonal ``λ``, shape ``(D,)``."""
        lam: FloatArray = self.condition ** (np.arange(self.dim) / max(self.dim - 1, 1))
        return lam

    def _value(self, x: FloatArray) -> FloatArray:
        f: FloatArray = 0.5 * (self.eigenvalues() * x * x).sum(axis=1)
        return f

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        g = self.eigenvalues() * x
        f: FloatArray = 0.5 * (g * x).sum(axis=1)
        return f, g


class Rastrigin(Objective):
    """Rastrigin's function: a bowl covered in a regular grid of local minima.

    ``f(x) = A·D + Σᵢ (xᵢ² − A·cos(2π·xᵢ))``

    Args:
      A: ripple amplitude, ``A > 0``.
      dim: number of coordinates ``D``.

    Start ``(2.5, …, 2.5)``, on a ripple crest (gradient 5 per coordinate).
    ``f* = 0`` at the origin.

    References: Rastrigin, *Systems of extremal control*, 1974; Mühlenbein,
    Schomisch & Born, Parallel Computing 17, 1991.
    """

    name: Literal["rastrigin"] = Field(default="rastrigin", description="objective identifier")
    A: float = Field(default=10.0, gt=0, description="ripple amplitude A > 0")

    formula: ClassVar[str] = "f(x) = A·D + Σᵢ (xᵢ² − A·cos(2π·xᵢ))"
    start_pattern: ClassVar[tuple[float, ...]] = (2.5,)

    def _value(self, x: FloatArray) -> FloatArray:
        f: FloatArray = self.A * x.shape[1] + (x * x - self.A * np.cos(_TWO_PI * x)).sum(axis=1)
        return f

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        tx = _TWO_PI * x
        f: FloatArray = self.A * x.shape[1] + (x * x - self.A * np.cos(tx)).sum(axis=1)
        return f, 2.0 * x + (_TWO_PI * self.A) * np.sin(tx)


class Ackley(Objective):
    """Ackley's function: a nearly flat, rippled plain around a deep funnel.

    ``f(x) = −a·exp(−b·√(Σᵢ xᵢ²/D)) − exp(Σᵢ cos(c·xᵢ)/D) + a + e``

    The square root is not differentiable at the origin; its gradient is taken
    as 0 there.

    Args:
      a: funnel depth, ``a > 0``.
      b: funnel width parameter, ``b > 0``.
      c: ripple frequency, ``c > 0``.
      dim: number of coordinates ``D``.

    Start ``(2.5, …, 2.5)``. ``f* = 0`` at the origin.

    Reference: Ackley, *A connectionist machine for genetic hillclimbing*, 1987.
    """

    name: Literal["ackley"] = Field(default="ackley", description="objective identifier")
    a: float = Field(default=20.0, gt=0, description="funnel depth a > 0")
    b: float = Field(default=0.2, gt=0, description="funnel width parameter b > 0")
    c: float = Field(default=_TWO_PI, gt=0, description="ripple frequency c > 0")

    formula: ClassVar[str] = "f(x) = −a·exp(−b·√(Σᵢ xᵢ²/D)) − exp(Σᵢ cos(c·xᵢ)/D) + a + e"
    start_pattern: ClassVar[tuple[float, ...]] = (2.5,)

    def _parts(self, x: FloatArray) -> tuple[FloatArray, ...]:
        """Returns ``(f, r, exp(−b·r), exp(mean cos(c·x)), c·x)``, ``r`` the RMS of a row."""
        n = x.shape[1]
        r = np.sqrt((x * x).sum(axis=1) / n)
        e1 = np.exp(-self.b * r)
        cx = self.c * x
        e2 = np.exp(np.cos(cx).sum(axis=1) / n)
        # a·(1 − e1) + (e − e2) is the formula regrouped; exactly 0 at the origin
        return self.a * (1.0 - e1) + (np.e - e2), r, e1, e2, cx

    def _value(self, x: FloatArray) -> FloatArray:
        return self._parts(x)[0]

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        f, r, e1, e2, cx = self._parts(x)
        n = x.shape[1]
        # d/dx of −a·exp(−b·r) is a·b·e1·x/(D·r); defined as 0 at r = 0
        s = np.divide((self.a * self.b / n) * e1, r, out=np.zeros_like(r), where=r > 0.0)
        g = s[:, None] * x + ((self.c / n) * e2)[:, None] * np.sin(cx)
        return f, g


class StyblinskiTang(Objective):
    """The Styblinski–Tang function: a separable quartic with ``2^D`` local minima.

    ``f(x) = ½ Σᵢ (xᵢ⁴ − 16·xᵢ² + 5·xᵢ)``

    Args:
      dim: number of coordinates ``D``.

    Start: the origin (gradient 2.5 per coordinate).
    ``f* = −39.16616570377142·D`` at ``xᵢ = −2.903534027771178``.

    Reference: Styblinski & Tang, *Experiments in nonconvex optimization*,
    Neural Networks 3(4), 1990.
    """

    name: Literal["styblinski_tang"] = Field(
        default="styblinski_tang", description="objective identifier"
    )

    formula: ClassVar[str] = "f(x) = ½ Σᵢ (xᵢ⁴ − 16·xᵢ² + 5·xᵢ)"
    start_pattern: ClassVar[tuple[float, ...]] = (0.0,)

    def _value(self, x: FloatArray) -> FloatArray:
        x2 = x * x
        f: FloatArray = 0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * x).sum(axis=1)
        return f

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        x2 = x * x
        f: FloatArray = 0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * x).sum(axis=1)
        return f, (2.0 * x2 - 16.0) * x + 2.5

    def minimum(self) -> float:
        return _ST_MIN * self.dim


class Beale(Objective):
    """Beale's function: flat plateaus and sharp ridges in the plane.

    ``f(x, y) = (1.5 − x + x·y)² + (2.25 − x + x·y²)² + (2.625 − x + x·y³)²``

    Args:
      dim: must be 2.

    Start ``(1, 1)``. ``f* = 0`` at ``(3, 0.5)``.

    Reference: Beale, Tech. Rep. 25, Statistical Techniques Research Group,
    Princeton University, 1958.
    """

    name: Literal["beale"] = Field(default="beale", description="objective identifier")

    formula: ClassVar[str] = "f(x, y) = (1.5 − x + x·y)² + (2.25 − x + x·y²)² + (2.625 − x + x·y³)²"
    start_pattern: ClassVar[tuple[float, ...]] = (1.0, 1.0)
    min_dim: ClassVar[int] = 2
    max_dim: ClassVar[int | None] = 2

    @staticmethod
    def _terms(x: FloatArray) -> tuple[FloatArray, ...]:
        """Returns ``(x, y, y², y³, t₁, t₂, t₃)`` with ``tₖ`` the three residuals."""
        X, Y = x[:, 0], x[:, 1]
        y2 = Y * Y
        y3 = y2 * Y
        return X, Y, y2, y3, 1.5 - X + X * Y, 2.25 - X + X * y2, 2.625 - X + X * y3

    def _value(self, x: FloatArray) -> FloatArray:
        t1, t2, t3 = self._terms(x)[4:]
        return t1 * t1 + t2 * t2 + t3 * t3

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        X, Y, y2, y3, t1, t2, t3 = self._terms(x)
        f = t1 * t1 + t2 * t2 + t3 * t3
        gx = 2.0 * (t1 * (Y - 1.0) + t2 * (y2 - 1.0) + t3 * (y3 - 1.0))
        gy = 2.0 * X * (t1 + 2.0 * t2 * Y + 3.0 * t3 * y2)
        return f, _columns(gx, gy)


class Booth(Objective):
    """Booth's function: a convex quadratic in the plane.

    ``f(x, y) = (x + 2y − 7)² + (2x + y − 5)²``

    Args:
      dim: must be 2.

    Start ``(0, 0)``. ``f* = 0`` at ``(1, 3)``.

    Reference: Jamil & Yang, *A literature survey of benchmark functions for
    global optimization problems*, IJMMNO 4(2), 2013.
    """

    name: Literal["booth"] = Field(default="booth", description="objective identifier")

    formula: ClassVar[str] = "f(x, y) = (x + 2y − 7)² + (2x + y − 5)²"
    start_pattern: ClassVar[tuple[float, ...]] = (0.0, 0.0)
    min_dim: ClassVar[int] = 2
    max_dim: ClassVar[int | None] = 2

    def _value(self, x: FloatArray) -> FloatArray:
        X, Y = x[:, 0], x[:, 1]
        t1 = X + 2.0 * Y - 7.0
        t2 = 2.0 * X + Y - 5.0
        return t1 * t1 + t2 * t2

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        X, Y = x[:, 0], x[:, 1]
        t1 = X + 2.0 * Y - 7.0
        t2 = 2.0 * X + Y - 5.0
        return t1 * t1 + t2 * t2, _columns(2.0 * t1 + 4.0 * t2, 4.0 * t1 + 2.0 * t2)


class Himmelblau(Objective):
    """Himmelblau's function: four global minima of equal depth.

    ``f(x, y) = (x² + y − 11)² + (x + y² − 7)²``

    Args:
      dim: must be 2.

    Start ``(0, 0)``. ``f* = 0`` at ``(3, 2)`` and three other points.

    Reference: Himmelblau, *Applied Nonlinear Programming*, McGraw-Hill, 1972.
    """

    name: Literal["himmelblau"] = Field(default="himmelblau", description="objective identifier")

    formula: ClassVar[str] = "f(x, y) = (x² + y − 11)² + (x + y² − 7)²"
    start_pattern: ClassVar[tuple[float, ...]] = (0.0, 0.0)
    min_dim: ClassVar[int] = 2
    max_dim: ClassVar[int | None] = 2

    def _value(self, x: FloatArray) -> FloatArray:
        X, Y = x[:, 0], x[:, 1]
        t1 = X * X + Y - 11.0
        t2 = X + Y * Y - 7.0
        return t1 * t1 + t2 * t2

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        X, Y = x[:, 0], x[:, 1]
        t1 = X * X + Y - 11.0
        t2 = X + Y * Y - 7.0
        gx = 4.0 * X * t1 + 2.0 * t2
        gy = 2.0 * t1 + 4.0 * Y * t2
        return t1 * t1 + t2 * t2, _columns(gx, gy)


class Expression(Objective):
    """A formula of the user's own, with exact gradients (reverse mode over its parse tree).

    ``f(x)`` is ``expr`` over the variables ``x0 … x{dim−1}``: numbers, ``+ - * / **``, unary
    minus, parentheses, the functions sin cos tan exp log sqrt tanh abs and the constants pi
    and e — nothing else (``optimizers.expression`` has the grammar; the text is parsed by
    the project's own parser, never evaluated as code). At most 10,000 characters and 100
    levels of nesting. A value that is not finite (``log`` of a negative number, an overflow)
    makes the trial diverge.

    Args:
      expr: the formula, e.g. ``(1 - x0)**2 + 100*(x1 - x0**2)**2``.
      dim: number of coordinates ``D``; every variable is below it.

    Start at the origin, unless the spec gives ``init``. Its minimum is not known.

    Reference: Griewank and Walther, *Evaluating Derivatives: Principles and Techniques of
    Algorithmic Differentiation*, 2nd ed., SIAM, 2008 (reverse mode).
    """

    name: Literal["expression"] = Field(default="expression", description="objective identifier")
    expr: str = Field(min_length=1, max_length=MAX_LENGTH, description=f"the formula over x0 … x{{dim-1}}: numbers, "
                      f"+ - * / **, unary -, parentheses, {' '.join(FUNCTIONS)}, pi, e "
                      f"(at most {MAX_LENGTH:,} characters, {MAX_DEPTH} levels of nesting)")

    formula: ClassVar[str] = "f(x) = expr, the user's formula over x0 … x{D−1}"
    start_pattern: ClassVar[tuple[float, ...]] = (0.0,)
    _tape: Tape = PrivateAttr()

    @field_validator("expr")
    @classmethod
    def _parses(cls, expr: str, info: ValidationInfo) -> str:
        """An ``expr`` outside the grammar is an error of this field, naming the position."""
        dim = info.data.get("dim")
        if isinstance(dim, int):
            parse(expr, dim)
        return expr

    def model_post_init(self, context: Any, /) -> None:
        """The tape of ``expr``, made once per objective."""
        self._tape = Tape(self.expr, self.dim)

    def minimum(self) -> float | None:
        return None

    @classmethod
    def example(cls) -> Self:
        return cls(expr="(1 - x0)**2 + 100*(x1 - x0**2)**2", dim=2)

    def _value(self, x: FloatArray) -> FloatArray:
        return self._tape.value(x)

    def _value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self._tape.value_and_grad(x)


ObjectiveSpec = Annotated[
    Rosenbrock | Sphere | Quadratic | Rastrigin | Ackley | StyblinskiTang | Beale | Booth
    | Himmelblau | Expression | LinearRegression | LogisticRegression | SoftmaxRegression | MLP,
    Field(discriminator="name"),
]
"""Discriminated union of all objectives; validate with ``TypeAdapter(ObjectiveSpec)``
(the model objectives live in ``optimizers.models``)."""

OBJECTIVES: dict[str, type[Objective]] = {
    cls.model_fields["name"].default: cls for cls in get_args(get_args(ObjectiveSpec)[0])
}
"""Objective name → class, in catalogue order (the order of :data:`ObjectiveSpec`)."""
