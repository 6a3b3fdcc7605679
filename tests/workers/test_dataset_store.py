"""Uploaded datasets in both job stores: stored once by content, listed, read back exactly,
deleted (refused while a running sweep uses one), and resolved for a spec by the store source."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from store_backends import backend, store  # noqa: F401 — fixtures

from optimizers import parse_spec
from optimizers.datasets import DatasetError, parse_csv
from optimizers.models import LocalDataset, Model, UploadedDataset
from workers.datasets import (
    DatasetCatalog,
    DatasetInUse,
    DatasetNotFound,
    StoreDatasets,
    local_alias,
)
from workers.jobs import SweepRecord, submit_sweep
from workers.store import JobStore

CSV = b"a,b,label\n" + b"".join(b"%d,%d,%d\n" % (i, i * i % 7, i % 3) for i in range(60))


def test_an_upload_is_stored_once_read_back_exactly_and_deleted(store: JobStore) -> None:
    catalog = DatasetCatalog(store)
    meta, created = catalog.upload(CSV, "label", None, now=100.0)
    assert created and meta == {"id": parse_csv(CSV, "label").id, "rows": 60, "features": 2,
                                "task": "classification", "classes": 3,
                                "bytes": meta["bytes"], "created_at": 100.0}
    again, created = catalog.upload(CSV.replace(b"\n", b"\r\n"), "label", None, now=200.0)
    assert not created and again == meta  # the same numbers: the same id, kept as it was
    assert catalog.list() == [meta] and catalog.get(meta["id"]) == meta
    data = StoreDatasets(store).load(UploadedDataset(id=meta["id"]))
    expected = parse_csv(CSV, "label")
    np.testing.assert_array_equal(data.X, expected.X)
    np.testing.assert_array_equal(data.y, expected.y)
    assert catalog.delete(meta["id"]) == meta
    assert catalog.list() == []
    with pytest.raises(DatasetNotFound):
        catalog.get(meta["id"])
    with pytest.raises(DatasetNotFound):
        catalog.delete(meta["id"])


def test_a_hostile_upload_stores_nothing(store: JobStore) -> None:
    catalog = DatasetCatalog(store)
    for body, target in ((b"a,label\n1,0\nnan,1\n", "label"), (CSV, "nope"), (CSV, None),
                         (b"PK\x03\x04broken", None)):
        with pytest.raises(DatasetError):
            catalog.upload(body, target, None)
    assert catalog.list() == []


def spec_on(dataset_id: str) -> dict[str, object]:
    return {"objective": {"name": "softmax_regression", "dataset": {"id": dataset_id},
                          "validation": 0.2},
            "optimizer": "adam", "grid": {"lr": [0.01, 0.1]}, "steps": 20}


class NoExecutor:
    def submit(self, sweep_id: str, chunks: list[int]) -> None:
        pass


def test_a_spec_names_an_upload_by_id_and_a_running_sweep_keeps_it(store: JobStore) -> None:
    catalog = DatasetCatalog(store)
    meta, _ = catalog.upload(CSV, "label", None)
    spec = parse_spec(spec_on(meta["id"]), datasets=StoreDatasets(store))
    assert isinstance(spec.objective, Model) and spec.objective.dim == 3 * 3
    record: SweepRecord = submit_sweep(store, NoExecutor(), spec, chunk_work=1e9)
    with pytest.raises(DatasetInUse, match=f"used by sweep {record.id}"):
        catalog.delete(meta["id"])
    assert store.cancel(record.id, 0.0)
    catalog.delete(meta["id"])  # finished: it may go
    with pytest.raises(ValueError, match=f"no dataset {meta['id']}"):
        parse_spec(spec_on(meta["id"]), datasets=StoreDatasets(store))


def test_a_local_path_resolves_only_under_its_alias(store: JobStore) -> None:
    ref = LocalDataset(path="data.csv", target="label")
    spec = {**spec_on("0" * 64), "objective": {"name": "softmax_regression",
                                                "dataset": ref.model_dump()}}
    with pytest.raises(ValueError, match="a local file \\(path\\) is for gradsweep run only"):
        parse_spec(spec, datasets=StoreDatasets(store))
    DatasetCatalog(store).put(parse_csv(CSV, "label"), local_alias(ref), 0.0)
    parsed = parse_spec(spec, datasets=StoreDatasets(store))
    assert parsed.objective.dim == 9
    assert orjson.loads(orjson.dumps(parsed.data()))["objective"]["dataset"]["path"] == "data.csv"
