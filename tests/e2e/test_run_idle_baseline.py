"""The idle baseline through the real CLI, real codecarbon and a real torch worker: a 1 s baseline
(``GREENBENCH_IDLE_BASELINE_S=1``; the test session sets it to 0, tests/conftest.py) before a tiny suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import run_cli

import greenbench

pytestmark = pytest.mark.slow  # trains a tiny torch MLP through the real CLI

SUITE = """
name: idle
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


def test_a_run_records_its_idle_baseline_and_net_energy(tmp_path: Path, mnist_dir: Path) -> None:
    suite = tmp_path / "idle.yaml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    done = run_cli("run", str(suite), "-o", str(results), extra_env={"GREENBENCH_IDLE_BASELINE_S": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("idle baseline: ")]
    assert len(lines) == 1, done.stdout
    assert " W (interval " in lines[0] and "net energy is above it" in lines[0]

    data = json.loads((results / "idle-baseline.json").read_text())
    (start,) = data["baselines"]
    assert start["when"] == "start" and start["invocation"] and start["machine"]
    assert start["duration_s"] == pytest.approx(1.0, abs=0.5) and start["total_w"] > 0
    assert start["total_w_low"] <= start["total_w"] <= start["total_w_high"]
    assert set(start["meaning"]) == {"cpu", "gpu", "ram"} and data["drift"] == []

    records = [json.loads(p.read_text()) for p in sorted(results.glob("*.json")) if p.name != "idle-baseline.json"]
    assert len(records) == 2 and all(r["status"] == "completed" for r in records)
    for rec in records:
        assert rec["machine"] == start["machine"]
        assert rec["idle_baseline"]["invocation"] == start["invocation"]
        assert rec["idle_baseline"]["total_w"] == pytest.approx(start["total_w"])
        for name, phase in rec["phases"].items():
            e = phase["energy"]
            assert 0 <= e["net_total_kwh"] <= e["total_kwh"], name
            lo, hi = e["net_interval_kwh"]  # per component: each one's band around its own net figure
            assert 0 <= lo <= e["net_total_kwh"] <= hi, name
            assert e["idle_w"] == pytest.approx(start["total_w"])

    df = greenbench.load_results(results)
    assert len(df) == 2
    assert df["idle_power_w"].tolist() == pytest.approx([start["total_w"]] * 2)
    assert (df["total_net_energy_kwh"] <= df["total_energy_kwh"]).all() and (df["total_net_energy_kwh"] >= 0).all()
    trained = df[df["compression"] == "none"].iloc[0]
    assert 0 <= trained["train_net_energy_kwh"] <= trained["train_energy_kwh"]
    for col in ("train_net_energy_kwh", "total_net_energy_kwh"):
        assert trained[f"{col}_low"] <= trained[col] <= trained[f"{col}_high"], col
