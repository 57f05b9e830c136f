"""Data order and augmentation shared by both backends (numpy only).

Both backends draw their batches from :func:`epoch_order` (one permutation per epoch,
from the run seed) sliced by :func:`batch_slices`, and, when augmentation is on, pass
each batch through the same numpy transform, generated from (seed, epoch, batch index):
every image is transformed identically in both frameworks.

This module imports no framework, and of greenbench only leaves (:mod:`greenbench.choices`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from greenbench.choices import AUGMENTATIONS  # the augmentation axis' values, listed once
from greenbench.workloads import parity


Augment = Callable[[np.ndarray, int, int], np.ndarray]


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The permutation of ``n`` training indices used in ``epoch`` (0-based) of a run with ``seed``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive batches over ``n`` items; the last one may be smaller (never dropped)."""
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _warp(x: np.ndarray, theta: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Rotate each image by ``theta`` (radians, about its centre) and shift it by (tx, ty) pixels.

    Bilinear interpolation, zeros outside the image. Vectorized over the batch.
    """
    b, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    cos = np.cos(theta)[:, None, None]
    sin = np.sin(theta)[:, None, None]
    dx = xx[None] - tx[:, None, None]
    dy = yy[None] - ty[:, None, None]
    # Inverse mapping: the source pixel of every output pixel.
    sx = cos * dx + sin * dy + cx
    sy = -sin * dx + cos * dy + cy
    x0 = np.floor(sx)
    y0 = np.floor(sy)
    wx = sx - x0
    wy = sy - y0
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))  # a zero border; indices are shifted by one
    x0i = np.clip(x0 + 1, 0, w + 1).astype(np.intp)
    x1i = np.clip(x0 + 2, 0, w + 1).astype(np.intp)
    y0i = np.clip(y0 + 1, 0, h + 1).astype(np.intp)
    y1i = np.clip(y0 + 2, 0, h + 1).astype(np.intp)
    bi = np.arange(b)[:, None, None]
    out = (
        padded[bi, y0i, x0i] * (1 - wx) * (1 - wy)
        + padded[bi, y0i, x1i] * wx * (1 - wy)
        + padded[bi, y1i, x0i] * (1 - wx) * wy
        + padded[bi, y1i, x1i] * wx * wy
    )
    return out.astype(np.float32)


def augment_batch(x: np.ndarray, kind: str, seed: int, epoch: int, batch_index: int) -> np.ndarray:
    """``x`` (N, 28, 28) float32 augmented with ``kind``; the randomness depends only on the arguments."""
    if kind == "none":
        return x
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}; use one of: {', '.join(AUGMENTATIONS)}")
    n = x.shape[0]
    rng = np.random.default_rng([seed, epoch, batch_index, 0x6A5])
    shift = "shift" in kind
    rotate = "rotate" in kind
    tx = rng.uniform(-parity.SHIFT_MAX_PX, parity.SHIFT_MAX_PX, n) if shift else np.zeros(n)
    ty = rng.uniform(-parity.SHIFT_MAX_PX, parity.SHIFT_MAX_PX, n) if shift else np.zeros(n)
    deg = rng.uniform(-parity.ROTATE_MAX_DEG, parity.ROTATE_MAX_DEG, n) if rotate else np.zeros(n)
    return _warp(np.asarray(x, dtype=np.float32), np.deg2rad(deg), tx, ty)


def make_augment(kind: str, seed: int) -> Augment | None:
    """The ``augment(x_batch, epoch, batch_index)`` callable for ``TrainData``, or ``None`` for ``none``."""
    if kind == "none":
        return None
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}; use one of: {', '.join(AUGMENTATIONS)}")

    def augment(x: np.ndarray, epoch: int, batch_index: int) -> np.ndarray:
        return augment_batch(x, kind, seed, epoch, batch_index)

    return augment


def make_epoch_order(seed: int, n: int) -> Callable[[int], np.ndarray]:
    """The ``epoch_order(epoch)`` callable for ``TrainData``."""

    def order(epoch: int) -> np.ndarray:
        return epoch_order(seed, epoch, n)

    return order
