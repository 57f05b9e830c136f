"""Real file-system faults for tests: a small tmpfs that can be filled (ENOSPC) or made read-only (EROFS).

A uniquely named helper module (every test folder has a ``conftest``). Mounting needs root (or
CAP_SYS_ADMIN); where it is not allowed the test that asked is skipped with the reason, found by trying.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``path`` for the with-block (the test is skipped where that is not allowed)."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount/umount command here: cannot make a real full or read-only file system")
    path.mkdir(parents=True, exist_ok=True)
    proc = _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if proc.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here ({(proc.stderr or proc.stdout).strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(mount: Path) -> Path:
    """Fill the file system at ``mount`` until it refuses another byte (real ENOSPC); returns the filler file."""
    filler = mount / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as fh:
        for size in (65536, 4096, 1):
            while True:
                try:
                    fh.write(chunk[:size])
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return filler


def read_only(mount: Path, on: bool = True) -> None:
    """Remount ``mount`` read-only (real EROFS), or writable again."""
    proc = _mount("-o", f"remount,{'ro' if on else 'rw'}", str(mount))
    assert proc.returncode == 0, proc.stderr


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes): to prove nothing already there changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def temporaries(root: Path) -> list[str]:
    """Temporary files (``*.tmp``) left under ``root``: an atomic write that failed must leave none."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


__all__ = ["fill", "read_only", "snapshot", "temporaries", "tmpfs"]
