"""The results store when the disk is full, read-only or in the way, and when a directory is another suite's.

Real faults come from a small tmpfs the test mounts (root only; skipped with the reason elsewhere),
local behaviour from a monkeypatched ``os.write``/``os.replace``. In every case: one error naming the
path, the cause and the fix (exit code 1 for the environment, 2 for the input), no temporary file
left behind, and every record already written intact.
"""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path
from typing import Any, Iterator

import pytest

from greenbench.errors import EnvironmentFault, UserError, write_fault
from greenbench.results import ResultStore
from greenbench.results.store import MARKER
from greenbench.runner.local import run_plan
from greenbench.runner.records import base_record
from greenbench.suite import expand, parse_suite
from greenbench.suite.plan import RunSpec

from fs_support import fill, read_only, snapshot, temporaries, tmpfs


# --------------------------------------------------------------------------- the error text
@pytest.mark.parametrize(
    ("code", "cls", "exit_code", "text"),
    [
        (errno.ENOSPC, EnvironmentFault, 1, "no space left on the device (ENOSPC); free some space or choose another "
                                            "location with --results"),
        (errno.EROFS, EnvironmentFault, 1, "the file system is read-only (EROFS); choose a writable location with "
                                           "--results"),
        (errno.EACCES, EnvironmentFault, 1, "permission denied (EACCES); choose a writable location with --results"),
        (errno.ENAMETOOLONG, UserError, 2, "the name is too long (ENAMETOOLONG); choose a shorter path with --results"),
    ],
)
def test_write_fault_names_the_path_the_cause_and_the_fix(code: int, cls: type, exit_code: int, text: str) -> None:
    err = write_fault(OSError(code, os.strerror(code)), Path("results/x/r.json"), "write the record", "--results",
                      "run it again")
    assert type(err) is cls and err.exit_code == exit_code
    assert str(err) == f"cannot write the record results/x/r.json: {text}; run it again"


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("not a directory")
    store = ResultStore(tmp_path / "results" / "smoke")
    with pytest.raises(UserError) as info:
        store.bind("smoke")
    assert type(info.value) is UserError and info.value.exit_code == 2
    assert str(info.value) == (
        f"cannot create the results directory {tmp_path}/results/smoke: {tmp_path}/results is a file, not a "
        "directory; remove or rename it, or choose another location with --results; what is recorded is "
        "kept: run the same command again to resume"
    )
    assert (tmp_path / "results").read_text() == "not a directory"


def test_the_results_path_itself_being_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "smoke").write_text("x")
    with pytest.raises(UserError, match=r"smoke is a file, not a directory; .*choose another location with --results"):
        ResultStore(tmp_path / "smoke").bind("smoke")


# --------------------------------------------------------------------------- monkeypatched local faults
def test_enospc_on_fsync_leaves_the_old_record_and_no_temporary(tmp_path: Path, make_record, monkeypatch) -> None:
    # Network and some local file systems report a full disk only when the data is flushed.
    store = ResultStore(tmp_path / "r")
    path = store.write(make_record(status="failed"))
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(EnvironmentFault) as info:
        store.write(make_record())  # the same run, now completed: would replace the failed record
    assert str(info.value).startswith(f"cannot write the record {path}: no space left on the device (ENOSPC)")
    assert info.value.exit_code == 1
    assert path.read_bytes() == before
    assert temporaries(tmp_path) == []


def test_enospc_on_rename_leaves_the_old_record_and_no_temporary(tmp_path: Path, make_record, monkeypatch) -> None:
    store = ResultStore(tmp_path / "r")
    path = store.write(make_record(status="failed"))
    before = path.read_bytes()

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(EnvironmentFault, match="no space left on the device"):
        store.write(make_record())
    assert path.read_bytes() == before
    assert temporaries(tmp_path) == []


# --------------------------------------------------------------------------- a real full / read-only disk
@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mnt", size="1m") as mount:
        yield mount


def test_a_full_disk_fails_the_write_keeps_every_record_and_the_next_write_succeeds(
    small_fs: Path, make_record
) -> None:
    store = ResultStore(small_fs / "results")
    store.bind("synthetic")
    first = [make_record(seed=s) for s in range(3)]
    for rec in first:
        store.write(rec)
    kept = snapshot(store.root)
    filler = fill(small_fs)

    with pytest.raises(EnvironmentFault) as info:
        store.write(make_record(seed=7))
    assert "no space left on the device (ENOSPC)" in str(info.value)
    assert snapshot(store.root) == kept  # nothing recorded was touched
    assert temporaries(small_fs) == []  # and no partial file is left
    assert set(store.scan().records) == {r["run_id"] for r in first}

    filler.unlink()  # space again: the same write now goes through
    store.write(make_record(seed=7))
    assert len(store.scan().records) == 4


def test_a_read_only_disk_is_refused_before_anything_runs_and_nothing_is_lost(small_fs: Path, make_record) -> None:
    store = ResultStore(small_fs / "results")
    store.bind("synthetic")
    rec = make_record()
    store.write(rec)
    kept = snapshot(store.root)
    read_only(small_fs)
    try:
        with pytest.raises(EnvironmentFault) as info:
            store.bind("synthetic")  # the marker is already there: the write probe finds the read-only disk
        assert str(info.value).startswith(
            f"cannot write in the results directory {store.root}: the file system is read-only (EROFS); "
            "choose a writable location with --results"
        )
        with pytest.raises(EnvironmentFault, match="read-only"):
            store.write(make_record(seed=1))
        assert snapshot(store.root) == kept
        assert store.scan().records == {rec["run_id"]: rec}
    finally:
        read_only(small_fs, on=False)


class _FillingDispatcher:
    """Records each run as completed; fills the disk once the first workload is recorded."""

    def __init__(self, mount: Path | None) -> None:
        self.mount = mount
        self.calls = 0
        self.interrupted = self.closed = False

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
        self.calls += 1
        if self.calls == 2 and self.mount is not None:
            fill(self.mount)
        for spec in group:
            yield {"type": "record", "record": base_record(spec, "completed", env={})}

    def interrupt(self) -> None:
        self.interrupted = True

    def close(self) -> None:
        self.closed = True


def _two_workloads() -> tuple[Any, list[RunSpec]]:
    suite = parse_suite({"name": "faults", "data": {"train_samples": 200, "test_samples": 100},
                         "matrix": {"backend": ["torch"], "model": ["mlp"], "seed": [0, 1]}})
    return suite, expand(suite)


def test_run_plan_stops_on_a_full_disk_keeps_what_is_recorded_and_resumes(
    small_fs: Path, mnist_dir: Path, monkeypatch
) -> None:
    monkeypatch.setattr("greenbench.runner.local._framework_skip", lambda spec: None)  # no framework needed
    suite, runs = _two_workloads()
    out = small_fs / "results"
    fake = _FillingDispatcher(small_fs)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(EnvironmentFault) as info:
        run_plan(suite, runs, results_dir=out, dispatcher=fake)
    assert str(info.value).startswith(f"cannot write the record {out / runs[1].run_id}.json: no space left")
    assert str(info.value).endswith("what is recorded is kept: run the same command again to resume")
    assert fake.interrupted and fake.closed  # the workers were stopped
    # The handlers are put back as they were (whatever pytest started with: nohup and background jobs ignore SIGINT).
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    first = out / f"{runs[0].run_id}.json"
    assert json.loads(first.read_text())["status"] == "completed"
    assert not (out / f"{runs[1].run_id}.json").exists()
    assert temporaries(small_fs) == []
    mtime = first.stat().st_mtime_ns

    (small_fs / "filler.bin").unlink()
    again = _FillingDispatcher(None)
    outcome = run_plan(suite, runs, results_dir=out, dispatcher=again)
    assert outcome.resumed == 1 and outcome.executed == 1 and again.calls == 1
    assert outcome.counts == {"completed": 2}
    assert first.stat().st_mtime_ns == mtime  # the completed run was not redone


# --------------------------------------------------------------------------- whose directory it is
def test_an_empty_directory_is_adopted_and_marked_with_the_exact_name(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r")
    store.bind("テスト [bold]")
    assert json.loads((store.root / MARKER).read_text(encoding="utf-8"))["suite"] == "テスト [bold]"
    assert store.owner() == "テスト [bold]"
    store.bind("テスト [bold]")  # again: fine
    assert temporaries(tmp_path) == []


def test_an_unmarked_directory_of_the_same_suite_is_adopted(tmp_path: Path, make_record) -> None:
    store = ResultStore(tmp_path / "smoke")
    store.write(make_record(suite="smoke"))  # results from before markers existed
    store.bind("smoke")
    assert store.owner() == "smoke"


def test_an_unmarked_directory_of_another_suite_is_refused(tmp_path: Path, make_record) -> None:
    store = ResultStore(tmp_path / "suite")
    store.write(make_record(suite="テスト"))
    kept = snapshot(store.root)
    with pytest.raises(UserError) as info:
        store.bind("тест")
    assert info.value.exit_code == 2
    assert str(info.value) == (
        f"results directory {store.root} belongs to suite 'テスト' (its records are of suite 'テスト'), not to suite "
        "'тест'; choose another directory for this suite with --results"
    )
    assert snapshot(store.root) == kept  # not even a marker was written


def test_a_marked_directory_of_another_suite_is_refused(tmp_path: Path) -> None:
    ResultStore(tmp_path / "r").bind("alpha")
    with pytest.raises(UserError) as info:
        ResultStore(tmp_path / "r").bind("beta")
    assert str(info.value) == (
        f"results directory {tmp_path / 'r'} belongs to suite 'alpha' ({MARKER} names suite 'alpha'), not to suite "
        "'beta'; choose another directory for this suite with --results"
    )


def test_an_unreadable_marker_is_replaced_when_the_records_agree(tmp_path: Path, make_record) -> None:
    store = ResultStore(tmp_path / "r")
    store.write(make_record(suite="smoke"))
    (store.root / MARKER).write_text("{not json")
    store.bind("smoke")
    assert store.owner() == "smoke"


def test_the_marker_is_not_a_record(tmp_path: Path, make_record) -> None:
    store = ResultStore(tmp_path / "r")
    store.bind("synthetic")
    store.write(make_record())
    scan = store.scan()
    assert len(scan.records) == 1 and scan.corrupt == []
