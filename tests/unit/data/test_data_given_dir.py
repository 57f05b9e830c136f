"""`data verify --data-dir DIR` and `data fetch --data-dir DIR` work on DIR alone: an explicitly given
directory that is empty or lacks files is never passed over for $GREENBENCH_DATA_DIR or the cache (which
said 'ok' for files elsewhere); verify names the files missing there, fetch downloads them into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from greenbench.data import fetch, load_dataset, verify
from greenbench.errors import DataError


@pytest.fixture
def elsewhere(tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A good copy in $GREENBENCH_DATA_DIR, where a fall-back would find it."""
    env = tiny.write(tmp_path / "env")
    monkeypatch.setenv("GREENBENCH_DATA_DIR", str(env))
    return env


def _partial(tiny: Any, directory: Path, roles: tuple[str, ...] = ("train_images", "train_labels")) -> Path:
    tiny.write(directory)
    for f in tiny.spec.files:
        if f.role not in roles:
            (directory / f.filename).unlink()
    return directory


def test_verify_an_empty_given_directory_names_every_file_missing_there(tiny: Any, elsewhere: Path,
                                                                        tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        verify(tiny.name, data_dir=empty)
    message = str(info.value)
    names = ", ".join(f.filename for f in tiny.spec.files)
    assert message.startswith(f"TINY data not found: missing {names} (each .gz or uncompressed; or tiny.npz). "
                              f"Looked in --data-dir / data.dir {empty} (no TINY files) only, as given; "
                              "download: not attempted by verify. "), message
    assert str(elsewhere) not in message
    assert [r.status for r in verify(tiny.name)] == ["ok"] * 4  # without --data-dir: $GREENBENCH_DATA_DIR, as before


def test_verify_a_given_directory_that_lacks_files_names_those_files(tiny: Any, elsewhere: Path,
                                                                     tmp_path: Path) -> None:
    part = _partial(tiny, tmp_path / "part")
    with pytest.raises(DataError) as info:
        verify(tiny.name, data_dir=part)
    message = str(info.value)
    assert message.startswith("TINY data not found: missing t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz "
                              "(each .gz or uncompressed; or tiny.npz). Looked in --data-dir / data.dir "
                              f"{part} (has only train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz) only"), message
    assert f"`greenbench data fetch --dataset tiny --data-dir {part}`" in message
    assert info.value.exit_code == 2  # as data verify exits for a file that does not match


def test_fetch_downloads_what_a_given_directory_lacks_into_it(
    http_server: tuple[str, Path], make_tiny: Callable[..., Any], elsewhere: Path, tmp_path: Path, _isolated: Path
) -> None:
    base, root = http_server
    tiny = make_tiny(mirrors=(base + "mirror/",))
    tiny.write(root / "mirror")
    part = _partial(tiny, tmp_path / "part")
    assert fetch(tiny.name, data_dir=part, progress=False) == part
    assert sorted(p.name for p in part.iterdir()) == sorted(f.filename for f in tiny.spec.files)
    assert [r.status for r in verify(tiny.name, data_dir=part)] == ["ok"] * 4
    assert not (_isolated / "datasets").exists()  # nothing went to the cache
    assert load_dataset(tiny.name, data_dir=part, progress=False).source in (str(part), str(part / tiny.name))


def test_fetch_offline_into_a_given_directory_is_the_missing_files_error(
    make_tiny: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    tiny = make_tiny(mirrors=("http://127.0.0.1:9/",))  # discard port: nothing listens
    monkeypatch.setenv("GREENBENCH_DATA_DIR", str(tiny.write(tmp_path / "env")))
    part = _partial(tiny, tmp_path / "part", roles=("train_images", "train_labels", "test_images"))
    with pytest.raises(DataError) as info:
        fetch(tiny.name, data_dir=part, progress=False)
    message = str(info.value)
    assert message.startswith("TINY data not found: missing t10k-labels-idx1-ubyte.gz (each"), message
    assert "only, as given; download: failed" in message
    assert sorted(p.name for p in part.iterdir()) == ["t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
                                                      "train-labels-idx1-ubyte.gz"]  # nothing partial left


def test_fetch_into_a_directory_of_another_datasets_files_is_refused(
    make_tiny: Callable[..., Any], tmp_path: Path
) -> None:
    other = make_tiny(name="other", seed=1, mirrors=("http://127.0.0.1:9/",))
    tiny = make_tiny(name="tiny", seed=2, mirrors=("http://127.0.0.1:9/",))
    theirs = other.write(tmp_path / "theirs")
    with pytest.raises(DataError) as info:  # never mixed with the other dataset's files of the same names
        fetch(tiny.name, data_dir=theirs, progress=False)
    assert str(info.value).startswith(f"--data-dir {theirs}: not TINY files (looked in --data-dir / data.dir "
                                      f"{theirs} (holds OTHER, not TINY)); give TINY a directory of its own")
    assert sorted(p.name for p in theirs.iterdir()) == sorted(f.filename for f in other.spec.files)
    with pytest.raises(DataError, match=r"\(holds OTHER, not TINY\) only, as given"):
        verify(tiny.name, data_dir=theirs)
