"""The local process pool gives exactly the document that one process gives."""

from __future__ import annotations

from optimizers import run_sweep
from workers.local import run_local

SPEC = {"objective": {"name": "rastrigin", "dim": 3}, "optimizer": "rmsprop",
        "grid": {"lr": [1e-3, 1e-2, 0.1, 1e7], "decay": [0.5, 0.9, 0.99]}, "seeds": 3,
        "steps": 200, "record_every": 10, "init": {"distribution": "normal", "scale": 1.0}}


def test_pool_over_chunks_equals_one_process_to_the_last_digit() -> None:
    seen: list[int] = []
    pooled = run_local(SPEC, jobs=2, chunk_size=5, progress=lambda done, total: seen.append(done))
    assert pooled == run_sweep(SPEC)
    assert pooled["progress"] == {"done": 36, "total": 36}
    assert seen == sorted(seen) and seen[-1] == 36 and len(seen) > 1
    assert {t["status"] for t in pooled["trials"]} == {"ok", "diverged"}


def test_stop_request_cancels_the_chunks_not_yet_started() -> None:
    pooled = run_local(SPEC, jobs=2, chunk_size=1, should_stop=lambda: True)
    assert pooled["status"] == "cancelled"
    assert pooled["progress"]["done"] < pooled["progress"]["total"]
    done = pooled["trials"]
    assert [t["index"] for t in done] == sorted(t["index"] for t in done)
