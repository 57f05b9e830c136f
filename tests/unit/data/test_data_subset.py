"""Deterministic stratified subsets and validation splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from greenbench.data import class_quotas, load_dataset, stratified_indices, subset_indices, validation_split
from greenbench.data.subset import STREAM_TRAIN, rng_for
from greenbench.errors import DataError

LABELS = np.repeat(np.arange(10), [600, 100, 300, 50, 250, 400, 120, 80, 700, 400])  # 3000, unbalanced


def _ids(x: np.ndarray) -> np.ndarray:
    """The unique id the tiny fixture writes into the first two pixels of each image."""
    return x[:, 0, 0].astype(np.int64) * 256 + x[:, 0, 1]


@pytest.mark.parametrize("n", [1, 9, 10, 37, 500, 2999, 3000])
def test_quotas_are_exact_and_proportional(n: int) -> None:
    quotas = class_quotas(LABELS, n)
    assert sum(quotas.values()) == n
    counts = np.bincount(LABELS)
    for cls, q in quotas.items():
        exact = n * counts[cls] / len(LABELS)
        assert abs(q - exact) < 1, (cls, q, exact)
        assert q <= counts[cls]


def test_quota_ties_are_broken_deterministically() -> None:
    labels = np.repeat(np.arange(4), 5)  # four equal classes, 2 samples: remainders tie
    assert class_quotas(labels, 2) == {0: 1, 1: 1, 2: 0, 3: 0}


def test_stratified_indices_are_deterministic_and_seed_dependent() -> None:
    a = stratified_indices(LABELS, 300, rng_for(7, STREAM_TRAIN))
    b = stratified_indices(LABELS, 300, rng_for(7, STREAM_TRAIN))
    c = stratified_indices(LABELS, 300, rng_for(8, STREAM_TRAIN))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(a) == len(np.unique(a)) == 300 and np.all(np.diff(a) > 0) and a.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(LABELS[a], minlength=10), [60, 10, 30, 5, 25, 40, 12, 8, 70, 40])


def test_subset_of_everything_is_the_identity_and_bounds_are_checked() -> None:
    np.testing.assert_array_equal(subset_indices(LABELS, None, 0, 0, "train_samples"), np.arange(3000))
    np.testing.assert_array_equal(subset_indices(LABELS, 3000, 0, 0, "train_samples"), np.arange(3000))
    with pytest.raises(DataError, match=r"train_samples=3001: must be between 1 and 3000"):
        subset_indices(LABELS, 3001, 0, 0, "train_samples")
    with pytest.raises(DataError, match=r"test_samples=0: must be between 1 and 3000"):
        subset_indices(LABELS, 0, 0, 1, "test_samples")


def test_validation_split_is_disjoint_complete_and_stratified() -> None:
    train, val = validation_split(LABELS, 500, seed=3)
    assert len(val) == 500 and len(train) == 2500
    assert not set(train.tolist()) & set(val.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(3000))
    np.testing.assert_array_equal(np.bincount(LABELS[val], minlength=10), [100, 17, 50, 8, 42, 67, 20, 13, 117, 66])
    again = validation_split(LABELS, 500, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(validation_split(LABELS, 500, seed=4)[1], val)
    with pytest.raises(DataError, match=r"validation_samples=3000: must be between 0 and 2999"):
        validation_split(LABELS, 3000, seed=0)


def test_load_dataset_subsets_and_splits(tmp_path: Path, tiny: Any) -> None:
    d = tiny.write(tmp_path / "data")
    kw = dict(train_samples=100, test_samples=30, validation_samples=20, download=False)
    ds = load_dataset(tiny.name, d, seed=5, **kw)
    assert ds.sizes() == {"train": 80, "validation": 20, "test": 30}
    train_ids, val_ids, test_ids = _ids(ds.x_train), _ids(ds.x_val), _ids(ds.x_test)
    assert not set(train_ids) & set(val_ids)
    # Images keep their labels.
    full_y = tiny.arrays["train_labels"]
    np.testing.assert_array_equal(ds.y_train, full_y[train_ids])
    np.testing.assert_array_equal(ds.y_val, full_y[val_ids])
    np.testing.assert_array_equal(ds.y_test, tiny.arrays["test_labels"][test_ids - 10_000])
    # Class proportions of the training subset (train + val) follow the full set.
    assert len(np.unique(full_y)) == 10
    sub_counts = np.bincount(np.concatenate([ds.y_train, ds.y_val]), minlength=10)
    np.testing.assert_array_equal(sub_counts, list(class_quotas(full_y, 100).values()))
    subset_y = np.concatenate([ds.y_train, ds.y_val])
    val_quotas = class_quotas(subset_y, 20)
    np.testing.assert_array_equal(np.bincount(ds.y_val, minlength=10), [val_quotas.get(c, 0) for c in range(10)])
    same = load_dataset(tiny.name, d, seed=5, **kw)
    np.testing.assert_array_equal(_ids(same.x_train), train_ids)
    np.testing.assert_array_equal(_ids(same.x_val), val_ids)
    np.testing.assert_array_equal(_ids(same.x_test), test_ids)
    other = load_dataset(tiny.name, d, seed=6, **kw)
    assert not np.array_equal(_ids(other.x_train), train_ids)


def test_validation_from_the_full_training_set(tmp_path: Path, tiny: Any) -> None:
    d = tiny.write(tmp_path / "data")
    ds = load_dataset(tiny.name, d, validation_samples=50, download=False)
    assert ds.sizes() == {"train": 150, "validation": 50, "test": 60}
    np.testing.assert_array_equal(np.sort(np.concatenate([_ids(ds.x_train), _ids(ds.x_val)])), np.arange(200))
    with pytest.raises(DataError, match="validation_samples=200"):
        load_dataset(tiny.name, d, validation_samples=200, download=False)
