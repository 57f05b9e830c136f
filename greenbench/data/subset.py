"""Deterministic, stratified subsets and validation splits from a seed (numpy only).

Per-class quotas are proportional to the class frequencies and sum to exactly the requested
count (largest-remainder rounding in integer arithmetic, ties to the lower class label), and
the members of each class are drawn with a :class:`numpy.random.Generator` seeded from
``(seed, stream)``. Separate streams keep the training subset, the test subset and the
validation split independent of each other. Returned indices are sorted.
"""

from __future__ import annotations

import numpy as np

from greenbench.errors import DataError

# Independent random streams derived from one seed.
STREAM_TRAIN = 0
STREAM_TEST = 1
STREAM_VALIDATION = 2


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """The generator of ``stream`` for ``seed`` (a PCG64 seeded by ``SeedSequence([seed, stream])``)."""
    if seed < 0:
        raise DataError(f"data seed {seed}: must be >= 0")
    return np.random.default_rng([int(seed), int(stream)])


def class_quotas(labels: np.ndarray, n: int) -> dict[int, int]:
    """How many of each class a stratified sample of ``n`` out of ``labels`` takes (sums to ``n``)."""
    labels = np.asarray(labels)
    total = labels.shape[0]
    if not 0 <= n <= total:
        raise DataError(f"cannot take {n} samples out of {total}")
    classes, counts = np.unique(labels, return_counts=True)
    exact_num = n * counts.astype(np.int64)  # quota_k = exact_num_k / total
    floors = exact_num // total
    remainders = exact_num % total
    short = n - int(floors.sum())
    # Largest remainders get one more; ties go to the lower class (stable sort on -remainder).
    order = np.argsort(-remainders, kind="stable")
    floors[order[:short]] += 1
    return {int(c): int(q) for c, q in zip(classes, floors)}


def stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices (int64) of a stratified random sample of exactly ``n`` of ``labels``."""
    labels = np.asarray(labels)
    chosen = []
    for cls, quota in class_quotas(labels, n).items():
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.permutation(members)[:quota])
    out = np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
    return np.sort(out).astype(np.int64)


def subset_indices(labels: np.ndarray, n: int | None, seed: int, stream: int, what: str) -> np.ndarray:
    """Indices of the stratified subset of ``n`` (all, in order, when ``n`` is None or everything)."""
    total = np.asarray(labels).shape[0]
    if n is None or n == total:
        return np.arange(total, dtype=np.int64)
    if n < 1 or n > total:
        raise DataError(f"{what}={n}: must be between 1 and {total} (the size of the set)")
    return stratified_indices(labels, n, rng_for(seed, stream))


def validation_split(labels: np.ndarray, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: a stratified validation split of ``n_val`` from ``labels``; disjoint, sorted."""
    total = np.asarray(labels).shape[0]
    if n_val == 0:
        return np.arange(total, dtype=np.int64), np.empty(0, dtype=np.int64)
    if n_val < 0 or n_val >= total:
        raise DataError(
            f"validation_samples={n_val}: must be between 0 and {total - 1} "
            f"(it is taken out of the {total} training images, and some must remain for training)"
        )
    val = stratified_indices(labels, n_val, rng_for(seed, STREAM_VALIDATION))
    keep = np.ones(total, dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep).astype(np.int64), val
