"""Synthetic but schema-valid suites for report tests (built on the root ``make_record`` fixture).

Numbers follow plausible patterns (CNNs more accurate and costlier than MLPs, TensorFlow a
little slower, seeds scatter) so the figures have something to show; nothing here is a
measurement.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any, Callable

import numpy as np

MakeRecord = Callable[..., dict[str, Any]]


@lru_cache(maxsize=10)
def _glyph(d: int) -> np.ndarray:
    """A 28×28 image of digit ``d``, drawn once with matplotlib's Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(0.28, 0.28), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.45, str(d), ha="center", va="center", fontsize=17, fontweight="bold")
    canvas.draw()
    return 255.0 - np.asarray(canvas.buffer_rgba())[:28, :28, :3].mean(axis=2)


def digit_images(labels: list[int], seed: int = 0) -> np.ndarray:
    """28×28 uint8 images of the digits, shifted by a pixel or two, plus a little noise."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i, d in enumerate(labels):
        img = np.roll(_glyph(int(d)), (int(rng.integers(-1, 2)), int(rng.integers(-2, 3))), axis=(0, 1))
        out[i] = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    return out


def samples_dict(n: int, accuracy: float, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    labels = [int(x) for x in rng.integers(0, 10, n)]
    preds = [lab if rng.random() < accuracy else int((lab + rng.integers(1, 10)) % 10) for lab in labels]
    preds[0] = (labels[0] + 3) % 10  # at least one mistake to highlight
    imgs = digit_images(labels, seed)
    return {
        "indices": list(range(n)),
        "labels": labels,
        "predictions": preds,
        "images_b64": base64.b64encode(imgs.tobytes()).decode("ascii"),
    }


def confusion(accuracy: float, per_class_n: int = 100, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    m = np.zeros((10, 10), dtype=int)
    for i in range(10):
        wrong = int(round(per_class_n * (1 - accuracy) * rng.uniform(0.3, 1.7)))
        wrong = min(wrong, per_class_n)
        m[i, i] = per_class_n - wrong
        for _ in range(wrong):
            j = int((i + rng.choice([1, 2, 3, 5, 7])) % 10)
            m[i, j] += 1
    return m.tolist()


def full_suite(
    make_record: MakeRecord,
    *,
    suite: str = "synthetic",
    machine: str = "test-machine",
    seeds: tuple[int, ...] = (0, 1, 2),
    target: float | None = 0.9,
    with_compression: bool = True,
    epochs: int = 5,
    slow: float = 1.0,
) -> list[dict[str, Any]]:
    """A 2 backends × 2 models × 2 optimizers × seeds suite with history, samples and compression."""
    rng = np.random.default_rng(hash((suite, machine)) % 2**32)
    recs: list[dict[str, Any]] = []
    base_acc = {"mlp": 0.955, "cnn": 0.982}
    base_time = {"mlp": 8.0, "cnn": 30.0}
    for backend in ("torch", "tensorflow"):
        for model in ("mlp", "cnn"):
            for optimizer in ("adam", "sgd"):
                for seed in seeds:
                    acc = base_acc[model] - (0.003 if optimizer == "sgd" else 0) + rng.normal(0, 0.0015)
                    t = (
                        base_time[model]
                        * (1.25 if backend == "tensorflow" else 1.0)
                        * (0.8 if optimizer == "sgd" else 1.0)
                        * slow
                        * rng.uniform(0.95, 1.05)
                    )
                    kwh = t * 18 / 3.6e6  # ~18 W
                    per_class = [
                        float(np.clip(acc + rng.normal(0, 0.012) - (0.03 if c in (8, 9) else 0), 0, 1))
                        for c in range(10)
                    ]
                    hist = []
                    for e in range(1, epochs + 1):
                        frac = 1 - 0.5**e
                        hist.append(
                            {
                                "epoch": e,
                                "train_loss": 1.4 * 0.45**e + 0.03,
                                "train_accuracy": acc * frac + 0.01,
                                "val_accuracy": acc * (0.9 + 0.1 * frac) - 0.002,
                                "wall_s": t / epochs,
                                "energy_kwh": kwh / epochs,
                                "co2_kg": kwh / epochs * 0.369,
                            }
                        )
                    reached = hist[2]["val_accuracy"] >= (target or 1.1)
                    rec = make_record(
                        backend=backend,
                        model=model,
                        optimizer=optimizer,
                        seed=seed,
                        accuracy=acc,
                        train_s=t,
                        kwh=kwh,
                        suite=suite,
                        machine=machine,
                        metrics={
                            "per_class_accuracy": per_class,
                            "confusion": confusion(acc, seed=seed),
                            "epochs_run": epochs,
                            "target_accuracy": target,
                            "time_to_target_s": t * 0.6 if target and reached else None,
                            "energy_to_target_kwh": kwh * 0.6 if target and reached else None,
                        },
                        history=hist,
                    )
                    rec["samples"] = samples_dict(30, acc - 0.15, seed=seed)  # more mistakes than reality, to show
                    recs.append(rec)
                    if with_compression and optimizer == "adam" and seed == seeds[0]:
                        for method, size_frac, dacc, lat in (
                            ("prune-50", 0.5, -0.3, 0.9),
                            ("int8-dynamic", 0.27, -0.1, 0.6),
                        ):
                            c = make_record(
                                backend=backend,
                                model=model,
                                optimizer=optimizer,
                                seed=seed,
                                compression=method,
                                accuracy=acc + dacc / 100,
                                train_s=0.0,
                                kwh=kwh * 0.02,
                                suite=suite,
                                machine=machine,
                            )
                            c["phases"] = {"compress": c["phases"]["setup"], "inference": c["phases"]["evaluate"]}
                            size = 407_080 if model == "mlp" else 1_680_000
                            c["compression"] = {
                                "method": method,
                                "trained_run_id": rec["run_id"],
                                "size_bytes": int(size * size_frac),
                                "baseline_size_bytes": size,
                                "nonzero_params": int(101_770 * (0.5 if method.startswith("prune") else 1)),
                                "total_params": 101_770,
                                "sparsity": 0.5 if method.startswith("prune") else 0.0,
                                "accuracy_delta_pp": dacc,
                                "latency_ms_p50": 0.4 * lat * (3 if model == "cnn" else 1),
                                "latency_ms_p95": 0.7 * lat * (3 if model == "cnn" else 1),
                                "throughput_ips": 20000 / lat,
                                "inference_energy_kwh_per_1k": 2e-6 * lat,
                                "inference_energy_source": "estimated",
                            }
                            recs.append(c)
    return recs


def partly_failed(make_record: MakeRecord) -> list[dict[str, Any]]:
    recs = full_suite(make_record, seeds=(0,), with_compression=False, target=None)
    recs[1] = make_record(
        backend="torch",
        model="mlp",
        optimizer="sgd",
        seed=0,
        status="failed",
        stderr_tail="Traceback (most recent call last):\n  ...\nRuntimeError: out of memory",
    )
    recs[2] = make_record(backend="torch", model="cnn", optimizer="adam", seed=0, status="skipped")
    recs[3] = make_record(backend="torch", model="cnn", optimizer="sgd", seed=0, status="interrupted")
    return recs
