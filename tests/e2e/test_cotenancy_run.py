"""Co-tenancy through the real CLI: a real busy-loop process beside a run marks its record contaminated, and
``load_results`` says so; without it, on an otherwise quiet machine, the run is clean. Flags and recorded fields
are asserted, never a time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest
from e2e_support import run_cli
from machine_support import nvidia_gpu_processes

import greenbench

pytestmark = pytest.mark.slow  # trains a tiny torch MLP through the real CLI

SUITE = """
name: cotenancy
data: {{train_samples: 300, test_samples: 100, validation_samples: 50}}
matrix:
  backend: [torch]
  model: [mlp]
models:
  mlp: {{hidden: [16]}}
training: {{epochs: 1, batch_size: 64}}
energy: {{enabled: false}}
runner: {{latency_samples: 10, inference_batch: 100, cotenancy_threshold: {threshold}}}
"""


def _run(tmp_path: Path, threshold: float, *args: str, env: dict[str, str] | None = None,
         code: int = 0) -> tuple[dict, "greenbench.pd.DataFrame"]:  # type: ignore[name-defined]
    suite = tmp_path / "cotenancy.yaml"
    suite.write_text(SUITE.format(threshold=threshold))
    results = tmp_path / "results"
    done = run_cli("run", str(suite), "-o", str(results), *args, extra_env=env)
    assert done.returncode == code, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = [p for p in results.glob("*.json") if p.name != "idle-baseline.json"]
    return json.loads(path.read_text()), greenbench.load_results(results)


def test_a_busy_neighbour_marks_the_run_contaminated(tmp_path: Path, mnist_dir: Path,
                                                     busy_neighbour: subprocess.Popen) -> None:
    # one busy core is 1/cpus of the machine: judge at a quarter of that, whatever the core count
    threshold = 0.25 / (psutil.cpu_count() or 1)
    rec, df = _run(tmp_path, threshold)
    assert rec["status"] == "completed"
    verdict = rec["cotenancy"]
    assert verdict["contaminated"] is True and verdict["threshold"] == pytest.approx(threshold)
    assert "of the machine's CPU during" in verdict["reason"]
    assert rec["phases"]["inference"]["cotenancy"]["other_cpu_s"] > 0
    row = df.iloc[0]
    assert bool(row["contaminated"]) is True and row["contamination_reason"] == verdict["reason"]
    assert row["max_other_cpu_share"] == pytest.approx(verdict["max_other_share"])


def _busy_share(seconds: float = 1.0) -> float:
    """What other processes use now, as a fraction of the machine (an independent probe, before the run)."""
    return psutil.cpu_percent(interval=seconds) / 100.0


def test_without_a_neighbour_the_run_is_clean(tmp_path: Path, mnist_dir: Path) -> None:
    if _busy_share() > 0.05:
        pytest.skip("the machine is busy with other work: the clean case needs an otherwise quiet machine")
    # A process holding a context on an NVIDIA GPU (a laptop's or workstation's display server) is a GPU
    # neighbour by definition (greenbench.measure.cotenancy), and such a machine never runs clean: there the
    # verdict must name the GPU, and only the GPU — the CPU part of the judgement is still clean.
    gpu_neighbours = nvidia_gpu_processes() - {os.getpid()}
    rec, df = _run(tmp_path, 0.10)
    verdict = rec["cotenancy"]
    assert verdict["max_other_share"] is not None and verdict["max_other_share"] <= 0.10, verdict
    if gpu_neighbours:
        assert verdict["contaminated"] is True, (verdict, gpu_neighbours)
        assert verdict["reason"].startswith("another process used a GPU during "), verdict
        assert "of the machine's CPU" not in verdict["reason"]
        assert bool(df.iloc[0]["contaminated"]) is True and df.iloc[0]["contamination_reason"] == verdict["reason"]
        return
    assert verdict["contaminated"] is False and verdict["reason"] is None
    assert bool(df.iloc[0]["contaminated"]) is False and df.iloc[0]["contamination_reason"] is None


def test_the_quiet_wait_is_bounded_and_what_it_saw_is_recorded(tmp_path: Path, mnist_dir: Path,
                                                               busy_neighbour: subprocess.Popen) -> None:
    threshold = 0.25 / (psutil.cpu_count() or 1)
    rec, _ = _run(tmp_path, threshold, env={"GREENBENCH_QUIET_WAIT_S": "1.5"})
    assert rec["status"] == "completed"  # the wait is bounded: the run goes ahead, and is marked
    seen = rec["quiet"]
    assert seen["quiet"] is False and seen["probes"] >= 2 and seen["waited_s"] >= 1.5
    assert seen["max_share"] > threshold and seen["threshold"] == pytest.approx(threshold)
    assert rec["cotenancy"]["contaminated"] is True


def test_require_quiet_refuses_to_measure_beside_a_busy_neighbour(tmp_path: Path, mnist_dir: Path,
                                                                  busy_neighbour: subprocess.Popen) -> None:
    threshold = 0.25 / (psutil.cpu_count() or 1)
    rec, df = _run(tmp_path, threshold, "--require-quiet", code=1)
    assert rec["status"] == "failed"
    assert rec["reason"].startswith("the machine is busy: other processes used ")
    assert "--require-quiet refuses to measure beside them" in rec["reason"]
    assert "phases" not in rec or not rec["phases"]  # nothing was measured
    assert df.iloc[0]["status"] == "failed"
