"""`greenbench run --rerun` whose new attempt does not complete (fails, times out, is interrupted or skipped)
never destroys a completed measurement: the completed record stays the run's record, the attempt is listed
under its ``attempts`` key, and readers see one completed run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from greenbench.results.store import ResultStore
from greenbench.results.walk import find_records
from greenbench.runner.local import run_plan
from greenbench.runner.records import base_record
from greenbench.suite import expand, parse_suite
from greenbench.suite.plan import RunSpec


class _Dispatcher:
    """Records every run with ``status`` (a completed one with a measurement)."""

    def __init__(self, status: str) -> None:
        self.status = status

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
        for spec in group:
            rec = base_record(spec, self.status, env={},
                              reason=None if self.status == "completed" else "timed out after 0.001 s (--timeout)")
            if self.status == "completed":
                rec["metrics"] = {"test_accuracy": 0.97, "params": 101770}
            yield {"type": "record", "record": rec}

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("status", ["failed", "interrupted", "skipped"])
def test_a_rerun_that_does_not_complete_keeps_the_completed_record(
    tmp_path: Path, mnist_dir: Path, monkeypatch, status: str
) -> None:
    monkeypatch.setattr("greenbench.runner.local._framework_skip", lambda spec: None)  # no framework needed
    suite = parse_suite({"name": "rerun", "data": {"train_samples": 200, "test_samples": 100},
                         "matrix": {"backend": ["torch"], "model": ["mlp"]}})
    runs = expand(suite)
    out = tmp_path / "results"
    run_plan(suite, runs, results_dir=out, dispatcher=_Dispatcher("completed"))
    path = out / f"{runs[0].run_id}.json"
    completed = json.loads(path.read_text())

    outcome = run_plan(suite, runs, results_dir=out, dispatcher=_Dispatcher(status), rerun=True)
    assert outcome.counts == {"completed": 1}  # what the results directory holds
    # and what this attempt did, for the summary (and --require-quiet's exit code)
    assert outcome.kept == [(runs[0].run_id, status, "timed out after 0.001 s (--timeout)")]

    kept = json.loads(path.read_text())
    assert kept["status"] == "completed" and kept["metrics"] == completed["metrics"]
    assert {k: v for k, v in kept.items() if k != "attempts"} == completed
    [attempt] = kept["attempts"]
    assert attempt["status"] == status and attempt["reason"] == "timed out after 0.001 s (--timeout)"
    found = find_records(out)
    assert [r["status"] for r, _ in found.records] == ["completed"] and found.corrupt == []

    run_plan(suite, runs, results_dir=out, dispatcher=_Dispatcher("failed"), rerun=True)  # a second one is added
    assert [a["status"] for a in json.loads(path.read_text())["attempts"]] == [status, "failed"]


def test_a_completed_rerun_replaces_the_record_and_a_failed_record_is_replaced_as_before(
    tmp_path: Path, make_record
) -> None:
    store = ResultStore(tmp_path / "r")
    failed = make_record(status="failed")
    store.write(failed)
    again = make_record(status="failed", reason="another reason")
    store.write(again)
    assert json.loads(store.record_path(again["run_id"]).read_text()) == again  # nothing completed to keep
    done = make_record(accuracy=0.9)
    store.write(done)
    newer = make_record(accuracy=0.95)
    store.write(newer)
    assert json.loads(store.record_path(newer["run_id"]).read_text()) == newer  # --rerun that completes: replaced
