"""The smoke suite on the local executor vs a two-node Ray cluster on this machine (loopback only).

Run by hand, as root (the cluster runs in a network namespace of its own, see tests/ray_support.py)::

    GREENBENCH_DATA_DIR=/path/to/mnist python benchmarks/bench_ray.py              # suites/smoke.yaml
    GREENBENCH_DATA_DIR=/path/to/mnist python benchmarks/bench_ray.py --suite X.yaml --only model=mlp

Prints, for each executor, the driver's wall time (``greenbench run``'s own, without the cluster's start-up),
then the wall-time ratio ray/local and what Ray adds per workload: the gap between one workload's last
record and the next workload's start on the same node (hand-out, data check, event round trips), and the
time on a node outside the measured windows (data loading and record building, as locally, and for a node's
first workload the wait for its framework imports). Both nodes of the loopback
cluster share this machine's CPUs, so the ratio says what Ray costs here, not what two machines would gain.
The idle baseline and the quiet-machine wait are off for both (GREENBENCH_IDLE_BASELINE_S=0,
GREENBENCH_QUIET_WAIT_S=0): they would add the same fixed waits to both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean, median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from ray_support import ADDRESS, ray_missing, run_on_cluster  # noqa: E402

WALL = re.compile(r"wall time\s+([0-9.]+) s")


def _wall(text: str) -> float:
    m = WALL.search(text)
    if not m:
        raise SystemExit(f"no wall time in the output:\n{text[-3000:]}")
    return float(m.group(1))


def _records(results: Path) -> list[dict]:
    out = []
    for p in results.glob("*.json"):
        rec = json.loads(p.read_text())
        if "run_id" in rec:
            out.append(rec)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default=str(ROOT / "suites" / "smoke.yaml"))
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    why = ray_missing()
    if why:
        raise SystemExit(f"cannot run: {why}")
    data = os.environ.get("GREENBENCH_DATA_DIR")
    if not data:
        raise SystemExit("set GREENBENCH_DATA_DIR to a local MNIST copy")
    work = Path(tempfile.mkdtemp(prefix="gbbench-ray-"))
    only = ["--only", args.only] if args.only else []
    env = {**os.environ, "GREENBENCH_IDLE_BASELINE_S": "0", "GREENBENCH_QUIET_WAIT_S": "0", "COLUMNS": "200"}

    local = subprocess.run([sys.executable, "-m", "greenbench", "run", args.suite, "--quiet", "--results",
                            str(work / "local"), *only], capture_output=True, text=True, env=env)
    if local.returncode != 0:
        raise SystemExit(local.stdout + local.stderr)
    local_wall = _wall(local.stdout)

    quiet = "GREENBENCH_IDLE_BASELINE_S=0 GREENBENCH_QUIET_WAIT_S=0"
    driver = (f"env GREENBENCH_DATA_DIR={data} {quiet} {sys.executable} -m greenbench run {args.suite} --quiet "
              f"--results {work / 'ray'} --executor ray --address {ADDRESS} {' '.join(only)}")
    began = time.monotonic()
    cluster = run_on_cluster(driver, workdir=_mk(work / "cluster"),
                             head_env={"GREENBENCH_DATA_DIR": data, "GREENBENCH_QUIET_WAIT_S": "0"},
                             worker_env={"GREENBENCH_CACHE_DIR": str(work / "cluster" / "worker-cache"),
                                         "GREENBENCH_QUIET_WAIT_S": "0"})
    total = time.monotonic() - began
    if cluster.returncode != 0:
        raise SystemExit(cluster.stdout + cluster.stderr)
    ray_wall = _wall(cluster.stdout)

    recs = _records(work / "ray")
    by_workload: dict[str, list[dict]] = {}
    for r in recs:
        by_workload.setdefault(r["workload_id"], []).append(r)
    per_node: dict[str, list[tuple[float, float]]] = {}
    outside = []
    for wid, rs in by_workload.items():
        start = min(r["node"]["started_unix"] for r in rs)
        end = max(r["node"]["recorded_unix"] for r in rs)
        per_node.setdefault(rs[0]["node"]["id"], []).append((start, end))
        measured = sum(p["wall_s"] for r in rs for name, p in r["phases"].items() if "/" not in name)
        outside.append(end - start - measured)
    gaps = []
    for spans in per_node.values():
        spans.sort()
        gaps += [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    statuses = sorted({r["status"] for r in recs})
    print(f"suite {args.suite} {' '.join(only)}: {len(recs)} runs, {len(by_workload)} workloads; ray statuses {statuses}")
    print(f"local executor wall       {local_wall:8.1f} s")
    print(f"ray, 2 loopback nodes     {ray_wall:8.1f} s   (cluster start-up and stop included: {total:.1f} s)")
    print(f"ratio ray / local         {ray_wall / local_wall:8.2f}")
    print(f"workloads per node        {', '.join(str(len(v)) for v in per_node.values())}")
    if gaps:
        print(f"gap between workloads on a node: mean {mean(gaps):.2f} s, median {median(gaps):.2f} s, "
              f"max {max(gaps):.2f} s ({len(gaps)} gaps)")
    print(f"node time outside measured windows per workload: mean {mean(outside):.2f} s, median {median(outside):.2f} s")
    print(f"results: {work}")


def _mk(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    main()
