"""The framework-neutral global magnitude threshold (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from greenbench.workloads.compression import (
    global_magnitude_masks,
    global_magnitude_threshold,
    parse_prune,
    prunable_names,
    sparsity_of,
)


def test_prunes_exactly_k_smallest_magnitudes() -> None:
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(30, 20)).astype(np.float32), rng.normal(size=(7, 3, 3, 5)).astype(np.float32)]
    masks = global_magnitude_masks(weights, 0.9)
    n = sum(w.size for w in weights)
    assert sum(int((m == 0).sum()) for m in masks) == round(0.9 * n)
    kept = np.concatenate([np.abs(w[m == 1]) for w, m in zip(weights, masks, strict=True)])
    pruned = np.concatenate([np.abs(w[m == 0]) for w, m in zip(weights, masks, strict=True)])
    assert pruned.max() < kept.min()
    assert sparsity_of([w * m for w, m in zip(weights, masks, strict=True)]) == pytest.approx(0.9, abs=1 / n)


def test_masks_do_not_depend_on_layout_or_order() -> None:
    """torch stores a dense kernel transposed and lists parameters in another order: same masks."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=(4, 9)).astype(np.float32)
    ma, mb = global_magnitude_masks([a, b], 0.5)
    mb_t, ma_t = global_magnitude_masks([b.T, a.T], 0.5)
    np.testing.assert_array_equal(ma, ma_t.T)
    np.testing.assert_array_equal(mb, mb_t.T)


def test_ties_are_pruned_or_kept_together() -> None:
    w = np.array([0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.5, 0.6, 0.7], np.float32)
    th = global_magnitude_threshold([w], 0.5)  # k = 5 falls inside the 0.1 tie group (indices 3..6)
    assert th.value == pytest.approx(0.1)
    # pruning the group gives 7 (2 too many), keeping it 3 (2 too few): equally close, so pruned
    assert th.inclusive and th.pruned == 7
    th = global_magnitude_threshold([w], 0.4)  # k = 4: keeping the tie (3) is closer than pruning it (7)
    assert not th.inclusive and th.pruned == 3


def test_zero_sparsity_prunes_nothing_and_bad_targets_fail() -> None:
    w = np.ones((3, 3), np.float32)
    assert global_magnitude_masks([w], 0.0)[0].all()
    with pytest.raises(ValueError):
        global_magnitude_threshold([w], 1.0)
    assert parse_prune("prune-90").sparsity == 0.9
    assert parse_prune("int8-dynamic") is None


def test_prunable_names_are_the_kernels_only() -> None:
    arch = {"dim": 32, "patch_size": 7, "heads": 4, "depth": 1, "mlp_dim": 64, "pooling": "cls"}
    names = prunable_names("transformer", arch)
    assert "block_0/attn/query/kernel" in names and "patch/kernel" in names and "head/kernel" in names
    assert not any(n.endswith(("bias", "gamma", "beta")) or n in ("cls", "pos") for n in names)
    assert prunable_names("rnn", {"cell": "lstm", "hidden": 8, "layers": 1}) == [
        "rnn_0/kernel", "rnn_0/recurrent_kernel", "head/kernel"]
