"""Framework-neutral architecture specs: the canonical list of weights of each model.

A model's weights are named and shaped here once, in a canonical (Keras) layout:

* dense kernels ``(in, out)``; convolution kernels ``HWIO`` ``(kh, kw, in, out)``;
* LSTM ``kernel (in, 4H)`` / ``recurrent_kernel (H, 4H)`` / ``bias (4H,)`` with gate order i, f, c, o;
* GRU ``kernel (in, 3H)`` / ``recurrent_kernel (H, 3H)`` / ``bias (3H,)`` / ``recurrent_bias (3H,)``
  with gate order z, r, h (Keras, ``reset_after=True``);
* LayerNorm ``gamma``/``beta``; the transformer's ``cls (dim,)`` and ``pos (tokens, dim)``.

Each backend builds the same graph and maps these arrays to its own layout (torch transposes dense
and conv kernels and reorders GRU gates). Every model reads a float32 batch ``(N, 28, 28)`` in
[0, 1] and returns logits ``(N, 10)``.

The architectures (``arch`` is ``RunSpec.arch``: the suite's model config, dropout resolved):

``mlp``
    Flatten → [Dense(h) → act → Dropout] per entry of ``hidden`` → Dense(10).
``cnn``
    [Conv(c, k, valid) → act] per entry of ``channels`` → MaxPool(pool) → Dropout(dropout) →
    Flatten (NHWC order) → Dense(dense) → act → Dropout(dense_dropout) → Dense(10).
``rnn``
    the 28 rows as a sequence of 28 steps of 28 pixels → ``layers`` × LSTM/GRU(hidden), each
    followed by Dropout → last state → Dense(10).
``transformer``
    patches of ``patch_size``² pixels (row-major) → Dense(dim) → [class token] + position
    embedding → Dropout → ``depth`` pre-norm blocks [x += Drop(Attn(LN(x))); x += Drop(MLP(LN(x)))]
    with MLP = Dense(mlp_dim) → GELU → Dropout → Dense(dim) → final LN → class token or mean over
    tokens → Dense(10).

Each architecture's weights are one function here (``mlp_weights`` …), named by its model's entry in
:mod:`greenbench.model_registry`; :func:`weight_specs` looks the model up there, so a model registered
from outside greenbench brings its own.

This module imports no framework, and of greenbench only leaves (:mod:`greenbench.model_registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from greenbench.model_registry import BUILTIN_NAMES, model_info

IMAGE_SIZE = 28
NUM_CLASSES = 10
MODELS = BUILTIN_NAMES  # the built-in models, listed once in their registry


class ArchitectureError(ValueError):
    """An architecture that cannot be built (e.g. convolutions that shrink the image to nothing)."""


@dataclass(frozen=True)
class WeightSpec:
    """One weight array of a model, in canonical layout."""

    name: str
    shape: tuple[int, ...]
    # glorot_uniform | orthogonal | zeros | ones | lstm_bias | normal_0.02
    init: str
    # Whether L1/L2 penalties apply (kernels only; see greenbench.workloads.parity.REGULARIZED).
    regularized: bool
    # Fan-in/fan-out used by glorot_uniform (kernel layouts differ in how they define them).
    fans: tuple[int, int] | None = None


def _dense(name: str, n_in: int, n_out: int) -> list[WeightSpec]:
    return [
        WeightSpec(f"{name}/kernel", (n_in, n_out), "glorot_uniform", True, (n_in, n_out)),
        WeightSpec(f"{name}/bias", (n_out,), "zeros", False),
    ]


def _layer_norm(name: str, dim: int) -> list[WeightSpec]:
    return [WeightSpec(f"{name}/gamma", (dim,), "ones", False), WeightSpec(f"{name}/beta", (dim,), "zeros", False)]


def cnn_geometry(arch: Mapping[str, Any]) -> tuple[int, int]:
    """(spatial size after the convolutions, after the pool) of the CNN ``arch``."""
    size = IMAGE_SIZE
    for _ in arch["channels"]:
        size = size - arch["kernel_size"] + 1
    if size < 1:
        raise ArchitectureError(
            f"cnn: {len(arch['channels'])} valid convolutions of kernel_size {arch['kernel_size']} "
            f"shrink the 28x28 image to nothing; use fewer channels entries or a smaller kernel_size"
        )
    pooled = size // arch["pool"]
    if pooled < 1:
        raise ArchitectureError(
            f"cnn: pool {arch['pool']} is larger than the {size}x{size} feature map; use a smaller pool"
        )
    return size, pooled


def transformer_tokens(arch: Mapping[str, Any]) -> int:
    """Number of patch tokens (without the class token)."""
    p = arch["patch_size"]
    if IMAGE_SIZE % p:
        raise ArchitectureError(f"transformer: patch_size {p} does not divide 28; use 4, 7 or 14")
    return (IMAGE_SIZE // p) ** 2


def rnn_gates(cell: str) -> int:
    if cell == "lstm":
        return 4
    if cell == "gru":
        return 3
    raise ArchitectureError(f"rnn: unknown cell {cell!r}; use lstm or gru")


def mlp_weights(arch: Mapping[str, Any]) -> list[WeightSpec]:
    specs: list[WeightSpec] = []
    n_in = IMAGE_SIZE * IMAGE_SIZE
    for i, h in enumerate(arch["hidden"]):
        specs += _dense(f"dense_{i}", n_in, h)
        n_in = h
    return specs + _dense("head", n_in, NUM_CLASSES)


def cnn_weights(arch: Mapping[str, Any]) -> list[WeightSpec]:
    k = arch["kernel_size"]
    specs = []
    c_in = 1
    for i, c in enumerate(arch["channels"]):
        specs += [
            WeightSpec(f"conv_{i}/kernel", (k, k, c_in, c), "glorot_uniform", True, (k * k * c_in, k * k * c)),
            WeightSpec(f"conv_{i}/bias", (c,), "zeros", False),
        ]
        c_in = c
    _, pooled = cnn_geometry(arch)
    specs += _dense("dense_0", pooled * pooled * c_in, arch["dense"])
    return specs + _dense("head", arch["dense"], NUM_CLASSES)


def rnn_weights(arch: Mapping[str, Any]) -> list[WeightSpec]:
    g = rnn_gates(arch["cell"])
    h = arch["hidden"]
    specs = []
    n_in = IMAGE_SIZE
    for i in range(arch["layers"]):
        specs += [
            WeightSpec(f"rnn_{i}/kernel", (n_in, g * h), "glorot_uniform", True, (n_in, g * h)),
            WeightSpec(f"rnn_{i}/recurrent_kernel", (h, g * h), "orthogonal", True),
            WeightSpec(f"rnn_{i}/bias", (g * h,), "lstm_bias" if arch["cell"] == "lstm" else "zeros", False),
        ]
        if arch["cell"] == "gru":
            specs.append(WeightSpec(f"rnn_{i}/recurrent_bias", (g * h,), "zeros", False))
        n_in = h
    return specs + _dense("head", h, NUM_CLASSES)


def transformer_weights(arch: Mapping[str, Any]) -> list[WeightSpec]:
    d, p = arch["dim"], arch["patch_size"]
    if d % arch["heads"]:
        raise ArchitectureError(f"transformer: dim ({d}) must be divisible by heads ({arch['heads']})")
    tokens = transformer_tokens(arch) + (1 if arch["pooling"] == "cls" else 0)
    specs = _dense("patch", p * p, d)
    if arch["pooling"] == "cls":
        specs.append(WeightSpec("cls", (d,), "normal_0.02", False))
    specs.append(WeightSpec("pos", (tokens, d), "normal_0.02", False))
    for b in range(arch["depth"]):
        pre = f"block_{b}"
        specs += _layer_norm(f"{pre}/ln_1", d)
        for proj in ("query", "key", "value", "out"):
            specs += _dense(f"{pre}/attn/{proj}", d, d)
        specs += _layer_norm(f"{pre}/ln_2", d)
        specs += _dense(f"{pre}/mlp_1", d, arch["mlp_dim"])
        specs += _dense(f"{pre}/mlp_2", arch["mlp_dim"], d)
    specs += _layer_norm("ln", d)
    return specs + _dense("head", d, NUM_CLASSES)


def weight_specs(model: str, arch: Mapping[str, Any]) -> list[WeightSpec]:
    """The canonical weights of ``model`` with architecture ``arch``, in a fixed order (its registry
    entry's weight specs: the functions above for the built-in models)."""
    try:
        info = model_info(model)
    except ValueError as exc:
        raise ArchitectureError(str(exc)) from None
    return info.weight_specs(arch)


def param_count(model: str, arch: Mapping[str, Any]) -> int:
    """Trainable parameters of ``model`` (both backends must report exactly this)."""
    total = 0
    for s in weight_specs(model, arch):
        n = 1
        for dim in s.shape:
            n *= dim
        total += n
    return total


def regularized_names(model: str, arch: Mapping[str, Any]) -> list[str]:
    """Canonical names of the weights L1/L2 penalize (kernels only)."""
    return [s.name for s in weight_specs(model, arch) if s.regularized]
