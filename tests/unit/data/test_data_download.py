"""Downloads from a real HTTP server on 127.0.0.1 (and file://) into a tmp cache, verified."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from greenbench.data import fetch, load_dataset, verify
from greenbench.data.download import DownloadError, download
from greenbench.errors import ChecksumError


def _serve(tiny: Any, root: Path, sub: str = "mirror") -> None:
    tiny.write(root / sub)


def test_download_into_the_cache_then_offline(
    http_server: tuple[str, Path], make_tiny: Callable[..., Any], _isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, root = http_server
    # The first mirror answers 404 for everything: the second one is used.
    tiny = make_tiny(mirrors=(base + "gone/", base + "mirror/"))
    _serve(tiny, root)
    ds = load_dataset(tiny.name, progress=True)
    assert ds.source == "download"
    np.testing.assert_array_equal(ds.x_train, tiny.arrays["train_images"])
    np.testing.assert_array_equal(ds.y_test, tiny.arrays["test_labels"])
    cache_dir = _isolated / "datasets" / tiny.name
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(f.filename for f in tiny.spec.files)
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar names the file
    # Offline now (the mirrors are gone): the cached copy is found and verified.
    offline = make_tiny(mirrors=("http://127.0.0.1:9/",))
    assert offline.spec.files == tiny.spec.files
    again = load_dataset(tiny.name, progress=False)
    assert again.source == str(cache_dir)
    assert [r.status for r in verify(tiny.name)] == ["ok"] * 4


def test_fetch_completes_a_partial_cache_and_returns_its_directory(
    http_server: tuple[str, Path], make_tiny: Callable[..., Any], _isolated: Path
) -> None:
    base, root = http_server
    tiny = make_tiny(mirrors=(base + "mirror/",))
    _serve(tiny, root)
    cache_dir = _isolated / "datasets" / tiny.name
    cache_dir.mkdir(parents=True)
    f = tiny.spec.file("train_labels")
    (cache_dir / f.stem).write_bytes(tiny.payload("train_labels"))  # already there, raw
    (root / "mirror" / f.filename).unlink()  # so it must not be downloaded again
    assert fetch(tiny.name, progress=False) == cache_dir
    assert (cache_dir / f.stem).exists() and not (cache_dir / f.filename).exists()
    # fetch warmed the parsed-array cache.
    assert len(list((_isolated / "arrays").glob("*.npy"))) == 4


def test_a_corrupt_download_is_rejected_and_not_kept(
    http_server: tuple[str, Path], make_tiny: Callable[..., Any], _isolated: Path
) -> None:
    base, root = http_server
    tiny = make_tiny(mirrors=(base + "mirror/",))
    _serve(tiny, root)
    bad = bytearray(tiny.payload("train_images"))
    bad[100] ^= 1
    (root / "mirror" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(bad)))
    with pytest.raises(ChecksumError) as info:
        load_dataset(tiny.name, progress=False)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and base + "mirror/" in msg
    assert tiny.spec.file("train_images").payload_sha256 in msg and hashlib.sha256(bytes(bad)).hexdigest() in msg
    assert not (_isolated / "datasets" / tiny.name / "train-images-idx3-ubyte.gz").exists()


def test_a_good_mirror_after_a_corrupt_one_wins(
    http_server: tuple[str, Path], make_tiny: Callable[..., Any]
) -> None:
    base, root = http_server
    tiny = make_tiny(mirrors=(base + "broken/", base + "mirror/"))
    _serve(tiny, root)
    _serve(tiny, root, "broken")
    (root / "broken" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip, not idx")
    ds = load_dataset(tiny.name, progress=False)
    np.testing.assert_array_equal(ds.y_test, tiny.arrays["test_labels"])


def test_file_url_mirror(tmp_path: Path, make_tiny: Callable[..., Any]) -> None:
    tiny = make_tiny()
    mirror = tiny.write(tmp_path / "file-mirror")
    make_tiny(mirrors=(mirror.as_uri() + "/",))
    assert load_dataset(tiny.name, progress=False).source == "download"


def test_download_errors_are_reported_and_leave_nothing(http_server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_server
    dest = tmp_path / "out" / "x.gz"
    with pytest.raises(DownloadError, match=r"x.gz: HTTP 404"):
        download(base + "x.gz", dest)
    with pytest.raises(DownloadError, match=r"127.0.0.1:9/x.gz: .*refused"):
        download("http://127.0.0.1:9/x.gz", dest)
    assert not dest.exists()
    assert not dest.parent.exists() or not list(dest.parent.iterdir())  # no temporary files left behind


def test_the_network_guard_blocks_real_mirrors(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="test tried to reach the network"):
        download("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz", tmp_path / "x")
