"""The commands that start gradsweep's long-running processes.

The integration tests and the benchmarks start the real processes with these, and
tests/test_containers.py checks that the containers (Dockerfile ENTRYPOINT + compose command) run
exactly the same.
"""

from __future__ import annotations

SERVE = ["gradsweep", "serve"]
WORKER = ["gradsweep", "worker"]
