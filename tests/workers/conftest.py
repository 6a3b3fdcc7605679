"""The ``backend`` and ``store`` fixtures of the store tests: each test runs on both stores."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from store_backends import backend, store  # noqa: E402, F401 — fixtures for this directory
