"""Datasets for the model objectives: the built-in ones, uploads parsed from bytes, the split.

A :class:`Dataset` is a feature matrix ``X`` (n × p, float64) and a target ``y`` (n,): class
indices 0 … C−1 (int64) for classification, real numbers (float64) for regression.

Built-in datasets are scikit-learn's bundled copies (nothing is downloaded):

===============  ===========  ==========  ==============  ===================================
name             rows         features    target          preprocessing
===============  ===========  ==========  ==============  ===================================
digits           1,797        64          10 classes      X = pixels / 16
iris             150          4           3 classes       each feature standardised
breast_cancer    569          30          2 classes       each feature standardised
wine             178          13          3 classes       each feature standardised
diabetes         442          10          real            features and target standardised
===============  ===========  ==========  ==============  ===================================

Standardised means mean 0 and population standard deviation 1 over all the rows, in float64.
Uploaded data (CSV or NPZ, :func:`parse_csv`, :func:`parse_npz`) are used as given; their
class labels, whatever integers they are, become the indices of their sorted distinct values.

The validation split (:func:`split`) holds out the last ⌈f·n⌉ rows after one permutation drawn
from ``numpy.random.default_rng(0)``: the same split for every trial and every sweep.

Everything here is pure: parsing takes bytes (reading a file is the caller's job).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import zipfile
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np
import numpy.typing as npt

Task = Literal["classification", "regression"]
FloatArray = npt.NDArray[np.float64]

#: Built-in dataset name → (rows, features, classes, task): what validation needs to know without
#: loading anything (``tests/optimizers/test_datasets.py`` checks it against the loaded data).
BUILTIN_SHAPES: dict[str, tuple[int, int, int, Task]] = {
    "digits": (1797, 64, 10, "classification"),
    "iris": (150, 4, 3, "classification"),
    "breast_cancer": (569, 30, 2, "classification"),
    "wine": (178, 13, 3, "classification"),
    "diabetes": (442, 10, 0, "regression"),
}
BUILTIN_NAMES: tuple[str, ...] = tuple(BUILTIN_SHAPES)
MAX_CLASSES = 1000  # an integer target with more distinct values than this is not a class label


class DatasetError(ValueError):
    """Data that cannot be a dataset; the message names the row or the column."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a sweep spec needs to know of a dataset: its shape and task."""

    rows: int
    features: int
    classes: int  # 0 for a regression target
    task: Task


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features ``X`` (n × p float64, C-contiguous) and target ``y`` (n,)."""

    X: FloatArray
    y: npt.NDArray[np.float64] | npt.NDArray[np.int64]
    task: Task
    classes: int = 0  # C for classification: y holds 0 … C−1
    _id: list[str] = field(default_factory=list, repr=False)

    @property
    def info(self) -> DatasetInfo:
        """Rows, features, classes and task."""
        return DatasetInfo(self.X.shape[0], self.X.shape[1], self.classes, self.task)

    @property
    def id(self) -> str:
        """The sha256 of the canonical data (``canonical_bytes``): the same data, the same id."""
        if not self._id:
            self._id.append(hashlib.sha256(canonical_bytes(self)).hexdigest())
        return self._id[0]


def canonical_bytes(data: Dataset) -> bytes:
    """The data in one canonical form, whatever it was uploaded as: the task, the shape, then X
    and y as little-endian float64 / int64, row-major. Two uploads with the same numbers (CSV or
    NPZ, whatever the spelling of the numbers) hash the same."""
    header = f"gradsweep-dataset-v1 {data.task} {data.X.shape[0]} {data.X.shape[1]}\n".encode()
    y = data.y.astype("<i8" if data.task == "classification" else "<f8")
    return header + data.X.astype("<f8").tobytes() + y.tobytes()


def from_canonical(blob: bytes) -> Dataset:
    """``canonical_bytes`` read back: the dataset it was made from."""
    header, _, body = blob.partition(b"\n")
    magic, task, rows, features = header.decode().split(" ")
    if magic != "gradsweep-dataset-v1" or task not in ("classification", "regression"):
        raise DatasetError("not a stored dataset")
    n, p = int(rows), int(features)
    x = np.frombuffer(body, dtype="<f8", count=n * p).reshape(n, p).astype(np.float64)
    if task == "regression":
        return Dataset(np.ascontiguousarray(x), np.frombuffer(body, "<f8", n, 8 * n * p).copy(),
                       "regression")
    y = np.frombuffer(body, "<i8", n, 8 * n * p).astype(np.int64)
    return Dataset(np.ascontiguousarray(x), y, "classification", int(y.max()) + 1)


@cache
def builtin(name: str) -> Dataset:
    """A built-in dataset, preprocessed (cached: each is loaded once per process)."""
    if name not in BUILTIN_SHAPES:
        raise DatasetError(f"unknown dataset {name!r}; valid choices: {', '.join(BUILTIN_NAMES)}")
    # imported here: only dataset sweeps pay for it (scikit-learn ships no type information)
    from sklearn import datasets as sk  # type: ignore[import-untyped]

    loaders = {"digits": sk.load_digits, "iris": sk.load_iris,
               "breast_cancer": sk.load_breast_cancer, "wine": sk.load_wine}
    if name == "diabetes":
        raw = sk.load_diabetes(scaled=False)
        return Dataset(_standardise(raw.data), _standardise(raw.target[:, None])[:, 0],
                       "regression")
    raw = loaders[name]()
    x = np.asarray(raw.data, dtype=np.float64)
    x = x / 16.0 if name == "digits" else _standardise(x)
    y = np.asarray(raw.target, dtype=np.int64)
    return Dataset(np.ascontiguousarray(x), y, "classification", int(y.max()) + 1)


def _standardise(x: FloatArray) -> FloatArray:
    """Each column to mean 0 and population standard deviation 1 (a constant column to 0)."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std(axis=0)
    out: FloatArray = np.ascontiguousarray((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0))
    return out


def split(data: Dataset, validation: float) -> tuple[Dataset, Dataset | None]:
    """``(train, validation)``: the last ⌈validation·n⌉ rows, after a permutation drawn from
    ``default_rng(0)``, are held out (none when ``validation`` is 0)."""
    if validation == 0:
        return data, None
    n = data.X.shape[0]
    held = math.ceil(validation * n)
    order = np.random.default_rng(0).permutation(n)
    train, val = order[: n - held], order[n - held:]
    return (Dataset(np.ascontiguousarray(data.X[train]), data.y[train], data.task, data.classes),
            Dataset(np.ascontiguousarray(data.X[val]), data.y[val], data.task, data.classes))


def held_out(rows: int, validation: float) -> int:
    """How many of ``rows`` rows the split holds out: ⌈validation·rows⌉."""
    return math.ceil(validation * rows) if validation else 0


# -- uploads -----------------------------------------------------------------------------------


def from_arrays(x: npt.ArrayLike, y: npt.ArrayLike, task: Task | None = None) -> Dataset:
    """A dataset from arrays: ``x`` (n × p) and ``y`` (n,) must be finite numbers; ``task``
    defaults to classification when ``y`` holds integers only. Raises :class:`DatasetError`."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.dtype == object or y.dtype == object:
        raise DatasetError("X and y must be numeric arrays, not object arrays")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DatasetError(f"X must be numeric, not {x.dtype}")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise DatasetError(f"y must be numeric, not {y.dtype}")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise DatasetError(f"X must be a matrix (rows × features), not {x.ndim}-dimensional")
    if y.ndim != 1:
        raise DatasetError(f"y must be a vector (one target per row), not {y.ndim}-dimensional")
    if x.shape[0] != y.shape[0]:
        raise DatasetError(f"X has {x.shape[0]} rows but y has {y.shape[0]}")
    if x.shape[0] < 2:
        raise DatasetError(f"a dataset needs at least 2 rows, not {x.shape[0]}")
    if x.shape[1] < 1:
        raise DatasetError("X has no feature columns")
    xf = np.ascontiguousarray(x, dtype=np.float64)
    yf = y.astype(np.float64)
    bad = ~np.isfinite(xf)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise DatasetError(f"row {row}, column {col}: {xf[row, col]} is not a finite number")
    if not np.isfinite(yf).all():
        row = int(np.argmax(~np.isfinite(yf)))
        raise DatasetError(f"row {row}: target {yf[row]} is not a finite number")
    integral = bool(np.all(yf == np.round(yf)))
    if task is None:
        task = "classification" if integral and len(np.unique(yf)) <= MAX_CLASSES else "regression"
    if task == "regression":
        return Dataset(xf, yf, task)
    if not integral:
        row = int(np.argmax(yf != np.round(yf)))
        raise DatasetError(f"row {row}: target {yf[row]} is not an integer class label "
                           "(use task=regression for a real target)")
    labels, codes = np.unique(yf, return_inverse=True)
    if len(labels) < 2:
        raise DatasetError(f"the target has a single class ({labels[0]:g}); classification "
                           "needs at least 2")
    if len(labels) > MAX_CLASSES:
        raise DatasetError(f"the target has {len(labels)} classes, over {MAX_CLASSES}")
    return Dataset(xf, codes.astype(np.int64), task, len(labels))


def parse_csv(body: bytes, target: str, task: Task | None = None) -> Dataset:
    """A dataset from CSV text: a header row naming the columns, then numeric cells; the column
    ``target`` is y, the others X in their order. Raises :class:`DatasetError` naming the row
    (1 is the first data row) and the column of the first bad cell."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"the CSV is not UTF-8 text (byte {exc.start})") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or not any(cell.strip() for cell in header):
        raise DatasetError("the CSV is empty: it needs a header row and at least 2 data rows")
    names = [cell.strip() for cell in header]
    if target not in names:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise DatasetError(f"unknown target column {target!r}; the columns are: {shown}")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DatasetError(f"the header names column {dup!r} twice")
    width = len(names)
    values: list[list[float]] = []
    for number, row in enumerate(rows, start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank lines, e.g. a trailing newline
        if len(row) != width:
            raise DatasetError(f"row {number} has {len(row)} cells but the header has {width}")
        parsed = []
        for column, cell in zip(names, row, strict=True):
            try:
                value = float(cell)
            except ValueError:
                raise DatasetError(f"row {number}, column {column!r}: {cell.strip()[:40]!r} is "
                                   "not a number") from None
            if not math.isfinite(value):
                raise DatasetError(f"row {number}, column {column!r}: {cell.strip()!r} is not a "
                                   "finite number")
            parsed.append(value)
        values.append(parsed)
    if len(values) < 2:
        raise DatasetError(f"the CSV has {len(values)} data rows; a dataset needs at least 2")
    table = np.array(values, dtype=np.float64)
    t = names.index(target)
    return from_arrays(np.delete(table, t, axis=1), table[:, t], task)


def parse_npz(body: bytes, task: Task | None = None) -> Dataset:
    """A dataset from an ``.npz`` archive with arrays ``X`` and ``y``, loaded with
    ``allow_pickle=False`` (an object array is refused, never unpickled)."""
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise DatasetError(f"the NPZ has no array {missing[0]!r} (it has: "
                                   f"{', '.join(archive.files) or 'none'}); give X and y")
            x, y = archive["X"], archive["y"]
    except DatasetError:
        raise
    except ValueError as exc:  # numpy's refusal of an object array
        raise DatasetError(f"the NPZ holds an object array, which is refused ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"not a readable NPZ archive: {exc}") from None
    return from_arrays(x, y, task)


__all__ = ["BUILTIN_NAMES", "BUILTIN_SHAPES", "Dataset", "DatasetError", "DatasetInfo", "Task",
           "builtin", "canonical_bytes", "from_arrays", "from_canonical", "held_out", "parse_csv", "parse_npz",
           "split"]
