"""A sweep's loss curves in bounded space: per-chunk sketches, mergeable by addition.

A sweep of a million trials cannot be drawn curve by curve, nor its curves read to draw them.
What the dashboard draws instead — quantile bands of every trial's loss at each recorded step,
and a sample of whole curves — is computed from a *sketch* per chunk, built by the worker from
the chunk's records when it saves them (``workers.overview``), and merged when asked.

**Positions.** A sweep records its curves at steps 0, r, 2r, … and at the last step
(``optimizers.spec.curve_length`` of them; r = record_every). The sketch keeps P ≤
``MAX_POSITIONS`` of them, fixed by the spec alone: curve indices
j_i = round(i·(L − 1)/(P − 1)), i = 0 … P − 1 (every index when L ≤ P; always the first and the
last). A trial with a shorter curve (pruned at a rung, diverged: its loss stops before the
divergence, failed: no curve) has values at the positions its curve reaches only.

**Bins.** At each position, a histogram of the loss over fixed bins, the same for every sweep:
``BINS_PER_DECADE`` = 32 bins per decade of |loss| over [10^−40, 10^40) for each sign, plus
one bin for zero (every |loss| < 10^−40 counts there). A value v > 0 falls in bin
m = ⌊32·log₁₀ v⌋, whose representative is 10^((m + ½)/32) (negative values mirror it); so
the representative is within a factor c = 10^(1/64) ≈ 1.0366 of every value in its bin. A value
of |v| ≥ 10^40 counts in the outermost bin (reported ≈ 10^40); a non-finite one (none should
occur: a curve stops before its divergence) counts nowhere.

**Quantiles.** For n values at a position, the q-quantile is that of ``numpy.quantile``'s
default (linear) definition: h = q·(n − 1), x_⌊h⌋ + (h − ⌊h⌋)·(x_⌈h⌉ − x_⌊h⌋) over the sorted
values. The sketch finds the bins holding ranks ⌊h⌋ and ⌈h⌉ from the cumulative counts and
interpolates their representatives with the same weights. Each representative is within a
factor c of its value, so when x_⌊h⌋ and x_⌈h⌉ have the same sign — every band of positive
losses — the estimate is within **±3.7 %** (relative: |est/true − 1| ≤ c − 1 = 3.66 %) of
``numpy.quantile`` over every curve of the sweep; in general its absolute error is at most
(c − 1)·max(|x_⌊h⌋|, |x_⌈h⌉|), plus 10^−40 for values in the zero bin.

**Merging.** Counts add: the sketch of a sweep is the sum of its chunks' sketches, in any order
(integer addition is exact and commutative). The trials covered add too.

**Sample.** The stratified indices S = {⌊i·T/200⌋ : i = 0 … 199} of a sweep of T trials
(``sample_indices``: every index when T ≤ 200) are spread over the grid (trial indices run
seeds-outermost over the settings). A chunk keeps the whole records of its trials whose index
is in S; a curve longer than P points is cut to the P positions and its own last point (so a
pruned or diverged end stays). Every trial ends in exactly one saved chunk, so the merged
sample is S's trials saved so far, whatever the order of the merge.

**Size.** Serialized (``Sketch.to_bytes``), each position holds the counts from its lowest to
its highest occupied bin in the narrowest unsigned type that holds them, compressed with zlib,
beside the sample's JSON. The counts are at most P × 5,121 integers whatever the chunk; a
10,000-trial chunk of a real sweep takes a few kB to a few tens of kB (tests measure it). The
bytes depend only on the records, so a chunk that runs twice writes the same sketch.
"""

from __future__ import annotations

import bisect
import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from .records import TrialRecord

#: Most curve positions a sketch keeps.
MAX_POSITIONS = 200
#: Trials in a sweep's sample (at most).
SAMPLE_SIZE = 200
#: Bins per decade of |loss|: a representative within 10^(1/64) of its values (±3.66 %).
BINS_PER_DECADE = 32
#: |loss| in [10^−DECADES, 10^DECADES) has its own bins; below: the zero bin; above: the last.
DECADES = 40
_HALF = 2 * DECADES * BINS_PER_DECADE  # magnitude bins per sign
N_BINS = 2 * _HALF + 1  # negatives (largest magnitude first), zero, positives
ZERO_BIN = _HALF
#: The relative error bound of a band whose two ranks' values have the same sign.
RELATIVE_ERROR = 10 ** (0.5 / BINS_PER_DECADE) - 1
#: The quantiles the overview reports.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

_MAGIC = b"GSK1"


def curve_length(steps: int, record_every: int) -> int:
    """Points in a full curve (as ``optimizers.spec.curve_length``)."""
    return steps // record_every + 1 + (steps % record_every != 0)


def curve_steps(steps: int, record_every: int) -> list[int]:
    """The steps a full curve records: 0, r, 2r, … and the last."""
    out = list(range(0, steps + 1, record_every))
    if out[-1] != steps:
        out.append(steps)
    return out


def position_indices(length: int, max_positions: int = MAX_POSITIONS) -> list[int]:
    """The curve indices a sketch keeps: round(i·(L − 1)/(P − 1)), P = min(L, max_positions)."""
    if length <= max_positions:
        return list(range(length))
    p = max_positions
    return sorted({round(i * (length - 1) / (p - 1)) for i in range(p)})


def sample_indices(total: int, size: int = SAMPLE_SIZE) -> list[int]:
    """The sample's trial indices: ⌊i·T/size⌋ for i < size (every index when T ≤ size)."""
    if total <= size:
        return list(range(total))
    return sorted({i * total // size for i in range(size)})


def bins_of(values: np.ndarray) -> np.ndarray:
    """The bin of each value (ordered like the values: negatives, zero, positives)."""
    v = np.asarray(values, dtype=np.float64)
    a = np.abs(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.floor(np.log10(a) * BINS_PER_DECADE)
    m = np.clip(np.nan_to_num(m, nan=0.0, neginf=-_HALF, posinf=_HALF), -_HALF // 2,
                _HALF // 2 - 1).astype(np.int64) + _HALF // 2
    tiny = a < 10.0 ** -DECADES
    out = np.where(v > 0, ZERO_BIN + 1 + m, ZERO_BIN - 1 - m)
    return np.where(tiny, ZERO_BIN, out)


def representatives() -> np.ndarray:
    """Each bin's representative value: the geometric middle of its range (0 for the zero bin)."""
    m = np.arange(_HALF, dtype=np.float64)
    mag = 10.0 ** ((m - _HALF // 2 + 0.5) / BINS_PER_DECADE)
    return np.concatenate([-mag[::-1], [0.0], mag])


_REPRESENTATIVES = representatives()


@dataclass
class Sketch:
    """The loss histograms at a sweep's positions, the trials they cover and the sample."""

    steps: list[int]  # the positions' steps
    counts: np.ndarray  # (P, N_BINS) int64
    trials: int = 0
    sample: dict[int, TrialRecord] = field(default_factory=dict)

    @classmethod
    def empty(cls, steps: int, record_every: int) -> Sketch:
        full = curve_steps(steps, record_every)
        kept = [full[j] for j in position_indices(len(full))]
        return cls(kept, np.zeros((len(kept), N_BINS), dtype=np.int64))

    def __add__(self, other: Sketch) -> Sketch:
        if self.steps != other.steps:
            raise ValueError("sketches of different positions do not merge")
        return Sketch(self.steps, self.counts + other.counts, self.trials + other.trials,
                      {**self.sample, **other.sample})

    def n_values(self) -> list[int]:
        """Trials with a value at each position."""
        return [int(n) for n in self.counts.sum(axis=1)]

    def bands(self, quantiles: Sequence[float] = QUANTILES) -> list[list[float | None]]:
        """Per quantile, its estimate at each position (None where no trial has a value)."""
        out: list[list[float | None]] = [[] for _ in quantiles]
        cumulative = np.cumsum(self.counts, axis=1)
        for p in range(len(self.steps)):
            n = int(cumulative[p, -1])
            for k, q in enumerate(quantiles):
                if n == 0:
                    out[k].append(None)
                    continue
                h = q * (n - 1)
                lo, hi = math.floor(h), math.ceil(h)
                # the bin holding rank r: the first whose cumulative count exceeds r
                b_lo, b_hi = np.searchsorted(cumulative[p], [lo, hi], side="right")
                x_lo, x_hi = _REPRESENTATIVES[b_lo], _REPRESENTATIVES[b_hi]
                out[k].append(float(x_lo + (h - lo) * (x_hi - x_lo)))
        return out

    def to_bytes(self) -> bytes:
        """The sketch as bytes: a header, then zlib of each position's occupied counts."""
        firsts, widths, pieces = [], [], []
        for row in self.counts:
            nz = np.flatnonzero(row)
            if not len(nz):
                firsts.append(0)
                widths.append(0)
                continue
            firsts.append(int(nz[0]))
            widths.append(int(nz[-1] - nz[0] + 1))
            pieces.append(row[nz[0]:nz[-1] + 1])
        flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        top = int(flat.max()) if len(flat) else 0
        dtype = next(d for d in ("<u1", "<u2", "<u4", "<u8") if top < 2 ** (8 * int(d[2])))
        header = orjson.dumps({"steps": self.steps, "trials": self.trials, "dtype": dtype,
                               "first": firsts, "width": widths})
        sample = orjson.dumps([self.sample[i] for i in sorted(self.sample)])
        body = zlib.compress(flat.astype(dtype).tobytes(), 6)
        return b"".join([_MAGIC, struct.pack("<III", len(header), len(body), len(sample)),
                         header, body, zlib.compress(sample, 6)])

    @classmethod
    def from_bytes(cls, blob: bytes) -> Sketch:
        if blob[:4] != _MAGIC:
            raise ValueError("not a sketch")
        n_header, n_body, _ = struct.unpack_from("<III", blob, 4)
        at = 16
        header = orjson.loads(blob[at:at + n_header])
        at += n_header
        flat = np.frombuffer(zlib.decompress(blob[at:at + n_body]), dtype=header["dtype"])
        sample = orjson.loads(zlib.decompress(blob[at + n_body:]))
        firsts = np.asarray(header["first"], dtype=np.int64)
        widths = np.asarray(header["width"], dtype=np.int64)
        rows = np.repeat(np.arange(len(widths)), widths)
        starts = np.repeat(firsts - np.concatenate([[0], np.cumsum(widths)[:-1]]), widths)
        cols = starts + np.arange(len(flat))
        counts = np.zeros((len(header["steps"]), N_BINS), dtype=np.int64)
        counts[rows, cols] = flat
        return cls(list(header["steps"]), counts, int(header["trials"]),
                   {int(r["index"]): r for r in sample})


def sketch_of(records: Iterable[TrialRecord], steps: int, record_every: int,
              total: int) -> Sketch:
    """The sketch of a chunk's records, in a sweep of ``total`` trials of ``steps`` steps
    recorded every ``record_every``."""
    full = curve_steps(steps, record_every)
    kept = position_indices(len(full))
    sketch = Sketch.empty(steps, record_every)
    chosen = set(sample_indices(total))
    records = list(records)
    values = np.full((len(records), len(kept)), np.nan)
    getters: dict[int, Any] = {}
    for row, record in enumerate(records):
        curve = record.get("curve") or {}
        st, loss = curve.get("step") or [], curve.get("loss") or []
        n = min(len(st), len(loss))
        if n and n <= len(full) and st[n - 1] == full[n - 1]:  # a prefix of the full curve
            m = bisect.bisect_left(kept, n)
            if m:
                getter = getters.get(m)
                if getter is None:
                    getter = getters[m] = itemgetter(*kept[:m]) if m > 1 else (
                        lambda xs: (xs[0],))
                values[row, :m] = getter(loss)
        elif n:  # any other steps: by value
            at = dict(zip(st[:n], loss[:n]))
            for p, s in enumerate(sketch.steps):
                if s in at:
                    values[row, p] = at[s]
        if record["index"] in chosen:
            sketch.sample[record["index"]] = _cut(record, kept)
    finite = np.isfinite(values)
    if finite.any():
        flat = (np.nonzero(finite)[1] * N_BINS + bins_of(values[finite]))
        sketch.counts += np.bincount(flat, minlength=len(kept) * N_BINS).reshape(
            len(kept), N_BINS)
    sketch.trials = len(records)
    return sketch


def _cut(record: TrialRecord, kept: list[int]) -> TrialRecord:
    """The record with a curve of at most the kept positions and its own last point."""
    curve = record.get("curve") or {}
    n = len(curve.get("step") or [])
    if n <= len(kept):
        return record
    at = [j for j in kept if j < n]
    if at[-1] != n - 1:
        at.append(n - 1)
    cut = {k: [v[j] for j in at] for k, v in curve.items() if isinstance(v, list) and len(v) == n}
    return {**record, "curve": cut}  # type: ignore[typeddict-item]


def thin(record: TrialRecord, max_points: int) -> TrialRecord:
    """The record with a curve of at most ``max_points`` of its points: evenly spaced over its
    points (``position_indices``), always its first and its own last (a pruned or diverged end
    stays)."""
    curve = record.get("curve") or {}
    n = len(curve.get("step") or [])
    if n <= max_points:
        return record
    at = position_indices(n, max_points)
    cut = {k: [v[j] for j in at] for k, v in curve.items() if isinstance(v, list) and len(v) == n}
    return {**record, "curve": cut}  # type: ignore[typeddict-item]


def merge(sketches: Iterable[Sketch]) -> Sketch | None:
    """The sum of these sketches (None: there are none)."""
    out: Sketch | None = None
    for s in sketches:
        out = s if out is None else out + s
    return out


def overview(sketch: Sketch | None, steps: int, record_every: int,
             quantiles: Sequence[float] = QUANTILES,
             sample_points: int = MAX_POSITIONS + 1) -> dict[str, Any]:
    """The overview document of a merged sketch (None: no chunk saved yet): the positions'
    steps, the quantiles, their bands (None where no trial has a value), the trials with a value
    at each step, the sample's records (by index, each curve ``thin`` to ``sample_points``
    points: by default as the sketch keeps it) and the trials covered."""
    if sketch is None:
        sketch = Sketch.empty(steps, record_every)
    return {"steps": sketch.steps, "quantiles": list(quantiles),
            "bands": sketch.bands(quantiles), "counts": sketch.n_values(),
            "sample": [thin(sketch.sample[i], sample_points) for i in sorted(sketch.sample)],
            "trials": sketch.trials}


__all__ = ["BINS_PER_DECADE", "MAX_POSITIONS", "N_BINS", "QUANTILES", "RELATIVE_ERROR",
           "SAMPLE_SIZE", "Sketch", "bins_of", "curve_steps", "merge", "overview",
           "position_indices", "representatives", "sample_indices", "sketch_of", "thin"]
