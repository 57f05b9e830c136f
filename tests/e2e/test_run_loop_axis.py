"""`greenbench run` with the loop-style axis (``loop: [parity, idiomatic]``, issue 13) end to end: the real
CLI, both real frameworks (each in its own worker), real MNIST. The plan expands to both loops, both run,
each record says which loop ran (config and ``load_results``), the idiomatic run's epochs are measured
and recorded like the parity run's, and what the idiomatic loop does not cover (pruning's fine-tune) is
a ``skipped`` record with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import run_cli

import greenbench

pytestmark = pytest.mark.slow  # trains four tiny MLPs through the real CLI

SUITE = """
name: loops
data: {train_samples: 600, test_samples: 200, validation_samples: 100}
matrix:
  backend: [torch, tensorflow]
  model: [mlp]
  compression: [none, prune-50]
  loop: [parity, idiomatic]
models:
  mlp: {hidden: [32]}
training: {epochs: 2, batch_size: 32}
energy: {min_phase_s: 0.0}
runner: {latency_samples: 10, inference_batch: 100}
"""


def test_both_loops_expand_run_and_record_the_loop(tmp_path: Path, mnist_dir: Path) -> None:
    suite = tmp_path / "loops.yaml"
    suite.write_text(SUITE)
    plan = run_cli("run", str(suite), "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr[-2000:]
    planned = json.loads(plan.stdout)
    assert sorted((r["backend"], r["loop"], r["compression"]) for r in planned) == sorted(
        (b, loop, c) for b in ("torch", "tensorflow") for loop in ("parity", "idiomatic") for c in ("none", "prune-50"))

    results = tmp_path / "results"
    done = run_cli("run", str(suite), "-o", str(results), "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in results.glob("*.json")]
    assert len(records) == 8
    df = greenbench.load_results(results).set_index("run_id")
    for rec in records:
        cfg, rid = rec["config"], rec["run_id"]
        assert df.loc[rid, "loop"] == cfg["loop"], rid
        if cfg["loop"] == "idiomatic" and cfg["compression"] == "prune-50":
            assert rec["status"] == "skipped", rec.get("reason")
            assert "idiomatic loop" in rec["reason"] and "pruning fine-tune" in rec["reason"]
            continue
        assert rec["status"] == "completed", (rid, rec.get("reason"))
        if cfg["compression"] == "none":
            # Both loops: one measured window and one history entry per epoch.
            assert [h["epoch"] for h in rec["history"]] == [1, 2], rid
            assert {"train/epoch-1", "train/epoch-2", "train"} <= set(rec["phases"]), rid
            assert rec["metrics"]["epochs_run"] == 2 and rec["metrics"]["test_accuracy"] > 0.5, rid
    trained = df[(df.compression == "none")]
    assert sorted(zip(trained.backend, trained.loop)) == sorted(
        (b, loop) for b in ("torch", "tensorflow") for loop in ("parity", "idiomatic"))

    # The plan's ids are the recorded ones (a rerun resumes on them).
    again = run_cli("run", str(suite), "-o", str(results), "--dry-run", "--json")
    assert again.returncode == 0 and {r["run_id"] for r in json.loads(again.stdout)} == set(df.index)
