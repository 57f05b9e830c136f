"""MNIST / Fashion-MNIST: find, download, verify, parse, cache, subset. numpy only.

Public API::

    load_dataset(name="mnist", data_dir=None, *, train_samples=None, test_samples=None,
                 validation_samples=0, seed=0, download=True, progress=True) -> Dataset
    fetch(name="mnist", data_dir=None, *, progress=True) -> Path
    verify(name="mnist", data_dir=None) -> list[VerifyRow]      # VerifyRow(file, status, expected, actual); .message
    to_float(x_uint8) -> float32 array in [0, 1]

Importing this package never imports torch or TensorFlow.
"""

from __future__ import annotations

from greenbench.data.cache import ENV_CACHE_DIR, ArrayCache, cache_root, dataset_cache_dir
from greenbench.data.dataset import ENV_DATA_DIR, Dataset, VerifyRow, fetch, load_dataset, to_float, verify
from greenbench.data.idx import encode_idx, parse_idx, read_npz
from greenbench.data.sources import DATASETS, FASHION_MNIST, MNIST, DatasetSpec, FileSpec
from greenbench.data.subset import class_quotas, stratified_indices, subset_indices, validation_split

__all__ = [
    "Dataset",
    "VerifyRow",
    "load_dataset",
    "fetch",
    "verify",
    "to_float",
    "DATASETS",
    "MNIST",
    "FASHION_MNIST",
    "DatasetSpec",
    "FileSpec",
    "ENV_DATA_DIR",
    "ENV_CACHE_DIR",
    "cache_root",
    "dataset_cache_dir",
    "ArrayCache",
    "parse_idx",
    "encode_idx",
    "read_npz",
    "class_quotas",
    "stratified_indices",
    "subset_indices",
    "validation_split",
]
