"""IDX and npz parsing on tiny generated files; the float conversion."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from greenbench.data import encode_idx, parse_idx, read_npz, to_float
from greenbench.data.idx import decompress
from greenbench.errors import DataError, UserError


def _read(path: Path) -> np.ndarray:
    return parse_idx(decompress(path.read_bytes(), path), path)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_images_and_labels_round_trip(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    for name, arr in (("imgs-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
        data = encode_idx(arr)
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data) if compress else data)
        got = _read(path)
        assert got.dtype == np.uint8 and got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)
        assert not got.flags.writeable


def test_header_layout_matches_the_idx_spec() -> None:
    data = encode_idx(np.zeros((2, 28, 28), dtype=np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert data[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    assert len(data) == 16 + 2 * 28 * 28


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint8)
    raw_named_gz = tmp_path / "labels-idx1-ubyte.gz"
    raw_named_gz.write_bytes(encode_idx(arr))
    np.testing.assert_array_equal(_read(raw_named_gz), arr)


def test_big_endian_types_are_converted_to_native() -> None:
    arr = np.array([[1, -2], [70000, 3]], dtype=np.int32)
    got = parse_idx(encode_idx(arr))
    assert got.dtype == np.dtype(np.int32) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def test_bad_magic_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: not an IDX file: bad magic number 0x504b0304"):
        _read(path)


def test_wrong_size_names_the_file_and_sizes(tmp_path: Path) -> None:
    data = encode_idx(np.zeros((3, 28, 28), dtype=np.uint8))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data[:-5]))
    with pytest.raises(DataError) as info:
        _read(path)
    msg = str(info.value)
    assert str(path) in msg and "size mismatch" in msg and "(3, 28, 28)" in msg
    assert f"{len(data)} bytes" in msg and f"{len(data) - 5} bytes" in msg
    assert isinstance(info.value, UserError)


def test_truncated_header_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="truncated IDX header"):
        parse_idx(b"\x00\x00\x08\x03\x00\x00\x00\x02", "x")
    with pytest.raises(DataError, match="only 0 bytes"):
        parse_idx(b"", "x")


def test_corrupt_gzip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(np.arange(100, dtype=np.uint8)))[:30])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: corrupt gzip file"):
        _read(path)


def test_npz_reads_arrays(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.ones((2, 28, 28), np.uint8), y_train=np.array([1, 2], np.uint8))
    got = read_npz(path, ("x_train", "y_train"))
    assert got["x_train"].shape == (2, 28, 28) and got["y_train"].tolist() == [1, 2]


def test_npz_with_pickled_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = {"a": 1}, [1, 2]
    np.savez(path, x_train=objects, y_train=np.array([1, 2], np.uint8))
    with pytest.raises(DataError, match=r"evil.npz: array 'x_train' is a pickled object array.*allow_pickle=False"):
        read_npz(path, ("x_train", "y_train"))


def test_npz_missing_key_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.ones(3, np.uint8))
    with pytest.raises(DataError, match=r"partial.npz: npz lacks array\(s\) y_train; it has x_train"):
        read_npz(path, ("x_train", "y_train"))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(DataError, match=r"junk.npz: not a readable npz archive"):
        read_npz(junk, ("x_train",))


def test_to_float_scales_uint8_to_unit_interval() -> None:
    x = np.array([[0, 1, 127, 255]], dtype=np.uint8)
    y = to_float(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert y[0, 0] == 0.0 and y[0, 3] == 1.0
    np.testing.assert_array_equal(y, x.astype(np.float32) / np.float32(255))
    ro = np.zeros((2, 28, 28), np.uint8)
    ro.flags.writeable = False
    assert to_float(ro).flags.writeable  # a fresh array, even from read-only input
    with pytest.raises(TypeError, match="uint8"):
        to_float(y)
