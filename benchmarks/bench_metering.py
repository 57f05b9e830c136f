"""Benchmark the metering overhead: the same fixed workload with metering on vs off.

Run:  python benchmarks/bench_metering.py [--repeat 7] [--epochs 3] [--batches 300] [--measure-power-secs 0.5] [--threads 1]

The workload is a small MLP trained with plain numpy (forward, backward, SGD step; matmuls
on all cores through BLAS), organised like a greenbench run: epochs of mini-batches.

* off: the bare loop, timed with ``time.perf_counter()`` only; no meter exists in the process.
* on:  the same loop inside a :class:`greenbench.measure.PhaseRecorder` with energy metering
  (real codecarbon, offline, sampling every ``--measure-power-secs``): one ``train`` window
  and one ``train/epoch-N`` window per epoch, with a sync callback at every boundary, as the
  runner does. The recorder is created before and closed after the timed region (the runner
  also starts it before the first phase), so the figure is the cost *during* the phases:
  codecarbon's sampling threads, the boundary samples, the memory high-water-mark resets.

Both wall time and process CPU time are reported: CPU time includes the metering threads'
own work and is far less sensitive to other load on a shared machine than wall time.
Repetitions alternate the order (off/on, on/off, ...) so drift of a shared machine cancels
out. Prints each pair, the medians and their ratio (target ≤ 1.02×), and checks that both
variants computed the same weights (the metering must not change the work).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any


def _threads_from_argv(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# BLAS threads must be fixed before numpy loads its BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv(sys.argv[1:])

import numpy as np  # noqa: E402

from greenbench.measure import PhaseRecorder  # noqa: E402


def make_data(seed: int = 0, n: int = 3840) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=n)
    return x, y


def train(x: np.ndarray, y: np.ndarray, epochs: int, batches: int, rec: PhaseRecorder | None) -> np.ndarray:
    """An MLP 784-512-10 with ReLU and softmax cross-entropy, SGD, fixed order: deterministic."""
    rng = np.random.default_rng(1)
    w1 = (rng.standard_normal((784, 512)) * 0.05).astype(np.float32)
    w2 = (rng.standard_normal((512, 10)) * 0.05).astype(np.float32)
    bs = 128
    held = len(x) // bs  # the data holds this many batches; an epoch cycles through them
    onehot = np.eye(10, dtype=np.float32)[y]
    for epoch in range(1, epochs + 1):
        window = rec.phase(f"train/epoch-{epoch}") if rec is not None else None
        if window is not None:
            window.__enter__()
        for b in range(batches):
            k = b % held
            xb, tb = x[k * bs:(k + 1) * bs], onehot[k * bs:(k + 1) * bs]
            h = np.maximum(xb @ w1, 0.0)
            logits = h @ w2
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = (p - tb) / bs
            gw2 = h.T @ g
            gh = (g @ w2.T) * (h > 0)
            gw1 = xb.T @ gh
            w1 -= 0.1 * gw1
            w2 -= 0.1 * gw2
        if window is not None:
            window.__exit__(None, None, None)
    return w2


def run_off(data: Any, epochs: int, batches: int) -> tuple[float, float, np.ndarray]:
    t0, c0 = time.perf_counter(), time.process_time()
    w = train(*data, epochs, batches, None)
    return time.perf_counter() - t0, time.process_time() - c0, w


def run_on(data: Any, epochs: int, batches: int, power_secs: float) -> tuple[float, float, np.ndarray, dict[str, Any]]:
    rec = PhaseRecorder({"country": "USA", "measure_power_secs": power_secs}, sync=lambda: None)
    try:
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        with rec.phase("train"):
            w = train(*data, epochs, batches, rec)
        dt, dc, dm = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
        phases = rec.take()
    finally:
        rec.close()
    phases["_other_threads_cpu_s"] = dc - dm  # codecarbon's sampling threads (BLAS runs on this thread)
    return dt, dc, w, phases


def micro_costs(power_secs: float, n: int = 300) -> tuple[float, float]:
    """(seconds per empty window with energy — open + close, per codecarbon sample), measured here."""
    rec = PhaseRecorder({"country": "USA", "measure_power_secs": power_secs}, sync=lambda: None)
    try:
        t0 = time.perf_counter()
        for i in range(n):
            with rec.phase(f"w{i}"):
                pass
        per_window = (time.perf_counter() - t0) / n
        rec.take()
        assert rec.meter is not None
        t0 = time.perf_counter()
        for _ in range(n):
            rec.meter.snapshot()
        per_sample = (time.perf_counter() - t0) / n
    finally:
        rec.close()
    return per_window, per_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="pairs of runs (medians are reported)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=300, help="mini-batches of 128 per epoch (~1 s per epoch on one core)")
    parser.add_argument("--measure-power-secs", type=float, default=0.5, help="codecarbon sampling interval")
    parser.add_argument("--threads", default="1", help="BLAS threads (default 1: steadier on a shared machine)")
    args = parser.parse_args(argv)

    data = make_data(n=min(args.batches, 30) * 128)
    # warm-up: BLAS threads, page faults, codecarbon's one-time hardware detection
    run_off(data, 1, args.batches)
    run_on(data, 1, args.batches, args.measure_power_secs)

    wall: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    phases: dict[str, Any] = {}
    sampler_cpu: list[float] = []
    for i in range(args.repeat):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for which in order:
            if which == "off":
                dt, dc, w_off = run_off(data, args.epochs, args.batches)
            else:
                dt, dc, w_on, phases = run_on(data, args.epochs, args.batches, args.measure_power_secs)
                sampler_cpu.append(phases.pop("_other_threads_cpu_s"))
            wall[which].append(dt)
            cpu[which].append(dc)
        if not np.array_equal(w_off, w_on):
            print("metering changed the computed weights", file=sys.stderr)
            return 1
        print(f"rep {i + 1}: wall off {wall['off'][-1]:.3f} s on {wall['on'][-1]:.3f} s "
              f"({wall['on'][-1] / wall['off'][-1]:.3f}x)   process CPU off {cpu['off'][-1]:.3f} s "
              f"on {cpu['on'][-1]:.3f} s ({cpu['on'][-1] / cpu['off'][-1]:.3f}x)")

    def summary(kind: str, d: dict[str, list[float]]) -> str:
        pairs = sorted(on / off for on, off in zip(d["on"], d["off"]))
        off_med, on_med = statistics.median(d["off"]), statistics.median(d["on"])
        return (f"{kind}: median off {off_med:.3f} s, on {on_med:.3f} s, ratio of medians "
                f"{on_med / off_med:.3f}x; pairwise ratios median {statistics.median(pairs):.3f}x "
                f"(min {pairs[0]:.3f}, max {pairs[-1]:.3f})")

    train_energy = phases["train"]["energy"]
    per_window, per_sample = micro_costs(args.measure_power_secs)
    run_s = statistics.median(wall["off"])
    windows = args.epochs + 1
    bound = (windows * per_window + run_s / args.measure_power_secs * per_sample + run_s * per_sample) / run_s
    print()
    print(f"workload: {args.epochs} epochs x {args.batches} batches of 128, numpy MLP 784-512-10, "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}, measure_power_secs={args.measure_power_secs}, "
          f"{os.cpu_count()} CPUs, load average before the run {os.getloadavg()[0]:.2f}")
    print(summary("wall time", wall) + "   (target <= 1.02x)")
    print(summary("process CPU time (workload + metering threads)", cpu))
    threads_cpu = statistics.median(sampler_cpu)
    print(f"metering threads' CPU time in a metered run: {threads_cpu * 1e3:.1f} ms "
          f"({threads_cpu / statistics.median(cpu['on']) * 100:.2f} % of the run's process CPU time)")
    print(f"direct costs: {per_window * 1e3:.3f} ms per window (open + close, two forced samples, memory "
          f"high-water marks), {per_sample * 1e3:.3f} ms per codecarbon sample; for this run "
          f"({windows} windows, a sample every {args.measure_power_secs:g} s plus codecarbon's 1 s monitor) "
          f"that is {1 + bound:.4f}x")
    print(f"last metered run: train {train_energy.get('total_kwh'):.3g} kWh ({train_energy.get('energy_source')}, "
          f"{train_energy.get('samples')} samples), {len(phases) - 1} epoch windows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
