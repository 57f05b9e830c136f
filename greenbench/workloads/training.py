"""The training loop both backends run: epochs, batches, schedule, augmentation, hooks.

Only the optimizer step and the forward pass are framework code; everything that decides
*what* is trained on and *when* (the per-epoch permutation, batch boundaries, the learning
rate of every step, augmentation, validation, early stopping) lives here, once, so the two
backends cannot drift apart.

This module imports no other greenbench module and no framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from greenbench.workloads.data import batch_slices
from greenbench.workloads.metrics import cross_entropy
from greenbench.workloads.schedule import learning_rate_at


class Stepper(Protocol):
    """What a backend provides to :func:`run_epochs`."""

    def begin_epoch(self) -> None:
        """Switch to training mode and reset the epoch's loss/accuracy accumulators."""

    def step(self, index: np.ndarray, x_batch: np.ndarray | None, lr: float) -> None:
        """One optimizer step on training examples ``index`` at learning rate ``lr``.

        ``x_batch`` is the augmented batch (float32 numpy) when augmentation is on, else ``None``
        (the backend gathers ``index`` from its in-memory training tensor). Accumulates the
        batch's summed loss and number of correct predictions without synchronizing.
        """

    def end_epoch(self) -> tuple[float, float]:
        """(summed loss, number correct) over the epoch's training examples."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode logits for float32 images (N, 28, 28)."""


@dataclass
class LoopConfig:
    epochs: int
    batch_size: int
    base_lr: float
    schedule: str
    seed: int
    first_epoch: int = 0  # 0-based index of the first epoch (fine-tuning continues after training)
    total_steps: int | None = None  # for the schedule; default: epochs * batches per epoch


def run_epochs(
    stepper: Stepper,
    cfg: LoopConfig,
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    epoch_order: Callable[[int], np.ndarray],
    augment: Callable[[np.ndarray, int, int], np.ndarray] | None = None,
    on_epoch_begin: Callable[[int], None] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], bool] | None = None,
    after_step: Callable[[], None] | None = None,
    eval_batch_size: int = 1000,
) -> list[dict[str, Any]]:
    """Train for ``cfg.epochs`` epochs; returns one dict per epoch with ``EpochStats``' fields.

    ``on_epoch_end`` receives that dict and returns True to stop (target accuracy reached).
    ``after_step`` runs after every optimizer step (pruning masks are re-applied there).
    """
    n = len(y_train)
    if n == 0:
        raise ValueError("cannot train on an empty training set")
    slices = batch_slices(n, cfg.batch_size)
    total_steps = cfg.total_steps or cfg.epochs * len(slices)
    has_val = x_val is not None and y_val is not None and len(y_val) > 0
    history: list[dict[str, Any]] = []
    step = 0
    for e in range(cfg.first_epoch, cfg.first_epoch + cfg.epochs):
        if on_epoch_begin is not None:
            on_epoch_begin(e + 1)
        order = np.asarray(epoch_order(e), dtype=np.int64)
        if order.shape != (n,):
            raise ValueError(f"epoch_order({e}) has shape {order.shape}, expected ({n},)")
        stepper.begin_epoch()
        lr = cfg.base_lr
        for b, sl in enumerate(slices):
            index = order[sl]
            x_batch = augment(x_train[index], e, b) if augment is not None else None
            lr = learning_rate_at(cfg.schedule, cfg.base_lr, step, total_steps)
            stepper.step(index, x_batch, lr)
            step += 1
            if after_step is not None:
                after_step()
        loss_sum, correct = stepper.end_epoch()
        stats: dict[str, Any] = {
            "epoch": e + 1,
            "train_loss": float(loss_sum) / n,
            "train_accuracy": float(correct) / n,
            "val_accuracy": None,
            "val_loss": None,
            "learning_rate": float(lr),
        }
        if has_val:
            logits = predict_in_batches(stepper.logits, x_val, eval_batch_size)
            stats["val_accuracy"] = float(np.mean(logits.argmax(axis=1) == y_val))
            stats["val_loss"] = cross_entropy(logits, y_val)
        history.append(stats)
        if on_epoch_end is not None and on_epoch_end(stats):
            break
    return history


def predict_in_batches(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch_size: int) -> np.ndarray:
    """Concatenated ``fn`` outputs over ``x`` in batches of ``batch_size``."""
    if len(x) == 0:
        return np.zeros((0, 10), dtype=np.float32)
    return np.concatenate([fn(x[sl]) for sl in batch_slices(len(x), batch_size)], axis=0)
