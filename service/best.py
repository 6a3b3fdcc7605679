"""The best setting of each sweep so far, for the status endpoint, kept up to date cheaply.

Each API process keeps one ``ScoreBoard`` per recently seen sweep and feeds it only the chunks
saved since its last look, reading their score summaries (a few numbers per trial), never the
curves. Least recently used sweeps are forgotten beyond ``size``; a forgotten sweep is simply
read again.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from optimizers.results import Best, ScoreBoard
from workers.jobs import stored_spec
from workers.store import JobStore, SweepRecord


class BestSoFar:
    """``get(store, record)``: the best grid point among the sweep's saved chunks."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._lock = Lock()
        self._boards: OrderedDict[str, tuple[set[int], ScoreBoard]] = OrderedDict()

    def get(self, store: JobStore, record: SweepRecord) -> Best | None:
        """The best setting among the chunks of ``record`` saved so far (None before any)."""
        if record.chunks_done == 0:
            return None
        with self._lock:
            entry = self._boards.get(record.id)
            if entry is not None:
                self._boards.move_to_end(record.id)
        seen, board = entry if entry is not None else (set(), ScoreBoard(stored_spec(record)))
        new = store.saved_chunks(record.id) - seen
        scores = store.chunk_scores(record.id, new) if new else []
        with self._lock:  # two requests may have read the same chunks: the board counts once
            board.add(scores)
            self._boards[record.id] = (seen | new, board)
            while len(self._boards) > self._size:
                self._boards.popitem(last=False)
            best = board.best()
        return None if best is None else Best(**best)


__all__ = ["BestSoFar"]
