"""Writing a report where the disk is full, read-only or has a file in the way: one clear error, no partial
report, any previous report intact, and the same command works once the fault is gone.

Real faults come from a small tmpfs the test mounts (root only; skipped with the reason elsewhere).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from greenbench.errors import EnvironmentFault, UserError
from greenbench.report import build_report

from fs_support import fill, read_only, temporaries, tmpfs


@pytest.fixture
def results(write_records, make_record) -> Path:
    return write_records([make_record(seed=s, accuracy=0.9 + s / 100) for s in range(3)])


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mnt", size="1m") as mount:
        yield mount


@pytest.mark.parametrize("fmt", ["md", "csv"])
def test_a_full_disk_leaves_the_previous_report_and_no_partial_file(
    results: Path, small_fs: Path, fmt: str
) -> None:
    target = small_fs / f"report.{fmt}"
    build_report([results], out=target, fmt=fmt)
    previous = target.read_bytes()
    target.write_bytes(previous[:1])  # an earlier, different report: it must survive the failed write
    filler = fill(small_fs)

    with pytest.raises(EnvironmentFault) as info:
        build_report([results], out=target, fmt=fmt)
    assert info.value.exit_code == 1
    assert str(info.value) == (
        f"cannot write the report {target}: no space left on the device (ENOSPC); free some space or choose "
        "another location with --out"
    )
    assert target.read_bytes() == previous[:1]
    assert temporaries(small_fs) == []

    filler.unlink()
    assert build_report([results], out=target, fmt=fmt) == target  # the next run goes through
    # The same report again; a Markdown report carries the minute it was generated, which may have moved on.
    assert _undated(target.read_bytes()) == _undated(previous)
    assert (b"generated <time>" in _undated(previous)) == (fmt == "md")


def _undated(report: bytes) -> bytes:
    return re.sub(rb"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", b"generated <time>", report)


def test_a_read_only_location_is_one_error(results: Path, small_fs: Path) -> None:
    read_only(small_fs)
    try:
        with pytest.raises(EnvironmentFault) as info:
            build_report([results], out=small_fs / "reports" / "r.md", fmt="md")
        assert str(info.value) == (
            f"cannot write the report {small_fs}/reports/r.md: the file system is read-only (EROFS); choose a "
            "writable location with --out"
        )
    finally:
        read_only(small_fs, on=False)
    assert list(small_fs.iterdir()) == []


def test_a_file_in_the_way_of_the_report_folder_is_named(results: Path, tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("a file")
    with pytest.raises(UserError) as info:
        build_report([results], out=tmp_path / "reports" / "r.md", fmt="md")
    assert type(info.value) is UserError and info.value.exit_code == 2
    assert str(info.value) == (
        f"cannot write the report {tmp_path}/reports/r.md: {tmp_path}/reports is a file, not a directory; "
        "remove or rename it, or choose another location with --out"
    )
    assert (tmp_path / "reports").read_text() == "a file"
