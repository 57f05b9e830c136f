"""Where greenbench keeps downloads and parsed arrays, and the parsed-array cache.

Layout under :func:`cache_root` (``$GREENBENCH_CACHE_DIR``, else the user cache directory,
``$XDG_CACHE_HOME/greenbench`` or ``~/.cache/greenbench`` on Linux)::

    datasets/<name>/train-images-idx3-ubyte.gz ...   downloads (one lookup location)
    arrays/<payload-sha256>.npy                      verified, parsed arrays
    arrays/sources/<source-sha256>.json              source file content -> payload SHA-256s
    machine/cpuinfo-<key>.json                       py-cpuinfo's answer (greenbench.measure.cpuinfo_cache)

The parsed arrays are keyed by the SHA-256 of their verified payload, and reached through the
SHA-256 of the *source file's bytes* (the ``.gz``, raw IDX or ``.npz`` as it lies on disk). A
changed source file therefore has another key and is parsed and verified again: the cache is
never served stale. Hashing the compressed source is cheap next to gunzip + hash + parse.
Every write is atomic (:func:`greenbench.fsutil.atomic_write`), so concurrent workers never see half a file.
The cache is an optimisation: a failure to read or write it is logged and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from greenbench.fsutil import atomic_write, atomic_write_bytes

ENV_CACHE_DIR = "GREENBENCH_CACHE_DIR"

log = logging.getLogger("greenbench.data")
_WARNED: set[Path] = set()  # cache directories already said to be unwritable (ArrayCache._cannot_write)


def cache_root() -> Path:
    """The greenbench cache directory: ``$GREENBENCH_CACHE_DIR`` or the user cache dir (XDG on Linux)."""
    value = os.environ.get(ENV_CACHE_DIR)
    if value:
        return Path(value).expanduser()
    import platformdirs  # honours XDG_CACHE_HOME on Linux

    return Path(platformdirs.user_cache_dir("greenbench", appauthor=False))


def dataset_cache_dir(name: str) -> Path:
    """Where downloads of dataset ``name`` go (and one of the lookup locations)."""
    return cache_root() / "datasets" / name


class ArrayCache:
    """Parsed, verified arrays keyed by payload SHA-256, reached by source-file SHA-256."""

    def __init__(self, root: Path | None = None) -> None:
        self.dir = (root if root is not None else cache_root()) / "arrays"

    def _array_path(self, payload_sha256: str) -> Path:
        return self.dir / f"{payload_sha256}.npy"

    def _source_path(self, source_sha256: str) -> Path:
        return self.dir / "sources" / f"{source_sha256}.json"

    def payloads(self, source_sha256: str) -> dict[str, str] | None:
        """Payload hashes recorded for a source file's content (``{part: sha256}``), or ``None``."""
        path = self._source_path(source_sha256)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            log.warning("ignoring malformed cache entry %s", path)
            return None
        return data

    def remember(self, source_sha256: str, payloads: dict[str, str]) -> None:
        """Record which payload hashes a source file's content holds."""
        text = json.dumps(payloads, sort_keys=True).encode()
        try:
            atomic_write_bytes(self._source_path(source_sha256), text)
        except OSError as exc:
            self._cannot_write(exc)

    def load(self, payload_sha256: str) -> np.ndarray | None:
        """The cached array of a verified payload, memory-mapped read-only (never unpickled), or ``None``.

        Memory-mapping shares the OS page cache between worker processes and copies nothing;
        pages are read on first access.
        """
        path = self._array_path(payload_sha256)
        try:
            arr = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            log.warning("ignoring unreadable cached array %s: %s", path, exc)
            return None
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8:
            log.warning("ignoring cached array %s of unexpected type", path)
            return None
        arr.flags.writeable = False
        return arr

    def save(self, payload_sha256: str, arr: np.ndarray) -> None:
        """Store a verified array under its payload hash (replacing any unreadable copy)."""
        path = self._array_path(payload_sha256)
        try:
            atomic_write(path, lambda tmp: _save_array(tmp, arr))
        except OSError as exc:
            self._cannot_write(exc)

    def _cannot_write(self, exc: OSError) -> None:
        """Say once per process and cache directory that it cannot be written (a command writes several entries:
        the same cause said eight times hides what else is printed); later failures go to the debug log."""
        if self.dir in _WARNED:
            log.debug("could not write the data cache in %s: %s", self.dir, exc)
            return
        _WARNED.add(self.dir)
        log.warning("could not write the data cache in %s: %s; going on without it (set %s to a writable "
                    "directory to keep parsed data between runs)", self.dir, exc, ENV_CACHE_DIR)


def _save_array(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a handle: given a name without ".npy", np.save would add one
        np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
