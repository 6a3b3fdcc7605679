"""What the stores hand back is what the types say, on both stores: the trial records, their
score summaries, results.csv's rows and the results document with its id
(``workers.store.SweepDocument``, kept in step with ``service.models.SweepResultsDocument``)."""

from __future__ import annotations

from typing import Any, get_type_hints

import orjson
from pydantic import ConfigDict, TypeAdapter
from store_backends import Recorder, backend, store  # noqa: F401 — the fixtures: both stores

from optimizers import Limits, SweepStatus, parse_spec
from optimizers.records import ScoreSummary, TrialRecord, TrialRow
from service.models import SweepResultsDocument
from workers.jobs import csv_rows, execute_chunk, results_document, submit_sweep
from workers.store import JobStore, SweepDocument, SweepSummaryDocument

STRICT = ConfigDict(extra="forbid", strict=True)
SPEC = {"objective": "rastrigin", "optimizer": "adam", "grid": {"lr": [1e-3, 0.1, 1e6]},
        "seeds": 2, "steps": 30, "init": {"distribution": "normal"}}


def strict(kind: Any, value: Any) -> None:
    """Validate ``value`` against ``list[kind]``: no key missing, none extra, every type."""
    TypeAdapter(list[kind], config=STRICT).validate_python(value)


def test_the_document_with_its_id_has_the_api_models_fields() -> None:
    """The API's model is both documents: the whole one's keys and the summary one's."""
    assert set(get_type_hints(SweepDocument)) | set(get_type_hints(SweepSummaryDocument)) == set(
        SweepResultsDocument.model_fields)


def test_what_the_stores_return_is_the_typed_data(store: JobStore) -> None:  # noqa: F811
    spec = parse_spec(SPEC, Limits())
    record = submit_sweep(store, Recorder(), spec, chunk_work=120)  # two trials a chunk
    assert record.n_chunks == 3 and record.spec == spec.data()
    assert execute_chunk(store, record.id, 1) > 0
    running = store.get(record.id)
    assert running is not None and running.spec == spec.data()

    partial = orjson.loads(results_document(store, running))  # assembled from chunk 1
    strict(SweepDocument, [partial])
    assert partial["status"] == "running" and 0 < len(partial["trials"]) < spec.n_trials
    for chunk in (2, 0):
        execute_chunk(store, record.id, chunk)
    done = store.get(record.id)
    assert done is not None and done.status == SweepStatus.SUCCEEDED

    records = store.records(record.id)
    strict(TrialRecord, records)
    assert {r["status"] for r in records} == {"ok", "diverged"}
    strict(TrialRecord, store.chunk_records(record.id, [0, 2]))
    strict(ScoreSummary, store.chunk_scores(record.id, [0, 1, 2]))
    rows = list(csv_rows(store, done))
    strict(TrialRow, rows)
    assert [r["index"] for r in rows] == list(range(spec.n_trials))

    document = orjson.loads(results_document(store, done))  # the stored one
    strict(SweepDocument, [document])
    assert document["id"] == record.id
    model = SweepResultsDocument.model_validate(document)
    assert model.model_dump(mode="json", exclude_unset=True) == document
