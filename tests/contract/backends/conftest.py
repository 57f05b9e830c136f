"""Fixtures for the backend contract tests: real frameworks, small real MNIST subsets.
Each test imports one framework (its mark says which) and runs in that framework's pytest
session (tests/framework_guard.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from backend_support import make_spec

from greenbench.backends.base import framework_installed, get_backend
from greenbench.workloads import initial_weights


@pytest.fixture
def build() -> Callable[..., Any]:
    """``build(backend, model, arch=None, weights=None, **spec_kwargs)`` → a backend with its model built."""

    def make(backend: str, model: str, arch: dict[str, Any] | None = None, weights: Any = None, **kw: Any) -> Any:
        if not framework_installed(backend):
            pytest.skip(f"{backend} is not installed")
        spec = make_spec(backend, model, arch, **kw)
        be = get_backend(backend)
        be.setup(spec)
        be.build(spec, initial_weights(spec) if weights is None else weights)
        return be

    return make


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> Any:
    """A stratified real-MNIST subset: 1,000 train (100 of them validation), 500 test."""
    from greenbench.data import load_dataset

    return load_dataset("mnist", mnist_dir, train_samples=1000, test_samples=500, validation_samples=100,
                        seed=0, download=False, progress=False)
