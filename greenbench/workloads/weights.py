"""Initial weights, generated once per seed in numpy and loaded by both backends.

``initial_weights(spec)`` returns ``{canonical name: float32 array}`` in the layout of
:mod:`greenbench.workloads.specs`. Both backends start from exactly these values, so any
difference in results comes from the frameworks, not from the starting point.

This module imports no other greenbench module and no framework.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from greenbench.workloads import parity
from greenbench.workloads.specs import WeightSpec, weight_specs


def _glorot_uniform(rng: np.random.Generator, s: WeightSpec) -> np.ndarray:
    assert s.fans is not None
    limit = np.sqrt(6.0 / (s.fans[0] + s.fans[1]))
    return rng.uniform(-limit, limit, size=s.shape)


def _orthogonal(rng: np.random.Generator, s: WeightSpec) -> np.ndarray:
    # Keras' Orthogonal(gain=1): QR of a normal matrix of the flattened shape, sign-corrected.
    rows = int(np.prod(s.shape[:-1]))
    cols = s.shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(s.shape)


def _lstm_bias(s: WeightSpec) -> np.ndarray:
    b = np.full(s.shape, parity.BIAS_INIT)
    h = s.shape[0] // 4
    b[h : 2 * h] = parity.LSTM_FORGET_BIAS  # gate order i, f, c, o
    return b


def generate_weights(model: str, arch: Mapping[str, Any], seed: int) -> dict[str, np.ndarray]:
    """The initial weights of ``model``/``arch`` for ``seed`` (float32, canonical layout)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for s in weight_specs(model, arch):
        if s.init == "glorot_uniform":
            w = _glorot_uniform(rng, s)
        elif s.init == "orthogonal":
            w = _orthogonal(rng, s)
        elif s.init == "zeros":
            w = np.full(s.shape, parity.BIAS_INIT)
        elif s.init == "ones":
            w = np.ones(s.shape)
        elif s.init == "lstm_bias":
            w = _lstm_bias(s)
        elif s.init == "normal_0.02":
            w = rng.normal(0.0, parity.EMBEDDING_INIT_STD, size=s.shape)
        else:  # pragma: no cover - specs only name the initializers above
            raise ValueError(f"unknown initializer {s.init!r} for {s.name}")
        out[s.name] = np.ascontiguousarray(w, dtype=np.float32)
    return out


def initial_weights(spec: Any) -> dict[str, np.ndarray]:
    """The initial weights of a :class:`~greenbench.suite.plan.RunSpec` (uses ``model``, ``arch``, ``seed``)."""
    return generate_weights(spec.model, spec.arch, spec.seed)
