"""Record the samples behind tests/e2e/test_compare_recorded.py: real repeated runs, once, by hand.

    GREENBENCH_DATA_DIR=/path/to/mnist python tests/e2e/data/record_compare_samples.py

(on a machine shared with other work, as root: ``nice -n -15 python …``, so that the samples show
this machine's own scatter rather than the neighbours' load; the niceness is recorded).

Runs a small suite (torch MLP and CNN, five seeds) twice with the real CLI — a "base" and a
"head" side of the same configuration, interleaved seed by seed (base s0, head s0, base s1, …)
so that the drift of a shared machine falls on both sides alike — and writes what
``greenbench compare`` reads from each record (per-phase wall and CPU time and energy, test
accuracy and loss) to ``compare_samples.json`` next to this file, with the machine and the
energy provenance they came from. The test rebuilds records from these numbers, so an A/A
comparison of real scatter runs the same every time instead of drawing fresh timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SEEDS = range(5)  # Mann-Whitney U needs ≥ 4 repeats a side to reach p < 0.05
SUITE = {
    "name": "aa",
    "data": {"dataset": "mnist", "train_samples": 3000, "test_samples": 500, "validation_samples": 100},
    "matrix": {"backend": ["torch"], "model": ["mlp", "cnn"], "optimizer": ["adam"], "seed": list(SEEDS)},
    "models": {"mlp": {"hidden": [64]}, "cnn": {"channels": [8, 16], "dense": 32}},
    "training": {"epochs": 2, "batch_size": 64},
    "energy": {"country": "USA", "measure_power_secs": 0.5},
    "runner": {"latency_samples": 20},
}
ENERGY_KEYS = ("cpu_kwh", "gpu_kwh", "ram_kwh", "total_kwh", "co2_kg")


def summarize(rec: dict) -> dict:
    phases = {}
    for name, p in rec["phases"].items():
        e = p.get("energy") or {}
        phases[name] = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"], **{k: e.get(k) for k in ENERGY_KEYS}}
    return {"model": rec["config"]["model"], "seed": rec["config"]["seed"],
            "test_accuracy": rec["metrics"]["test_accuracy"], "test_loss": rec["metrics"]["test_loss"],
            "phases": phases}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "aa.yaml"
        suite.write_text(yaml.safe_dump(SUITE))
        for seed in SEEDS:
            for side in ("base", "head"):
                subprocess.run([sys.executable, "-m", "greenbench", "run", str(suite), "--results",
                                str(Path(tmp) / side), "--only", f"seed={seed}", "--quiet"], check=True)
        out: dict = {"suite": SUITE, "sides": {}}
        for side in ("base", "head"):
            recs = [json.loads(p.read_text()) for p in sorted((Path(tmp) / side).glob("*.json"))]
            assert all(r["status"] == "completed" for r in recs), [r["reason"] for r in recs]
            out["sides"][side] = sorted((summarize(r) for r in recs), key=lambda s: (s["model"], s["seed"]))
        first = recs[0]
        energy = first["phases"]["train"]["energy"]
        out["machine"] = {"cpu": first["env"]["cpu"]["model"], "logical_cores": first["env"]["cpu"]["logical_cores"],
                          "niceness": os.nice(0),
                          "recorded_at": first["started_at"], "greenbench": first["greenbench_version"],
                          "torch": first["env"]["versions"]["torch"],
                          "codecarbon": first["env"]["versions"]["codecarbon"]}
        out["energy"] = {"energy_source": energy["energy_source"], "provenance": energy["provenance"],
                         "country": energy["country"],
                         "carbon_intensity_g_per_kwh": energy["carbon_intensity_g_per_kwh"]}
    (HERE / "compare_samples.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {HERE / 'compare_samples.json'}")


if __name__ == "__main__":
    main()
