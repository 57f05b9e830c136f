"""The shape of what a run records: a fixed small run's record keys and ``load_results`` columns match
``tests/golden/record-shape.json`` (recorded before the consolidation of the package), so restructuring the
code cannot silently drop, rename or add a field. ``GREENBENCH_UPDATE_GOLDEN=1`` rewrites the file for a
deliberate schema change (review the diff, and bump ``schema_version`` when old records would read differently).

Keys that depend on the machine, not the code, are left out: the environment fingerprint (``env``) and what
sits under ``provenance_detail`` (RAPL counters, TDP model, GPUs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from e2e_support import run_cli

import greenbench

pytestmark = pytest.mark.slow  # trains a tiny torch MLP through the real CLI

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "record-shape.json"
SUITE = """
name: golden
data: {train_samples: 300, test_samples: 100, validation_samples: 50}
matrix:
  backend: [torch]
  model: [mlp]
  compression: [none, int8-dynamic]
models:
  mlp: {hidden: [16]}
training: {epochs: 1, batch_size: 64}
energy: {min_phase_s: 0.0}
runner: {latency_samples: 10, inference_batch: 100}
"""


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (``a.b``, list items as ``a[]``)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out |= {path} | key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            out |= key_paths(item, prefix + "[]")
    return out


def shape(results: Path) -> dict[str, Any]:
    keys = {}
    for path in sorted(results.glob("*.json")):
        record = json.loads(path.read_text())
        keys[record["config"]["compression"]] = sorted(
            p for p in key_paths(record) if not p.startswith("env.") and ".provenance_detail." not in p)
        assert record["schema_version"] == 1
    return {"schema_version": 1, "record_keys": keys,
            "load_results_columns": list(greenbench.load_results(results).columns)}


def test_a_runs_record_and_frame_keep_their_shape(tmp_path: Path, mnist_dir: Path) -> None:
    suite = tmp_path / "golden.yaml"
    suite.write_text(SUITE)
    done = run_cli("run", str(suite), "-o", str(tmp_path / "results"), "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    now = shape(tmp_path / "results")
    if os.environ.get("GREENBENCH_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(now, indent=1))
    golden = json.loads(GOLDEN.read_text())
    assert set(now["record_keys"]) == set(golden["record_keys"]) == {"none", "int8-dynamic"}
    for variant, expected in golden["record_keys"].items():
        got = set(now["record_keys"][variant])
        assert got == set(expected), (f"{variant}: missing {sorted(set(expected) - got)}, "
                                      f"new {sorted(got - set(expected))}")
    assert now["load_results_columns"] == golden["load_results_columns"]
