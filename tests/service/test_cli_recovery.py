"""``gradsweep run`` survives the death of a pool process, as embedded ``gradsweep serve`` does:
both run their chunks through ``workers.local.LocalExecutor``, so a killed process's chunks run
again in a new pool and every trial counts once; a chunk caught in ``MAX_CRASHES`` broken pools
ends as failed trials, not as an error. Ctrl-C still stops a run at once, and cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from harness import children, wait_until

from optimizers import run_sweep
from service.testing.procs import Process, command
from workers.local import MAX_CRASHES

# 40 trials in 20 chunks of 2 on 2 processes: about ten seconds, so a chunk is always running
SPEC = {"name": "a pool process is killed", "optimizer": "adam",
        "objective": {"name": "rastrigin", "dim": 100}, "init": {"distribution": "normal"},
        "grid": {"lr": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]}, "seeds": 5,
        "steps": 20_000, "record_every": 500}
DIED = f"the worker process died {MAX_CRASHES} times while this chunk ran"


def pool_processes(pid: int) -> list[int]:
    """The pool's worker processes under ``gradsweep run`` (the forkserver's children)."""
    for child in children(pid):
        with contextlib.suppress(OSError):  # gone meanwhile
            if b"forkserver" in Path(f"/proc/{child}/cmdline").read_bytes():
                return children(child)
    return []


def start_run(tmp_path: Path) -> tuple[Process, Path]:
    """``gradsweep run --jobs 2`` of SPEC in its own session (temporary files under
    ``tmp_path/tmp``); the process and where its document goes."""
    spec_file, out, tmp = tmp_path / "spec.json", tmp_path / "results.json", tmp_path / "tmp"
    spec_file.write_text(json.dumps(SPEC))
    tmp.mkdir()
    run = Process(command(["gradsweep", "run", str(spec_file), "-o", str(out), "--jobs", "2",
                           "--chunk-size", "2", "--quiet"]),
                  dict(os.environ, TMPDIR=str(tmp)), tmp_path / "run.log")
    return run, out


def new_pool(run: Process, seen: set[int]) -> list[int]:
    """Wait for a pool of two processes none of which is in ``seen``, give them a second to
    be inside a chunk, and return them (added to ``seen``)."""
    def fresh() -> list[int]:
        pids = pool_processes(run.popen.pid)
        return pids if len(pids) == 2 and not seen & set(pids) else []
    pids: list[int] = wait_until(fresh, 60, "a new pool of two processes", run)
    seen.update(pids)
    time.sleep(1.0)
    assert run.popen.poll() is None, "the sweep ended before a process could be killed"
    return pids


def finished(run: Process, out: Path) -> tuple[dict[str, Any], str]:
    """Wait for the run to exit 0; its document and its output."""
    try:
        code = run.popen.wait(timeout=180)
    finally:
        run.stop()
    log = run.output()
    assert code == 0, log
    assert list((out.parent / "tmp").glob("gradsweep-run-*")) == []  # the private store: gone
    return json.loads(out.read_text(), parse_constant=pytest.fail), log


def test_a_pool_process_killed_under_gradsweep_run_loses_nothing(tmp_path: Path) -> None:
    run, out = start_run(tmp_path)
    try:
        os.kill(new_pool(run, set())[0], signal.SIGKILL)
    finally:
        results, log = finished(run, out)
    assert "a local worker process died; starting a new pool" in log
    assert results["status"] == "succeeded"
    assert [t["index"] for t in results["trials"]] == list(range(40))  # each trial once
    assert results == run_sweep(SPEC)  # the chunks that ran again give the same numbers


def test_chunks_caught_in_max_crashes_broken_pools_end_as_failed_trials(tmp_path: Path) -> None:
    """Each kill breaks the pool, and every chunk not yet saved counts a crash: after
    ``MAX_CRASHES`` kills in a row, the chunks that waited through all of them are saved as
    failed trials, and the run still ends (exit 0) with one document of every trial."""
    run, out = start_run(tmp_path)
    seen: set[int] = set()
    try:
        for _ in range(MAX_CRASHES):
            os.kill(new_pool(run, seen)[0], signal.SIGKILL)
    finally:
        results, log = finished(run, out)
    assert log.count("a local worker process died; starting a new pool") >= MAX_CRASHES
    assert results["status"] == "succeeded"
    assert [t["index"] for t in results["trials"]] == list(range(40))  # each trial once
    failed = [t for t in results["trials"] if t["status"] == "failed"]
    assert failed, "no chunk was caught in every broken pool"
    assert {t["error"] for t in failed} == {DIED}
    reference = run_sweep(SPEC)["trials"]
    assert all(t == reference[t["index"]] for t in results["trials"] if t["status"] != "failed")
    assert f"{len(failed)} failed" in log  # the summary's tally


def test_ctrl_c_stops_gradsweep_run_at_once_and_cleanly(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) cancels the sweep:
    the pool processes ignore it and stop at their next cancel poll, the run exits 130 within
    seconds with no document, no traceback and no private store left behind."""
    run, out = start_run(tmp_path)
    try:
        new_pool(run, set())
        os.killpg(run.popen.pid, signal.SIGINT)
        started = time.monotonic()
        code = run.popen.wait(timeout=60)
        seconds = time.monotonic() - started
    finally:
        run.stop()
    log = run.output()
    assert code == 130, log
    assert seconds < 10, log  # not the rest of the sweep
    assert not out.exists()
    assert "Traceback" not in log and "failed outside the engine" not in log, log
    assert list((tmp_path / "tmp").glob("gradsweep-run-*")) == []
