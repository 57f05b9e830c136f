"""compare's output files (--markdown, --json) on a full or read-only disk, or behind a file in the way: one
clear error line, exit 1 for the environment and 2 for the input, no partial file (real tmpfs, as root)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fs_support import fill, read_only, tmpfs
import subprocess
import sys


@pytest.fixture
def sides(make_record, write_records) -> tuple[Path, Path]:
    base = write_records([make_record(seed=s, train_s=10.0 + s / 10) for s in range(4)], name="base")
    head = write_records([make_record(seed=s, train_s=10.0 + s / 10) for s in range(4)], name="head")
    return base, head


def _compare(base: Path, head: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line (its entry point turns errors into one line and the exit code)."""
    return subprocess.run([sys.executable, "-m", "greenbench", "compare", str(base), str(head), *args],
                          capture_output=True, text=True, timeout=120)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.mark.parametrize("option", ["--markdown", "--json"])
def test_a_full_disk_is_one_error_exit_1_and_no_partial_file(sides, tmp_path: Path, option: str) -> None:
    with tmpfs(tmp_path / "fs", "1m") as fs:
        fill(fs)
        result = _compare(*sides, option, str(fs / "out.txt"))
        assert result.returncode == 1, result.stderr
        assert "no space left on the device (ENOSPC)" in _one_error_line(result)
        assert sorted(p.name for p in fs.iterdir()) == ["filler.bin"]


def test_a_read_only_place_is_exit_1_and_a_file_in_the_way_exit_2(sides, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "1m") as fs:
        read_only(fs)
        result = _compare(*sides, "--markdown", str(fs / "summary.md"))
        assert result.returncode == 1
        assert "read-only" in _one_error_line(result)
    (tmp_path / "blocker").write_text("a file")
    result = _compare(*sides, "--json", str(tmp_path / "blocker" / "bench.json"))
    assert result.returncode == 2
    line = _one_error_line(result)
    assert "blocker is a file, not a directory" in line and "--json" in line
