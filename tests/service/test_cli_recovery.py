"""``gradsweep run`` survives the death of a pool process, as embedded ``gradsweep serve`` does:
both run their chunks through ``workers.local.LocalExecutor``, so a killed process's chunks run
again in a new pool and every trial counts once."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from harness import children, wait_until

from optimizers import run_sweep
from service.testing.procs import Process, command

# 40 trials in 20 chunks of 2 on 2 processes: about ten seconds, so a chunk is always running
SPEC = {"name": "a pool process is killed", "optimizer": "adam",
        "objective": {"name": "rastrigin", "dim": 100}, "init": {"distribution": "normal"},
        "grid": {"lr": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]}, "seeds": 5,
        "steps": 20_000, "record_every": 500}


def pool_processes(pid: int) -> list[int]:
    """The pool's worker processes under ``gradsweep run`` (the forkserver's children)."""
    for child in children(pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"forkserver" in cmdline:
            return children(child)
    return []


def test_a_pool_process_killed_under_gradsweep_run_loses_nothing(tmp_path: Path) -> None:
    spec_file, out = tmp_path / "spec.json", tmp_path / "results.json"
    spec_file.write_text(json.dumps(SPEC))
    run = Process(command(["gradsweep", "run", str(spec_file), "-o", str(out), "--quiet",
                           "--jobs", "2", "--chunk-size", "2"]),
                  dict(os.environ), tmp_path / "run.log")
    try:
        workers = wait_until(lambda: len(pool_processes(run.popen.pid)) == 2 and
                             pool_processes(run.popen.pid), 60, "the pool's two processes", run)
        time.sleep(1.0)  # both are inside a chunk now
        assert run.popen.poll() is None, "the sweep ended before a process could be killed"
        os.kill(workers[0], signal.SIGKILL)
        code = run.popen.wait(timeout=180)
    finally:
        run.stop()
    log = run.output()
    assert code == 0, log
    assert "a local worker process died; starting a new pool" in log
    results = json.loads(out.read_text(), parse_constant=pytest.fail)
    assert results["status"] == "succeeded"
    assert [t["index"] for t in results["trials"]] == list(range(40))  # each trial once
    assert results == run_sweep(SPEC)  # the chunks that ran again give the same numbers
