"""Driving gradsweep's own processes, for its integration tests and benchmarks.

Like ``numpy.testing``, this is the project's support for checking itself, not part of the
service: ``procs`` starts child processes in their own session (free ports, ``gradsweep``
commands, a whole process group stopped together, its CPU time), ``commands`` holds the commands
that start the long-running processes (the same the Dockerfile and docker-compose.yml run), and
``cluster`` starts an API with its workers on one set of settings and cleans up after them.
Nothing here imports pytest: ``tests/harness.py`` builds the tests' fixtures on it, and the
scripts under ``bench/`` import it directly.
"""
