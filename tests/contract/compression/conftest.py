"""Fixtures for the compression contract tests: a small real MNIST subset and backends built from specs."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from greenbench.backends.base import Hooks, TrainData, framework_installed, get_backend
from greenbench.workloads import initial_weights, make_epoch_order

from compression_support import N_TEST, N_TRAIN, make_spec


def _idx(path: Path, offset: int) -> np.ndarray:
    return np.frombuffer(gzip.decompress(path.read_bytes()), np.uint8, offset=offset)


@pytest.fixture(scope="session")
def mnist_data(mnist_dir: Path) -> TrainData:
    """The first 2,000 training and 1,000 test images of the real MNIST (float32 in [0, 1])."""
    x_train = _idx(mnist_dir / "train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:N_TRAIN]
    y_train = _idx(mnist_dir / "train-labels-idx1-ubyte.gz", 8)[:N_TRAIN].astype(np.int64)
    x_test = _idx(mnist_dir / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:N_TEST]
    y_test = _idx(mnist_dir / "t10k-labels-idx1-ubyte.gz", 8)[:N_TEST].astype(np.int64)
    x_train = x_train.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    return TrainData(
        x_train=x_train, y_train=y_train, x_val=x_train[:0], y_val=y_train[:0],
        x_test=x_test, y_test=y_test, epoch_order=make_epoch_order(0, len(x_train)),
    )


@pytest.fixture
def built() -> Callable[..., Any]:
    """``built(backend, model, train_on=None, **training)`` → a backend with its model built (and trained)."""

    def make(backend: str, model: str, train_on: TrainData | None = None, small: bool = True, **training: Any) -> Any:
        if not framework_installed(backend):
            pytest.skip(f"{backend} is not installed")
        spec = make_spec(backend, model, small=small, **training)
        be = get_backend(backend)
        be.setup(spec)
        be.build(spec, initial_weights(spec))
        if train_on is not None:
            be.train(train_on, Hooks())
        return be

    return make
