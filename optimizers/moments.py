"""Importance and marginal means, kept exactly as settings' scores change, in any order.

A sweep's ``summary.importance`` (each swept hyperparameter's main effect) and
``summary.marginals`` (the mean score at each of its values) follow from a few sums per
hyperparameter — its *factor* — over the scored settings: how many there are and the sum of
their scores and of their squares, and for each of the factor's *levels* (its values) how many
scored settings have it and the sum of their scores. ``Moments`` keeps those sums, and a
setting's score changing (None → y, y → y', y → None) adds to and takes from them; so a store
can keep them beside its per-setting aggregates, chunk by chunk, without ever loading the
results at once.

The sums are exact: every finite double is an integer multiple of 2^-1074, so Σy is kept as an
integer count of 2^-1074 and Σy² of 2^-2148 (Python ints, which do not overflow), and the
shares and means are evaluated in integer (rational) arithmetic and rounded to a double once.
The state after any sequence of updates depends only on the final scores — not on the order
the updates came in, nor on how they were batched — and so do its bytes (``to_bytes``), its
importance and its marginals, to the last bit; and each number is the correctly rounded value
of its formula.

``Factors`` says which factors a sweep has and which level of each a setting has; it is built
from the normalised spec as data (``SweepSpec.data()``, what a store keeps), costs arrays only
for sampled keys (one small integer per setting), and is immutable, so a caller may cache it
per sweep.

Pure: no I/O; NumPy and the standard library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np
import numpy.typing as npt

from .records import MarginalRecord
from .spec import entry_axes, optimizer_names, spec_entries, spec_swept_keys

if TYPE_CHECKING:
    from .spec import SweepSpec

#: The most bins a sampled key's values are grouped into (⌈√N⌉ of them, N its settings).
SAMPLED_BINS = 10
#: Σy is kept in units of 2^-SCALE (every finite double is an integer multiple of it), Σy² in
#: units of 2^-2·SCALE.
SCALE = 1074
#: The version of ``Moments.to_bytes``'s format.
FORMAT = 1

Levels = npt.NDArray[np.int64]
FactorKind = Literal["optimizer", "list", "sampled"]


class _Level(TypedDict):
    value: float | str
    lo: float | None
    hi: float | None


@dataclass(frozen=True)
class _Digit:
    """Where an entry's settings keep a factor's level: the digit ``(local // stride) % radix``
    of the setting's index within the entry, mapped through ``table`` to the factor's level."""

    stride: int
    radix: int
    table: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class _Factor:
    name: str
    kind: FactorKind
    levels: tuple[_Level, ...]
    # optimizer and list factors: per entry, its digit (None: the entry lacks the key);
    # sampled: ``bins``, each setting's bin (-1: lacks the key)
    digits: tuple[_Digit | None, ...]
    bins: npt.NDArray[np.int8] | None


class Factors:
    """A sweep's factors and each setting's level of each, from its normalised spec as data.

    The factors are the swept keys (``spec_swept_keys``: a list of two or more values, or a
    distribution drawn two or more times) in spec order, after ``"optimizer"`` when the spec
    compares optimizers (its ``optimizers`` form) — the keys of ``summary.importance``. A key of
    some entries only is absent from the other entries' settings; an entry where it is a
    number has that one value.

    A factor's levels:

    - ``"optimizer"``: the optimizers' names, in entry order, each once (``optimizer_names``);
    - a listed key: its values, in order of first appearance over the entries (an entry's list,
      or its number), each once — a single list's level is the index of its value in the list;
    - a sampled key (a distribution in some entry): bins of its values. Over **all** the
      sweep's settings that have the key (M of them), ranked by value (ties by setting order),
      ``B = min(SAMPLED_BINS, ⌈√M⌉)`` bins of equal counts: the setting of rank r is in bin
      ``r·B // M``. The bins are fixed by the spec, so they do not move as scores arrive (the
      importance computed in one pass before ``Moments`` binned the scored settings only).

    Settings are numbered as ``spec.Entry.setting`` numbers them: entry by entry (each from its
    offset, the settings of the entries before it), within an entry in mixed radix over its
    lists' lengths and then its samples, the first list the most significant digit and the
    sample the least. A listed key's level is then digit arithmetic on the index (nothing per
    setting is stored); a sampled key's bin is one byte per setting, computed once.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        entries = spec_entries(data)
        samples = data.get("samples")
        axes = [entry_axes(entry) for entry in entries]
        sizes = [_layout(a, samples)[1] for a in axes]
        offsets = [0]
        for size in sizes[:-1]:
            offsets.append(offsets[-1] + size)
        self.n_settings: int = sum(sizes)
        self._offsets = np.array(offsets, dtype=np.int64)
        self._sizes = tuple(sizes)
        compares = data.get("optimizers") is not None
        factors: list[_Factor] = []
        if compares:
            names = optimizer_names(data)
            digits = tuple(_Digit(1, 1, (names.index(e["optimizer"]["name"]),))
                           for e in entries)
            factors.append(_Factor("optimizer", "optimizer", tuple(
                {"value": name, "lo": None, "hi": None} for name in names), digits, None))
        for key in spec_swept_keys(data):
            if any(isinstance(a.get(key), Mapping) for a in axes):
                factors.append(self._sampled(key, axes, sizes, offsets, samples))
            else:
                factors.append(self._listed(key, axes, samples))
        self._factors = tuple(factors)
        #: The factors' names, in the order ``importance`` gives them.
        self.names: tuple[str, ...] = tuple(f.name for f in factors)

    @classmethod
    def of(cls, spec: SweepSpec) -> Factors:
        """The factors of a parsed spec (from ``spec.data()``)."""
        return cls(spec.data())

    # -- building ------------------------------------------------------------------------------

    def _listed(self, key: str, axes: Sequence[Mapping[str, Any]],
                samples: int | None) -> _Factor:
        index: dict[Any, int] = {}
        digits: list[_Digit | None] = []
        for entry in axes:
            if key not in entry:
                digits.append(None)
                continue
            value = entry[key]
            values = value if isinstance(value, list) else [value]
            table = tuple(index.setdefault(v, len(index)) for v in values)
            stride, radix = _layout(entry, samples)[0][key]
            digits.append(_Digit(stride, radix, table))
        levels = tuple(_Level(value=v, lo=v, hi=v) for v in index)
        return _Factor(key, "list", levels, tuple(digits), None)

    def _sampled(self, key: str, axes: Sequence[Mapping[str, Any]], sizes: Sequence[int],
                 offsets: Sequence[int], samples: int | None) -> _Factor:
        columns, positions = [], []
        for entry, size, offset in zip(axes, sizes, offsets, strict=True):
            if key not in entry:
                continue
            value = entry[key]
            local = np.arange(size, dtype=np.int64)
            if isinstance(value, Mapping):  # the sample index is the least significant digit
                drawn = np.asarray(value["drawn"], dtype=np.float64)
                column = np.tile(drawn, size // len(drawn))
            else:
                stride, radix = _layout(entry, samples)[0][key]
                values = np.asarray(value if isinstance(value, list) else [value],
                                    dtype=np.float64)
                column = values[(local // stride) % radix]
            columns.append(column)
            positions.append(local + offset)
        values = np.concatenate(columns)
        where = np.concatenate(positions)  # increasing: entries follow each other
        m = len(values)
        n_bins = min(SAMPLED_BINS, math.isqrt(m - 1) + 1)  # ⌈√m⌉ for m ≥ 1
        order = np.argsort(values, kind="stable")  # ties by setting order
        rank_bins = (np.arange(m, dtype=np.int64) * n_bins) // m
        bins = np.full(self.n_settings, -1, dtype=np.int8)
        bins[where[order]] = rank_bins
        starts = np.searchsorted(rank_bins, np.arange(n_bins + 1))
        ordered = values[order]
        levels = tuple(_Level(value=float(ordered[(lo + hi - 1) // 2]), lo=float(ordered[lo]),
                              hi=float(ordered[hi - 1]))
                       for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist(),
                                         strict=True))
        bins.flags.writeable = False
        return _Factor(key, "sampled", levels, (), bins)

    # -- reading -------------------------------------------------------------------------------

    @property
    def n_levels(self) -> tuple[int, ...]:
        """How many levels each factor has."""
        return tuple(len(f.levels) for f in self._factors)

    def kind(self, factor: int) -> FactorKind:
        """Factor ``factor``'s kind: ``"optimizer"``, ``"list"`` or ``"sampled"``."""
        return self._factors[factor].kind

    def level_values(self, factor: int) -> list[dict[str, Any]]:
        """Factor ``factor``'s levels in order, each its ``value``, ``lo`` and ``hi``: an
        optimizer's name (lo, hi None); a list value (lo = hi = value); a bin's lowest and
        highest values, and as its value the lower median of its values (the value of rank
        ⌊(k − 1)/2⌋ of its k, ranked as the bins are) — one of the values the bin holds."""
        return [dict(level) for level in self._factors[factor].levels]

    def _check(self, setting: int) -> None:
        if not 0 <= setting < self.n_settings:
            raise IndexError(f"setting {setting} is not in 0..{self.n_settings - 1}")

    def levels(self, setting: int) -> tuple[int | None, ...]:
        """Setting ``setting``'s level of each factor (None: it lacks the key)."""
        self._check(setting)
        entry = int(np.searchsorted(self._offsets, setting, side="right")) - 1
        local = setting - int(self._offsets[entry])
        out: list[int | None] = []
        for f in self._factors:
            if f.bins is not None:
                b = int(f.bins[setting])
                out.append(None if b < 0 else b)
                continue
            d = f.digits[entry]
            out.append(None if d is None else d.table[(local // d.stride) % d.radix])
        return tuple(out)

    def level_arrays(self, settings: npt.ArrayLike) -> Levels:
        """The levels of many settings at once: (factors, len(settings)), −1 where a setting
        lacks the key."""
        idx = np.asarray(settings, dtype=np.int64)
        out = np.full((len(self._factors), len(idx)), -1, dtype=np.int64)
        if not len(idx):
            return out
        if idx.min() < 0 or idx.max() >= self.n_settings:
            bad = idx[(idx < 0) | (idx >= self.n_settings)][0]
            raise IndexError(f"setting {bad} is not in 0..{self.n_settings - 1}")
        entry = np.searchsorted(self._offsets, idx, side="right") - 1
        single = len(self._sizes) == 1
        for i, f in enumerate(self._factors):
            if f.bins is not None:
                out[i] = f.bins[idx]
                continue
            for e, d in enumerate(f.digits):
                if d is None:
                    continue
                mask = slice(None) if single else entry == e
                local = idx[mask] - self._offsets[e]
                table = np.asarray(d.table, dtype=np.int64)
                out[i, mask] = table[(local // d.stride) % d.radix]
        return out


def _layout(axes: Mapping[str, Any], samples: int | None) -> tuple[dict[str, tuple[int, int]],
                                                                   int]:
    """An entry's mixed radix: each listed or fixed key → (stride, radix) of its digit, and how
    many settings the entry has (its lists' lengths × its samples, the least significant)."""
    n_samples = next((len(v["drawn"]) if v.get("drawn") is not None else samples or 1
                      for v in axes.values() if isinstance(v, Mapping)), 1)
    digits: dict[str, tuple[int, int]] = {}
    stride = n_samples
    for key, value in reversed(list(axes.items())):
        if isinstance(value, Mapping):
            continue
        radix = len(value) if isinstance(value, list) else 1
        digits[key] = (stride, radix)
        stride *= radix
    return digits, stride


def _shift(x: int, bits: int) -> int:
    """x · 2^bits, for an x that 2^−bits divides when bits < 0."""
    return x << bits if bits >= 0 else x >> -bits


def _exact(y: float) -> tuple[int, int]:
    """y·2^SCALE and y²·2^(2·SCALE), integers (y finite)."""
    p, q = y.as_integer_ratio()
    k = q.bit_length() - 1  # q = 2^k, k ≤ 1074
    return p << (SCALE - k), (p * p) << (2 * (SCALE - k))


class Moments:
    """The exact sufficient statistics of a sweep's importance and marginal means.

    Per factor h, over the scored settings that have it (N of them, scores y): N, S1 = Σy,
    S2 = Σy², and per level v: n_v (how many have h = v) and S1_v (the sum of their scores).
    Then::

        V   = S2/N − (S1/N)²                     = (1/N) Σ (y − ȳ)², the scores' variance
        V_h = Σ_v S1_v²/(n_v·N) − (S1/N)²        = (1/N) Σ_v n_v (m_v − ȳ)², m_v = S1_v/n_v
        importance_h = V_h / V  in [0, 1]         0 when V = 0 or N = 0

    — the variance of h's marginal means weighted by their counts (on a full grid, its main
    effect as fANOVA reports it), over the settings that have h (a key of some optimizers only:
    theirs). The sums are integers (S1 in units of 2^−1074, S2 of 2^−2148), the ratio is taken
    in integers, and rounded once to a double: the correctly rounded value of the formula,
    whatever the order of the updates that led to the state.
    """

    def __init__(self, factors: Factors) -> None:
        self.factors = factors
        k = len(factors.names)
        self._n = [0] * k
        self._s1 = [0] * k
        self._s2 = [0] * k
        self._nv = [[0] * n for n in factors.n_levels]
        self._s1v = [[0] * n for n in factors.n_levels]

    # -- updating ------------------------------------------------------------------------------

    def update(self, setting: int, old: float | None, new: float | None) -> None:
        """Setting ``setting``'s score changed from ``old`` to ``new`` (None: not scored)."""
        if old is None and new is None:
            return
        levels = self.factors.levels(setting)
        for y, sign in ((old, -1), (new, 1)):
            if y is None:
                continue
            if not math.isfinite(y):
                raise ValueError(f"setting {setting}: a score is finite or None, not {y}")
            m1, m2 = _exact(float(y))
            m1, m2 = sign * m1, sign * m2
            for i, v in enumerate(levels):
                if v is None:
                    continue
                self._n[i] += sign
                self._s1[i] += m1
                self._s2[i] += m2
                self._nv[i][v] += sign
                self._s1v[i][v] += m1

    def update_many(self, changes: Iterable[tuple[int, float | None, float | None]]) -> None:
        """Many ``update``s at once (the same state as one by one, in any order)."""
        settings: list[int] = []
        ys: list[float] = []
        signs: list[int] = []
        for setting, old, new in changes:
            if old is not None:
                settings.append(setting)
                ys.append(old)
                signs.append(-1)
            if new is not None:
                settings.append(setting)
                ys.append(new)
                signs.append(1)
        if not settings:
            return
        y = np.asarray(ys, dtype=np.float64)
        if not np.isfinite(y).all():
            bad = int(np.flatnonzero(~np.isfinite(y))[0])
            raise ValueError(f"setting {settings[bad]}: a score is finite or None, not {ys[bad]}")
        levels = self.factors.level_arrays(settings)
        sign = np.asarray(signs, dtype=np.int64)
        # y = M·2^E exactly, M an integer of at most 53 bits (signed), E ≥ −1126
        mantissa, exponent = np.frexp(y)
        m = (mantissa * 2.0**53).astype(np.int64) * sign  # the change's signed contribution
        e = exponent.astype(np.int64) - 53
        step = 1 << 20  # row blocks: every int64 partial sum below stays under 2^63
        for start in range(0, len(y), step):
            block = slice(start, start + step)
            self._add_block(levels[:, block], m[block], e[block], sign[block])

    def _add_block(self, levels: Levels, m: Levels, e: Levels, sign: Levels) -> None:
        # limbs: m = hi·2^26 + lo (|hi| ≤ 2^27, 0 ≤ lo < 2^26); |m| = a·2^36 + b·2^18 + c
        # (each < 2^18), so m² = a²·2^72 + 2ab·2^54 + (2ac + b²)·2^36 + 2bc·2^18 + c²: every
        # column is below 2^38 and a block's sums of it fit an int64
        am = np.abs(m)
        a, b, c = am >> 36, (am >> 18) & 0x3FFFF, am & 0x3FFFF
        columns = np.stack([sign, m >> 26, m & 0x3FFFFFF, sign * a * a, sign * 2 * a * b,
                            sign * (2 * a * c + b * b), sign * 2 * b * c, sign * c * c])
        exponents, e_index = np.unique(e, return_inverse=True)
        e_index = e_index.reshape(-1)
        n_e = len(exponents)
        exps = exponents.tolist()
        whole: tuple[int, int, int] | None = None
        for i, lv in enumerate(levels):
            rows = lv >= 0
            everywhere = bool(rows.all())
            cols = columns if everywhere else columns[:, rows]
            if not cols.shape[1]:
                continue
            if everywhere and whole is not None:
                totals = whole
            else:
                totals = _totals(*_grouped(e_index if everywhere else e_index[rows], cols), exps)
                if everywhere:
                    whole = totals
            self._n[i] += totals[0]
            self._s1[i] += totals[1]
            self._s2[i] += totals[2]
            key = (lv if everywhere else lv[rows]) * n_e + (e_index if everywhere
                                                             else e_index[rows])
            keys, sums = _grouped(key, cols[:3])
            nv, s1v = self._nv[i], self._s1v[i]
            for g, count, hi, lo in zip(keys.tolist(), *sums.tolist(), strict=True):
                v, ei = divmod(g, n_e)
                nv[v] += count
                s1v[v] += _shift((hi << 26) + lo, exps[ei] + SCALE)

    def add(self, other: Moments) -> None:
        """Add ``other``'s sums to these (the same factors): the state of both sets of updates.
        A state made only of one chunk's updates (its scores' changes, removals included) is a
        *delta*; the sum of every chunk's delta is the sweep's state, in any order."""
        if other.factors.names != self.factors.names or (
                other.factors.n_levels != self.factors.n_levels):
            raise ValueError("moments of another sweep's factors")
        for i in range(len(self._n)):
            self._n[i] += other._n[i]
            self._s1[i] += other._s1[i]
            self._s2[i] += other._s2[i]
            for v in range(len(self._nv[i])):
                self._nv[i][v] += other._nv[i][v]
                self._s1v[i][v] += other._s1v[i][v]

    # -- reading -------------------------------------------------------------------------------

    def _factor_share(self, i: int) -> float:
        n, s1, s2 = self._n[i], self._s1[i], self._s2[i]
        if n == 0:
            return 0.0
        total = n * s2 - s1 * s1  # N²·V, in units of 2^−2148
        if total <= 0:
            return 0.0
        counts = [(nv, s) for nv, s in zip(self._nv[i], self._s1v[i], strict=True) if nv]
        common = math.lcm(*(nv for nv, _ in counts))
        between = sum(s * s * (common // nv) for nv, s in counts)  # Σ_v S1_v²/n_v · common
        explained = n * between - s1 * s1 * common  # N²·V_h · common
        return min(1.0, max(0.0, explained / (total * common)))  # int / int: correctly rounded

    def importance(self) -> dict[str, float]:
        """Each factor's share V_h / V, in ``Factors.names`` order (0.0 when V = 0 or N = 0)."""
        return {name: self._factor_share(i) for i, name in enumerate(self.factors.names)}

    def marginals(self) -> dict[str, list[MarginalRecord]]:
        """For each factor, its levels in order (``Factors.level_values``: value, lo, hi) with
        ``n``, how many scored settings have the level, and ``mean``, their mean score
        S1_v/n_v correctly rounded (None when n = 0: the level is there for the axis)."""
        out: dict[str, list[MarginalRecord]] = {}
        for i, name in enumerate(self.factors.names):
            levels: list[MarginalRecord] = []
            for level, nv, s in zip(self.factors.level_values(i), self._nv[i], self._s1v[i],
                                    strict=True):
                levels.append({"value": level["value"], "lo": level["lo"], "hi": level["hi"],
                               "n": nv, "mean": s / (nv << SCALE) if nv else None})
            out[name] = levels
        return out

    @property
    def n_scored(self) -> tuple[int, ...]:
        """N of each factor: how many scored settings have it."""
        return tuple(self._n)

    # -- storing -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The state as compact JSON (the sums as hexadecimal strings): the same state, the same
        bytes. Each family of sums (the S1s, the S2s) is written as integers × 2^shift with the
        largest shift that keeps them integers, so a sum is as long as its value needs."""
        s1 = [*self._s1, *(x for row in self._s1v for x in row)]
        s2 = list(self._s2)
        k1, k2 = _common_zeros(s1), _common_zeros(s2)
        doc = {"format": FORMAT, "factors": list(self.factors.names),
               "levels": list(self.factors.n_levels),
               "s1_exp": k1 - SCALE, "s2_exp": k2 - 2 * SCALE,
               "n": self._n, "s1": [_hex(x >> k1) for x in self._s1],
               "s2": [_hex(x >> k2) for x in s2], "nv": self._nv,
               "s1v": [[_hex(x >> k1) for x in row] for row in self._s1v]}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str, factors: Factors) -> Moments:
        """The state ``to_bytes`` wrote, for the sweep whose ``factors`` these are.

        Raises:
          ValueError: the bytes are not such a state, or they are another sweep's (other
            factors or levels).
        """
        try:
            doc = json.loads(data)
            if doc["format"] != FORMAT:
                raise ValueError(f"moments format {doc['format']}, not {FORMAT}")
            if doc["factors"] != list(factors.names) or doc["levels"] != list(factors.n_levels):
                raise ValueError("these moments are another sweep's: factors "
                                 f"{doc['factors']} with {doc['levels']} levels, not "
                                 f"{list(factors.names)} with {list(factors.n_levels)}")
            k1, k2 = doc["s1_exp"] + SCALE, doc["s2_exp"] + 2 * SCALE
            out = cls(factors)
            out._n = [int(x) for x in doc["n"]]
            out._s1 = [_unhex(x, k1) for x in doc["s1"]]
            out._s2 = [_unhex(x, k2) for x in doc["s2"]]
            out._nv = [[int(x) for x in row] for row in doc["nv"]]
            out._s1v = [[_unhex(x, k1) for x in row] for row in doc["s1v"]]
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a moments state: {exc}") from exc
        if [len(r) for r in out._nv] != list(factors.n_levels) or [
                len(r) for r in out._s1v] != list(factors.n_levels) or not (
                len(out._n) == len(out._s1) == len(out._s2) == len(factors.names)):
            raise ValueError("not a moments state: the sums do not match the factors")
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Moments):
            return NotImplemented
        return self._state() == other._state()

    def _state(self) -> tuple[Any, ...]:
        return (self.factors.names, self._n, self._s1, self._s2, self._nv, self._s1v)

    __hash__ = None  # type: ignore[assignment]  # mutable


def _grouped(key: Levels, columns: Levels) -> tuple[Levels, Levels]:
    """The distinct keys, ascending, and each column's sums per key (int64, exact)."""
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    return k[starts], np.add.reduceat(columns[:, order], starts, axis=1)


def _totals(keys: Levels, sums: Levels, exps: list[int]) -> tuple[int, int, int]:
    """ΔN, ΔS1 and ΔS2 (integers in their units) from the sums per exponent of the columns."""
    dn = d1 = d2 = 0
    for g, count, hi, lo, c4, c3, c2, c1, c0 in zip(keys.tolist(), *sums.tolist(),
                                                     strict=True):
        e = exps[g] + SCALE
        dn += count
        d1 += _shift((hi << 26) + lo, e)
        d2 += _shift((c4 << 72) + (c3 << 54) + (c2 << 36) + (c1 << 18) + c0, 2 * e)
    return dn, d1, d2


def _common_zeros(values: Iterable[int]) -> int:
    """The most trailing zero bits all the nonzero ``values`` share (0 if all are 0)."""
    lowest = 0
    for x in values:
        lowest |= x & -x  # the lowest set bit of each, OR-ed: its lowest bit is theirs
    return (lowest & -lowest).bit_length() - 1 if lowest else 0


def _hex(x: int) -> str:
    return format(x, "x")


def _unhex(text: str, shift: int) -> int:
    return int(text, 16) << shift


__all__ = ["SAMPLED_BINS", "SCALE", "Factors", "Moments"]
