"""What greenbench's harness costs: measured training vs a bare training loop, and a whole suite's overhead.

Run by hand (not a test)::

    python benchmarks/bench_harness.py                      # both parts
    python benchmarks/bench_harness.py --part train --repeat 5 --models mlp cnn
    python benchmarks/bench_harness.py --part suite --suite suites/smoke.yaml --suite-repeat 8

**train** — per backend, in a spawned child process (one framework per process, as the runner
does), the same model is trained from the same initial weights and data order, alternately:

* *bare*: a hand-written loop in the same framework on the same built model — stock Adam (torch.optim /
  Keras), cross-entropy, in-memory batches in the same order (a ``tf.function`` step for TensorFlow),
  validation accuracy after each epoch — timed with ``time.perf_counter()``; no meter exists;
* *greenbench*: the way the runner trains, ``backend.train`` (parity optimizers, per-epoch train loss
  and accuracy, validation loss and accuracy, the schedule) inside a :class:`~greenbench.measure.PhaseRecorder` with
  real offline codecarbon, a ``train`` window and one ``train/epoch-N`` window per epoch opened by
  the training hooks, the device synchronized at every boundary.

Repetitions alternate the order (bare/measured, measured/bare, …) so a shared machine's drift falls
on both; the model is rebuilt from the same initial weights before each timing (not timed). Prints
the medians and the ratio greenbench/bare per model (target ≤ 1.05×). The default is the MLP on the
full training set: 55,000 images × 2 epochs.

**suite** — ``greenbench run`` of a suite file with the real CLI into a temporary directory: the
command's wall time against the sum of the measured phase windows in its records (setup, train,
evaluate, compress, latency, inference). The difference is the fixed cost around the work: starting
the CLI and one worker per backend (importing the framework), the machine fingerprint, codecarbon's
start-up, writing records. Target ≤ 1.25× on the smoke suite. ``--suite-repeat N`` runs it N times
(median and range). ``--cold-cpuinfo`` forgets the per-machine py-cpuinfo answer before each run, as
on a machine's first ``greenbench run`` (codecarbon then asks py-cpuinfo, which takes about a second).

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
            "data": {"dataset": "mnist", "test_samples": 1000, "validation_samples": 5000,
                     **({"train_samples": train_samples} if train_samples else {})},
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
            loop = _bare_torch if backend == "torch" else _bare_tensorflow
            return loop(be.model, data, spec)

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


def _bare_torch(model: Any, data: Any, spec: Any) -> float:
    """What a user would write: stock Adam, cross-entropy, in-memory batches, validation each epoch."""
    import torch
    import torch.nn.functional as F

    t = spec.training
    opt = torch.optim.Adam(model.parameters(), lr=t.learning_rate)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    xv, yv = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    t0 = time.perf_counter()
    for epoch in range(t.epochs):
        model.train()
        order = torch.from_numpy(data.epoch_order(epoch))
        for i in range(0, len(order), t.batch_size):
            idx = order[i : i + t.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            float((model(xv).argmax(1) == yv).float().mean())
    return time.perf_counter() - t0


def _bare_tensorflow(model: Any, data: Any, spec: Any) -> float:
    """What a user would write: stock Keras Adam, a tf.function train step over in-memory tensors."""
    import keras
    import tensorflow as tf

    t = spec.training
    opt = keras.optimizers.Adam(learning_rate=t.learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = tf.constant(data.x_train), tf.constant(data.y_train)
    xv, yv = tf.constant(data.x_val), tf.constant(data.y_val)

    @tf.function(reduce_retracing=True)
    def step(idx: Any) -> Any:
        xb, yb = tf.gather(x, idx), tf.gather(y, idx)
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def val_acc() -> Any:
        return tf.reduce_mean(tf.cast(tf.argmax(model(xv, training=False), 1) == yv, tf.float32))

    t0 = time.perf_counter()
    for epoch in range(t.epochs):
        order = data.epoch_order(epoch)
        for i in range(0, len(order), t.batch_size):
            step(tf.constant(order[i : i + t.batch_size]))
        float(val_acc())
    return time.perf_counter() - t0


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
    print(f"\ntraining: {args.train_samples or 'all'} images × {args.epochs} epochs, batch 64, {args.repeat} alternating "
          f"repeats, medians")
    print(f"{'backend':<11} {'model':<12} {'bare s':>8} {'greenbench s':>13} {'ratio':>7}")
    for r in rows:
        print(f"{r['backend']:<11} {r['model']:<12} {r['bare_s']:>8.3f} {r['measured_s']:>13.3f} {r['ratio']:>6.3f}×")
    return rows


def _suite_once(suite: str, cold_cpuinfo: bool) -> dict[str, Any]:
    if cold_cpuinfo:
        from greenbench.data.cache import cache_root

        for kept in (cache_root() / "machine").glob("cpuinfo-*.json"):
            kept.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "greenbench", "run", suite, "--results", str(out), "--quiet"],
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
    print(f"suite {suite}: command wall {wall:.1f} s; measured phases {work:.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in sorted(phases.items()))}); "
          f"ratio {wall / work:.2f}× (fixed cost {wall - work:.1f} s)", flush=True)
    return {"wall_s": wall, "phases_s": phases, "ratio": wall / work}


def part_suite(args: argparse.Namespace) -> dict[str, Any]:
    if args.suite_repeat < 1:
        raise SystemExit(f"--suite-repeat {args.suite_repeat}: must be at least 1")
    runs = [_suite_once(args.suite, args.cold_cpuinfo) for _ in range(args.suite_repeat)]
    ratios = [r["ratio"] for r in runs]
    fixed = [r["wall_s"] - sum(r["phases_s"].values()) for r in runs]
    print(f"\nsuite overhead over {len(runs)} run(s): median {statistics.median(ratios):.2f}× "
          f"(range {min(ratios):.2f}–{max(ratios):.2f}×; fixed cost {min(fixed):.1f}–{max(fixed):.1f} s); "
          "target ≤ 1.25×")
    return {"suite": args.suite, "runs": runs, "median_ratio": statistics.median(ratios)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["train", "suite", "both"], default="both")
    ap.add_argument("--backends", nargs="+", default=["torch", "tensorflow"])
    ap.add_argument("--models", nargs="+", default=["mlp"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--train-samples", type=int, default=None, help="default: all (55,000 after validation)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--suite", default=str(ROOT / "suites" / "smoke.yaml"))
    ap.add_argument("--suite-repeat", type=int, default=1, help="run the suite this many times (median, range)")
    ap.add_argument("--cold-cpuinfo", action="store_true", help="forget the cached py-cpuinfo answer before each suite run")
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
