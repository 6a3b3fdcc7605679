"""User formulas as objectives: a tokenizer, a parser and reverse-mode gradients, all our own.

The grammar (EBNF), which is all an expression may use::

    expression := sum
    sum        := product { ("+" | "-") product }
    product    := unary { ("*" | "/") unary }
    unary      := "-" unary | power
    power      := atom [ "**" unary ]            (right-associative, binds tighter than "-")
    atom       := number | variable | constant | function "(" sum ")" | "(" sum ")"
    variable   := "x0" | "x1" | … | "x{dim-1}"
    constant   := "pi" | "e"
    function   := "sin" | "cos" | "tan" | "exp" | "log" | "sqrt" | "tanh" | "abs"
    number     := digits [ "." digits ] [ ("e" | "E") [ "+" | "-" ] digits ] | "." digits […]

As in Python, ``-x0**2`` is ``-(x0**2)`` and ``2**-1`` is ``0.5``. Nothing else is accepted —
no attribute, subscript, call of another name, keyword or string — and the text is never handed
to ``eval``, ``exec``, ``compile`` or any other interpreter: it is read by ``_Parser`` below into
a *tape*, a list of nodes in evaluation order. Limits bound the work of any input before it is
read: at most ``MAX_LENGTH`` characters and ``MAX_DEPTH`` levels of nesting (parentheses,
function calls, unary minus, powers), so parsing takes time linear in the length and a bounded
recursion depth. A bad expression raises ``ExpressionError`` with the 0-based character
position and what was expected there.

Evaluation runs the tape once over a batch ``x`` of shape (K, D): one NumPy operation per node
on (K,) columns (a constant stays a scalar). Nothing is folded or computed while parsing, so
``9**9**9**9`` costs one ``power`` per step and is ``inf`` — a trial that diverges, not an
error. The gradient is reverse-mode differentiation of the same tape: the adjoint ``ḡ`` of each
node is pushed to its operands in reverse order,

    a + b: ā += ḡ, b̄ += ḡ          a − b: ā += ḡ, b̄ −= ḡ        −a: ā −= ḡ
    a · b: ā += ḡ·b, b̄ += ḡ·a      a / b: ā += ḡ/b, b̄ −= ḡ·a/b²
    aᵇ:    ā += ḡ·b·aᵇ⁻¹, b̄ += ḡ·aᵇ·ln a   (the b̄ term only where b depends on x)
    sin a: ā += ḡ·cos a     cos a: ā −= ḡ·sin a     tan a: ā += ḡ·(1 + tan²a)
    exp a: ā += ḡ·eᵃ        log a: ā += ḡ/a         sqrt a: ā += ḡ/(2√a)
    tanh a: ā += ḡ·(1 − tanh²a)                     abs a: ā += ḡ·sign a

and the adjoint of variable ``xᵢ`` is column i of the gradient. Only nodes that depend on x
carry adjoints. Non-finite values (the log of a negative number, 0/0) are values like any other
under ``np.errstate(all="ignore")``: the runner marks such a trial diverged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Value = FloatArray | np.float64

MAX_LENGTH = 10_000
MAX_DEPTH = 100
FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "abs")
CONSTANTS = {"pi": math.pi, "e": math.e}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|[-+*/()])
""", re.VERBOSE)
_VARIABLE = re.compile(r"x(0|[1-9][0-9]*)")


class ExpressionError(ValueError):
    """An expression that is not in the grammar, with the 0-based position of the problem."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"position {position}: {message}")
        self.position = position


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op", "bad" (no token starts here) or "end"
    text: str
    position: int


@dataclass(frozen=True)
class Node:
    """One step of the tape: ``op`` over the earlier nodes ``args`` (indices into the tape);
    a ``const`` node holds ``value``, a ``var`` node the column ``index``."""

    op: str
    args: tuple[int, ...] = ()
    value: float = 0.0
    index: int = 0


def tokenize(text: str) -> list[_Token]:
    """The tokens of ``text``, ending with an ``end`` token. A character no token starts with
    is a ``bad`` token: the parser refuses it when it gets there, so the first problem in
    reading order is the one reported."""
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            tokens.append(_Token("bad", text[position], position))
            position += 1
            continue
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the grammar above, appending nodes to the tape as it goes (so the
    tape is in evaluation order). ``depth`` counts the nesting the recursion is in."""

    def __init__(self, text: str, dim: int) -> None:
        self.tokens = tokenize(text)
        self.at = 0
        self.dim = dim
        self.depth = 0
        self.tape: list[Node] = []

    def parse(self) -> list[Node]:
        self._sum()
        token = self.tokens[self.at]
        if token.kind != "end":
            raise _unexpected(token, "an operator (+ - * / **) or the end")
        return self.tape

    def _emit(self, node: Node) -> int:
        self.tape.append(node)
        return len(self.tape) - 1

    def _peek(self) -> _Token:
        return self.tokens[self.at]

    def _next(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(token.position, f"nested more than {MAX_DEPTH} levels deep "
                                  "(parentheses, function calls, unary minus and powers)")

    def _sum(self) -> int:
        left = self._product()
        while self._peek().text in ("+", "-") and self._peek().kind == "op":
            op = "add" if self._next().text == "+" else "sub"
            left = self._emit(Node(op, (left, self._product())))
        return left

    def _product(self) -> int:
        left = self._unary()
        while self._peek().text in ("*", "/") and self._peek().kind == "op":
            op = "mul" if self._next().text == "*" else "div"
            left = self._emit(Node(op, (left, self._unary())))
        return left

    def _unary(self) -> int:
        token = self._peek()
        if token.kind == "op" and token.text == "-":
            self._next()
            self._enter(token)
            operand = self._unary()
            self.depth -= 1
            return self._emit(Node("neg", (operand,)))
        return self._power()

    def _power(self) -> int:
        base = self._atom()
        token = self._peek()
        if token.kind == "op" and token.text == "**":
            self._next()
            self._enter(token)
            exponent = self._unary()
            self.depth -= 1
            return self._emit(Node("pow", (base, exponent)))
        return base

    def _atom(self) -> int:
        token = self._next()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise ExpressionError(token.position, f"the number {token.text} is out of range")
            return self._emit(Node("const", value=value))
        if token.kind == "name":
            return self._name(token)
        if token.kind == "op" and token.text == "(":
            self._enter(token)
            inner = self._sum()
            self.depth -= 1
            self._expect(")", token)
            return inner
        raise _unexpected(token, "a number, a variable, a constant, a function call or '('")

    def _name(self, token: _Token) -> int:
        name = token.text
        variable = _VARIABLE.fullmatch(name)
        if variable is not None:
            index = int(variable.group(1))
            if index >= self.dim:
                raise ExpressionError(token.position, f"variable {name} is not one of x0 … "
                                      f"x{self.dim - 1} (dim = {self.dim})")
            return self._emit(Node("var", index=index))
        if name in CONSTANTS:
            return self._emit(Node("const", value=CONSTANTS[name]))
        if name in FUNCTIONS:
            opening = self._next()
            if opening.kind != "op" or opening.text != "(":
                raise ExpressionError(opening.position, f"expected '(' after {name}")
            self._enter(opening)
            argument = self._sum()
            self.depth -= 1
            self._expect(")", opening)
            return self._emit(Node(name, (argument,)))
        raise ExpressionError(token.position, f"unknown name {name!r}; the names are the "
                              f"variables x0 … x{self.dim - 1}, the constants pi and e, and "
                              f"the functions {' '.join(FUNCTIONS)}")

    def _expect(self, text: str, opening: _Token) -> None:
        token = self._next()
        if token.kind == "bad":
            raise _unexpected(token, repr(text))
        if token.kind != "op" or token.text != text:
            found = "the end" if token.kind == "end" else repr(token.text)
            raise ExpressionError(token.position, f"expected {text!r} to close the '(' at "
                                  f"position {opening.position}, found {found}")


def _unexpected(token: _Token, expected: str) -> ExpressionError:
    """The error of finding ``token`` where ``expected`` should be."""
    if token.kind == "bad":
        return ExpressionError(token.position, f"unexpected character {token.text!r}; an "
                               "expression has numbers, x0, x1, …, pi, e, the functions "
                               f"{' '.join(FUNCTIONS)}, + - * / ** and parentheses")
    found = "the end" if token.kind == "end" else repr(token.text)
    return ExpressionError(token.position, f"unexpected {found}; expected {expected}")


def parse(text: str, dim: int) -> list[Node]:
    """The tape of ``text`` over the variables x0 … x{dim−1}; ``ExpressionError`` (a
    ``ValueError``) naming the position if it is not in the grammar or over the limits."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(MAX_LENGTH, f"the expression has {len(text):,} characters; at "
                              f"most {MAX_LENGTH:,} are allowed")
    if not text.strip():
        raise ExpressionError(0, "the expression is empty")
    return _Parser(text, dim).parse()


_UNARY = {"neg": np.negative, "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp,
          "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "abs": np.abs}
_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
           "pow": np.power}


class Tape:
    """A parsed expression, evaluated with its gradient over (K, D) batches."""

    def __init__(self, text: str, dim: int) -> None:
        self.nodes = parse(text, dim)
        self.dim = dim
        # which nodes depend on x: only they carry adjoints
        varying: list[bool] = []
        for node in self.nodes:
            varying.append(node.op == "var" or any(varying[a] for a in node.args))
        self.varying = varying

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tape) and (self.nodes, self.dim) == (other.nodes, other.dim)

    def __hash__(self) -> int:
        return hash((tuple(self.nodes), self.dim))

    def _forward(self, x: FloatArray) -> list[Value]:
        values: list[Value] = []
        for node in self.nodes:
            if node.op == "const":
                values.append(np.float64(node.value))
            elif node.op == "var":
                values.append(x[:, node.index])
            elif node.op in _UNARY:
                values.append(_UNARY[node.op](values[node.args[0]]))
            else:
                a, b = node.args
                values.append(_BINARY[node.op](values[a], values[b]))
        return values

    def value(self, x: FloatArray) -> FloatArray:
        """f at each row of ``x`` (K, D): shape (K,)."""
        with np.errstate(all="ignore"):
            out = self._forward(x)[-1]
        return np.broadcast_to(out, (x.shape[0],)).astype(np.float64, copy=True)

    def value_and_grad(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """f (K,) and ∇f (K, D) at each row of ``x``, by one forward and one reverse pass."""
        k = x.shape[0]
        grad = np.zeros((k, self.dim))
        with np.errstate(all="ignore"):
            values = self._forward(x)
            adjoint: list[Value | None] = [None] * len(self.nodes)
            if self.varying[-1]:
                adjoint[-1] = np.ones(k)
            for i in range(len(self.nodes) - 1, -1, -1):
                g = adjoint[i]
                if g is None:
                    continue
                node = self.nodes[i]
                if node.op == "var":
                    grad[:, node.index] += g
                    continue
                for arg, part in self._partials(node, values, values[i], g):
                    if self.varying[arg]:
                        held = adjoint[arg]
                        adjoint[arg] = part if held is None else held + part
        f = np.broadcast_to(values[-1], (k,)).astype(np.float64, copy=True)
        return f, grad

    def _partials(self, node: Node, values: list[Value], out: Value,
                  g: Value) -> list[tuple[int, Value]]:
        """(operand, its share of the adjoint ``g``) for each operand of ``node``."""
        op, args = node.op, node.args
        if op == "add":
            return [(args[0], g), (args[1], g)]
        if op == "sub":
            return [(args[0], g), (args[1], -g)]
        if op == "neg":
            return [(args[0], -g)]
        a = values[args[0]]
        if op == "mul":
            b = values[args[1]]
            return [(args[0], g * b), (args[1], g * a)]
        if op == "div":
            b = values[args[1]]
            return [(args[0], g / b), (args[1], -g * a / (b * b))]
        if op == "pow":
            b = values[args[1]]
            parts = [(args[0], g * b * np.power(a, b - 1.0))]
            if self.varying[args[1]]:
                parts.append((args[1], g * out * np.log(a)))
            return parts
        return [(args[0], g * _derivative(op, a, out))]


def _derivative(op: str, a: Value, out: Value) -> Value:
    """d out / d a of the one-argument function ``op`` at ``a`` (``out`` = op(a))."""
    if op == "sin":
        return np.cos(a)
    if op == "cos":
        return -np.sin(a)
    if op == "tan":
        return 1.0 + out * out
    if op == "exp":
        return out
    if op == "log":
        return 1.0 / a
    if op == "sqrt":
        return 0.5 / out
    if op == "tanh":
        return 1.0 - out * out
    return np.sign(a)  # abs


__all__ = ["CONSTANTS", "FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "ExpressionError", "Node", "Tape",
           "parse", "tokenize"]
