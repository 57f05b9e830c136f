"""A calibration is used by later runs: ``greenbench calibrate`` on a fake RAPL tree stores a curve for this
machine's CPU model; a run on the same machine without readable counters then estimates its CPU from that
curve (provenance ``estimated:calibrated``, the fit's error as the interval). Where this machine has real
readable RAPL counters the run is measured instead: counters always win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import ROOT
from fake_powercap import FakePowercap, linear_curve
from machine_support import probe_sensors

import greenbench

pytestmark = pytest.mark.slow  # calibrates (a few seconds) and trains a tiny torch MLP through the real CLI

SUITE = """
name: calibrated
data: {train_samples: 300, test_samples: 100, validation_samples: 50}
matrix:
  backend: [torch]
  model: [mlp]
models:
  mlp: {hidden: [16]}
training: {epochs: 1, batch_size: 64}
energy: {min_phase_s: 0.0}
runner: {latency_samples: 10, inference_batch: 100}
"""


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "COLUMNS": "200", **env})


def test_a_later_run_estimates_its_cpu_from_the_stored_curve(tmp_path: Path, mnist_dir: Path) -> None:
    cache = {"GREENBENCH_CACHE_DIR": str(tmp_path / "cache")}
    fake = FakePowercap(tmp_path / "powercap", linear_curve(20.0, 50.0))
    with fake.running():
        cal = cli("calibrate", "--step-s", "1", "--max-cores", "1",
                  env={**cache, "GREENBENCH_POWERCAP_ROOT": str(fake.root)})
    assert cal.returncode == 0, cal.stdout + cal.stderr
    (stored,) = [ln.removeprefix("stored: ") for ln in cal.stdout.splitlines() if ln.startswith("stored: ")]
    curve = json.loads(Path(stored).read_text())

    suite = tmp_path / "calibrated.yaml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    run = cli("run", str(suite), "-o", str(results), env=cache)  # the machine's own powercap tree, not the fake
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (path,) = [p for p in results.glob("*.json") if p.name != "idle-baseline.json"]
    rec = json.loads(path.read_text())
    energy = rec["phases"]["train"]["energy"]
    df = greenbench.load_results(results)

    if probe_sensors().rapl == "readable":  # real counters here: they win over any curve
        assert energy["provenance"]["cpu"] == "measured:rapl"
        return
    assert energy["provenance"]["cpu"] == "estimated:calibrated"
    detail = energy["provenance_detail"]["cpu"]
    assert detail["curve"] == stored and detail["fit_rel_error"] == pytest.approx(curve["rel_error"])
    assert "calibrated curve" in energy["interval"]["basis"]["cpu"]
    low, high = energy["interval"]["cpu_kwh"]
    assert low <= energy["cpu_kwh"] <= high
    # the curve's power range bounds the estimated CPU power (20–50 W on the fake tree's line)
    watts = [w for _, w in curve["points"]]
    assert min(watts) * 0.99 <= energy["cpu_power_w"] <= max(watts) * 1.01
    assert df.iloc[0]["cpu_energy_source"] == "estimated:calibrated"
    assert df.iloc[0]["train_energy_kwh_low"] <= df.iloc[0]["train_energy_kwh"] <= df.iloc[0]["train_energy_kwh_high"]
