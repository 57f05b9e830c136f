"""The parsed-array cache on a full or read-only disk: an optimisation that fails quietly, never a run.

Real faults from a small tmpfs the test mounts (root only; skipped with the reason elsewhere).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from greenbench.data.cache import ArrayCache

from fs_support import fill, read_only, temporaries, tmpfs


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mnt", size="1m") as mount:
        yield mount


def test_a_full_cache_disk_is_logged_and_leaves_nothing(small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = ArrayCache(small_fs)
    kept = np.arange(100, dtype=np.uint8)
    cache.save("a" * 64, kept)
    filler = fill(small_fs)
    with caplog.at_level(logging.WARNING, logger="greenbench.data"):
        cache.save("b" * 64, np.zeros((512, 512), dtype=np.uint8))  # 256 KiB: does not fit
        cache.remember("c" * 64, {"images": "b" * 64})
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        f"could not write the data cache in {small_fs / 'arrays'}"]  # said once, not once per entry
    assert "No space left on device" in caplog.records[0].getMessage()
    assert cache.load("b" * 64) is None and cache.payloads("c" * 64) is None
    assert temporaries(small_fs) == []
    assert np.array_equal(cache.load("a" * 64), kept)  # what was cached still serves
    filler.unlink()
    cache.save("b" * 64, np.zeros((512, 512), dtype=np.uint8))
    assert cache.load("b" * 64) is not None


def test_a_read_only_cache_disk_is_logged_and_still_serves(small_fs: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = ArrayCache(small_fs)
    kept = np.arange(10, dtype=np.uint8)
    cache.save("a" * 64, kept)
    read_only(small_fs)
    try:
        with caplog.at_level(logging.WARNING, logger="greenbench.data"):
            cache.save("b" * 64, kept)
        assert "Read-only file system" in caplog.records[0].getMessage()
        assert np.array_equal(cache.load("a" * 64), kept)
    finally:
        read_only(small_fs, on=False)


def test_an_unwritable_cache_is_said_once_per_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # before: 8 identical warning lines from one `data verify` (a source entry and an array per file)
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("not a directory\n")
    cache = ArrayCache(in_the_way)
    with caplog.at_level(logging.WARNING, logger="greenbench.data"):
        for i in range(4):
            cache.remember(f"{i}" * 64, {"images": "b" * 64})
            cache.save(f"{i}" * 64, np.zeros(4, dtype=np.uint8))
        ArrayCache(in_the_way).save("f" * 64, np.zeros(4, dtype=np.uint8))  # another instance, the same place
    (record,) = caplog.records
    assert record.getMessage().startswith(f"could not write the data cache in {in_the_way / 'arrays'}: ")
    assert record.getMessage().endswith("; going on without it (set GREENBENCH_CACHE_DIR to a writable directory "
                                        "to keep parsed data between runs)")
    assert in_the_way.read_text() == "not a directory\n"
