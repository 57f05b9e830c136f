"""Accuracy and wall time of every model on both backends, full MNIST, on this machine.

Run by hand (not a test); it takes a while on a small CPU::

    python benchmarks/bench_accuracy.py                         # every model, both backends
    python benchmarks/bench_accuracy.py --models mlp cnn --backends torch --epochs 1
    python benchmarks/bench_accuracy.py --optimizer sgd             # settings of suites/mnist.yaml

Each (model, backend) trains in its own child process (one framework per process, as the
runner does), from the same initial weights and data order, and prints one table row:
model, backend, optimizer, epochs, train wall time, seconds per epoch, test accuracy. The
last column of the summary is the accuracy gap between the backends per model, which the
issue bounds by 0.5 pp.

The settings (data, per-model sizes, epochs, batch sizes, learning rates, optimizers, schedule)
come from a suite file: ``suites/mnist.yaml`` by default, the settings that reach the accuracy
targets; ``--suite`` picks another.
Data: ``GREENBENCH_DATA_DIR`` or the greenbench data lookup (``--data-dir``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The settings the accuracy targets are measured with live in the default suite (one source of truth).
DEFAULT_SUITE = os.path.join(ROOT, "suites", "mnist.yaml")
TARGETS = {"mlp": 0.975, "cnn": 0.988, "rnn": 0.980, "transformer": 0.970}
MAX_GAP_PP = 0.5


def _child(backend: str, spec_dict: dict[str, Any], data_dir: str | None, queue: Any) -> None:
    try:
        from greenbench.backends.base import Hooks, TrainData, get_backend
        from greenbench.data import load_dataset, to_float
        from greenbench.suite.plan import RunSpec
        from greenbench.workloads import initial_weights, make_augment, make_epoch_order

        spec = RunSpec.model_validate(spec_dict)
        ds = load_dataset(
            spec.data.dataset,
            data_dir,
            train_samples=spec.data.train_samples,
            test_samples=spec.data.test_samples,
            validation_samples=spec.data.validation_samples,
            seed=spec.data.seed,
            progress=False,
        )
        data = TrainData(
            x_train=to_float(ds.x_train), y_train=np.asarray(ds.y_train, np.int64),
            x_val=to_float(ds.x_val), y_val=np.asarray(ds.y_val, np.int64),
            x_test=to_float(ds.x_test), y_test=np.asarray(ds.y_test, np.int64),
            epoch_order=make_epoch_order(spec.seed, len(ds.y_train)),
            augment=make_augment(spec.training.augmentation, spec.seed),
        )
        be = get_backend(backend)
        be.setup(spec)
        t0 = time.perf_counter()
        be.build(spec, initial_weights(spec))
        build_s = time.perf_counter() - t0
        epoch_times: list[float] = []
        marks: dict[str, float] = {}

        def begin(epoch: int) -> None:
            marks["t"] = time.perf_counter()

        def end(stats: Any) -> bool:
            epoch_times.append(time.perf_counter() - marks["t"])
            print(f"  {backend:10s} {spec.model:11s} epoch {stats.epoch}: loss {stats.train_loss:.4f} "
                  f"train acc {stats.train_accuracy:.4f} val acc {stats.val_accuracy} "
                  f"({epoch_times[-1]:.1f} s)", flush=True)
            return False

        t0 = time.perf_counter()
        history = be.train(data, Hooks(on_epoch_begin=begin, on_epoch_end=end))
        be.synchronize()
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ev = be.evaluate(be.compress("none", data), data.x_test, data.y_test)
        eval_s = time.perf_counter() - t0
        queue.put({
            "backend": backend, "model": spec.model, "optimizer": spec.optimizer, "epochs": len(history),
            "params": be.param_count(), "build_s": build_s, "train_s": train_s, "eval_s": eval_s,
            "epoch_s": epoch_times, "test_accuracy": ev.accuracy, "test_loss": ev.loss,
            "threads": be.threads(), "versions": be.versions(),
        })
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        import traceback

        traceback.print_exc()
        queue.put({"backend": backend, "model": spec_dict.get("model"), "error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn", "rnn", "transformer"])
    ap.add_argument("--backends", nargs="+", default=["torch", "tensorflow"])
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "rmsprop"])
    ap.add_argument("--epochs", type=int, default=None, help="override every model's epochs")
    ap.add_argument("--train-samples", type=int, default=None, help="subset for a quick look (default: all)")
    ap.add_argument("--suite", default=DEFAULT_SUITE, help="take data/models/optimizers/training from this suite file")
    ap.add_argument("--data-dir", default=os.environ.get("GREENBENCH_DATA_DIR"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)

    from greenbench.suite import expand, parse_suite

    import yaml

    with open(args.suite) as fh:
        raw = yaml.safe_load(fh)
    base = {k: raw[k] for k in ("name", "data", "models", "optimizers", "training") if k in raw}
    base.setdefault("data", {})
    base.setdefault("training", {})
    if args.train_samples:
        base["data"]["train_samples"] = args.train_samples
    if args.threads:
        base["training"]["threads"] = args.threads
    if args.epochs:
        for m in args.models:
            base.setdefault("models", {}).setdefault(m, {})["epochs"] = args.epochs
    base["matrix"] = {"backend": args.backends, "model": args.models, "optimizer": [args.optimizer],
                      "seed": [args.seed]}
    specs = expand(parse_suite(base))

    ctx = mp.get_context("spawn")
    rows: list[dict[str, Any]] = []
    for spec in sorted(specs, key=lambda s: (args.models.index(s.model), args.backends.index(s.backend))):
        print(f"== {spec.backend} {spec.model} ({spec.optimizer}, {spec.training.epochs} epochs, "
              f"batch {spec.training.batch_size}, lr {spec.training.learning_rate}) arch={spec.arch}", flush=True)
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(spec.backend, spec.model_dump(mode="json"), args.data_dir, queue))
        proc.start()
        row = queue.get()
        proc.join()
        rows.append(row)

    print()
    print(f"{'model':12s} {'backend':11s} {'opt':5s} {'epochs':>6s} {'params':>8s} {'train s':>8s} "
          f"{'s/epoch':>8s} {'eval s':>7s} {'test acc':>9s} {'target':>7s}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:12s} {r['backend']:11s} FAILED: {r['error']}")
            continue
        per_epoch = float(np.mean(r["epoch_s"])) if r["epoch_s"] else float("nan")
        ok = "ok" if r["test_accuracy"] >= TARGETS[r["model"]] else "MISSED"
        print(f"{r['model']:12s} {r['backend']:11s} {r['optimizer']:5s} {r['epochs']:6d} {r['params']:8d} "
              f"{r['train_s']:8.1f} {per_epoch:8.1f} {r['eval_s']:7.2f} {r['test_accuracy'] * 100:8.2f}% "
              f"{TARGETS[r['model']] * 100:5.1f}% {ok}")
    print()
    for m in args.models:
        accs = {r["backend"]: r["test_accuracy"] for r in rows if r["model"] == m and "error" not in r}
        if len(accs) == 2:
            gap = abs(accs["torch"] - accs["tensorflow"]) * 100
            print(f"{m:12s} backend gap {gap:.2f} pp ({'ok' if gap <= MAX_GAP_PP else 'ABOVE'} {MAX_GAP_PP} pp)")
    if rows and "threads" in rows[0]:
        print(f"threads: {rows[0]['threads']}; cores visible: {os.cpu_count()}; load average at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
