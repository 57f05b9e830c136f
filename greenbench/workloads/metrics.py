"""Evaluation metrics from logits, computed in numpy the same way for both backends.

This module imports no other greenbench module and no framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from greenbench.workloads.specs import NUM_CLASSES


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of integer labels ``y`` under ``logits`` (float64, log-sum-exp)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def classification_metrics(logits: np.ndarray, y: np.ndarray, num_classes: int = NUM_CLASSES) -> dict[str, Any]:
    """loss, accuracy, per-class accuracy, confusion matrix (rows true, columns predicted), predictions."""
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        raise ValueError("cannot evaluate on an empty set")
    pred = np.asarray(logits).argmax(axis=1).astype(np.int64)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    support = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else float("nan") for c in range(num_classes)]
    return {
        "loss": cross_entropy(logits, y),
        "accuracy": float(np.mean(pred == y)),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
        "predictions": pred,
    }
