"""The ``backend`` and ``store`` fixtures of the store tests: each test runs on both stores."""

from store_backends import backend, store  # noqa: F401 — fixtures for this directory
