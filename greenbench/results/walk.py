"""Every run record under a path: the one walk from paths to records.

A path is a record file, a results directory as ``greenbench run`` writes it, or a folder of
such directories: its subfolders one level down (the suite directories of ``results/``) or,
``deep``, at any depth (CI artifacts: ``base/<runner>/rep-1/…``). The pandas loader,
``greenbench report`` and ``greenbench compare`` all read records through :func:`find_records`;
what a bad file means to each (an error, or a note) stays theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenbench.errors import UserError
from greenbench.results.store import ResultStore, read_record


@dataclass
class Found:
    """What one path holds."""

    path: Path
    records: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (record, the directory it came from)
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (file, why)


def record_dirs(path: Path, deep: bool = False) -> list[Path]:
    """``path`` and the folders below it that hold ``*.json`` records, in sorted walking order.

    One level down, or with ``deep`` at any depth; hidden folders and ``logs`` are skipped, and
    a folder reached twice (a symlink loop) is walked once.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    stack = [(path, 0)]
    while stack:
        d, depth = stack.pop()
        real = d.resolve()
        if real in seen:
            continue
        seen.add(real)
        if any(d.glob("*.json")):
            found.append(d)
        if deep or depth == 0:
            subs = sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith(".") and c.name != "logs")
            stack.extend((c, depth + 1) for c in reversed(subs))
    return found


def find_records(path: str | Path, *, deep: bool = False) -> Found:
    """The valid records under ``path`` and its unreadable record files (see :func:`record_dirs`).

    Raises :class:`~greenbench.errors.UserError` for a path that is neither a file nor a directory.
    """
    path = Path(path)
    found = Found(path)
    if path.is_file():
        try:
            found.records.append((read_record(path), str(path.parent)))
        except ValueError as exc:
            found.corrupt.append((str(path), str(exc)))
    elif path.is_dir():
        for d in record_dirs(path, deep):
            scan = ResultStore(d).scan()
            found.records.extend((rec, str(d)) for rec in scan.records.values())
            # a file whose read was refused is as unreadable to a reader as a corrupt one
            found.corrupt.extend((str(f), why) for f, why in sorted(scan.corrupt + scan.unreadable))
    else:
        raise UserError(f"{path}: no such results directory or record file")
    return found
