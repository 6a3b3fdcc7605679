"""Property-based tests of the API against its own OpenAPI document (schemathesis, in-process).

Schemathesis reads ``/openapi.json`` from the app over ASGI and runs the app's lifespan itself (the
embedded runtime: SQLite store, a local pool of one, small limits so that the sweeps it gets
accepted run in milliseconds). Every answer is checked: never a 5xx, a status code the document
lists, the documented content type, headers and body schema, and schema-breaking input refused
with a 4xx. Generation is derandomized: a run is reproducible.

- ``test_each_operation``: up to ``MAX_EXAMPLES`` requests per operation — the document's own
  examples, then generated ones, valid and (negative mode) schema-breaking — plus the unsupported
  methods of each path (405 with the right ``Allow``).
- ``TestWorkflow``: sequences that follow the links schemathesis infers between operations (POST a
  sweep, then GET it and its results by the id from the answer), so the 200 answers of the
  per-sweep operations are checked too, not only their 404s. DELETE is left out of the sequences:
  whether it answers 200 (cancelled) or 409 (already finished) depends on how fast the pool ran
  the sweep, and Hypothesis needs a sequence to replay the same way each time. Its 404/422/405
  answers are covered by ``test_each_operation``, its 200/409 by ``test_errors.py``. The list
  (``GET /v1/sweeps``) is left out for the same reason: it holds the earlier sequences' sweeps.

Not checked, on purpose: ``positive_data_acceptance`` (a schema-valid request must get a 2xx). The
document cannot say everything the spec's validation does — which grid keys an optimizer takes,
that ``init`` has ``dim`` numbers, the limits on steps × dim × trials, that ``limit`` is at most
``GRADSWEEP_PAGE_SIZE_MAX`` (a setting, not known when the document is built) — so most generated
sweeps are rightly refused with 422, a documented status (``status_code_conformance`` holds), and
ids that match the pattern are rightly unknown (404).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from service.app import create_app
from service.settings import ServiceSettings

MAX_EXAMPLES = 50
WORKFLOWS = 50

# Small limits: a sweep that passes validation runs in milliseconds (≤ 20 trials × 20 dims ×
# 500 steps, ≤ 1e5 in all); the README's example (the request body's first example) fits.
_DATA = Path(tempfile.mkdtemp(prefix="gradsweep-schemathesis-"))
atexit.register(shutil.rmtree, _DATA, True)
app = create_app(ServiceSettings(data_dir=_DATA, jobs=1, max_trials=20, max_steps=500,
                                 max_dim=20, max_work=1e5, page_size_max=50))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schema.config.generation.update(modes=["positive", "negative"])

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection,
          unsupported_method]
SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@schema.parametrize()
@SETTINGS
def test_each_operation(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


# The list (GET /v1/sweeps) is left out too: it holds every sweep of the earlier sequences, so
# a step drawn from it differs from one run to the next (Hypothesis then stops the test with
# FlakyStrategyDefinition: "data generation behaved differently between test cases").
_SEQUENCED = schema.exclude(method="DELETE").exclude(method="GET", path="/v1/sweeps")


class _Workflow(_SEQUENCED.as_state_machine()):  # type: ignore[misc]
    def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                          **kwargs: Any) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None,
                               recorder=getattr(self, "recorder", None))


TestWorkflow = _Workflow.TestCase
TestWorkflow.settings = settings(SETTINGS, max_examples=WORKFLOWS, stateful_step_count=6)
