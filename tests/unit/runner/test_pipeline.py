"""runner/pipeline.py: the orchestrator's feed of workload groups, one or many in flight.

A dispatcher with ``execute_many`` (the Ray one) pulls the next group while others still run; each group stays
claimed (its per-workload file lock) until its last record is written, a run of a lost node that is retried
elsewhere keeps its claim, and what is in flight is what an interrupt marks ``interrupted``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from greenbench.results.store import ResultStore
from greenbench.runner.outcome import SuiteOutcome
from greenbench.runner.pipeline import Feed, dispatch
from greenbench.runner.progress import RunProgress
from greenbench.runner.records import base_record
from greenbench.suite import expand, load_suite

ROOT = Path(__file__).resolve().parents[3]


def _feed(tmp_path: Path, skip: Any = lambda spec: None) -> tuple[Feed, ResultStore, list]:
    runs = [r for r in expand(load_suite(ROOT / "suites" / "smoke.yaml")) if r.backend == "torch"]
    store = ResultStore(tmp_path / "results")
    store.bind("smoke")
    outcome = SuiteOutcome(results_dir=store.root, planned=len(runs))
    progress = RunProgress(None, total=len(runs), quiet=True, verbose=False, outcome=outcome)
    return Feed(runs, store, rerun=False, progress=progress, outcome=outcome, env={}, skip=skip), store, runs


def _held(store: ResultStore, key: str) -> bool:
    """Whether a claim of ``key`` is held (flock locks belong to an open file, so a fresh claim sees it)."""
    with store.claim(key) as mine:
        return not mine


def test_many_groups_in_flight_stay_claimed_until_their_last_record(tmp_path: Path) -> None:
    feed, store, runs = _feed(tmp_path)
    it = iter(feed)
    first, _ = next(it)
    second, log = next(it)  # pulled while the first still runs
    assert log == store.log_path(second[0].workload_id)
    assert {r.run_id for r in feed.in_flight()} == {r.run_id for r in first + second}
    assert _held(store, first[0].workload_id) and _held(store, second[0].workload_id)

    rec = base_record(first[0], "failed", env={}, reason="lost a node; retrying")
    feed.recorded(rec, final=False)  # retried elsewhere: still this process's, still in flight
    assert _held(store, first[0].workload_id) and first[0] in feed.in_flight()
    for spec in first:
        feed.recorded(base_record(spec, "completed", env={}))
    assert not _held(store, first[0].workload_id)
    assert _held(store, second[0].workload_id)
    assert {r.run_id for r in feed.in_flight()} == {r.run_id for r in second}
    feed.close()
    assert not _held(store, second[0].workload_id) and feed.in_flight() == []


def test_a_workload_another_process_holds_is_busy_and_a_missing_framework_skipped(tmp_path: Path) -> None:
    feed, store, runs = _feed(tmp_path, skip=lambda spec: "torch is not installed here" if spec.model == "cnn" else None)
    groups = {}
    for r in runs:
        groups.setdefault(r.workload_id, []).append(r)
    busy = next(wid for wid, g in groups.items() if g[0].model == "mlp")
    with store.claim(busy):  # as another greenbench process would hold it
        handed = [g[0].model for g, _ in feed]
    assert "mlp" not in handed and "cnn" not in handed and set(handed) == {"rnn", "transformer"}
    assert feed.outcome.busy == [busy]
    skipped = [rec for rec in store.scan().records.values() if rec["status"] == "skipped"]
    assert {r["config"]["model"] for r in skipped} == {"cnn"} and len(skipped) == 2


class _TwoAtATime:
    """A dispatcher that, like the Ray one, takes a second group before the first one's records come back."""

    def execute_many(self, groups: Iterator) -> Iterator[dict]:
        batch = []
        for group, _ in groups:
            batch.append(group)
            if len(batch) == 2:
                yield from self._finish(batch)
                batch = []
        yield from self._finish(batch)

    def _finish(self, batch: list) -> Iterator[dict]:
        for group in batch:
            for spec in group:
                yield {"type": "record", "record": base_record(spec, "completed", env={})}


def test_dispatch_uses_execute_many_when_the_dispatcher_has_it(tmp_path: Path) -> None:
    feed, store, runs = _feed(tmp_path)
    seen = []
    for event in dispatch(_TwoAtATime(), feed):
        rec = event["record"]
        store.write(rec)
        feed.recorded(rec)
        seen.append(rec["run_id"])
    assert sorted(seen) == sorted(r.run_id for r in runs) and feed.in_flight() == []
