"""Numbers on a noisy machine: training time quiet vs beside one busy neighbour, for both frameworks × threads
(1, all, default) × OpenMP wait policy (passive, active) × loop style (parity, idiomatic).

Run by hand on an otherwise quiet machine (not a test; check ``uptime`` first)::

    python benchmarks/bench_noisy.py                       # full MNIST training set, 1 epoch, MLP 784-128-10
    python benchmarks/bench_noisy.py --train-samples 6000  # a quick look

Each *round* is one ``greenbench run`` of the same suite — ``backend: [torch, tensorflow]``,
``threads: [1, all, default]``, ``loop: [parity, idiomatic]`` (12 runs) — under one wait policy (``runner.omp_wait_policy``), once on the quiet
machine and once beside a neighbour process that spins one core (``python -c "while True: pass"``). Rounds are
interleaved (passive quiet, passive busy, active busy, active quiet, …: ABBA) so drift falls on every cell. The
quiet-machine policy is off (``quiet_wait_s: 0``: the busy rounds must measure beside the neighbour) and
energy metering is off (time is what is compared; energy on this machine is a model of load × time anyway).

Prints, per framework, loop, threads and wait policy: the median training time (``train_time_s``) quiet and
busy, the slowdown busy / quiet, and the co-tenancy greenbench recorded (share of the machine other processes
used, and whether the run was marked contaminated). Then each framework's own default thread pools on this
machine (what it picks when nobody sets them), for the "which default is fair" question of docs/noisy-machine.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
name: noisy-{tag}
data: {{train_samples: {train}, test_samples: 1000, validation_samples: 1000}}
matrix:
  backend: [torch, tensorflow]
  model: [mlp]
  threads: [1, all, default]
  loop: [parity, idiomatic]
models:
  mlp: {{hidden: [128], dropout: 0.2}}
training: {{epochs: {epochs}, batch_size: 32}}
energy: {{enabled: false}}
runner: {{latency_samples: 10, inference_batch: 1000, quiet_wait_s: 0, omp_wait_policy: {wait}}}
"""

DEFAULTS_PROBE = {
    "torch": "import torch; print(torch.get_num_threads(), torch.get_num_interop_threads())",
    "tensorflow": ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import tensorflow as tf; "
                   "print(tf.config.threading.get_intra_op_parallelism_threads(), "
                   "tf.config.threading.get_inter_op_parallelism_threads())"),
}


def _round(workdir: Path, wait: str, busy: bool, train: int, epochs: int, n: int) -> list[dict]:
    tag = f"{wait}-{'busy' if busy else 'quiet'}-{n}"
    suite = workdir / f"{tag}.yaml"
    suite.write_text(SUITE.format(tag=tag, train=train, epochs=epochs, wait=wait))
    out = workdir / tag
    env = {**os.environ, "GREENBENCH_IDLE_BASELINE_S": "0"}
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        time.sleep(1.0 if busy else 0.0)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "greenbench", "run", str(suite), "-o", str(out), "-q"],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    if done.returncode != 0:
        raise SystemExit(f"round {tag} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rows = []
    for path in out.glob("*.json"):
        rec = json.loads(path.read_text())
        if "run_id" not in rec:
            continue
        cfg, cot = rec["config"], rec.get("cotenancy") or {}
        rows.append({
            "backend": cfg["backend"], "loop": cfg["loop"], "threads": str(cfg["threads"]), "wait": wait,
            "busy": busy, "status": rec["status"], "reason": rec.get("reason"),
            "train_s": (rec["phases"].get("train") or {}).get("wall_s"),
            "accuracy": rec["metrics"].get("test_accuracy"), "other_share": cot.get("max_other_share"),
            "contaminated": cot.get("contaminated"),
            "recorded_wait": (rec["metrics"].get("threads") or {}).get("omp_wait_policy"),
        })
    print(f"  round {tag}: {len(rows)} runs in {wall:.0f} s", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-samples", type=int, default=55000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="ABBA blocks (each: every wait policy, quiet and busy)")
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average before: {load:.2f} on {os.cpu_count()} logical CPUs", flush=True)

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="greenbench-noisy-") as tmp:
        n = 0
        for _ in range(args.repeat):
            for wait, busy in (("passive", False), ("passive", True), ("active", True), ("active", False)):
                n += 1
                rows += _round(Path(tmp), wait, busy, args.train_samples, args.epochs, n)

    cells: dict[tuple, dict[bool, list[float]]] = defaultdict(lambda: defaultdict(list))
    share: dict[tuple, list[float]] = defaultdict(list)
    flagged: dict[tuple, list[bool]] = defaultdict(list)
    acc: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r["status"] != "completed":
            print(f"  not completed: {r['backend']} {r['loop']} threads {r['threads']} {r['wait']}: {r['reason']}")
            continue
        key = (r["backend"], r["loop"], r["threads"], r["wait"])
        cells[key][r["busy"]].append(r["train_s"])
        acc[key].append(r["accuracy"])
        if r["busy"]:
            share[key].append(r["other_share"] or 0.0)
        flagged[(key, r["busy"])].append(bool(r["contaminated"]))

    print("\nframework   loop       threads wait     quiet s  busy s  busy/quiet  neighbours' share  "
          "contaminated (quiet, busy)  accuracy")
    for key in sorted(cells):
        q, b = statistics.median(cells[key][False]), statistics.median(cells[key][True])
        fq = sum(flagged[(key, False)]), len(flagged[(key, False)])
        fb = sum(flagged[(key, True)]), len(flagged[(key, True)])
        print(f"{key[0]:<11} {key[1]:<10} {key[2]:<7} {key[3]:<8} {q:7.2f} {b:7.2f}  {b / q:9.2f}×  "
              f"{statistics.median(share[key]):17.0%}  {fq[0]}/{fq[1]}, {fb[0]}/{fb[1]}"
              f"{'':15} {statistics.median(acc[key]):.3f}")

    print("\neach framework's own default thread pools here (intra-op, inter-op; 0 = the runtime decides):")
    for backend, code in DEFAULTS_PROBE.items():
        got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        print(f"  {backend}: {got.stdout.strip() or got.stderr.strip()[-200:]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
