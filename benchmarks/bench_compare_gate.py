"""How often does `greenbench compare`'s gate cry wolf, and how often does it catch a change?

Run:  python benchmarks/bench_compare_gate.py [--reports 500] [--workloads 4] [--repeats 5 6 8] [--cv 0.05 0.10]
                                              [--shared 0.5] [--seed 0]

Simulates whole comparisons — every workload × the four default metrics, as ``greenbench
compare`` judges them — through the product's own gate (:func:`greenbench.compare.stats.compare_family`,
bootstrap intervals skipped: they do not take part in the verdict) and reports, per
correction (``none``, ``bh``, ``holm``):

* **A/A**: the share of reports that flag anything at all, when nothing changed. This is
  what a CI job sees: one false flag fails it.
* **all +20 %**: every workload 20 % slower (energy and CO₂ follow); the share of workloads
  whose training-time row is flagged.
* **one +20 %**: one workload 20 % slower, the others unchanged; the share of reports that
  flag its training time.
* **acc −1.5 pp**: one workload's accuracy only (a single row) drops by 1.5 pp.

The noise model follows repeated CPU runs: training time log-normal with coefficient of
variation ``--cv``, of which the share ``--shared`` (of the variance) is common to every
workload of one repeat (the runs of one invocation share the machine's state); energy is
time × power with 2 % of its own noise; CO₂ is energy × a constant intensity; accuracy is the
same for the same seed on both sides (greenbench's runs are deterministic) except in the
accuracy scenario, where it varies by 0.3 pp between seeds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from greenbench.compare.stats import CORRECTIONS, Sample, compare_family

WATTS, INTENSITY = 65.0, 370.0


def _side(rng: np.random.Generator, workloads: int, repeats: int, cv: float, shared: float,
          factors: np.ndarray, acc: np.ndarray) -> dict[str, np.ndarray]:
    """(workloads × repeats) arrays of training time, energy, CO₂ and accuracy for one side."""
    sigma = np.sqrt(np.log1p(cv**2))
    common = rng.normal(0.0, sigma * np.sqrt(shared), size=(1, repeats))
    own = rng.normal(0.0, sigma * np.sqrt(1.0 - shared), size=(workloads, repeats))
    t = 10.0 * factors[:, None] * np.exp(common + own)
    kwh = t * WATTS / 3.6e6 * rng.lognormal(0.0, 0.02, size=t.shape)
    return {"train_time_s": t, "total_energy_kwh": kwh, "total_co2_kg": kwh * INTENSITY / 1000.0,
            "test_accuracy": acc}


def _report(rng, workloads, repeats, cv, shared, correction, slow, acc_drop):
    """Verdicts {(workload, metric): verdict} of one simulated comparison."""
    base_acc = np.full((workloads, repeats), 0.97)
    head_acc = base_acc.copy()  # the same seeds give the same accuracy on both sides
    if acc_drop:  # accuracy varies by 0.3 pp between seeds; one workload's drops
        base_acc = base_acc + rng.normal(0.0, 0.003, size=base_acc.shape)
        head_acc = head_acc + rng.normal(0.0, 0.003, size=head_acc.shape)
        head_acc[0] -= acc_drop
    base = _side(rng, workloads, repeats, cv, shared, np.ones(workloads), base_acc)
    head = _side(rng, workloads, repeats, cv, shared, slow, head_acc)
    keys, samples = [], []
    for w in range(workloads):
        for metric, values in base.items():
            higher = metric == "test_accuracy"
            samples.append(Sample(values[w], head[metric][w], "higher" if higher else "lower",
                                  "pp" if higher else "relative", 0.5 if higher else 0.10))
            keys.append((w, metric))
    family = compare_family(samples, alpha=0.05, correction=correction, n_resamples=0)
    return {k: r.verdict for k, r in zip(keys, family.rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=500, help="simulated comparisons per cell")
    ap.add_argument("--workloads", type=int, default=4)
    ap.add_argument("--repeats", type=int, nargs="+", default=[5, 6, 8])
    ap.add_argument("--cv", type=float, nargs="+", default=[0.05, 0.10])
    ap.add_argument("--shared", type=float, default=0.5, help="share of the timing variance common to a repeat")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    w = args.workloads
    print(f"{w} workloads × 4 metrics = {4 * w} rows per report, {args.reports} reports per cell, "
          f"shared timing variance {args.shared:.0%}, threshold 10 % (accuracy 0.5 pp), α = 0.05")
    print("| repeats | CV | correction | A/A: reports flagging anything | all +20 %: time rows flagged "
          "| one +20 %: flagged | acc −1.5 pp (one row): flagged |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    start = time.perf_counter()
    for n in args.repeats:
        for cv in args.cv:
            for corr in CORRECTIONS:
                rng = np.random.default_rng([args.seed, n, int(cv * 1000)])
                aa = all_hit = one_hit = acc_hit = 0
                everything = np.full(w, 1.2)
                lone = np.ones(w)
                lone[0] = 1.2
                for _ in range(args.reports):
                    v = _report(rng, w, n, cv, args.shared, corr, np.ones(w), 0.0)
                    aa += any(x in ("regressed", "improved") for x in v.values())
                    v = _report(rng, w, n, cv, args.shared, corr, everything, 0.0)
                    all_hit += sum(v[(i, "train_time_s")] == "regressed" for i in range(w))
                    v = _report(rng, w, n, cv, args.shared, corr, lone, 0.0)
                    one_hit += v[(0, "train_time_s")] == "regressed"
                    v = _report(rng, w, n, cv, args.shared, corr, np.ones(w), 0.015)
                    acc_hit += v[(0, "test_accuracy")] == "regressed"
                r = args.reports
                print(f"| {n} | {cv:.0%} | {corr} | {aa / r:.1%} | {all_hit / (r * w):.1%} | {one_hit / r:.1%} "
                      f"| {acc_hit / r:.1%} |", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
