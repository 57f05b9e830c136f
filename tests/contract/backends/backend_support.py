"""Helpers shared by the backend contract tests (a uniquely named module, unlike ``conftest``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from greenbench.backends.base import TrainData, framework_installed
from greenbench.suite import expand, parse_suite
from greenbench.workloads import make_augment, make_epoch_order

BACKENDS = ("torch", "tensorflow")
MODELS = ("mlp", "cnn", "rnn", "transformer")


def both_backends() -> None:
    """Skip unless both frameworks are installed (cross-backend parity needs both)."""
    for name in BACKENDS:
        if not framework_installed(name):
            pytest.skip(f"{name} is not installed")


def make_spec(
    backend: str,
    model: str,
    arch: dict[str, Any] | None = None,
    *,
    optimizer: str = "adam",
    optimizers: dict[str, Any] | None = None,
    seed: int = 0,
    l1: float = 0.0,
    l2: float = 0.0,
    augmentation: str = "none",
    device: str = "cpu",
    loop: str | None = None,
    **training: Any,
) -> Any:
    """A resolved RunSpec for one run, through the real suite schema and matrix expansion (``loop``: the
    loop-style axis, left to its default when ``None``)."""
    suite: dict[str, Any] = {
        "name": "backend-contract",
        "matrix": {
            "backend": [backend], "model": [model], "optimizer": [optimizer], "seed": [seed],
            "l1": [l1], "l2": [l2], "augmentation": [augmentation], "device": [device],
        },
        "models": {model: arch or {}},
        "optimizers": optimizers or {},
        "training": {"threads": 2, "eval_batch_size": 256, **training},
    }
    if loop is not None:
        suite["matrix"]["loop"] = [loop]
    return expand(parse_suite(suite))[0]


def train_data(ds: Any, *, seed: int = 0, augmentation: str = "none", n_train: int | None = None) -> TrainData:
    """TrainData as the runner builds it (float32 in [0, 1], shared order and augmentation)."""
    from greenbench.data import to_float

    x_train, y_train = to_float(ds.x_train), np.asarray(ds.y_train, np.int64)
    if n_train is not None:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    return TrainData(
        x_train=x_train, y_train=y_train,
        x_val=to_float(ds.x_val), y_val=np.asarray(ds.y_val, np.int64),
        x_test=to_float(ds.x_test), y_test=np.asarray(ds.y_test, np.int64),
        epoch_order=make_epoch_order(seed, len(y_train)),
        augment=make_augment(augmentation, seed),
    )


def max_weight_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, str]:
    """Largest absolute difference over two canonical weight dicts, and where it is."""
    assert a.keys() == b.keys()
    worst = max(a, key=lambda k: float(np.max(np.abs(a[k] - b[k]))))
    return float(np.max(np.abs(a[worst] - b[worst]))), worst
