"""load_dataset / verify: containers, checksums, messages, lookup order, the parsed-array cache."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import greenbench.data.dataset as dataset_mod
from greenbench.data import DATASETS, load_dataset, verify
from greenbench.errors import ChecksumError, DataError, UserError


def _equal(ds: Any, tiny: Any) -> None:
    np.testing.assert_array_equal(ds.x_train, tiny.arrays["train_images"])
    np.testing.assert_array_equal(ds.y_train, tiny.arrays["train_labels"])
    np.testing.assert_array_equal(ds.x_test, tiny.arrays["test_images"])
    np.testing.assert_array_equal(ds.y_test, tiny.arrays["test_labels"])


# --------------------------------------------------------------------------- containers
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_loads_idx_directory(tmp_path: Path, tiny: Any, compress: bool) -> None:
    d = tiny.write(tmp_path / "data", compress=compress)
    ds = load_dataset(tiny.name, d, download=False)
    _equal(ds, tiny)
    assert ds.name == tiny.name and ds.source == str(d)
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape == (200, 28, 28)
    assert ds.y_train.dtype == np.int64 and ds.y_train.shape == (200,)
    assert ds.x_val.shape == (0, 28, 28) and ds.y_val.shape == (0,)
    assert ds.classes == [str(i) for i in range(10)] and ds.num_classes == 10
    assert ds.checksums["train_images"] == tiny.spec.file("train_images").payload_sha256
    for arr in (ds.x_train, ds.y_train, ds.x_val, ds.y_val, ds.x_test, ds.y_test):
        assert not arr.flags.writeable  # one backend cannot alter the other's data
    with pytest.raises(FrozenInstanceError):
        ds.name = "other"  # type: ignore[misc]


def test_loads_npz_verified_per_array(tmp_path: Path, tiny: Any) -> None:
    tiny.write_npz(tmp_path / "npz")
    ds = load_dataset(tiny.name, tmp_path / "npz", download=False)
    _equal(ds, tiny)
    rows = verify(tiny.name, tmp_path / "npz")
    assert [r.status for r in rows] == ["ok"] * 4
    assert rows[0].file.endswith("tiny.npz:x_train")


def test_npz_with_a_published_file_hash_is_accepted(tmp_path: Path, make_tiny: Callable[..., Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = make_tiny()
    path = tiny.write_npz(tmp_path / "npz")
    # The table says other payloads, but the whole-file hash is the published one (Keras' mnist.npz case).
    spec = replace(tiny.spec, files=tuple(replace(f, payload_sha256="0" * 64) for f in tiny.spec.files),
                   npz_sha256=frozenset({hashlib.sha256(path.read_bytes()).hexdigest()}))
    monkeypatch.setitem(DATASETS, tiny.name, spec)
    _equal(load_dataset(tiny.name, path.parent, download=False), tiny)


def test_npz_with_object_array_is_refused_by_the_loader(tmp_path: Path, tiny: Any) -> None:
    d = tmp_path / "npz"
    d.mkdir()
    objects = np.empty(3, dtype=object)
    np.savez(d / "tiny.npz", x_train=objects, y_train=np.zeros(3, np.uint8), x_test=objects,
             y_test=np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="pickled object array"):
        load_dataset(tiny.name, d, download=False)


def test_real_spec_accepts_dotted_names(tmp_path: Path, tiny: Any) -> None:
    d = tmp_path / "dotted"
    d.mkdir()
    for f in tiny.spec.files:
        (d / f.stem.replace("-idx", ".idx")).write_bytes(tiny.payload(f.role))
    _equal(load_dataset(tiny.name, d, download=False), tiny)


# --------------------------------------------------------------------------- errors
def test_checksum_mismatch_names_file_and_both_hashes(tmp_path: Path, tiny: Any) -> None:
    d = tiny.write(tmp_path / "data")
    bad = bytearray(tiny.payload("test_images"))
    bad[-1] ^= 0xFF
    target = d / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(gzip.compress(bytes(bad)))
    expected = tiny.spec.file("test_images").payload_sha256
    actual = hashlib.sha256(bytes(bad)).hexdigest()
    with pytest.raises(ChecksumError) as info:
        load_dataset(tiny.name, d, download=False)
    msg = str(info.value)
    assert str(target) in msg and expected in msg and actual in msg
    assert isinstance(info.value, UserError) and info.value.exit_code == 2
    rows = {Path(r.file).name: r for r in verify(tiny.name, d)}
    assert rows["t10k-images-idx3-ubyte.gz"] == (str(target), "mismatch", expected, actual)
    assert rows["train-images-idx3-ubyte.gz"].status == "ok"


def test_npz_mismatch_names_file_and_hashes(tmp_path: Path, tiny: Any) -> None:
    d = tmp_path / "npz"
    d.mkdir()
    y = tiny.arrays["train_labels"].copy()
    y[0] = (y[0] + 1) % 10
    np.savez(d / "tiny.npz", x_train=tiny.arrays["train_images"], y_train=y,
             x_test=tiny.arrays["test_images"], y_test=tiny.arrays["test_labels"])
    with pytest.raises(ChecksumError) as info:
        load_dataset(tiny.name, d, download=False)
    msg = str(info.value)
    file_sha = hashlib.sha256((d / "tiny.npz").read_bytes()).hexdigest()
    assert str(d / "tiny.npz") in msg and "'y_train'" in msg and file_sha in msg
    assert tiny.spec.file("train_labels").payload_sha256 in msg


def test_malformed_idx_in_a_directory_names_the_file(tmp_path: Path, tiny: Any) -> None:
    d = tiny.write(tmp_path / "data")
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09abc"))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: IDX size mismatch"):
        load_dataset(tiny.name, d, download=False)
    row = {Path(r.file).name: r for r in verify(tiny.name, d)}["train-labels-idx1-ubyte.gz"]
    assert row.status == "malformed" and row.actual is None


def test_offline_missing_message_names_files_places_and_remedies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated: Path, no_system_fashion: None
) -> None:
    monkeypatch.setenv("GREENBENCH_DATA_DIR", str(tmp_path / "env-empty"))
    (tmp_path / "env-empty").mkdir()
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", tmp_path / "nowhere", download=False)
    msg = str(info.value)
    assert "\n" not in msg  # one message, one line
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in msg
    assert msg.startswith("Fashion-MNIST data not found")
    assert f"--data-dir / data.dir {tmp_path / 'nowhere'} (does not exist)" in msg
    assert f"$GREENBENCH_DATA_DIR {tmp_path / 'env-empty'} (no Fashion-MNIST files)" in msg
    cache_dir = _isolated / "datasets" / "fashion-mnist"
    assert f"the cache {cache_dir}" in msg
    assert "download: disabled" in msg
    for remedy in ("--data-dir DIR", "data.dir", "GREENBENCH_DATA_DIR=DIR",
                   "`greenbench data fetch --dataset fashion-mnist`", f"cache directory {cache_dir}"):
        assert remedy in msg
    assert info.value.exit_code == 2
    with pytest.raises(DataError, match="Fashion-MNIST data not found"):
        verify("fashion-mnist")


def test_partial_copy_is_reported(tmp_path: Path, tiny: Any) -> None:
    d = tiny.write(tmp_path / "data")
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        load_dataset(tiny.name, d, download=False)
    assert f"{d} (has only train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz)" \
        in str(info.value)


def test_offline_with_unreachable_mirror_gives_the_missing_message(make_tiny: Callable[..., Any]) -> None:
    tiny = make_tiny(mirrors=("http://127.0.0.1:9/",))  # discard port: nothing listens
    with pytest.raises(DataError) as info:
        load_dataset(tiny.name, progress=False)
    msg = str(info.value)
    assert "data not found" in msg and "download: failed: http://127.0.0.1:9/train-images-idx3-ubyte.gz" in msg
    assert "greenbench data fetch" in msg


def test_unknown_dataset_and_bad_arguments(tiny: Any, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'cifar'; known: mnist, fashion-mnist"):
        load_dataset("cifar", download=False)
    d = tiny.write(tmp_path / "d")
    with pytest.raises(DataError, match=r"train_samples=1.5: must be an integer"):
        load_dataset(tiny.name, d, train_samples=1.5, download=False)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- lookup order
def test_lookup_order_explicit_then_env_then_cache_then_system(
    tmp_path: Path, make_tiny: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    system = tmp_path / "usr-share"
    tiny = make_tiny(system_dirs=(str(system),))
    explicit, env = tiny.write(tmp_path / "explicit"), tiny.write(tmp_path / "env")
    cache = tiny.write(_isolated / "datasets" / tiny.name)
    tiny.write(system)
    monkeypatch.setenv("GREENBENCH_DATA_DIR", str(env))
    assert load_dataset(tiny.name, explicit, download=False).source == str(explicit)
    assert load_dataset(tiny.name, None, download=False).source == str(env)
    # An explicit directory without the files is passed over, like any other place.
    assert load_dataset(tiny.name, tmp_path / "missing", download=False).source == str(env)
    monkeypatch.delenv("GREENBENCH_DATA_DIR")
    assert load_dataset(tiny.name, download=False).source == str(cache)
    for f in cache.iterdir():
        f.unlink()
    assert load_dataset(tiny.name, download=False).source == str(system)


def test_subdirectory_named_after_the_dataset_comes_first(tmp_path: Path, tiny: Any) -> None:
    root = tiny.write(tmp_path / "datasets")
    sub = tiny.write(root / tiny.name, compress=False)
    assert load_dataset(tiny.name, root, download=False).source == str(sub)


def test_a_copy_of_another_dataset_is_passed_over(
    tmp_path: Path, make_tiny: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    digits = make_tiny("digits", seed=1)
    clothes = make_tiny("clothes", seed=2)
    env = digits.write(tmp_path / "env")  # e.g. GREENBENCH_DATA_DIR pointing at the MNIST folder
    monkeypatch.setenv("GREENBENCH_DATA_DIR", str(env))
    with pytest.raises(DataError) as info:
        load_dataset("clothes", download=False)
    assert f"$GREENBENCH_DATA_DIR {env} (holds DIGITS, not CLOTHES)" in str(info.value)
    cache = clothes.write(_isolated / "datasets" / "clothes")
    ds = load_dataset("clothes", download=False)
    assert ds.source == str(cache)
    _equal(ds, clothes)
    assert load_dataset("digits", download=False).source == str(env)


# --------------------------------------------------------------------------- parsed-array cache
def test_cache_hit_gives_identical_arrays_without_parsing(
    tmp_path: Path, tiny: Any, monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    d = tiny.write(tmp_path / "data")
    first = load_dataset(tiny.name, d, download=False)
    cached = sorted(p.name for p in (_isolated / "arrays").glob("*.npy"))
    assert cached == sorted(f"{f.payload_sha256}.npy" for f in tiny.spec.files)

    def no_parsing(*args: object) -> bytes:
        raise AssertionError("the second load must come from the cache")

    monkeypatch.setattr(dataset_mod, "decompress", no_parsing)
    second = load_dataset(tiny.name, d, download=False)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        a, b = getattr(first, field), getattr(second, field)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert not second.x_train.flags.writeable


def test_changed_source_is_never_served_stale(
    tmp_path: Path, make_tiny: Callable[..., Any]
) -> None:
    d = tmp_path / "data"
    old = make_tiny("tiny", seed=1)
    old.write(d)
    load_dataset("tiny", d, download=False)
    new = make_tiny("tiny", seed=2)  # same names, other content and checksums
    new.write(d)
    _equal(load_dataset("tiny", d, download=False), new)


def test_unreadable_cache_entries_fall_back_to_parsing(tmp_path: Path, tiny: Any, _isolated: Path) -> None:
    d = tiny.write(tmp_path / "data")
    load_dataset(tiny.name, d, download=False)
    for npy in (_isolated / "arrays").glob("*.npy"):
        npy.write_bytes(npy.read_bytes()[:20])
    for entry in (_isolated / "arrays" / "sources").glob("*.json"):
        entry.write_text("{not json")
    _equal(load_dataset(tiny.name, d, download=False), tiny)
    _equal(load_dataset(tiny.name, d, download=False), tiny)  # the cache was repaired


def test_verify_rehashes_even_with_a_warm_cache(tmp_path: Path, tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tiny.write(tmp_path / "data")
    load_dataset(tiny.name, d, download=False)
    calls = []
    real = dataset_mod.decompress
    monkeypatch.setattr(dataset_mod, "decompress", lambda raw, path: calls.append(path) or real(raw, path))
    rows = verify(tiny.name, d)
    assert len(calls) == 4 and all(r.status == "ok" and r.expected == r.actual for r in rows)
