"""The idle baseline through the real CLI, real codecarbon and a real torch worker: a 1 s baseline
(``GREENBENCH_IDLE_BASELINE_S=1``; the test session sets it to 0, tests/conftest.py) before a tiny suite."""

from __future__ import annotations

import json
import subprocess
import sys
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
runner: {latency_samples: 10, inference_batch: 100, cotenancy_threshold: %(threshold)s}
"""


def spinner() -> subprocess.Popen:
    """A busy neighbour: one process spinning a core, outside greenbench's process tree."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def test_a_run_records_its_idle_baseline_and_net_energy(tmp_path: Path, mnist_dir: Path) -> None:
    suite = tmp_path / "idle.yaml"
    # threshold 1.0: this test is about the baseline and the net arithmetic whatever else the machine runs; a
    # shared idle window is the next test's
    suite.write_text(SUITE % {"threshold": 1.0})
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


def test_an_idle_window_beside_a_busy_neighbour_is_marked_and_gives_no_net_energy(tmp_path: Path,
                                                                                  mnist_dir: Path) -> None:
    suite = tmp_path / "idle.yaml"
    suite.write_text(SUITE % {"threshold": 0.1})
    results = tmp_path / "results"
    neighbour = spinner()
    try:
        # no quiet wait (the test session's GREENBENCH_QUIET_WAIT_S=0): the baseline is taken beside the spinner
        done = run_cli("run", str(suite), "-o", str(results), "--only", "compression=none",
                       extra_env={"GREENBENCH_IDLE_BASELINE_S": "2"})
    finally:
        neighbour.kill()
        neighbour.wait()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = " ".join(done.stdout.split())
    assert "of the machine's CPU during idle-baseline" in out and "no net energy is computed" in out, out
    (start,) = json.loads((results / "idle-baseline.json").read_text())["baselines"]
    assert start["contaminated"] is True and start["cotenancy"]["other_share"] > 0.1, start
    (rec,) = [json.loads(p.read_text()) for p in results.glob("*.json") if p.name != "idle-baseline.json"]
    assert rec["status"] == "completed" and rec["idle_baseline"]["contaminated"] is True
    assert all("net_total_kwh" not in p["energy"] for p in rec["phases"].values()), rec["phases"].keys()
    assert greenbench.load_results(results)["total_net_energy_kwh"].isna().all()
