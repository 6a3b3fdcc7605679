"""The best grid point of a sweep so far, as its status view shows it.

The store keeps the best grid point itself (``JobStore.best``: merged in as each chunk is saved,
read in one index step), so a view costs the same at 10 trials and at a million, and no API
process holds anything per sweep but the parsed spec that names the point's hyperparameters
(``workers.jobs.stored_spec``, a cache bounded in bytes).
"""

from __future__ import annotations

from workers.jobs import stored_spec
from workers.store import BEST_TRIALS, JobStore, SweepRecord

from .models import BestSoFar


def best_so_far(store: JobStore, record: SweepRecord) -> BestSoFar | None:
    """The best setting among the chunks of ``record`` saved so far (None before any has a
    score), with its first ``BEST_TRIALS`` trial indices and their count."""
    if record.chunks_done == 0:
        return None
    best = store.best(record.id, BEST_TRIALS)
    if best is None:
        return None
    try:
        spec = stored_spec(record)
    except ValueError:  # a spec that no longer parses: its sweep is failed, its view still answers
        return None
    return BestSoFar(params=spec.setting(best.setting), score=best.score,
                     score_std=best.score_std, trials=best.trials, n_trials=best.n_trials)


__all__ = ["best_so_far"]
