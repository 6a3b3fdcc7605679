"""Uploaded datasets: kept in the job store, so every API replica and every worker reads them.

``DatasetCatalog`` is what the API's ``/v1/datasets`` routes call: upload (parse a CSV or NPZ
body, refuse hostile data naming the row or column, store it under the sha256 of its canonical
form — the same data, the same id), list, get and delete (refused while a queued or running sweep
uses the dataset). ``StoreDatasets`` is the spec's dataset source on the service's side: it
resolves ``{"id": …}`` from the store (each dataset loaded once per process, bounded in bytes)
and refuses ``{"path": …}``, which only ``gradsweep run`` reads (``FileDatasets``), so the service
never opens a file a request names.
"""

from __future__ import annotations

import builtins
import hashlib
import time
from pathlib import Path
from typing import Literal

import orjson
from typing_extensions import TypedDict

from optimizers.datasets import (
    Dataset,
    DatasetError,
    DatasetInfo,
    Task,
    canonical_bytes,
    from_canonical,
    parse_csv,
    parse_npz,
)
from optimizers.models import LocalDataset, UploadedDataset

from .store import ByteBoundedCache, JobStore

#: Bytes of loaded datasets a process keeps (they are content-addressed: never stale).
LOADED_BYTES = 512 * 2**20
_LOADED: ByteBoundedCache[str, Dataset] = ByteBoundedCache(LOADED_BYTES)


class DatasetMeta(TypedDict):
    """What ``POST /v1/datasets`` answers and ``GET /v1/datasets`` lists."""

    id: str
    rows: int
    features: int
    task: Literal["classification", "regression"]
    classes: int
    bytes: int
    created_at: float


class DatasetNotFound(LookupError):
    """No dataset has this id."""

    def __init__(self, dataset_id: str) -> None:
        super().__init__(f"no dataset {dataset_id}")


class DatasetInUse(Exception):
    """The dataset cannot be deleted: a queued or running sweep uses it."""

    def __init__(self, dataset_id: str, sweep_id: str) -> None:
        super().__init__(f"dataset {dataset_id} is used by sweep {sweep_id}, which is still "
                         "running; cancel it or wait for it to finish")


def local_alias(ref: LocalDataset) -> str:
    """The id under which ``gradsweep run`` stores a local file's data in its private store."""
    return hashlib.sha256(b"local:" + orjson.dumps(ref.model_dump())).hexdigest()


def _meta(data: Dataset, dataset_id: str, now: float) -> DatasetMeta:
    return {"id": dataset_id, "rows": data.X.shape[0], "features": data.X.shape[1],
            "task": data.task, "classes": data.classes, "bytes": len(canonical_bytes(data)),
            "created_at": now}


def _info(meta: bytes) -> DatasetInfo:
    parsed = orjson.loads(meta)
    return DatasetInfo(parsed["rows"], parsed["features"], parsed["classes"], parsed["task"])


class StoreDatasets:
    """The spec's dataset source on the service's side (``optimizers.models.DatasetSource``):
    uploads from the store; local files only under ``gradsweep run``'s alias, never by path."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def _id(self, ref: UploadedDataset | LocalDataset) -> str:
        return ref.id if isinstance(ref, UploadedDataset) else local_alias(ref)

    def info(self, ref: UploadedDataset | LocalDataset) -> DatasetInfo:
        meta = self.store.dataset_meta(self._id(ref))
        if meta is not None:
            return _info(meta)
        if isinstance(ref, LocalDataset):
            raise DatasetError("a local file (path) is for gradsweep run only; upload it with "
                               "POST /v1/datasets and give {\"id\": …}")
        raise DatasetError(f"no dataset {ref.id}; upload it with POST /v1/datasets (GET "
                           "/v1/datasets lists them)")

    def load(self, ref: UploadedDataset | LocalDataset) -> Dataset:
        dataset_id = self._id(ref)
        data = _LOADED.get(dataset_id)
        if data is None:
            blob = self.store.dataset_data(dataset_id)
            if blob is None:
                raise DatasetError(f"no dataset {dataset_id}: it was deleted")
            data = from_canonical(blob)
            _LOADED.put(dataset_id, data, len(blob))
        return data


class FileDatasets:
    """``gradsweep run``'s dataset source: ``{"path", "target"}`` read from this machine's files
    (a .npz archive, else CSV), each once; uploads need the service."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base or Path.cwd()
        self._loaded: dict[LocalDataset, Dataset] = {}

    def info(self, ref: UploadedDataset | LocalDataset) -> DatasetInfo:
        return self.load(ref).info

    def load(self, ref: UploadedDataset | LocalDataset) -> Dataset:
        if isinstance(ref, UploadedDataset):
            raise DatasetError("an uploaded dataset ({\"id\"}) lives in the service's store: "
                               "submit this sweep to the service, or give {\"path\", "
                               "\"target\"} of a local file")
        if ref not in self._loaded:
            path = self.base / ref.path
            try:
                body = path.read_bytes()
            except OSError as exc:
                raise DatasetError(f"cannot read {ref.path}: {exc.strerror}") from None
            if path.suffix.lower() == ".npz":
                self._loaded[ref] = parse_npz(body, ref.task)
            elif ref.target is None:
                raise DatasetError(f"{ref.path}: give the CSV's target column as \"target\"")
            else:
                self._loaded[ref] = parse_csv(body, ref.target, ref.task)
        return self._loaded[ref]


class DatasetCatalog:
    """Upload, list, get and delete the datasets of a store (``/v1/datasets``)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def upload(self, body: bytes, target: str | None, task: Task | None,
               now: float | None = None) -> tuple[DatasetMeta, bool]:
        """Parse and store an upload (an NPZ archive by its magic number, else CSV with
        ``target``); its description and whether it is new. ``DatasetError`` names what is
        wrong; nothing is stored then."""
        if body[:4] == b"PK\x03\x04":
            data = parse_npz(body, task)
        elif target is None:
            raise DatasetError("a CSV upload needs ?target=<column> (the column to predict)")
        else:
            data = parse_csv(body, target, task)
        return self.put(data, data.id, time.time() if now is None else now)

    def put(self, data: Dataset, dataset_id: str, now: float) -> tuple[DatasetMeta, bool]:
        """Store ``data`` under ``dataset_id``; its description and whether it is new."""
        meta = _meta(data, dataset_id, now)
        created = self.store.put_dataset(dataset_id, orjson.dumps(meta), canonical_bytes(data),
                                         now)
        if not created:
            return self.get(dataset_id), False
        return meta, True

    def list(self) -> builtins.list[DatasetMeta]:
        """Every dataset, oldest first."""
        return [orjson.loads(meta) for meta in self.store.datasets()]

    def get(self, dataset_id: str) -> DatasetMeta:
        """One dataset's description; ``DatasetNotFound`` if there is none."""
        meta = self.store.dataset_meta(dataset_id)
        if meta is None:
            raise DatasetNotFound(dataset_id)
        parsed: DatasetMeta = orjson.loads(meta)
        return parsed

    def delete(self, dataset_id: str) -> DatasetMeta:
        """Delete a dataset no queued or running sweep uses; its description.

        Raises:
          DatasetNotFound: no such dataset.
          DatasetInUse: a queued or running sweep's objective names it.
        """
        meta = self.get(dataset_id)
        for record in self.store.unfinished():
            objective = record.spec.get("objective")
            dataset = objective.get("dataset") if isinstance(objective, dict) else None
            if isinstance(dataset, dict) and dataset.get("id") == dataset_id:
                raise DatasetInUse(dataset_id, record.id)
        self.store.delete_dataset(dataset_id)
        return meta


__all__ = ["DatasetCatalog", "DatasetInUse", "DatasetMeta", "DatasetNotFound", "FileDatasets",
           "StoreDatasets", "local_alias"]
