"""Atomic file writes: the one way greenbench writes a file that someone may read meanwhile.

:func:`atomic_write` writes through a temporary file in the same directory, fsyncs it, gives
it ordinary permissions (``0o666`` less the umask; a temporary file starts private) and
renames it over the final name, then fsyncs the directory. A crash, a full disk or a
read-only location at any moment leaves the old file (or none), never a torn one, and the
temporary file is removed on any failure. Errors are raised as they come (``OSError``);
turning them into a user-facing message is the caller's business.

Standard library only, and no other greenbench module: anything may import it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]


def atomic_write(path: Path, write: Callable[[Path], None], *, exclusive: bool = False) -> None:
    """Make ``path`` by ``write(tmp)`` on a temporary file beside it, then move it into place.

    ``exclusive``: never replace an existing ``path`` (first writer wins): raise
    ``FileExistsError`` if one is there, also when another process made it meanwhile.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:  # a full disk may only show when the data reaches it
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if exclusive:
            _link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # gone after a replace; a second name after a link
            tmp.unlink()
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, exclusive: bool = False) -> None:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), exclusive=exclusive)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """:func:`atomic_write` of ``data``."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _link(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # fails with FileExistsError if the name is taken
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: not atomic against a racing writer
        if path.exists():
            raise FileExistsError(17, "File exists", str(path)) from None
        os.replace(tmp, path)


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (threads may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # elsewhere set and put back: meanwhile, anything created is more private, never more open
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
