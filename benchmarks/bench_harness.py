"""What greenbench's harness costs: measured training vs a bare training loop, and a whole suite's overhead.

Run by hand (not a test)::

    python benchmarks/bench_harness.py                      # both parts
    python benchmarks/bench_harness.py --part train --repeat 5 --models mlp cnn
    python benchmarks/bench_harness.py --part suite --suite suites/smoke.yaml

**train** — per backend, in a spawned child process (one framework per process, as the runner
does), the same model is trained from the same initial weights and data order, alternately:

* *bare*: ``backend.train(data, Hooks())`` timed with ``time.perf_counter()``; no meter exists;
* *measured*: the way the runner trains: inside a :class:`~greenbench.measure.PhaseRecorder` with
  real offline codecarbon, a ``train`` window and one ``train/epoch-N`` window per epoch opened by
  the training hooks, the device synchronized at every boundary.

Repetitions alternate the order (bare/measured, measured/bare, …) so a shared machine's drift falls
on both; the model is rebuilt before each timing (not timed). Prints the medians and the ratio
measured/bare per model (target ≤ 1.05×).

**suite** — ``greenbench run`` of a suite file with the real CLI into a temporary directory: the
command's wall time against the sum of the measured phase windows in its records (setup, train,
evaluate, compress, latency, inference). The difference is the fixed cost around the work: starting
the CLI and one worker per backend (importing the framework), the machine fingerprint, codecarbon's
start-up, writing records. Target ≤ 1.25× on the smoke suite.

Data: ``GREENBENCH_DATA_DIR`` or the greenbench data lookup.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _train_child(backend: str, models: list[str], repeat: int, train_samples: int, epochs: int, queue: Any) -> None:
    from greenbench.backends.base import Hooks, TrainData, get_backend
    from greenbench.data import load_dataset, to_float
    from greenbench.measure import PhaseRecorder
    from greenbench.suite import expand, parse_suite
    from greenbench.workloads import initial_weights, make_epoch_order

    rows = []
    for model in models:
        suite = {
            "name": "bench-harness",
            "data": {"dataset": "mnist", "train_samples": train_samples, "test_samples": 1000,
                     "validation_samples": 1000},
            "matrix": {"backend": [backend], "model": [model], "optimizer": ["adam"]},
            "training": {"epochs": epochs, "batch_size": 64},
            "energy": {"country": "USA", "measure_power_secs": 0.5},
        }
        spec = expand(parse_suite(suite))[0]
        d = spec.data
        ds = load_dataset(d.dataset, d.dir, train_samples=d.train_samples, test_samples=d.test_samples,
                          validation_samples=d.validation_samples, seed=d.seed, progress=False)
        data = TrainData(
            x_train=to_float(ds.x_train), y_train=ds.y_train.astype("int64"), x_val=to_float(ds.x_val),
            y_val=ds.y_val.astype("int64"), x_test=to_float(ds.x_test), y_test=ds.y_test.astype("int64"),
            epoch_order=make_epoch_order(spec.seed, len(ds.y_train)),
        )
        be = get_backend(backend)
        be.setup(spec)
        weights = initial_weights(spec)
        meter = PhaseRecorder(spec.energy, sync=be.synchronize, device_memory=be.peak_device_memory)

        def bare() -> float:
            be.build(spec, weights)
            be.synchronize()
            t0 = time.perf_counter()
            be.train(data, Hooks())
            be.synchronize()
            return time.perf_counter() - t0

        def measured() -> float:
            from contextlib import ExitStack

            be.build(spec, weights)
            stack = ExitStack()

            def begin(epoch: int) -> None:
                stack.enter_context(meter.phase(f"train/epoch-{epoch}"))

            def end(stats: Any) -> bool:
                stack.close()
                return False

            t0 = time.perf_counter()
            with meter.phase("train"):
                be.train(data, Hooks(on_epoch_begin=begin, on_epoch_end=end))
            elapsed = time.perf_counter() - t0
            meter.take()
            return elapsed

        bare()  # warm-up: first-call costs (tracing, allocator) belong to neither side
        times: dict[str, list[float]] = {"bare": [], "measured": []}
        for i in range(repeat):
            order = (bare, measured) if i % 2 == 0 else (measured, bare)
            for fn in order:
                times[fn.__name__].append(fn())
        meter.close()
        b, m = statistics.median(times["bare"]), statistics.median(times["measured"])
        rows.append({"backend": backend, "model": model, "bare_s": b, "measured_s": m, "ratio": m / b,
                     "bare_all": times["bare"], "measured_all": times["measured"]})
    queue.put(rows)


def part_train(args: argparse.Namespace) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    rows: list[dict[str, Any]] = []
    for backend in args.backends:
        q = ctx.Queue()
        p = ctx.Process(target=_train_child, args=(backend, args.models, args.repeat, args.train_samples,
                                                   args.epochs, q))
        p.start()
        rows += q.get()
        p.join()
    print(f"\ntraining: {args.train_samples} images × {args.epochs} epochs, batch 64, {args.repeat} alternating "
          f"repeats, medians")
    print(f"{'backend':<11} {'model':<12} {'bare s':>8} {'measured s':>11} {'ratio':>7}")
    for r in rows:
        print(f"{r['backend']:<11} {r['model']:<12} {r['bare_s']:>8.3f} {r['measured_s']:>11.3f} {r['ratio']:>6.3f}×")
    return rows


def part_suite(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "greenbench", "run", args.suite, "--results", str(out), "--quiet"],
                       check=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        phases: dict[str, float] = {}
        for path in out.glob("*.json"):
            rec = json.loads(path.read_text())
            for name, ph in (rec.get("phases") or {}).items():
                if "/" in name:  # epoch windows nest inside "train"
                    continue
                key = name.split("-")[0] if name.startswith("evaluate") else name
                phases[key] = phases.get(key, 0.0) + float(ph.get("wall_s") or 0.0)
    work = sum(phases.values())
    print(f"\nsuite {args.suite}: command wall {wall:.1f} s; measured phases {work:.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in sorted(phases.items()))}); "
          f"ratio {wall / work:.2f}× (fixed cost {wall - work:.1f} s)")
    return {"suite": args.suite, "wall_s": wall, "phases_s": phases, "ratio": wall / work}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["train", "suite", "both"], default="both")
    ap.add_argument("--backends", nargs="+", default=["torch", "tensorflow"])
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--train-samples", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--suite", default=str(ROOT / "suites" / "smoke.yaml"))
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if args.part in ("train", "both"):
        out["train"] = part_train(args)
    if args.part in ("suite", "both"):
        out["suite"] = part_suite(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
