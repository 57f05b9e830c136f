"""Fixtures for the data layer: isolated cache, no network, tiny generated MNIST-format datasets."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

import greenbench.data.download as download_mod
from greenbench.data import DATASETS, DatasetSpec, FileSpec, encode_idx
from greenbench.data.sources import FASHION_MNIST, MNIST, ROLES

LOCAL_HOSTS = {"127.0.0.1", "localhost", ""}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test: a private cache dir, no GREENBENCH_DATA_DIR, and no network beyond 127.0.0.1."""
    cache = tmp_path / "gb-cache"
    monkeypatch.setenv("GREENBENCH_CACHE_DIR", str(cache))
    monkeypatch.delenv("GREENBENCH_DATA_DIR", raising=False)
    real_urlopen = download_mod.urlopen

    def guarded(request, *args, **kwargs):  # type: ignore[no-untyped-def]
        url = request.full_url if hasattr(request, "full_url") else str(request)
        host = urllib.parse.urlsplit(url).hostname or ""
        if host not in LOCAL_HOSTS:
            raise AssertionError(f"test tried to reach the network: {url}")
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(download_mod, "urlopen", guarded)
    yield cache


def _images(n: int, rng: np.random.Generator, offset: int) -> np.ndarray:
    """Random images whose first two pixels encode a unique id (offset + i), for identity checks."""
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    ids = np.arange(offset, offset + n)
    x[:, 0, 0] = ids // 256
    x[:, 0, 1] = ids % 256
    return x


def image_ids(x: np.ndarray) -> np.ndarray:
    return x[:, 0, 0].astype(np.int64) * 256 + x[:, 0, 1]


@dataclass
class Tiny:
    """A tiny MNIST-format dataset registered in DATASETS under ``spec.name``."""

    spec: DatasetSpec
    arrays: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        return self.spec.name

    def payload(self, role: str) -> bytes:
        return encode_idx(self.arrays[role])

    def write(self, directory: Path, *, compress: bool = True) -> Path:
        """Write the four IDX files (gzip or raw) into ``directory``; returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        for f in self.spec.files:
            data = self.payload(f.role)
            if compress:
                (directory / f.filename).write_bytes(gzip.compress(data, mtime=0))
            else:
                (directory / f.stem).write_bytes(data)
        return directory

    def write_npz(self, directory: Path, name: str = "tiny.npz") -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        np.savez(path, x_train=self.arrays["train_images"], y_train=self.arrays["train_labels"],
                 x_test=self.arrays["test_images"], y_test=self.arrays["test_labels"])
        return path


@pytest.fixture
def make_tiny(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Tiny]:
    """``make_tiny(name="tiny", n_train=200, n_test=60, seed=0, **spec_overrides) -> Tiny``."""

    def make(name: str = "tiny", n_train: int = 200, n_test: int = 60, seed: int = 0, **overrides: object) -> Tiny:
        rng = np.random.default_rng(seed)
        # Unbalanced classes, so that proportional stratification is really tested.
        weights = np.array([3, 1, 2, 2, 1, 1, 2, 1, 3, 4], dtype=float)
        weights /= weights.sum()
        arrays = {
            "train_images": _images(n_train, rng, 0),
            "train_labels": rng.choice(10, size=n_train, p=weights).astype(np.uint8),
            "test_images": _images(n_test, rng, 10_000),
            "test_labels": rng.choice(10, size=n_test, p=weights).astype(np.uint8),
        }
        files = tuple(
            FileSpec(f.role, f.filename, hashlib.sha256(encode_idx(arrays[f.role])).hexdigest(),
                     len(encode_idx(arrays[f.role])))
            for f in MNIST.files
        )
        spec = DatasetSpec(name=name, title=name.upper(), classes=MNIST.classes, files=files, mirrors=(),
                           npz_names=("tiny.npz",))
        spec = replace(spec, **overrides)  # type: ignore[arg-type]
        monkeypatch.setitem(DATASETS, name, spec)
        assert set(arrays) == set(ROLES)
        return Tiny(spec, arrays)

    return make


@pytest.fixture
def tiny(make_tiny: Callable[..., Tiny]) -> Tiny:
    return make_tiny()


@pytest.fixture
def no_system_fashion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide Debian's Fashion-MNIST copy so lookups behave as on a bare machine."""
    monkeypatch.setitem(DATASETS, "fashion-mnist", replace(FASHION_MNIST, system_dirs=()))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving ``root`` (a tmp dir); yields ``(base_url, root)``."""
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **kw: _QuietHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
