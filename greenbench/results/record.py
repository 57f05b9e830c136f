"""The run record: one JSON document per run, the unit of everything greenbench stores.

A record is written once the run ends (completed, failed, skipped or interrupted) and
is self-describing: it carries the resolved configuration, the environment
fingerprint, the greenbench version, every measured phase with its energy
provenance, and the metrics. Readers (pandas loader, report, compare) depend only on
this module, never on the runner or the backends.

Shape (``schema_version`` 1)::

    {
      "schema_version": 1,
      "run_id": "torch-mlp-adam-none-s0-1a2b3c4d5e",
      "workload_id": "torch-mlp-adam-s0-9f8e7d6c5b",   # runs sharing a trained model
      "suite": "smoke",
      "status": "completed" | "failed" | "skipped" | "interrupted",
      "reason": null | "why it failed / was skipped",
      "stderr_tail": null | "last lines of the worker's stderr",
      "config": {...RunSpec.model_dump()...},
      "greenbench_version": "0.1.0",
      "machine": "label of the machine",
      "env": {...greenbench.measure.env.fingerprint()...},
      "started_at": "ISO-8601 UTC", "finished_at": "ISO-8601 UTC",
      "metrics": {
        "test_accuracy": 0.97, "test_loss": 0.1, "params": 101770, "epochs_run": 2,
        # a diverged model: "test_loss": null, "test_loss_not_finite": "nan" (see check_values)
        "per_class_accuracy": [10 floats], "confusion": [[10×10 ints]],
        "time_to_target_s": null | s, "energy_to_target_kwh": null | kWh, "target_accuracy": null | a,
        "threads": {...}
      },
      "history": [{"epoch": 1, "train_loss": .., "train_accuracy": .., "val_accuracy": ..,
                   "wall_s": .., "energy_kwh": .., "co2_kg": ..}],
      "phases": {"setup": PHASE, "train": PHASE, "train/epoch-1": PHASE, ..., "evaluate": PHASE,
                 "compress": PHASE, "inference": PHASE},
      "compression": null | {
        "method": "prune-50", "trained_run_id": "<run id of the uncompressed run of this workload>",
        "size_bytes": int, "baseline_size_bytes": int, "nonzero_params": int, "total_params": int,
        "sparsity": float, "accuracy_delta_pp": float,
        "latency_ms_p50": float, "latency_ms_p95": float, "throughput_ips": float,
        "inference_energy_kwh_per_1k": float | null, "inference_energy_source": "measured|estimated|..."
      },
      "samples": {"indices": [...], "labels": [...], "predictions": [...],
                  "images_b64": "base64 of uint8 (n, 28, 28)"},
      "log": "name of the log file beside the record"
    }

A phase named ``outer/inner`` is a window nested inside ``outer`` (``train/epoch-1`` lies inside
``train``): it is already counted in its outer window, so a run's totals add up :func:`outer_phases` only.

PHASE = ``{"wall_s", "cpu_s", "peak_rss_bytes", "peak_device_mem_bytes", "energy": ENERGY}``;
ENERGY is produced by :mod:`greenbench.measure` (kWh split into cpu/gpu/ram, ``co2_kg``,
per-component provenance and an overall ``energy_source`` of measured | estimated | mixed |
unavailable | disabled).
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
Status = Literal["completed", "failed", "skipped", "interrupted"]
STATUSES = ("completed", "failed", "skipped", "interrupted")


def outer_phases(phases: Mapping[str, Any] | None) -> dict[str, Any]:
    """The phases not nested in another (no ``/`` in the name): the windows whose times and energies
    add up to a run's totals without counting anything twice."""
    return {name: p for name, p in (phases or {}).items() if "/" not in name}


class RunRecord(BaseModel):
    """Validated view of a record; unknown extra keys are kept (forward compatible)."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    workload_id: str
    suite: str
    status: Status
    reason: str | None = None
    stderr_tail: str | None = None
    config: dict[str, Any]
    greenbench_version: str
    machine: str = "unknown"
    env: dict[str, Any] = Field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] = Field(default_factory=list)
    phases: dict[str, dict[str, Any]] = Field(default_factory=dict)
    compression: dict[str, Any] | None = None
    samples: dict[str, Any] | None = None
    log: str | None = None


# The numbers readers compute with (the report, compare, the pandas frame): a record whose value here is not a
# number (a string, a list, a boolean) or not a finite one is not read (see :func:`check_values`).
UNIT_METRICS = ("test_accuracy",)  # a fraction: 0 … 1
METRICS = ("test_loss", "params", "epochs_run", "time_to_target_s", "energy_to_target_kwh")
PHASE_NUMBERS = ("wall_s",)  # and energy.total_kwh: finite, >= 0
DIVERGED_OK = ("test_loss",)  # NaN / inf is a real outcome (a diverged model): an older record holding it is read


def _shown(value: Any) -> str:
    kind = ("a boolean, not a number" if isinstance(value, bool) else "a string" if isinstance(value, str)
            else "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else None)
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} ({kind})" if kind else text


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False


def _check_number(where: str, value: Any, allowed: str, low: float | None = None, high: float | None = None) -> None:
    if value is None:
        return
    if not _finite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{where} is {_shown(value)}; allowed: {allowed}, or null")


def check_values(data: Mapping[str, Any]) -> None:
    """Refuse a record (already shaped like :class:`RunRecord`) whose numbers readers compute with are not
    numbers: ``metrics.test_accuracy`` must be a finite number from 0 to 1, the other metrics in
    :data:`METRICS` finite numbers, each phase's ``wall_s`` and ``energy.total_kwh`` finite numbers >= 0 (all
    may be null or absent; a boolean is not a number). Raises ``ValueError`` naming the field, its value and
    what is allowed."""
    metrics = data.get("metrics") or {}
    for key in UNIT_METRICS:
        _check_number(f"metrics.{key}", metrics.get(key), "a finite number from 0 to 1", 0.0, 1.0)
    for key in METRICS:
        value = metrics.get(key)
        if key in DIVERGED_OK and isinstance(value, float) and not math.isfinite(value):
            continue  # a diverged model's loss, as records before test_loss_not_finite wrote it: kept
        _check_number(f"metrics.{key}", value, "a finite number")
    for name, phase in (data.get("phases") or {}).items():
        for key in PHASE_NUMBERS:
            _check_number(f"phases.{name}.{key}", phase.get(key), "a finite number >= 0", 0.0)
        energy = phase.get("energy")
        if energy is None:
            continue
        if not isinstance(energy, dict):
            raise ValueError(f"phases.{name}.energy is {_shown(energy)}; allowed: an object, or null")
        _check_number(f"phases.{name}.energy.total_kwh", energy.get("total_kwh"), "a finite number >= 0", 0.0)
