"""The overview of a sweep's curves from per-chunk sketches (``optimizers.overview``).

``save_sketch`` runs right before each ``save_chunk`` that saves trial records (an unpruned
sweep's chunk, a stage's run chunk, a rung's pruned trials, a chunk saved as failed trials): it
stores the chunk's sketch as the sweep's blob ``sketch:{chunk}``. The sketch depends only on the
records, so a chunk delivered twice writes the same bytes, and a sketch whose chunk was never
saved (its worker died between the two writes) is ignored: ``overview`` merges only the sketches
of saved chunks. So the overview reads about one small blob per chunk — the same work at 10³
trials as at 10⁶ — and never a record. The blobs go with the sweep at retention.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optimizers import SweepSpec
from optimizers.overview import MAX_POSITIONS, Sketch, merge, sketch_of
from optimizers.overview import overview as overview_document
from optimizers.records import TrialRecord

from .store import JobStore, SweepRecord

#: Sketches read from the store per call of ``JobStore.blobs``.
BATCH = 200


def sketch_name(chunk: int) -> str:
    return f"sketch:{chunk}"


def save_sketch(store: JobStore, sweep_id: str, chunk: int, spec: SweepSpec,
                records: Sequence[TrialRecord]) -> None:
    """Store the sketch of chunk ``chunk``'s records (before the chunk itself is saved)."""
    sketch = sketch_of(records, spec.steps, spec.record_every, spec.n_trials)
    store.put_blobs(sweep_id, {sketch_name(chunk): sketch.to_bytes()})


def overview(store: JobStore, record: SweepRecord, spec: SweepSpec,
             sample_points: int = MAX_POSITIONS + 1) -> dict[str, Any]:
    """The overview document of the chunks saved so far (``optimizers.overview.overview``),
    the sample's curves cut to ``sample_points`` points each, with the spec's rungs (early
    stopping) and metric, so a page can draw it before it has the spec."""
    saved = sorted(store.saved_chunks(record.id))
    sketches = []
    for at in range(0, len(saved), BATCH):
        names = [sketch_name(c) for c in saved[at:at + BATCH]]
        stored = store.blobs(record.id, names)
        sketches += [Sketch.from_bytes(stored[n]) for n in names if n in stored]
    document = overview_document(merge(sketches), spec.steps, spec.record_every,
                                 sample_points=sample_points)
    document["rungs"] = list(spec.plan.rungs) if spec.plan is not None else []
    document["metric"] = spec.metric
    return document


__all__ = ["overview", "save_sketch", "sketch_name"]
