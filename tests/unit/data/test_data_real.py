"""The real datasets: shared MNIST via GREENBENCH_DATA_DIR, Debian's Fashion-MNIST where installed."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from greenbench.data import DATASETS, FASHION_MNIST, load_dataset, verify
from greenbench.errors import DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _check_full(ds) -> None:  # type: ignore[no-untyped-def]
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.x_train.dtype == np.uint8
    assert set(np.unique(ds.y_train).tolist()) == set(range(10)) == set(np.unique(ds.y_test).tolist())


def test_real_mnist(mnist_dir: Path) -> None:
    ds = load_dataset("mnist", mnist_dir, download=False, progress=False)
    _check_full(ds)
    assert ds.source == str(mnist_dir)
    assert ds.classes == [str(i) for i in range(10)]
    # Well-known MNIST class counts of the training set.
    assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    sub = load_dataset("mnist", mnist_dir, train_samples=1000, test_samples=500, validation_samples=100,
                       download=False, progress=False)
    assert sub.sizes() == {"train": 900, "validation": 100, "test": 500}


def test_fashion_is_not_confused_with_mnist(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI points GREENBENCH_DATA_DIR at the MNIST folder: asking for Fashion-MNIST must pass it over.
    monkeypatch.setenv("GREENBENCH_DATA_DIR", str(mnist_dir))
    monkeypatch.setitem(DATASETS, "fashion-mnist", replace(FASHION_MNIST, system_dirs=()))
    with pytest.raises(DataError, match=rf"{mnist_dir} \(holds MNIST, not Fashion-MNIST\)"):
        load_dataset("fashion-mnist", download=False)


@pytest.mark.requires("fashion-mnist")  # CI promises it: there a skip fails (tests/capabilities.py)
@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist package is not installed")
def test_real_fashion_mnist_from_the_debian_package() -> None:
    ds = load_dataset("fashion-mnist", download=False, progress=False)
    _check_full(ds)
    assert ds.source == str(DEBIAN_FASHION)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert [r.status for r in verify("fashion-mnist")] == ["ok"] * 4


def test_importing_the_data_layer_imports_no_framework() -> None:
    code = ("import sys, greenbench.data; "
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
