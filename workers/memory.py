"""Giving a worker process's memory back after a chunk.

A chunk's records are many small Python objects (a float per curve point) and one large JSON
blob; once saved they are garbage, but CPython's and glibc's allocators keep much of the freed
memory mapped, so a process that once ran a large chunk would keep its peak size for good.
``release_memory`` runs after every chunk in both modes: a full garbage collection, then glibc's
``malloc_trim(0)``, which hands the free parts of the heap back to the system (a no-op where the
C library has no such function: musl, macOS).

Cluster mode also replaces a Celery pool process whose RSS is over
``GRADSWEEP_WORKER_MAX_MEMORY_MB`` after a task (``worker_max_memory_per_child``); the embedded
pool (``concurrent.futures``) cannot replace a process by memory, so there the trim is all, and a
process still over the limit after it is logged.
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Callable
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (looked up among the
    symbols the process has loaded: ``ctypes.util.find_library`` would run ``ldconfig``)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_memory() -> None:
    """Collect garbage and hand free heap memory back to the system (where glibc can)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def rss_bytes(pid: int | None = None) -> int | None:
    """The resident set size of process ``pid`` (this one by default), from /proc; None where
    there is no /proc."""
    try:
        with open(f"/proc/{pid or os.getpid()}/statm") as statm:
            resident = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident * os.sysconf("SC_PAGE_SIZE")


__all__ = ["release_memory", "rss_bytes"]
