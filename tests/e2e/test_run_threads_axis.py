"""`greenbench run` with the threads axis (``threads: [1, all, default]``, issue 13) end to end: the real CLI,
both real frameworks, real MNIST. Each thread setting runs in worker processes of its own (TensorFlow sizes its
thread pools once per process), every record says what its threads ran under (the axis value, both frameworks'
intra- and inter-op pool sizes, OpenMP's wait policy), and the run ids stay what they were before the axis:
``all`` is the old default, ``threads: [N]`` the old ``training.threads: N``; ``default`` (neither pool set) is
a run of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from e2e_support import run_cli

import greenbench

pytestmark = pytest.mark.slow  # trains four tiny MLPs through the real CLI

SUITE = """
name: threads
data: {{train_samples: 300, test_samples: 100, validation_samples: 50}}
matrix:
  backend: [torch, tensorflow]
  model: [mlp]
{threads}models:
  mlp: {{hidden: [16]}}
training: {{epochs: 1, batch_size: 64{training}}}
energy: {{enabled: false, min_phase_s: 0.0}}
runner: {{latency_samples: 10, inference_batch: 100{runner}}}
"""


def _suite(tmp_path: Path, name: str, *, threads: str = "", training: str = "", runner: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SUITE.format(threads=f"  threads: {threads}\n" if threads else "", training=training,
                                 runner=runner))
    return path


def _plan(suite: Path) -> list[dict]:
    done = run_cli("run", str(suite), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@pytest.mark.skipif(_cores() < 2, reason="needs 2 usable cores: 'all' must differ from 1 thread")
def test_each_thread_setting_runs_in_its_own_workers_and_is_recorded(tmp_path: Path, mnist_dir: Path) -> None:
    suite = _suite(tmp_path, "threads", threads="[1, all, default]", runner=", omp_wait_policy: passive")
    planned = _plan(suite)
    assert sorted((r["backend"], str(r["threads"])) for r in planned) == sorted(
        (b, t) for b in ("torch", "tensorflow") for t in ("1", "all", "default"))

    results = tmp_path / "results"
    done = run_cli("run", str(suite), "-o", str(results), "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in results.glob("*.json") if p.name != "idle-baseline.json"]
    assert len(records) == 6 and all(r["status"] == "completed" for r in records), [r.get("reason") for r in records]
    df = greenbench.load_results(results).set_index("run_id")
    for rec in records:
        setting, pools = rec["config"]["threads"], rec["metrics"]["threads"]
        assert pools["setting"] == setting, rec["run_id"]
        if setting == "default":
            # neither pool set: the inter-op pool is the framework's own (greenbench sets it to 1 otherwise)
            assert pools["inter_op"] > 1 and pools["intra_op"] >= 1, (rec["run_id"], pools)
        else:
            # TensorFlow refuses a second thread setting in one process: intra_op == want for every setting
            # proves each setting had a worker of its own.
            want = 1 if setting == 1 else _cores()
            assert pools["intra_op"] == want and pools["inter_op"] == 1, (rec["run_id"], pools)
        assert pools["omp_wait_policy"] == "passive", rec["run_id"]
        row = df.loc[rec["run_id"]]
        assert row["threads"] == str(setting) and row["intra_op_threads"] == pools["intra_op"]
        assert row["omp_wait_policy"] == "passive" and row["inter_op_threads"] == pools["inter_op"]
    logs = {p.name for p in (results / "logs").glob("worker-*.log")}
    assert {f"worker-{b}-threads{t}-omp-passive.log" for b in ("torch", "tensorflow")
            for t in ("1", "all", "default")} <= logs, logs


def test_run_ids_are_the_ones_before_the_axis(tmp_path: Path) -> None:
    # threads: all is every run before the axis; threads: [2] is the old training.threads: 2
    before = {r["run_id"] for r in _plan(_suite(tmp_path, "plain"))}
    assert {r["run_id"] for r in _plan(_suite(tmp_path, "all", threads="[all]"))} == before
    legacy = {r["run_id"] for r in _plan(_suite(tmp_path, "legacy", training=", threads: 2"))}
    assert {r["run_id"] for r in _plan(_suite(tmp_path, "two", threads="[2]"))} == legacy
    assert legacy.isdisjoint(before)
    # default (neither pool set) is a run of its own, not the all-core run
    assert {r["run_id"] for r in _plan(_suite(tmp_path, "default", threads="[default]"))}.isdisjoint(before)
    # the wait policy moves time and energy on a shared machine: a run under it is another run
    passive = {r["run_id"] for r in _plan(_suite(tmp_path, "passive", runner=", omp_wait_policy: passive"))}
    assert passive.isdisjoint(before)


def test_threads_given_twice_or_out_of_range_is_one_line_and_exit_2(tmp_path: Path) -> None:
    both = _suite(tmp_path, "both", threads="[1]", training=", threads: 2")
    done = run_cli("run", str(both), "--dry-run")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"error: {both}: (top level): training.threads and matrix.threads are both set: give the thread settings "
        "once, in matrix.threads (a list of counts, all, default)"]
    bad = _suite(tmp_path, "bad", threads="[0]")
    done = run_cli("run", str(bad), "--dry-run")
    assert done.returncode == 2 and done.stderr.strip() == (
        f"error: {bad}: matrix.threads[0]: 0 is not a thread setting: give a count of threads 1..1024, all or default")
