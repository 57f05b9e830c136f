"""The results store: atomic records, corrupt-record handling, locks."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from greenbench.fsutil import atomic_write_text
from greenbench.results import ResultStore, read_record


def test_write_then_scan_round_trip(tmp_path: Path, make_record) -> None:
    store = ResultStore(tmp_path / "r")
    rec = make_record()
    path = store.write(rec)
    assert path == tmp_path / "r" / f"{rec['run_id']}.json"
    scan = store.scan()
    assert scan.records == {rec["run_id"]: rec} and scan.corrupt == []
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_leaves_old_content_when_interrupted(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "a.json"
    atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"run_id": "x", "status": "compl', "unreadable JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"run_id": "bad"}', "not a greenbench record"),
    ],
)
def test_corrupt_records_are_reported_and_set_aside(tmp_path: Path, make_record, content: str, why: str) -> None:
    store = ResultStore(tmp_path)
    good = make_record()
    store.write(good)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    scan = store.scan()
    assert list(scan.records) == [good["run_id"]]
    assert len(scan.corrupt) == 1 and scan.corrupt[0][0] == bad and why in scan.corrupt[0][1]
    moved = store.quarantine(bad)
    assert moved.name == "bad.json.corrupt-1" and moved.read_text() == content  # kept, never deleted
    assert store.scan().corrupt == []


def test_a_directory_named_like_a_record_is_set_aside_not_a_refused_read(tmp_path: Path, make_record) -> None:
    store = ResultStore(tmp_path)
    store.write(make_record())
    odd = tmp_path / "odd.json"
    odd.mkdir()
    scan = store.scan()
    assert scan.corrupt == [(odd, "a directory, not a record file")] and scan.unreadable == []
    assert store.quarantine(odd).is_dir()  # moved aside like a corrupt file; nothing in it lost


def test_record_whose_id_does_not_match_its_file_is_corrupt(tmp_path: Path, make_record) -> None:
    rec = make_record()
    (tmp_path / "other.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="does not match the file name"):
        read_record(tmp_path / "other.json")


def test_store_refuses_to_write_an_invalid_record(tmp_path: Path, make_record) -> None:
    rec = make_record()
    rec["status"] = "great"
    with pytest.raises(Exception, match="status"):
        ResultStore(tmp_path).write(rec)
    assert list(tmp_path.glob("*.json")) == []


def _try_claim(root: str, key: str, queue) -> None:
    with ResultStore(root).claim(key) as mine:
        queue.put(mine)


def test_claim_is_exclusive_across_processes(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    with store.claim("w1") as mine:
        assert mine
        p = ctx.Process(target=_try_claim, args=(str(tmp_path), "w1", q))
        p.start()
        p.join(60)
        assert q.get(timeout=5) is False
    p = ctx.Process(target=_try_claim, args=(str(tmp_path), "w1", q))
    p.start()
    p.join(60)
    assert q.get(timeout=5) is True
