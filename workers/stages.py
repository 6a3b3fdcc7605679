"""A pruned sweep in the store: its stages as chunks, the checkpoints between them, its rungs.

A sweep with early stopping (``optimizers.pruning``) runs as stages: stage i takes every trial
still running from rung i − 1 to rung i. Each stage is chunks like any sweep's, numbered on from
the chunks before, so leases, redelivery, the watchdog and every count keyed by chunk work as
they do for any sweep; what a chunk does is its *plan*, a small JSON value stored beside it:

- a **run** chunk runs its trials to the stage's rung: from step 0, or from the checkpoints the
  chunks of the stage before left (``sources``). It stores the checkpoint and the records of its
  trials paused at the rung, then saves the records of the trials that ended (ok at the last
  step, diverged, failed) as its chunk. The save whose ``chunks_done`` reaches the stage's
  **promote** chunk — exactly one, the store counts atomically — queues that chunk.
- a **promote** chunk is the rung: once every chunk of its stage is saved it ranks the paused
  grid points, writes the plans of the next stage's chunks, and saves the pruned trials'
  records as its own chunk, growing the sweep's ``n_chunks`` by the next stage's chunks in the
  same atomic step. However many copies run (two workers, a redelivery, the watchdog), the
  first save counts, once, and only its caller queues the next stage; the others compute the
  same plans (the choice is deterministic) and change nothing.

A worker that dies mid-stage loses only its chunk (its lease expires and the chunk runs again
from the same checkpoints); a restart of Redis (with persistence) or of the API loses nothing,
since all of it is in the store. Checkpoints of a stage are deleted once the next stage is
saved, and every stage's at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from optimizers import SweepSpec
from optimizers.checkpoint import Checkpoint, from_bytes, to_bytes
from optimizers.pruning import promote
from optimizers.records import TrialRecord
from optimizers.runner import StopCheck, run_stage_chunk
from optimizers.spec import Trial

from .overview import save_sketch
from .store import JobStore, SweepRecord

log = logging.getLogger(__name__)

#: Queue chunks of a sweep: an executor's ``submit``.
Submit = Callable[[str, list[int]], None]


def plan_name(chunk: int) -> str:
    return f"plan:{chunk}"


def checkpoint_name(chunk: int) -> str:
    return f"checkpoint:{chunk}"


def paused_name(chunk: int) -> str:
    return f"paused:{chunk}"


def first_stage(bounds: Sequence[tuple[int, int]]) -> tuple[int, dict[str, bytes]]:
    """The chunks of a pruned sweep at its submission: stage 0's run chunks — as many as
    ``bounds``, the trials shared evenly (⌈T/n⌉ each, as an unpruned sweep's) — and its
    promote chunk; their number and plans."""
    total = bounds[-1][1]
    size = -(-total // len(bounds))
    bounds = [(start, min(start + size, total)) for start in range(0, total, size)]
    promote_at = len(bounds)
    plans: dict[str, Any] = {
        plan_name(c): {"kind": "run", "stage": 0, "start": start, "stop": stop, "sources": [],
                       "promote": promote_at}
        for c, (start, stop) in enumerate(bounds)}
    plans[plan_name(promote_at)] = {"kind": "promote", "stage": 0,
                                    "sources": list(range(promote_at)), "size": size}
    return promote_at + 1, {name: orjson.dumps(plan) for name, plan in plans.items()}


def chunk_plan(store: JobStore, sweep_id: str, chunk: int) -> dict[str, Any] | None:
    """What chunk ``chunk`` of a pruned sweep does (None: no plan stored, yet or at all)."""
    blob = store.blobs(sweep_id, [plan_name(chunk)]).get(plan_name(chunk))
    return None if blob is None else dict(orjson.loads(blob))


def plan_trials(spec: SweepSpec, plan: dict[str, Any]) -> list[Trial]:
    """The trials of a run chunk."""
    if "trials" not in plan:
        return spec.trials(plan["start"], plan["stop"])
    return [spec.trials(i, i + 1)[0] for i in plan["trials"]]


def run_stage(store: JobStore, record: SweepRecord, spec: SweepSpec, chunk: int,
              plan: dict[str, Any], should_stop: StopCheck) -> tuple[int, int | None]:
    """Run a run chunk and save it: (how many trials it ran, ``chunks_done`` after the save —
    None if another delivery saved it first). The checkpoint and the paused trials' records
    are stored before the save, so a saved chunk always has them."""
    assert spec.plan is not None
    trials = plan_trials(spec, plan)
    resume: list[Checkpoint] = []
    if plan["sources"]:
        wanted = [t.index for t in trials]
        stored = store.blobs(record.id, [checkpoint_name(s) for s in plan["sources"]])
        for source in plan["sources"]:
            blob = stored.get(checkpoint_name(source))
            if blob is None:
                raise RuntimeError(f"the checkpoint of chunk {source} is missing")
            resume += [c.take(wanted) for c in from_bytes(blob)]
        resume = [c for c in resume if len(c)]
    stop = spec.plan.stage_steps(plan["stage"])[1]
    segment = run_stage_chunk(spec, trials, stop, resume, should_stop=should_stop)
    if segment.paused:
        store.put_blobs(record.id, {checkpoint_name(chunk): to_bytes(segment.checkpoints),
                                    paused_name(chunk): orjson.dumps(segment.paused)})
    save_sketch(store, record.id, chunk, spec, segment.records)
    return len(trials), store.save_chunk(record.id, chunk, segment.records,
                                         trial_steps=segment.trial_steps)


def run_promote(store: JobStore, record: SweepRecord, spec: SweepSpec, chunk: int,
                plan: dict[str, Any], submit: Submit | None) -> int:
    """Run a promote chunk once its stage is saved: prune, plan the next stage, save, queue
    the next stage (only the caller whose save was the first). How many trials it ended (0:
    its stage is not saved yet, or another copy saved it)."""
    assert spec.plan is not None
    sources: list[int] = plan["sources"]
    if not set(sources) <= store.saved_chunks(record.id):
        return 0  # early (the watchdog queues every missing chunk): the last save queues it
    stored = store.blobs(record.id, [paused_name(s) for s in sources])
    paused: list[TrialRecord] = []
    holder: dict[int, int] = {}
    for source in sources:
        records = orjson.loads(stored.get(paused_name(source), b"[]"))
        paused += records
        holder.update({r["index"]: source for r in records})
    stage = plan["stage"]
    ended, going = promote(spec.plan, stage, paused, spec.n_seeds, spec.metric)
    size = plan["size"]
    pieces = -(-len(going) // size)
    per_piece = -(-len(going) // pieces) if pieces else 0
    first = chunk + 1
    next_stage = stage + 1
    last = next_stage == spec.plan.n_stages - 1
    promote_at = None if last or not pieces else first + pieces
    plans: dict[str, Any] = {}
    for j in range(pieces):
        piece = going[j * per_piece:(j + 1) * per_piece]
        plans[plan_name(first + j)] = {
            "kind": "run", "stage": next_stage, "trials": piece,
            "sources": sorted({holder[i] for i in piece}), "promote": promote_at}
    if promote_at is not None:
        plans[plan_name(promote_at)] = {"kind": "promote", "stage": next_stage,
                                        "sources": list(range(first, first + pieces)),
                                        "size": size}
    store.put_blobs(record.id, {name: orjson.dumps(p) for name, p in plans.items()})
    added = pieces + (promote_at is not None)
    save_sketch(store, record.id, chunk, spec, ended)
    if store.save_chunk(record.id, chunk, ended, add_chunks=added) is None:
        return 0
    log.info("sweep %s: rung %d at step %d: %d trials pruned, %d go on in %d chunk(s)",
             record.id, stage, spec.plan.rungs[stage], len(ended), len(going), pieces)
    if pieces:
        if submit is None:
            log.warning("sweep %s: the next stage's chunks are left to the watchdog (no "
                        "executor to queue them)", record.id)
        else:
            submit(record.id, list(range(first, first + pieces)))
    # the stage before this one is done with: its checkpoints are no longer read
    older = range(min(sources))
    store.delete_blobs(record.id, [name for c in older
                                   for name in (checkpoint_name(c), paused_name(c))])
    return len(ended)


def forget_stages(store: JobStore, record: SweepRecord) -> None:
    """Delete a finished pruned sweep's checkpoints and paused records."""
    store.delete_blobs(record.id, [name for c in range(record.n_chunks)
                                   for name in (checkpoint_name(c), paused_name(c))])


__all__ = ["Submit", "chunk_plan", "first_stage", "forget_stages", "plan_trials", "run_promote",
           "run_stage"]
