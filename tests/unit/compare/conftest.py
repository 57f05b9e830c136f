"""Synthetic result sets for the compare tests: several workloads × repeats with realistic noise.

Training time is log-normal around a per-workload base (CV ~4 %), energy follows time at a
steady power draw with its own small noise, accuracy varies by ~0.3 pp between seeds: the
spread seen between repeated CPU runs of one configuration on one machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pytest

WORKLOADS = (("torch", "mlp"), ("torch", "cnn"), ("tensorflow", "mlp"), ("tensorflow", "cnn"))
BASE_TIME = {"mlp": 8.0, "cnn": 30.0}
BASE_ACC = {"mlp": 0.955, "cnn": 0.975}
WATTS = 65.0


@pytest.fixture
def side(make_record: Callable[..., dict[str, Any]], write_records: Callable[..., Path]) -> Callable[..., Path]:
    """``side(name, noise_seed=0, time_factor=1.0, acc_shift=0.0, seeds=range(5), workloads=WORKLOADS,
    mutate=None, outlier=False, **make_record_overrides)`` → a results directory."""

    def build(
        name: str,
        *,
        noise_seed: int = 0,
        time_factor: float = 1.0,
        acc_shift: float = 0.0,
        seeds: Iterable[int] = range(5),
        workloads: Iterable[tuple[str, str]] = WORKLOADS,
        mutate: Callable[[dict[str, Any]], Any] | None = None,
        outlier: bool = False,
        time_cv: float = 0.04,
        **overrides: Any,
    ) -> Path:
        rng = np.random.default_rng(noise_seed)
        records = []
        for w, (backend, model) in enumerate(workloads):
            for i, seed in enumerate(seeds):
                t = BASE_TIME[model] * time_factor * rng.lognormal(0.0, time_cv)
                if outlier and w == 0 and i == 0:
                    t *= 1.35  # one run slowed by a noisy neighbour
                kwh = t * WATTS / 3.6e6 * rng.lognormal(0.0, 0.02)
                acc = float(np.clip(BASE_ACC[model] + acc_shift + rng.normal(0.0, 0.003), 0, 1))
                rec = make_record(backend=backend, model=model, seed=seed, train_s=float(t), kwh=float(kwh),
                                  accuracy=acc, **overrides)
                if mutate is not None:
                    mutate(rec)
                records.append(rec)
        return write_records(records, name=name)

    return build
