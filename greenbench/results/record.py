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
