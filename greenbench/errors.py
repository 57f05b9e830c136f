"""User-facing errors.

Anything a user can fix (a bad suite, missing data, an unknown option) raises a
:class:`UserError`. The CLI prints its message on one line and exits with code 2;
it never shows a traceback for these. Where the machine rather than the input failed
(a full disk, a read-only file system, no permission) the error is an
:class:`EnvironmentFault` and the exit code is 1.
"""

from __future__ import annotations

import errno
from pathlib import Path


class UserError(Exception):
    """A problem with the user's input or environment, reported without a traceback (exit code 2)."""

    exit_code = 2


class EnvironmentFault(UserError):
    """The environment failed, not the input: disk full, read-only file system, permission denied (exit code 1)."""

    exit_code = 1


class SuiteError(UserError):
    """A suite file that cannot be read or does not match the schema."""


class DataError(UserError):
    """Data that is missing, malformed or fails its checksum."""


class ChecksumError(DataError):
    """A data file whose SHA-256 does not match the published value."""


# errno -> what it means in words, and what the user can do about it (``{opt}``: the option that moves it)
_SPACE = "free some space or choose another location with {opt}"
_WRITABLE = "choose a writable location with {opt}"
_WAY = "remove or rename it, or choose another location with {opt}"
_WHY: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", _SPACE),
    errno.EROFS: ("the file system is read-only", _WRITABLE),
    errno.EACCES: ("permission denied", _WRITABLE),
    errno.EPERM: ("operation not permitted", _WRITABLE),
    errno.EIO: ("input/output error", _WRITABLE),
    errno.ENOTDIR: ("a file is in the way", _WAY),
    errno.EEXIST: ("a file is in the way", _WAY),
    errno.EISDIR: ("it is a directory", "choose another location with {opt}"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path with {opt}"),
}
if hasattr(errno, "EDQUOT"):
    _WHY[errno.EDQUOT] = ("disk quota exceeded", _SPACE)
_INPUT_FAULTS = {errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG}


def _blocker(path: Path) -> Path | None:
    """The first existing non-directory on the way to ``path`` (``path`` itself included), if any."""
    for p in [*reversed(path.parents), path]:
        if not p.exists():
            return None
        if not p.is_dir():
            return p
    return None


def write_fault(exc: OSError, path: str | Path, doing: str, option: str, then: str = "") -> UserError:
    """One clear error for an ``OSError`` met while writing ``path``.

    ``doing`` says what greenbench was doing ("write the record"), ``option`` which option moves the
    output elsewhere (``--results``, ``--out``) and ``then`` what happens next (e.g. how to resume).
    A file in the way or a bad name is the input's fault (:class:`UserError`, exit 2); a full disk,
    a read-only file system or a missing permission the environment's (:class:`EnvironmentFault`, exit 1).
    """
    path = Path(path)
    why, fix = _WHY.get(exc.errno or 0, (exc.strerror or str(exc), _WRITABLE))
    code = errno.errorcode.get(exc.errno or 0)
    blocker = _blocker(path) if exc.errno in (errno.ENOTDIR, errno.EEXIST) else None
    if blocker is not None:  # (the OS says EEXIST or ENOTDIR for the same thing, depending on the call)
        why, code = f"{blocker} is a file, not a directory", None
    detail = why + (f" ({code})" if code else "")
    cls = UserError if exc.errno in _INPUT_FAULTS else EnvironmentFault
    return cls(f"cannot {doing} {path}: {detail}; {fix.format(opt=option)}" + (f"; {then}" if then else ""))


__all__ = ["UserError", "EnvironmentFault", "SuiteError", "DataError", "ChecksumError", "write_fault"]
