"""`greenbench compare` on real repeated runs: an A/A comparison on this machine is not flagged.

Base and head are the same configuration, run with the real CLI, interleaved seed by seed
(base s0, head s0, base s1, …) so that drift of a shared machine falls on both sides alike.
Training time on this 2-vCPU VM scatters by 5–13 % between such runs, and judged row by row
(no correction) two of three A/A comparisons of these 8 rows flagged a "change" of 10–22 %
(p = 0.008–0.03); compare's default gate judges the rows together (Benjamini–Hochberg), which
keeps the chance that an A/A comparison flags anything at α.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from e2e_support import run_cli

pytestmark = pytest.mark.slow

SEEDS = range(5)  # Mann-Whitney U needs ≥ 4 repeats per side to reach p < 0.05


def test_aa_real_repeated_runs_are_not_flagged(tmp_path: Path, mnist_dir: Path) -> None:
    suite = {
        "name": "aa",
        "data": {"dataset": "mnist", "train_samples": 3000, "test_samples": 500, "validation_samples": 100},
        "matrix": {"backend": ["torch"], "model": ["mlp", "cnn"], "optimizer": ["adam"], "seed": list(SEEDS)},
        "models": {"mlp": {"hidden": [64]}, "cnn": {"channels": [8, 16], "dense": 32}},
        "training": {"epochs": 2, "batch_size": 64},
        "energy": {"country": "USA", "measure_power_secs": 0.5},
        "runner": {"latency_samples": 20},
    }
    path = tmp_path / "aa.yaml"
    path.write_text(yaml.safe_dump(suite))
    for seed in SEEDS:
        for side in ("base", "head"):
            proc = run_cli("run", str(path), "--results", str(tmp_path / side), "--only", f"seed={seed}", "--quiet")
            assert proc.returncode == 0, proc.stdout + proc.stderr

    out_json, out_md = tmp_path / "cmp.json", tmp_path / "cmp.md"
    proc = run_cli("compare", str(tmp_path / "base"), str(tmp_path / "head"), "--fail-on-regression",
                   "--json", str(out_json), "--markdown", str(out_md))
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report  # nothing flagged as a regression
    md = out_md.read_text()
    assert "0 regressed, 0 improved" in md, md  # A/A: nothing flagged either way
    assert "after Benjamini–Hochberg correction over the 8 tested rows" in md, md
    entries = json.loads(out_json.read_text())
    assert entries and all({"name", "unit", "value"} <= set(e) for e in entries)
    # both workloads were matched, each with 5 repeats a side
    assert "torch/mlp" in md and "torch/cnn" in md and "5/5" in md
