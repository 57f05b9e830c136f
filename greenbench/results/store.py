"""The results store: ``results/<suite>/<run_id>.json`` written atomically, one per run.

- A record is written to a temporary file in the same directory, fsynced, then renamed
  over the final name (and the directory fsynced), so a crash or SIGKILL at any moment
  leaves either the old record or the new one, never a torn file.
- A corrupt or truncated record is reported (see :meth:`ResultStore.scan`) and its run is
  redone; the bad file is moved aside to ``<run_id>.json.corrupt-<n>``, never deleted.
- Runs are claimed with an advisory ``fcntl`` lock on ``.locks/<workload_id>.lock`` so two
  ``greenbench run`` processes on one directory never execute (or write) the same run.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from greenbench.results.record import RunRecord

try:  # POSIX advisory locks; on other systems locking degrades to atomic writes only.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename, fsync dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


@dataclass
class Scan:
    """What a results directory holds."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id → record
    corrupt: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)


def read_record(path: Path) -> dict[str, Any]:
    """Parse and validate one record file; raises ``ValueError`` with the reason if it is bad."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        RunRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ValueError(f"not a greenbench record: {where}: {first['msg']}") from None
    if data["run_id"] != path.stem:
        raise ValueError(f"run_id {data['run_id']!r} does not match the file name")
    return data


class ResultStore:
    """One suite's results directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ paths
    def record_path(self, run_id: str) -> Path:
        return self.root / f"{run_id}.json"

    def log_path(self, run_id: str) -> Path:
        return self.root / "logs" / f"{run_id}.log"

    # ------------------------------------------------------------------ read
    def scan(self) -> Scan:
        scan = Scan()
        if not self.root.is_dir():
            return scan
        for path in sorted(self.root.glob("*.json")):
            try:
                scan.records[path.stem] = read_record(path)
            except ValueError as exc:
                scan.corrupt.append((path, str(exc)))
        return scan

    def quarantine(self, path: Path) -> Path:
        """Move a corrupt record aside (never delete what was recorded)."""
        n = 1
        while (target := path.with_name(f"{path.name}.corrupt-{n}")).exists():
            n += 1
        os.replace(path, target)
        return target

    # ------------------------------------------------------------------ write
    def write(self, record: dict[str, Any]) -> Path:
        RunRecord.model_validate(record)  # never write something we could not read back
        path = self.record_path(record["run_id"])
        atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False, default=_json_default) + "\n")
        return path

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Try to lock ``key`` without waiting; yields True when this process holds it."""
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield True
            return
        fh = open(lock_dir / f"{key}.lock", "a+")  # noqa: SIM115 - held for the with-block
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        finally:
            fh.close()


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, paths: records are plain JSON.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
