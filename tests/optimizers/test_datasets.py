"""Datasets: the built-in ones and their preprocessing, uploads parsed from CSV and NPZ bytes,
their content-addressed ids, and every hostile upload refused naming the row or column."""

from __future__ import annotations

import io

import numpy as np
import pytest

from optimizers.datasets import (
    BUILTIN_SHAPES,
    DatasetError,
    builtin,
    from_arrays,
    parse_csv,
    parse_npz,
)


@pytest.mark.parametrize("name", list(BUILTIN_SHAPES))
def test_builtin_datasets_have_their_documented_shape_and_preprocessing(name: str) -> None:
    data = builtin(name)
    rows, features, classes, task = BUILTIN_SHAPES[name]
    assert data.X.shape == (rows, features) and data.y.shape == (rows,)
    assert data.X.dtype == np.float64 and data.X.flags.c_contiguous
    assert (data.classes, data.task) == (classes, task)
    if name == "digits":
        assert data.X.min() == 0.0 and data.X.max() == 1.0  # pixels 0..16 / 16
    else:
        np.testing.assert_allclose(data.X.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(data.X.std(axis=0), 1.0, rtol=1e-12)
    if task == "classification":
        assert data.y.dtype == np.int64 and set(np.unique(data.y)) == set(range(classes))
    else:
        assert abs(data.y.mean()) < 1e-12 and abs(data.y.std() - 1.0) < 1e-12


def test_an_upload_parses_and_its_id_is_its_content() -> None:
    csv = b"a,b,label\n1,2,5\n3,4.5,7\n-1,0,5\n"
    data = parse_csv(csv, "label")
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4.5], [-1, 0]])
    np.testing.assert_array_equal(data.y, [0, 1, 0])  # labels 5, 7 → classes 0, 1
    assert (data.task, data.classes, data.info.rows, data.info.features) == (
        "classification", 2, 3, 2)
    same = parse_csv(b"a,b,label\r\n1.0,2.00,5\r\n3,4.5,7.0\r\n-1,0,5\r\n", "label")
    assert same.id == data.id and len(data.id) == 64
    buffer = io.BytesIO()
    np.savez(buffer, X=np.array([[1, 2], [3, 4.5], [-1, 0]]), y=np.array([0, 1, 0]))
    assert parse_npz(buffer.getvalue()).id == data.id  # the same numbers, whatever the format
    regression = parse_csv(csv, "label", task="regression")
    assert regression.task == "regression" and regression.id != data.id
    assert parse_csv(b"x,y\n1,0.5\n2,1.5\n", "y").task == "regression"  # a real target


def npz(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


HOSTILE_CSV = [
    (b"", "y", "the CSV is empty"),
    (b"a,y\n", "y", "the CSV has 0 data rows"),
    (b"a,y\n1,0\n", "y", "the CSV has 1 data rows"),
    (b"a,y\n1,0\n2,1\n", "label", "unknown target column 'label'; the columns are: a, y"),
    (b"a,y\n1,0\n2,1,3\n", "y", "row 2 has 3 cells but the header has 2"),
    (b"a,y\n1,0\n2\n", "y", "row 2 has 1 cells but the header has 2"),
    (b"a,y\n1,0\nnan,1\n", "y", "row 2, column 'a': 'nan' is not a finite number"),
    (b"a,y\n1,0\ninf,1\n", "y", "row 2, column 'a': 'inf' is not a finite number"),
    (b"a,y\n1,0\nbanana,1\n", "y", "row 2, column 'a': 'banana' is not a number"),
    (b"a,y\n1,0\n2,\n", "y", "row 2, column 'y': '' is not a number"),
    (b"a,y\n1,3\n2,3\n", "y", "the target has a single class (3)"),
    (b"a,a,y\n1,2,0\n2,3,1\n", "y", "the header names column 'a' twice"),
    (b"a,y\n1,0\n\xff\xfe,1\n", "y", "the CSV is not UTF-8 text"),
]


@pytest.mark.parametrize(("body", "target", "expected"), HOSTILE_CSV,
                         ids=[h[2][:30] for h in HOSTILE_CSV])
def test_a_hostile_csv_is_refused_naming_the_row_or_column(body: bytes, target: str,
                                                           expected: str) -> None:
    with pytest.raises(DatasetError, match=None) as info:
        parse_csv(body, target)
    assert expected in str(info.value)


HOSTILE_NPZ = [
    (npz(X=np.array([[1.0], [2.0]], dtype=object), y=np.array([0, 1])), "object array"),
    (npz(X=np.ones((3, 2))), "the NPZ has no array 'y'"),
    (npz(y=np.ones(3)), "the NPZ has no array 'X'"),
    (npz(X=np.ones((3, 2)), y=np.ones(4)), "X has 3 rows but y has 4"),
    (npz(X=np.array([[1.0, np.nan], [2, 3]]), y=np.array([0, 1])),
     "row 0, column 1: nan is not a finite number"),
    (npz(X=np.ones((2, 2)), y=np.array([0.0, np.inf])), "row 1: target inf is not a finite"),
    (npz(X=np.array([["a"], ["b"]]), y=np.array([0, 1])), "X must be numeric"),
    (npz(X=np.ones((2, 2, 2)), y=np.array([0, 1])), "X must be a matrix"),
    (npz(X=np.ones((1, 2)), y=np.array([0])), "at least 2 rows"),
    (b"PK\x03\x04 not really a zip", "not a readable NPZ archive"),
    (b"", "not a readable NPZ archive"),
]


@pytest.mark.parametrize(("body", "expected"), HOSTILE_NPZ, ids=[h[1][:30] for h in HOSTILE_NPZ])
def test_a_hostile_npz_is_refused_and_never_unpickled(body: bytes, expected: str) -> None:
    with pytest.raises(DatasetError) as info:
        parse_npz(body)
    assert expected in str(info.value)


def test_a_large_hostile_csv_is_refused_at_its_bad_cell() -> None:
    """A bad cell after 200,000 good rows is found in one pass and named."""
    rows = b"".join(b"%d,%d\n" % (i, i % 2) for i in range(200_000))
    with pytest.raises(DatasetError, match="row 200001, column 'a'"):
        parse_csv(b"a,y\n" + rows + b"x,1\n", "y")


def test_from_arrays_refuses_a_non_integer_class_label() -> None:
    with pytest.raises(DatasetError, match="row 1: target 0.5 is not an integer class label"):
        from_arrays(np.ones((2, 1)), np.array([0.0, 0.5]), task="classification")
