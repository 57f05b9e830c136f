"""Framework-neutral parts of model compression (numpy only).

Both backends call these functions so that "prune-90" means exactly the same thing in
PyTorch and in TensorFlow: the same weights are selected as prunable, one global
magnitude threshold is computed over them, and ties at the threshold are resolved by a
rule that depends only on the weight *values* (not on tensor layout or parameter order,
which differ between the frameworks: torch stores a dense kernel as (out, in), Keras as
(in, out)). Given the same weights, both backends therefore prune the same weights.

This module imports no framework, and of greenbench only the workload specs and the leaf
:mod:`greenbench.choices` (the method names).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from greenbench.choices import QUANTIZATION_METHODS, PruneMethod, parse_prune
from greenbench.workloads.specs import weight_specs

# The method names (QUANTIZATION_METHODS, and the one parser of ``prune-<N>``) are listed once, in
# greenbench.choices; re-exported here for the backends' compression modules.

#: Which weights magnitude pruning touches, in words (docs/compression.md says the same).
PRUNABLE_DESCRIPTION = (
    "the weight matrices (kernels) of dense, convolution, recurrent (input and recurrent kernels) "
    "and attention (query/key/value/output projection) layers; never biases, normalization "
    "parameters, embeddings, position embeddings or class tokens"
)

#: gzip level used for the "compressed" size that makes sparsity visible in bytes.
GZIP_LEVEL = 9


def prunable_names(model: str, arch: Mapping[str, Any]) -> list[str]:
    """Canonical names (greenbench.workloads.specs) of the weights magnitude pruning touches.

    Every ``kernel`` and ``recurrent_kernel``: dense, convolution, LSTM/GRU input and recurrent,
    attention query/key/value/output, the transformer's patch embedding and every head.
    Biases, LayerNorm ``gamma``/``beta``, the class token ``cls`` and the position embedding
    ``pos`` are never pruned.
    """
    return [s.name for s in weight_specs(model, arch) if s.name.rsplit("/", 1)[-1] in ("kernel", "recurrent_kernel")]


@dataclass(frozen=True)
class Threshold:
    """A global magnitude threshold: prune ``|w| < value`` (or ``|w| <= value`` if ``inclusive``)."""

    value: float
    inclusive: bool
    target: int  # number of weights the sparsity asks for
    pruned: int  # number of weights the threshold prunes (differs from target only on ties)
    total: int

    def prune_mask(self, weight: np.ndarray) -> np.ndarray:
        """Boolean array, True where ``weight`` is pruned (set to zero)."""
        a = np.abs(np.asarray(weight, dtype=np.float32))
        return a <= self.value if self.inclusive else a < self.value


def global_magnitude_threshold(weights: Sequence[np.ndarray], sparsity: float) -> Threshold:
    """The global magnitude threshold that prunes a fraction ``sparsity`` of ``weights``.

    ``k = round(sparsity * n)`` weights of smallest magnitude are pruned. Let ``t`` be the
    k-th smallest magnitude. Weights with ``|w| < t`` are always pruned; the weights tied at
    exactly ``t`` are either all pruned or all kept, whichever lands closer to ``k`` (all
    pruned when equally close). The result depends only on the multiset of values, so it
    is the same in every framework and layout; with real-valued trained weights ties are
    (almost) only exact zeros, which are pruned already.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if not weights:
        raise ValueError("no prunable weights")
    mags = np.concatenate([np.abs(np.asarray(w, dtype=np.float32)).ravel() for w in weights])
    n = int(mags.size)
    k = int(round(sparsity * n))
    if k == 0:
        return Threshold(value=0.0, inclusive=False, target=0, pruned=0, total=n)
    t = float(np.partition(mags, k - 1)[k - 1])
    below = int(np.count_nonzero(mags < t))
    upto = int(np.count_nonzero(mags <= t))
    inclusive = (upto - k) <= (k - below)
    return Threshold(value=t, inclusive=inclusive, target=k, pruned=upto if inclusive else below, total=n)


def global_magnitude_masks(weights: Sequence[np.ndarray], sparsity: float) -> list[np.ndarray]:
    """Keep-masks (float32 1.0 = keep, 0.0 = pruned), one per array, same shapes as ``weights``."""
    th = global_magnitude_threshold(weights, sparsity)
    return [(~th.prune_mask(w)).astype(np.float32) for w in weights]


def count_nonzero(arrays: Sequence[np.ndarray]) -> tuple[int, int]:
    """(non-zero elements, total elements) over ``arrays``."""
    nz = sum(int(np.count_nonzero(a)) for a in arrays)
    total = sum(int(np.asarray(a).size) for a in arrays)
    return nz, total


def sparsity_of(arrays: Sequence[np.ndarray]) -> float:
    """Fraction of exactly-zero elements over ``arrays``."""
    nz, total = count_nonzero(arrays)
    return 1.0 - nz / total if total else 0.0


def gzip_size(blob: bytes) -> int:
    """Size of ``blob`` after gzip (level :data:`GZIP_LEVEL`, fixed mtime): shows sparsity in bytes."""
    return len(gzip.compress(blob, compresslevel=GZIP_LEVEL, mtime=0))


def calibration_indices(n_train: int, count: int, seed: int) -> np.ndarray:
    """Indices of the training samples used to calibrate static quantization.

    A seeded random sample without replacement (sorted), identical for both backends.
    """
    count = min(count, n_train)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_train, size=count, replace=False))


#: Training samples used to calibrate ``int8-static`` (both backends).
CALIBRATION_SAMPLES = 512


__all__ = [
    "CALIBRATION_SAMPLES",
    "GZIP_LEVEL",
    "PRUNABLE_DESCRIPTION",
    "PruneMethod",
    "QUANTIZATION_METHODS",
    "Threshold",
    "calibration_indices",
    "count_nonzero",
    "global_magnitude_masks",
    "global_magnitude_threshold",
    "gzip_size",
    "parse_prune",
    "prunable_names",
    "sparsity_of",
]
