"""The results store: ``results/<suite>/<run_id>.json`` written atomically, one per run.

- A record is written to a temporary file in the same directory, fsynced, then renamed
  over the final name (and the directory fsynced), so a crash or SIGKILL at any moment
  leaves either the old record or the new one, never a torn file.
- A corrupt or truncated record is reported (see :meth:`ResultStore.scan`) and its run is
  redone; the bad file is moved aside to ``<run_id>.json.corrupt-<n>``, never deleted. A record the
  operating system will not let us read (permission denied, an I/O error) is not corrupt: it may hold a
  good measurement, so it is neither moved nor redone nor overwritten (:class:`RecordUnreadable`).
- Runs are claimed with an advisory ``fcntl`` lock on ``.locks/<workload_id>.lock`` so two
  ``greenbench run`` processes on one directory never execute (or write) the same run.
- A directory belongs to one suite: its exact name is kept in ``.greenbench-suite`` (written
  atomically on first use, see :meth:`ResultStore.bind`), and another suite is refused there.
- A write that fails (disk full, read-only file system, a file in the way) becomes one
  :class:`~greenbench.errors.UserError` naming the path and the fix, and leaves no partial file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from greenbench._version import __version__
from greenbench.errors import EnvironmentFault, UserError, write_fault
from greenbench.fsutil import atomic_write_text
from greenbench.results.record import RunRecord, check_values

try:  # POSIX advisory locks; on other systems locking degrades to atomic writes only.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


MARKER = ".greenbench-suite"  # the exact name of the suite a results directory belongs to (JSON; not a record)
RESUME = "what is recorded is kept: run the same command again to resume"
# JSON files of a results directory that are not run records (greenbench.measure.idle writes the first).
SIDE_FILES = frozenset({"idle-baseline.json"})


@dataclass
class Scan:
    """What a results directory holds."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id → record
    corrupt: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (file, why): the OS refused the read


class RecordUnreadable(ValueError):
    """A record file the operating system would not let us read (permission denied, an I/O error).

    A ``ValueError`` like any bad record, so readers that report unreadable files name it the same way;
    but its content is unknown, not bad — a writer must not set it aside as corrupt nor overwrite it."""


def read_record(path: Path) -> dict[str, Any]:
    """Parse and validate one record file; raises ``ValueError`` with the reason if it is bad.

    Bad means: not JSON, not a record's shape, a ``run_id`` other than the file's name, or a number readers
    compute with that is not a finite number in its range (:func:`greenbench.results.record.check_values`):
    such a file is reported as unreadable, never a crash of whoever reads it."""
    data = _parse_record(path)
    try:
        check_values(data)
    except ValueError as exc:
        raise ValueError(f"not a greenbench record: {exc}") from None
    return data


def _parse_record(path: Path) -> dict[str, Any]:
    """A record file's JSON, checked for a record's shape and name only (see :func:`read_record`)."""
    try:
        raw = path.read_bytes()
    except PermissionError:  # the file may be fine: say why it was not read, not that its JSON is bad
        raise RecordUnreadable("cannot read (permission denied); make it readable for this user") from None
    except IsADirectoryError:  # a directory named like a record holds no measurement: bad, like bad JSON
        raise ValueError("a directory, not a record file") from None
    except OSError as exc:
        raise RecordUnreadable(f"cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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


def _holds_records(d: Path) -> bool:
    """Whether ``d`` is a results directory: it has the suite marker, or a valid record."""
    if (d / MARKER).exists():
        return True
    try:
        candidates = sorted(d.glob("*.json"))
    except OSError:
        return False
    for f in candidates:
        if f.name in SIDE_FILES:
            return True
        try:
            _parse_record(f)  # a record with a bad value is still a record
        except ValueError:
            continue
        return True
    return False


def check_output_path(path: str | Path, option: str) -> None:
    """Refuse an output file (a report, a comparison) that would replace or sit among recorded results.

    The one check every command writing a file a user names makes before writing it: an existing run
    record (anywhere), the suite marker, a side file such as ``idle-baseline.json``, anything inside a
    results directory's ``logs/`` or ``.locks/``, and any ``.json`` inside a results directory (readers
    take every ``*.json`` there for a run record) are refused with a :class:`UserError` (exit 2).
    """
    path = Path(path)
    real = Path(os.path.realpath(path))  # a symlink is judged by what it would overwrite
    why = None
    if real.name == MARKER:
        why = "it is greenbench's results-directory marker"
    elif real.is_file() and real.suffix == ".json":
        try:
            _parse_record(real)  # even one whose values readers refuse: what is recorded is never overwritten
            why = "it is a run record"
        except ValueError:
            pass
    if why is None:
        parent = real.parent
        if parent.name in ("logs", ".locks") and _holds_records(parent.parent):
            why = f"it is inside the results directory {parent.parent}'s {parent.name}/ folder"
        elif _holds_records(parent):
            if real.name in SIDE_FILES:
                why = f"it is the results directory's {real.name}"
            elif real.suffix == ".json":
                why = f"it is a .json file inside the results directory {parent}, where every .json is a run record"
    if why is not None:
        raise UserError(f"{option} {path}: refusing to write there: {why}, and what is recorded is never "
                        f"overwritten; choose another file with {option}")


class ResultStore:
    """One suite's results directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        # (run_id, status, reason) of each attempt that did not complete and was added to a completed
        # record instead of replacing it (see :meth:`write`)
        self.kept: list[tuple[str, str, str | None]] = []

    # ------------------------------------------------------------------ paths
    def record_path(self, run_id: str) -> Path:
        return self.root / f"{run_id}.json"

    def log_path(self, run_id: str) -> Path:
        return self.root / "logs" / f"{run_id}.log"

    @property
    def marker_path(self) -> Path:
        return self.root / MARKER

    # ------------------------------------------------------------------ ownership
    def owner(self) -> str | None:
        """The exact name of the suite this directory belongs to, from its marker (None: no usable marker)."""
        try:
            data = json.loads(self.marker_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        name = data.get("suite") if isinstance(data, dict) else None
        return name if isinstance(name, str) and name else None

    def suites(self) -> set[str]:
        """The suite names found in this directory's valid records."""
        return {str(rec.get("suite")) for rec in self.scan().records.values()}

    def belongs_to(self, suite: str) -> bool:
        """Whether this directory already holds results of ``suite`` (its marker, or else its records, say so)."""
        owner = self.owner()
        if owner is not None:
            return owner == suite
        return self.suites() == {suite}

    def bind(self, suite: str) -> None:
        """Make this directory ``suite``'s: create it, check it holds no other suite's results, mark it.

        A directory without a marker is adopted when it is empty or when every record in it is of
        ``suite``; a directory of another suite is refused (``UserError``, exit 2). Also checks the
        directory can be written, so a read-only location fails here, before any run starts.
        """
        self._mkdir(self.root, "create the results directory")
        owner = self.owner()
        if owner is None:
            others = sorted(self.suites() - {suite})
            if others:
                raise self._refuse(suite, others[0], f"its records are of suite {others[0]!r}")
            self._write_marker(suite)
            owner = self.owner() or suite
        if owner != suite:
            raise self._refuse(suite, owner, f"{self.marker_path.name} names suite {owner!r}")
        for sub in (self.root / "logs", self.root / ".locks"):
            self._mkdir(sub, "create")
        try:  # a marker written earlier proves nothing about now: probe that the directory takes a file
            fd, tmp = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=self.root)
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise write_fault(exc, self.root, "write in the results directory", "--results", RESUME) from None

    def check(self, suite: str) -> None:
        """What :meth:`bind` would refuse, found without writing anything (``run --dry-run``): a file in the way
        of the directory (the directory itself included), or a directory of another suite. The same errors."""
        if any(p.exists() and not p.is_dir() for p in (*self.root.parents, self.root)):  # bind's mkdir would meet
            # it: say what bind says (write_fault names the file in the way)
            raise write_fault(OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), self.root,
                              "create the results directory", "--results", RESUME)
        if not self.root.is_dir():
            return  # (bind creates it, empty)
        owner = self.owner()
        if owner is None:
            others = sorted(self.suites() - {suite})
            if others:
                raise self._refuse(suite, others[0], f"its records are of suite {others[0]!r}")
        elif owner != suite:
            raise self._refuse(suite, owner, f"{self.marker_path.name} names suite {owner!r}")

    def _refuse(self, suite: str, other: str, why: str) -> UserError:
        return UserError(
            f"results directory {self.root} belongs to suite {other!r} ({why}), not to suite {suite!r}; "
            "choose another directory for this suite with --results"
        )

    def _mkdir(self, path: Path, doing: str) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_fault(exc, path, doing, "--results", RESUME) from None

    def _write_marker(self, suite: str) -> None:
        text = json.dumps({"suite": suite, "greenbench_version": __version__}, ensure_ascii=False) + "\n"
        path = self.marker_path
        try:
            try:  # first writer wins: another process may have marked the directory meanwhile
                atomic_write_text(path, text, exclusive=True)
            except FileExistsError:
                if self.owner() is None:  # an unreadable marker: replace it
                    atomic_write_text(path, text)
        except OSError as exc:
            raise write_fault(exc, path, "write", "--results", RESUME) from None

    # ------------------------------------------------------------------ read
    def scan(self) -> Scan:
        scan = Scan()
        if not self.root.is_dir():
            return scan
        for path in sorted(self.root.glob("*.json")):
            if path.name in SIDE_FILES:
                continue
            try:
                scan.records[path.stem] = read_record(path)
            except RecordUnreadable as exc:
                scan.unreadable.append((path, str(exc)))
            except ValueError as exc:
                scan.corrupt.append((path, str(exc)))
        return scan

    def refuse_unreadable(self, scan: Scan) -> None:
        """Stop (exit 1) when ``scan`` found records the operating system would not let us read: whether their
        runs are done is unknown, and redoing them would overwrite what may be a good measurement."""
        if not scan.unreadable:
            return
        path, why = scan.unreadable[0]
        more = f" (and {len(scan.unreadable) - 1} more record file(s))" if len(scan.unreadable) > 1 else ""
        raise EnvironmentFault(f"{path}: {why}{more}; nothing was run and no record was changed: fix it, then run "
                               "the same command again")

    def quarantine(self, path: Path) -> Path:
        """Move a corrupt record aside (never delete what was recorded)."""
        n = 1
        while (target := path.with_name(f"{path.name}.corrupt-{n}")).exists():
            n += 1
        try:
            os.replace(path, target)
        except OSError as exc:
            raise write_fault(exc, target, "set aside the corrupt record as", "--results", RESUME) from None
        return target

    # ------------------------------------------------------------------ write
    def write(self, record: dict[str, Any]) -> Path:
        """Write ``record`` as its run's record, atomically.

        A completed measurement is never replaced by an attempt that did not complete (``--rerun`` that
        fails, times out, is interrupted or skipped): the completed record stays, and the attempt is
        added to its ``attempts`` list (see :func:`keep_completed`).
        """
        # never write something whose shape we could not read back; its values are checked when read
        # (check_values): a bad one makes the file unreadable there, reported and set aside, never lost
        RunRecord.model_validate(record)
        path = self.record_path(record["run_id"])
        if record.get("status") != "completed":
            try:
                kept = read_record(path) if path.exists() else None
            except RecordUnreadable as exc:  # it may hold a completed measurement: never write over it
                raise EnvironmentFault(f"{path}: {exc}; the {record.get('status')} attempt of this run was not "
                                       f"recorded over it. {RESUME}") from None
            except ValueError:  # a corrupt file holds no measurement to keep (the scan sets it aside)
                kept = None
            if kept is not None and kept.get("status") == "completed":
                self.kept.append((record["run_id"], record["status"], record.get("reason")))
                record = keep_completed(kept, record)
        text = json.dumps(record, indent=1, sort_keys=False, default=_json_default) + "\n"
        try:
            atomic_write_text(path, text)  # on failure, the temporary file is gone and any old record intact
        except OSError as exc:
            raise write_fault(exc, path, "write the record", "--results", RESUME) from None
        return path

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Try to lock ``key`` without waiting; yields True when this process holds it."""
        lock_dir = self.root / ".locks"
        self._mkdir(lock_dir, "create")
        if fcntl is None:  # pragma: no cover
            yield True
            return
        try:
            fh = open(lock_dir / f"{key}.lock", "a+")  # noqa: SIM115 - held for the with-block
        except OSError as exc:
            raise write_fault(exc, lock_dir / f"{key}.lock", "create the lock file", "--results", RESUME) from None
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


ATTEMPT_KEYS = ("status", "reason", "started_at", "finished_at", "greenbench_version", "stderr_tail", "log", "node")


def keep_completed(completed: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """``completed`` (a completed record) with ``attempt`` (a later, not completed record of the same run)
    appended to its ``attempts`` list: the measurement stays the run's record, and readers (the walk,
    ``load_results``, the report, compare) see one completed run; the attempt is kept for people to read."""
    entry = {k: attempt[k] for k in ATTEMPT_KEYS if attempt.get(k) is not None}
    previous = completed.get("attempts")
    return {**completed, "attempts": [*(previous if isinstance(previous, list) else []), entry]}


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, paths: records are plain JSON.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
