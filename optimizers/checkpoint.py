"""Trials paused at a rung: everything needed to continue them to the last bit.

Successive halving stops every trial at a rung, ranks the grid points and continues the best
from where they stood. A trial's whole state at step ``s`` is a few rows of arrays — its
parameters θ_s, the rule's buffers (m, v, …) and update count, and the runner's bookkeeping:
the running sum and minimum of its losses, its curve so far and the values a model records
beside the loss. ``Checkpoint`` holds those rows for a group of trials of one optimizer;
``to_bytes`` / ``from_bytes`` carry a list of them (a chunk may hold several optimizers)
through a job store as one value: NumPy's ``.npy`` format inside an uncompressed zip
(``np.savez``), read back with ``allow_pickle=False``, so a stored checkpoint is never code.

Nothing is recomputed or rounded on the way: float64 in, the same float64 out. A trial run in
segments 0 → s₁ → s₂ → … therefore gives the numbers of the same trial run in one piece (the
runner's accumulations are sequential in step order, so they do not depend on where a segment
ends; see ``optimizers.runner``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from .rules import Array

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Checkpoint:
    """Trials of one optimizer (``entry``) paused after ``step`` updates, one row each.

    ``curve`` and each of ``extras`` are (recorded steps, K): the values at the recorded steps
    up to ``step``, NaN beyond.
    """

    entry: int
    step: int
    indices: IndexArray  # (K,) the trials' indices in the sweep
    params: Array  # (K, D) θ after ``step`` updates
    buffers: dict[str, Array]  # the rule's state buffers, (K, D) each
    total: Array  # (K,) the sum of the losses at steps 0..step, in step order
    minimum: Array  # (K,) their minimum
    curve: Array  # (recorded, K)
    extras: dict[str, Array]  # name → (recorded, K)

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, keep: Iterable[int]) -> Checkpoint:
        """The rows of the trials ``keep`` (trial indices, in any order), in index order."""
        wanted = np.fromiter(keep, dtype=np.int64)
        rows = np.flatnonzero(np.isin(self.indices, wanted))
        return Checkpoint(self.entry, self.step, self.indices[rows], self.params[rows],
                          {b: v[rows] for b, v in self.buffers.items()}, self.total[rows],
                          self.minimum[rows], self.curve[:, rows],
                          {n: v[:, rows] for n, v in self.extras.items()})

    @staticmethod
    def concat(parts: Sequence[Checkpoint]) -> Checkpoint:
        """One checkpoint of the rows of ``parts`` (one entry, one step), in index order."""
        if len({(p.entry, p.step) for p in parts}) != 1:
            raise ValueError("checkpoints of different optimizers or steps cannot be joined")
        indices = np.concatenate([p.indices for p in parts])
        order = np.argsort(indices, kind="stable")
        first = parts[0]

        def rows(arrays: list[Array]) -> Array:
            return np.concatenate(arrays)[order]

        def columns(arrays: list[Array]) -> Array:
            return np.concatenate(arrays, axis=1)[:, order]

        return Checkpoint(first.entry, first.step, indices[order],
                          rows([p.params for p in parts]),
                          {b: rows([p.buffers[b] for p in parts]) for b in first.buffers},
                          rows([p.total for p in parts]), rows([p.minimum for p in parts]),
                          columns([p.curve for p in parts]),
                          {n: columns([p.extras[n] for p in parts]) for n in first.extras})


def to_bytes(checkpoints: Sequence[Checkpoint]) -> bytes:
    """A list of checkpoints as one value (``from_bytes`` reverses it exactly)."""
    arrays: dict[str, Any] = {}
    header = []
    for i, c in enumerate(checkpoints):
        header.append({"entry": c.entry, "step": c.step, "buffers": list(c.buffers),
                       "extras": list(c.extras)})
        arrays[f"{i}.indices"] = c.indices
        arrays[f"{i}.params"] = c.params
        arrays[f"{i}.total"] = c.total
        arrays[f"{i}.minimum"] = c.minimum
        arrays[f"{i}.curve"] = c.curve
        arrays.update({f"{i}.buffer.{b}": v for b, v in c.buffers.items()})
        arrays.update({f"{i}.extra.{n}": v for n, v in c.extras.items()})
    out = io.BytesIO()
    arrays["header"] = np.frombuffer(orjson.dumps(header), dtype=np.uint8)
    np.savez(out, **arrays)
    return out.getvalue()


def from_bytes(data: bytes) -> list[Checkpoint]:
    """The checkpoints ``to_bytes`` stored."""
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        header = orjson.loads(stored["header"].tobytes())
        return [Checkpoint(h["entry"], h["step"], stored[f"{i}.indices"],
                           stored[f"{i}.params"],
                           {b: stored[f"{i}.buffer.{b}"] for b in h["buffers"]},
                           stored[f"{i}.total"], stored[f"{i}.minimum"], stored[f"{i}.curve"],
                           {n: stored[f"{i}.extra.{n}"] for n in h["extras"]})
                for i, h in enumerate(header)]


__all__ = ["Checkpoint", "from_bytes", "to_bytes"]
