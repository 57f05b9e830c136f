"""Finding, downloading, verifying and loading MNIST-format datasets (numpy only).

Lookup order, first complete copy wins:

1. the explicit directory (``--data-dir`` / the suite's ``data.dir``), then ``DIR/<name>``-first;
2. ``$GREENBENCH_DATA_DIR`` (likewise ``DIR/<name>`` first, then ``DIR``);
3. the user cache, ``<cache>/datasets/<name>`` (see :mod:`greenbench.data.cache`);
4. system locations (Fashion-MNIST: Debian's ``/usr/share/datasets/fashion-mnist``);
5. a download from the standard mirrors into the user cache (unless ``download=False``).

``greenbench data verify --data-dir DIR`` and ``data fetch --data-dir DIR`` look in ``DIR`` alone
(``DIR/<name>`` first, then ``DIR``): an explicitly given directory is the one verified, and the one a
fetch downloads missing files into (see :func:`verify`, :func:`fetch`).

A directory holds a copy when it has all four IDX files (each ``.gz`` or raw) or the dataset's
``.npz``. A copy is verified against the SHA-256 of the decompressed payload. A copy whose
files are recognisably *another* known dataset (MNIST files where Fashion-MNIST is asked for)
is passed over with a note, so ``GREENBENCH_DATA_DIR`` may point at either; any other
mismatch is an error naming the file and both hashes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from greenbench.data import download as _download
from greenbench.data.cache import ArrayCache, dataset_cache_dir
from greenbench.data.idx import decompress, encode_idx, parse_idx, read_npz
from greenbench.data.sources import DATASETS, NPZ_KEYS, ROLES, DatasetSpec, FileSpec, recognize
from greenbench.data.subset import STREAM_TEST, STREAM_TRAIN, subset_indices, validation_split
from greenbench.errors import ChecksumError, DataError

ENV_DATA_DIR = "GREENBENCH_DATA_DIR"
IMAGE_SHAPE = (28, 28)


# --------------------------------------------------------------------------- public types
@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded, verified dataset split into train / validation / test.

    Images are read-only ``uint8`` arrays of shape ``(N, 28, 28)``; labels are read-only
    ``int64`` arrays of shape ``(N,)``. Use :func:`to_float` to get float32 images in [0, 1].
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # the directory the files were read from, or "download"
    classes: list[str]
    checksums: dict[str, str] = field(default_factory=dict)  # role -> verified payload SHA-256

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


class _Row(NamedTuple):
    file: str
    status: str  # "ok" | "mismatch" | "malformed"
    expected: str
    actual: str | None


class VerifyRow(_Row):
    """One line of :func:`verify`: a file (or ``file.npz:array``), its status and the two hashes — a 4-tuple,
    as ever — and, as an attribute, ``message``: what is wrong with a file that is not ok and what to do (the
    words ``data fetch`` and ``run`` use, e.g. ``corrupt gzip file (…); delete it and provide or fetch it
    again``)."""

    message: str

    def __new__(cls, file: str, status: str, expected: str, actual: str | None, message: str = "") -> "VerifyRow":
        row = super().__new__(cls, file, status, expected, actual)
        row.message = message
        return row


def to_float(x: np.ndarray) -> np.ndarray:
    """``uint8`` images to ``float32`` in [0, 1] (``x / 255``): the one preprocessing both backends use."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8 images, got {x.dtype}")
    out = x.astype(np.float32)
    out /= 255
    return out


# --------------------------------------------------------------------------- lookup
@dataclass
class _Place:
    label: str  # how the message names it
    root: Path | None  # None: not configured
    dirs: list[Path]  # directories to look in, in order


@dataclass
class _Copy:
    """A complete set of files in one directory."""

    directory: Path
    kind: str  # "idx" | "npz"
    files: dict[str, Path]  # role -> path (idx) or {"npz": path}


@dataclass
class _Check:
    file: str
    role: str
    status: str  # ok | mismatch | malformed
    expected: str
    actual: str | None
    message: str = ""
    array: np.ndarray | None = None
    other: str | None = None  # another known dataset these bytes belong to


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def _given(data_dir: str | Path | None) -> Path | None:
    return Path(data_dir).expanduser() if data_dir not in (None, "") else None


def _places(spec: DatasetSpec, data_dir: str | Path | None, only_given: bool = False) -> list[_Place]:
    """Where to look, in order; with ``only_given`` and a ``data_dir``, that directory alone."""
    places = []
    explicit = _given(data_dir)
    places.append(_Place("--data-dir / data.dir", explicit,
                         [explicit / spec.name, explicit] if explicit is not None else []))
    if only_given and explicit is not None:
        return places
    env = os.environ.get(ENV_DATA_DIR)
    env_dir = Path(env).expanduser() if env else None
    places.append(_Place(f"${ENV_DATA_DIR}", env_dir, [env_dir / spec.name, env_dir] if env_dir is not None else []))
    cache = dataset_cache_dir(spec.name)
    places.append(_Place("the cache", cache, [cache]))
    for system in spec.system_dirs:
        places.append(_Place("the system copy", Path(system), [Path(system)]))
    return places


def _scan(directory: Path, spec: DatasetSpec) -> tuple[_Copy | None, list[str]]:
    """A complete copy in ``directory`` (or ``None``) and the names of the IDX files it has."""
    found: dict[str, Path] = {}
    for f in spec.files:
        for candidate in f.local_names():
            path = directory / candidate
            if path.is_file():
                found[f.role] = path
                break
    if len(found) == len(spec.files):
        return _Copy(directory, "idx", found), []
    for npz in spec.npz_names:
        if (directory / npz).is_file():
            return _Copy(directory, "npz", {"npz": directory / npz}), []
    return None, [p.name for p in found.values()]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------- verification
def _check_idx(path: Path, f: FileSpec, cache: ArrayCache, use_cache: bool) -> _Check:
    raw = _read(path)
    source_sha = _sha256(raw)
    if use_cache:
        known = cache.payloads(source_sha)
        if known is not None and "payload" in known:
            if known["payload"] == f.payload_sha256:
                arr = cache.load(f.payload_sha256)
                if arr is not None:
                    return _Check(str(path), f.role, "ok", f.payload_sha256, f.payload_sha256, array=arr)
            else:
                return _mismatch(path, f, known["payload"])
    try:
        payload = decompress(raw, path)
        arr = parse_idx(payload, path)
    except DataError as exc:
        return _Check(str(path), f.role, "malformed", f.payload_sha256, None, message=str(exc))
    actual = _sha256(payload)
    cache.remember(source_sha, {"payload": actual})
    if actual != f.payload_sha256:
        return _mismatch(path, f, actual)
    cache.save(actual, arr)
    return _Check(str(path), f.role, "ok", f.payload_sha256, actual, array=arr)


def _mismatch(path: Path | str, f: FileSpec, actual: str) -> _Check:
    other = recognize(actual)
    what = f"; these are the {DATASETS[other[0]].title} {other[1].replace('_', ' ')}" if other else ""
    return _Check(
        str(path), f.role, "mismatch", f.payload_sha256, actual, other=other[0] if other else None,
        message=(
            f"{path}: checksum mismatch: SHA-256 of the decompressed IDX payload is {actual}, "
            f"expected {f.payload_sha256} ({f.stem}){what}. The file is corrupt or not this dataset: "
            f"delete or replace it"
        ),
    )


def _as_uint8(arr: np.ndarray) -> np.ndarray | None:
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.integer) and (arr.size == 0 or (arr.min() >= 0 and arr.max() <= 255)):
        return arr.astype(np.uint8)
    return None


def _check_npz(path: Path, spec: DatasetSpec, cache: ArrayCache, use_cache: bool) -> list[_Check]:
    raw = _read(path)
    source_sha = _sha256(raw)
    if use_cache:
        known = cache.payloads(source_sha)
        if known is not None and set(known) == set(ROLES):
            arrays = {role: cache.load(sha) for role, sha in known.items()}
            if all(a is not None for a in arrays.values()):
                return [_Check(f"{path}:{NPZ_KEYS[r]}", r, "ok", known[r], known[r], array=arrays[r]) for r in ROLES]
    keys = tuple(NPZ_KEYS[r] for r in ROLES)
    try:
        loaded = read_npz(path, keys)
    except DataError as exc:
        return [_Check(str(path), "npz", "malformed", "", None, message=str(exc))]
    file_known = source_sha in spec.npz_sha256
    checks = []
    for role in ROLES:
        f, key = spec.file(role), NPZ_KEYS[role]
        arr = _as_uint8(loaded[key])
        name = f"{path}:{key}"
        if arr is None:
            checks.append(_Check(name, role, "malformed", f.payload_sha256, None,
                                 message=f"{name}: dtype {loaded[key].dtype} where uint8 (0..255) is expected"))
            continue
        actual = _sha256(encode_idx(arr))
        if actual == f.payload_sha256 or file_known:
            arr.flags.writeable = False
            checks.append(_Check(name, role, "ok", f.payload_sha256, actual, array=arr))
        else:
            check = _mismatch(name, f, actual)
            npz_expected = ", ".join(sorted(spec.npz_sha256)) or "none published"
            check.message = (
                f"{path}: checksum mismatch: the npz file's SHA-256 is {source_sha}, expected {npz_expected}; "
                f"and array {key!r} (as IDX payload) has SHA-256 {actual}, expected {f.payload_sha256}. "
                f"The file is corrupt or not this dataset: delete or replace it"
            )
            checks.append(check)
    if all(c.status == "ok" for c in checks):
        for c in checks:
            assert c.array is not None and c.actual is not None
            cache.save(c.actual, c.array)
        cache.remember(source_sha, {c.role: c.actual for c in checks if c.actual})
    return checks


def _check_copy(copy: _Copy, spec: DatasetSpec, cache: ArrayCache, use_cache: bool) -> list[_Check]:
    if copy.kind == "npz":
        return _check_npz(copy.files["npz"], spec, cache, use_cache)
    return [_check_idx(copy.files[f.role], f, cache, use_cache) for f in spec.files]


def _foreign(checks: list[_Check], spec: DatasetSpec) -> str | None:
    """The other dataset a copy wholly belongs to, or ``None``."""
    others = {c.other for c in checks}
    if len(others) == 1 and all(c.status == "mismatch" for c in checks):
        other = others.pop()
        if other is not None and other != spec.name:
            return other
    return None


def _raise_for(checks: list[_Check]) -> None:
    for c in checks:
        if c.status == "malformed":
            raise DataError(c.message)
    for c in checks:
        if c.status == "mismatch":
            raise ChecksumError(c.message)


# --------------------------------------------------------------------------- acquisition
def _missing_message(spec: DatasetSpec, notes: list[str], download_note: str, *, given: Path | None = None,
                     missing: list[str] | None = None) -> str:
    """The missing-data message; ``given``: the one directory looked in (an explicit ``--data-dir`` of
    ``data verify`` / ``data fetch``), ``missing``: the files it lacks (default: all of them)."""
    names = ", ".join(missing or [f.filename for f in spec.files])
    npz = f" (each .gz or uncompressed; or {' / '.join(spec.npz_names)})" if spec.npz_names else " (each .gz or uncompressed)"
    cache = dataset_cache_dir(spec.name)
    if given is not None:
        return (
            f"{spec.title} data not found: missing {names}{npz}. "
            f"Looked in {'; '.join(notes)} only, as given; download: {download_note}. "
            f"Put the files in {given}, or run `greenbench data fetch --dataset {spec.name} --data-dir {given}` "
            f"(on a machine with internet access) to download them into it, or leave out --data-dir to use "
            f"${ENV_DATA_DIR} or the cache directory {cache}"
        )
    return (
        f"{spec.title} data not found: missing {names}{npz}. "
        f"Looked in {'; '.join(notes)}; download: {download_note}. "
        f"Provide the files with --data-dir DIR (or the suite's data.dir), or set {ENV_DATA_DIR}=DIR, "
        f"or run `greenbench data fetch --dataset {spec.name}` on a machine with internet access, "
        f"or copy them into the cache directory {cache}"
    )


def _given_holdings(spec: DatasetSpec, root: Path) -> tuple[Path, list[str]]:
    """In an explicitly given directory: the folder that holds (or is to hold) the copy — ``root/<name>``
    when it has files of the dataset, else ``root`` — and the files it lacks."""
    for directory in (root / spec.name, root):  # a whole copy (of another dataset: _find passed it over)
        if directory.is_dir() and _scan(directory, spec)[0] is not None:
            return directory, []
    best, have = root, []
    for directory in (root / spec.name, root):
        if directory.is_dir():
            _, found = _scan(directory, spec)
            if len(found) > len(have):
                best, have = directory, found
    missing = [f.filename for f in spec.files if not set(f.local_names()) & set(have)]
    return best, missing


def _find(spec: DatasetSpec, data_dir: str | Path | None, cache: ArrayCache, use_cache: bool,
          only_given: bool = False) -> tuple[_Copy | None, list[_Check], list[str]]:
    """The first verified (or wrongly checksummed) copy in lookup order, its checks, and notes
    (``only_given``: in ``data_dir`` alone when it is given)."""
    notes = []
    for place in _places(spec, data_dir, only_given):
        if place.root is None:
            notes.append(f"{place.label} (not set)")
            continue
        if not place.root.exists():
            notes.append(f"{place.label} {place.root} (does not exist)")
            continue
        if not place.root.is_dir():
            notes.append(f"{place.label} {place.root} (not a directory)")
            continue
        partial: list[str] = []
        foreign: str | None = None
        for directory in place.dirs:
            if not directory.is_dir():
                continue
            copy, have = _scan(directory, spec)
            if copy is None:
                partial = partial or have
                continue
            checks = _check_copy(copy, spec, cache, use_cache)
            foreign = _foreign(checks, spec)
            if foreign is None:
                return copy, checks, notes
        if foreign is not None:
            notes.append(f"{place.label} {place.root} (holds {DATASETS[foreign].title}, not {spec.title})")
        elif partial:
            notes.append(f"{place.label} {place.root} (has only {', '.join(partial)})")
        else:
            notes.append(f"{place.label} {place.root} (no {spec.title} files)")
    return None, [], notes


def _download_missing(spec: DatasetSpec, cache: ArrayCache, progress: bool, notes: list[str],
                      target: Path | None = None, given: Path | None = None) -> _Copy:
    """Download the files ``target`` (default: the cache) lacks into it; ``given``: an explicit directory."""
    target = target if target is not None else dataset_cache_dir(spec.name)
    with _download.progress_bar(progress) as bar:
        for f in spec.files:
            if any((target / n).is_file() for n in f.local_names()):
                continue
            failures: list[str] = []  # network errors
            bad: list[str] = []  # downloads that failed verification
            dest = target / f.filename
            for mirror in spec.mirrors:
                try:
                    _download.download(mirror + f.filename, dest, progress=bar)
                except _download.DownloadError as exc:
                    failures.append(str(exc))
                    continue
                check = _check_idx(dest, f, cache, use_cache=False)
                if check.status == "ok":
                    break
                dest.unlink(missing_ok=True)  # never leave a bad download where a lookup would find it
                bad.append(f"from {mirror}{f.filename}: {check.message}")
            else:
                if bad:
                    raise ChecksumError("download failed verification: " + "; ".join(bad))
                raise DataError(_missing_message(spec, notes, "failed: " + "; ".join(failures), given=given,
                                                 missing=_given_holdings(spec, given)[1] if given else None))
    copy, _ = _scan(target, spec)
    if copy is None:  # pragma: no cover - every file was just written
        raise DataError(_missing_message(spec, notes, f"files vanished from {target}", given=given))
    return copy


def _acquire(spec: DatasetSpec, data_dir: str | Path | None, *, download: bool, progress: bool
             ) -> tuple[str, Path, list[_Check]]:
    """``(source, directory, checks)`` of a verified copy, downloading it when allowed."""
    cache = ArrayCache()
    copy, checks, notes = _find(spec, data_dir, cache, use_cache=True)
    if copy is not None:
        _raise_for(checks)
        return str(copy.directory), copy.directory, checks
    if not download:
        raise DataError(_missing_message(spec, notes, "disabled"))
    if not spec.mirrors:
        raise DataError(_missing_message(spec, notes, "no mirror known"))
    copy = _download_missing(spec, cache, progress, notes)
    checks = _check_copy(copy, spec, cache, use_cache=True)
    _raise_for(checks)
    return "download", copy.directory, checks


# --------------------------------------------------------------------------- public API
def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def load_dataset(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    *,
    train_samples: int | None = None,
    test_samples: int | None = None,
    validation_samples: int = 0,
    seed: int = 0,
    download: bool = True,
    progress: bool = True,
) -> Dataset:
    """Find (or download), verify and load dataset ``name``, with optional stratified subsets.

    ``train_samples`` / ``test_samples`` take a stratified subset (class proportions kept,
    exact total) from ``seed``; ``validation_samples`` are then held out of the (subset)
    training set, stratified, from the same seed. Same arguments -> same arrays.
    Raises :class:`~greenbench.errors.DataError` (missing / malformed data, bad sizes) or
    :class:`~greenbench.errors.ChecksumError`.
    """
    spec = _spec(name)
    for what, value in (("train_samples", train_samples), ("test_samples", test_samples),
                        ("validation_samples", validation_samples), ("seed", seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise DataError(f"{what}={value!r}: must be an integer")
    source, _, checks = _acquire(spec, data_dir, download=download, progress=progress)
    arrays = {c.role: c.array for c in checks}
    where = {c.role: c.file for c in checks}
    for role in ROLES:
        arr = arrays[role]
        assert arr is not None
        want = 3 if role.endswith("images") else 1
        if arr.ndim != want or (want == 3 and arr.shape[1:] != IMAGE_SHAPE):
            raise DataError(f"{where[role]}: shape {arr.shape}, expected (N, 28, 28) images" if want == 3
                            else f"{where[role]}: shape {arr.shape}, expected (N,) labels")
    for split in ("train", "test"):
        xi, yi = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        assert xi is not None and yi is not None
        if len(xi) != len(yi):
            raise DataError(f"{where[f'{split}_images']}: {len(xi)} images but {len(yi)} labels")
        if len(yi) and int(yi.max()) >= len(spec.classes):
            raise DataError(f"{where[f'{split}_labels']}: label {int(yi.max())} outside 0..{len(spec.classes) - 1}")

    x_train, y_train = arrays["train_images"], arrays["train_labels"].astype(np.int64)  # type: ignore[union-attr]
    x_test, y_test = arrays["test_images"], arrays["test_labels"].astype(np.int64)  # type: ignore[union-attr]
    assert x_train is not None and x_test is not None

    def take(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(idx) == len(y):  # everything, in order: no copy
            return x, y
        return x[idx], y[idx]

    x_train, y_train = take(x_train, y_train, subset_indices(y_train, train_samples, seed, STREAM_TRAIN, "train_samples"))
    x_test, y_test = take(x_test, y_test, subset_indices(y_test, test_samples, seed, STREAM_TEST, "test_samples"))
    train_idx, val_idx = validation_split(y_train, validation_samples, seed)
    x_val, y_val = x_train[val_idx], y_train[val_idx]
    x_train, y_train = take(x_train, y_train, train_idx)
    return Dataset(
        name=spec.name,
        x_train=_readonly(x_train), y_train=_readonly(y_train),
        x_val=_readonly(x_val), y_val=_readonly(y_val),
        x_test=_readonly(x_test), y_test=_readonly(y_test),
        source=source,
        classes=list(spec.classes),
        checksums={c.role: c.actual for c in checks if c.actual},
    )


def fetch(name: str = "mnist", data_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    """Make dataset ``name`` available offline and verified; returns the directory holding it.

    Without ``data_dir``, looks where :func:`load_dataset` looks and downloads into the cache when no
    copy is found. With ``data_dir``, that directory alone: the files it lacks are downloaded into it
    (into ``data_dir/<name>`` when that folder holds some of them). Verifies every file and warms the
    parsed-array cache (so later loads are fast).
    """
    spec = _spec(name)
    given = _given(data_dir)
    if given is None:
        _, directory, _ = _acquire(spec, data_dir, download=True, progress=progress)
        return directory
    cache = ArrayCache()
    copy, checks, notes = _find(spec, given, cache, use_cache=True, only_given=True)
    if copy is None:
        target, missing = _given_holdings(spec, given)
        if not missing:  # a whole copy that _find passed over: another dataset's files
            raise DataError(f"--data-dir {given}: not {spec.title} files (looked in {notes[-1]}); give {spec.title} "
                            "a directory of its own (the datasets' files have the same names)")
        if not spec.mirrors:
            raise DataError(_missing_message(spec, notes, "no mirror known", given=given, missing=missing))
        copy = _download_missing(spec, cache, progress, notes, target=target, given=given)
        checks = _check_copy(copy, spec, cache, use_cache=True)
    _raise_for(checks)
    return copy.directory


def verify(name: str = "mnist", data_dir: str | Path | None = None) -> list[VerifyRow]:
    """Re-hash the copy in ``data_dir`` — that directory alone when it is given — or else the copy
    :func:`load_dataset` would use (no download, no cached shortcuts).

    Returns one :class:`VerifyRow` per file (``file.npz:array`` for an npz); raises
    :class:`~greenbench.errors.DataError` with the missing-data message, naming the files missing,
    when no copy is found.
    """
    spec = _spec(name)
    cache = ArrayCache()
    given = _given(data_dir)
    copy, checks, notes = _find(spec, data_dir, cache, use_cache=False, only_given=True)
    if copy is None and given is not None:
        _, missing = _given_holdings(spec, given)
        raise DataError(_missing_message(
            spec, notes, "not attempted by verify", given=given,
            missing=missing or None))
    if copy is None:
        raise DataError(_missing_message(spec, notes, "not attempted by verify (use `greenbench data fetch`)"))
    return [VerifyRow(c.file, c.status, c.expected, c.actual, c.message) for c in checks]
