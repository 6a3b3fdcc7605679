"""What every test module shares: the test helpers on the import path, and the ``integration``
marker.

``tests/`` itself is on ``sys.path``, so a test imports the helpers by name (``from harness
import cluster``, ``from rawhttp import read_response``, ``from store_backends import
Backend``); the processes behind ``harness`` are ``service.testing``'s, which the benchmarks use
too. A test module that uses real processes or a real Redis — one that imports from ``harness``,
``store_backends`` or ``service.testing.cluster`` — is marked ``integration`` automatically, so ``pytest -m "not integration"`` runs the unit tests alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Helper modules whose use makes a test module an integration test.
INTEGRATION_HELPERS = {"harness", "store_backends", "service.testing.cluster"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: uses real processes, Redis or a browser "
                            "(deselect with -m 'not integration')")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and _uses_integration_helpers(module):
            item.add_marker(pytest.mark.integration)


def _uses_integration_helpers(module: object) -> bool:
    return any(getattr(value, "__module__", None) in INTEGRATION_HELPERS
               or getattr(value, "__name__", None) in INTEGRATION_HELPERS
               for value in vars(module).values())
