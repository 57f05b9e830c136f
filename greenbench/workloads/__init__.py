"""Framework-neutral workload specs shared by every backend (numpy only, no framework imports).

* :mod:`~greenbench.workloads.specs`: the canonical weights (names, shapes, layout) of each model;
* :mod:`~greenbench.workloads.weights`: initial weights generated once per seed;
* :mod:`~greenbench.workloads.data`: per-epoch order, batching, augmentation;
* :mod:`~greenbench.workloads.schedule`: learning-rate schedules;
* :mod:`~greenbench.workloads.metrics`: evaluation metrics from logits;
* :mod:`~greenbench.workloads.parity`: every hidden framework default, set once.
"""

from __future__ import annotations

from greenbench.workloads.data import augment_batch, batch_slices, epoch_order, make_augment, make_epoch_order
from greenbench.workloads.metrics import classification_metrics, cross_entropy
from greenbench.workloads.schedule import learning_rate_at
from greenbench.workloads.specs import ArchitectureError, WeightSpec, param_count, regularized_names, weight_specs
from greenbench.workloads.weights import generate_weights, initial_weights

__all__ = [
    "ArchitectureError",
    "WeightSpec",
    "augment_batch",
    "batch_slices",
    "classification_metrics",
    "cross_entropy",
    "epoch_order",
    "generate_weights",
    "initial_weights",
    "learning_rate_at",
    "make_augment",
    "make_epoch_order",
    "param_count",
    "regularized_names",
    "weight_specs",
]
