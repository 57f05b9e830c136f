"""Keras 3 (TensorFlow backend) builders of the workloads (:data:`BUILDERS`, one per model) and the
canonical-weight mapping.

Architectures are specified in :mod:`greenbench.workloads.specs`; the hidden defaults are
set from :mod:`greenbench.workloads.parity`. Every model takes float32 ``(N, 28, 28)`` and
returns logits ``(N, 10)``. Models are functional Keras models of built-in layers plus two
small registered layers (attention with explicit q/k/v/out projections, class token + position
embedding), so they save to ``.keras`` files.

Import :func:`greenbench.backends.tensorflow.env.keras` rather than ``keras`` directly: it pins
Keras to the TensorFlow backend first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from greenbench.backends.tensorflow.env import keras
from greenbench.model_registry import model_info
from greenbench.workloads import parity
from greenbench.workloads.specs import (
    IMAGE_SIZE,
    NUM_CLASSES,
    ArchitectureError,
    cnn_geometry,
    transformer_tokens,
    weight_specs,
)

BACKEND = "tensorflow"  # the registry name of this folder's backend (a model entry's builders are keyed by it)

K = keras()
layers = K.layers
ops = K.ops


@K.saving.register_keras_serializable(package="greenbench")
def gelu_exact(x: Any) -> Any:
    """GELU with the exact erf form (parity.GELU_APPROXIMATE), as torch's nn.GELU()."""
    return K.activations.gelu(x, approximate=parity.GELU_APPROXIMATE)


def activation(name: str) -> Any:
    if name in ("relu", "sigmoid", "tanh"):
        return name
    if name == "gelu":
        return gelu_exact
    raise ValueError(f"unknown activation {name!r}; use relu, sigmoid, tanh or gelu")


@K.saving.register_keras_serializable(package="greenbench")
class SelfAttention(layers.Layer):
    """Multi-head self-attention with separate query/key/value/output Dense projections."""

    def __init__(self, dim: int, heads: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.dim = dim
        self.heads = heads
        self.query = layers.Dense(dim, name="query")
        self.key = layers.Dense(dim, name="key")
        self.value = layers.Dense(dim, name="value")
        self.out = layers.Dense(dim, name="out")

    def build(self, input_shape: Any) -> None:
        for proj in (self.query, self.key, self.value):
            proj.build(input_shape)
        self.out.build((*input_shape[:-1], self.dim))
        self.built = True

    def call(self, x: Any) -> Any:
        t = x.shape[1]
        dh = self.dim // self.heads

        def split(z: Any) -> Any:
            return ops.reshape(z, (-1, t, self.heads, dh))  # (N, T, heads, dh): Keras' layout for the op

        o = ops.dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)))
        return self.out(ops.reshape(o, (-1, t, self.dim)))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dim": self.dim, "heads": self.heads}


@K.saving.register_keras_serializable(package="greenbench")
class TokenEmbedding(layers.Layer):
    """Prepends a learned class token (optional) and adds a learned position embedding."""

    def __init__(self, tokens: int, dim: int, cls_token: bool, **kwargs: Any):
        super().__init__(**kwargs)
        self.tokens = tokens
        self.dim = dim
        self.cls_token = cls_token

    def build(self, input_shape: Any) -> None:
        self.cls = self.add_weight(shape=(self.dim,), initializer="zeros", name="cls") if self.cls_token else None
        total = self.tokens + (1 if self.cls_token else 0)
        self.pos = self.add_weight(shape=(total, self.dim), initializer="zeros", name="pos")
        self.built = True

    def call(self, x: Any) -> Any:
        if self.cls is not None:
            n = ops.shape(x)[0]
            cls = ops.broadcast_to(ops.reshape(self.cls, (1, 1, self.dim)), (n, 1, self.dim))
            x = ops.concatenate([cls, x], axis=1)
        return x + self.pos

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.tokens + (1 if self.cls_token else 0), self.dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "tokens": self.tokens, "dim": self.dim, "cls_token": self.cls_token}


def _mlp(arch: Mapping[str, Any]) -> Any:
    inp = K.Input((IMAGE_SIZE, IMAGE_SIZE), name="image")
    h = layers.Flatten(name="flatten")(inp)
    for i, width in enumerate(arch["hidden"]):
        h = layers.Dense(width, activation=activation(arch["activation"]), name=f"dense_{i}")(h)
        h = layers.Dropout(arch["dropout"], name=f"dropout_{i}")(h)
    return K.Model(inp, layers.Dense(NUM_CLASSES, name="head")(h), name="mlp")


def _cnn(arch: Mapping[str, Any]) -> Any:
    cnn_geometry(arch)
    act = activation(arch["activation"])
    inp = K.Input((IMAGE_SIZE, IMAGE_SIZE), name="image")
    h = layers.Reshape((IMAGE_SIZE, IMAGE_SIZE, 1), name="channels")(inp)  # NHWC
    for i, c in enumerate(arch["channels"]):
        h = layers.Conv2D(c, arch["kernel_size"], padding=parity.CONV_PADDING, activation=act, name=f"conv_{i}")(h)
    h = layers.MaxPooling2D(arch["pool"], name="pool")(h)
    h = layers.Dropout(arch["dropout"], name="dropout")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(arch["dense"], activation=act, name="dense_0")(h)
    h = layers.Dropout(arch["dense_dropout"], name="dense_dropout")(h)
    return K.Model(inp, layers.Dense(NUM_CLASSES, name="head")(h), name="cnn")


def _rnn(arch: Mapping[str, Any]) -> Any:
    inp = K.Input((IMAGE_SIZE, IMAGE_SIZE), name="image")  # 28 steps of 28 pixels: the rows
    h = inp
    for i in range(arch["layers"]):
        last = i == arch["layers"] - 1
        common = dict(
            activation=parity.RNN_ACTIVATION,
            recurrent_activation=parity.RNN_RECURRENT_ACTIVATION,
            use_bias=True,
            return_sequences=not last,
            name=f"rnn_{i}",
        )
        if arch["cell"] == "lstm":
            h = layers.LSTM(arch["hidden"], **common)(h)
        else:
            h = layers.GRU(arch["hidden"], reset_after=parity.GRU_RESET_AFTER, **common)(h)
        h = layers.Dropout(arch["dropout"], name=f"dropout_{i}")(h)
    return K.Model(inp, layers.Dense(NUM_CLASSES, name="head")(h), name="rnn")


def _transformer(arch: Mapping[str, Any]) -> Any:
    d, p = arch["dim"], arch["patch_size"]
    g = IMAGE_SIZE // p
    tokens = transformer_tokens(arch)
    cls_pool = arch["pooling"] == "cls"
    inp = K.Input((IMAGE_SIZE, IMAGE_SIZE), name="image")
    # (N, 28, 28) -> (N, g*g patches in row-major order, p*p pixels row-major): same as torch's.
    t = layers.Reshape((g, p, g, p), name="grid")(inp)
    t = layers.Permute((1, 3, 2, 4), name="patch_order")(t)
    t = layers.Reshape((tokens, p * p), name="patches")(t)
    t = layers.Dense(d, name="patch")(t)
    t = TokenEmbedding(tokens, d, cls_pool, name="tokens")(t)
    t = layers.Dropout(arch["dropout"], name="embed_dropout")(t)
    for b in range(arch["depth"]):
        pre = f"block_{b}"
        h = layers.LayerNormalization(epsilon=parity.LAYER_NORM_EPSILON, name=f"{pre}_ln_1")(t)
        h = SelfAttention(d, arch["heads"], name=f"{pre}_attn")(h)
        h = layers.Dropout(arch["dropout"], name=f"{pre}_attn_dropout")(h)
        t = layers.Add(name=f"{pre}_attn_residual")([t, h])
        h = layers.LayerNormalization(epsilon=parity.LAYER_NORM_EPSILON, name=f"{pre}_ln_2")(t)
        h = layers.Dense(arch["mlp_dim"], activation=gelu_exact, name=f"{pre}_mlp_1")(h)
        h = layers.Dropout(arch["dropout"], name=f"{pre}_mlp_dropout_1")(h)
        h = layers.Dense(d, name=f"{pre}_mlp_2")(h)
        h = layers.Dropout(arch["dropout"], name=f"{pre}_mlp_dropout_2")(h)
        t = layers.Add(name=f"{pre}_mlp_residual")([t, h])
    t = layers.LayerNormalization(epsilon=parity.LAYER_NORM_EPSILON, name="ln")(t)
    if cls_pool:
        pooled = layers.Cropping1D((0, tokens), name="cls_token")(t)  # keep the first token
        pooled = layers.Flatten(name="cls_pool")(pooled)
    else:
        pooled = layers.GlobalAveragePooling1D(name="mean_pool")(t)
    return K.Model(inp, layers.Dense(NUM_CLASSES, name="head")(pooled), name="transformer")


# --------------------------------------------------------------------------- layout mapping
#: Canonical name → (Keras variable, row or None). Only the GRU bias (2, 3H) is split by row.
Variables = dict[str, tuple[Any, int | None]]


def _dense_vars(name: str, layer: Any) -> Variables:
    return {f"{name}/kernel": (layer.kernel, None), f"{name}/bias": (layer.bias, None)}


def _norm_vars(name: str, layer: Any) -> Variables:
    return {f"{name}/gamma": (layer.gamma, None), f"{name}/beta": (layer.beta, None)}


def _mlp_vars(model: Any, arch: Mapping[str, Any]) -> Variables:
    out: Variables = {}
    for i in range(len(arch["hidden"])):
        out.update(_dense_vars(f"dense_{i}", model.get_layer(f"dense_{i}")))
    return out


def _cnn_vars(model: Any, arch: Mapping[str, Any]) -> Variables:
    out: Variables = {}
    for i in range(len(arch["channels"])):
        out.update(_dense_vars(f"conv_{i}", model.get_layer(f"conv_{i}")))
    out.update(_dense_vars("dense_0", model.get_layer("dense_0")))
    return out


def _rnn_vars(model: Any, arch: Mapping[str, Any]) -> Variables:
    out: Variables = {}
    for i in range(arch["layers"]):
        cell = model.get_layer(f"rnn_{i}").cell
        out[f"rnn_{i}/kernel"] = (cell.kernel, None)
        out[f"rnn_{i}/recurrent_kernel"] = (cell.recurrent_kernel, None)
        if arch["cell"] == "gru":
            out[f"rnn_{i}/bias"] = (cell.bias, 0)  # reset_after: row 0 input bias, row 1 recurrent bias
            out[f"rnn_{i}/recurrent_bias"] = (cell.bias, 1)
        else:
            out[f"rnn_{i}/bias"] = (cell.bias, None)
    return out


def _transformer_vars(model: Any, arch: Mapping[str, Any]) -> Variables:
    get = model.get_layer
    out = _dense_vars("patch", get("patch"))
    emb = get("tokens")
    if emb.cls is not None:
        out["cls"] = (emb.cls, None)
    out["pos"] = (emb.pos, None)
    for b in range(arch["depth"]):
        pre = f"block_{b}"
        out.update(_norm_vars(f"{pre}/ln_1", get(f"{pre}_ln_1")))
        attn = get(f"{pre}_attn")
        for proj in ("query", "key", "value", "out"):
            out.update(_dense_vars(f"{pre}/attn/{proj}", getattr(attn, proj)))
        out.update(_norm_vars(f"{pre}/ln_2", get(f"{pre}_ln_2")))
        out.update(_dense_vars(f"{pre}/mlp_1", get(f"{pre}_mlp_1")))
        out.update(_dense_vars(f"{pre}/mlp_2", get(f"{pre}_mlp_2")))
    out.update(_norm_vars("ln", get("ln")))
    return out


@dataclass(frozen=True)
class KerasBuilder:
    """How this backend builds one model: the Keras model of an ``arch``, and its canonical variables
    (every weight but the ``head`` Dense layer, which every model has and :func:`canonical_variables` adds)."""

    build: Callable[[Mapping[str, Any]], Any]
    variables: Callable[[Any, Mapping[str, Any]], Variables]


#: This backend's builder of each model, keyed by the model's name in its registry.
BUILDERS: dict[str, KerasBuilder] = {
    "mlp": KerasBuilder(_mlp, _mlp_vars),
    "cnn": KerasBuilder(_cnn, _cnn_vars),
    "rnn": KerasBuilder(_rnn, _rnn_vars),
    "transformer": KerasBuilder(_transformer, _transformer_vars),
}


def builder(model: str) -> KerasBuilder:
    """The builder of ``model``: this backend's table's, else (a model from outside greenbench) the
    :class:`KerasBuilder` its registry entry names for tensorflow; :class:`ArchitectureError` when none."""
    found = BUILDERS.get(model) or model_info(model).builder(BACKEND)
    if found is None:
        raise ArchitectureError(f"{BACKEND} has no builder for model {model!r}")
    return found


def build_model(model: str, arch: Mapping[str, Any]) -> Any:
    """The Keras model of ``model``; call :func:`load_canonical` to give it its initial weights."""
    weight_specs(model, arch)  # validates the architecture with a clear message
    return builder(model).build(arch)


def canonical_variables(model: Any, kind: str, arch: Mapping[str, Any]) -> Variables:
    """Canonical name → (Keras variable, row or None). Only the GRU bias (2, 3H) is split by row."""
    out = builder(kind).variables(model, arch)
    out.update(_dense_vars("head", model.get_layer("head")))
    return out


def load_canonical(model: Any, kind: str, arch: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> None:
    """Copy canonical ``weights`` into the Keras ``model`` (every canonical weight must be present)."""
    mapping = canonical_variables(model, kind, arch)
    missing = set(mapping) - set(weights)
    extra = set(weights) - set(mapping)
    if missing or extra:
        raise ValueError(f"weights do not match the model: missing {sorted(missing)}, unexpected {sorted(extra)}")
    pending: dict[int, tuple[Any, np.ndarray]] = {}
    for name, (var, row) in mapping.items():
        value = np.asarray(weights[name], dtype=np.float32)
        if row is None:
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(f"{name}: shape {value.shape} does not fit Keras variable {tuple(var.shape)}")
            var.assign(value)
        else:
            full = pending.setdefault(id(var), (var, np.zeros(tuple(var.shape), dtype=np.float32)))[1]
            full[row] = value
    for var, full in pending.values():
        var.assign(full)


def export_canonical(model: Any, kind: str, arch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The model's current weights in canonical layout (float32 numpy copies)."""
    out = {}
    for name, (var, row) in canonical_variables(model, kind, arch).items():
        value = np.asarray(var.numpy(), dtype=np.float32)
        out[name] = np.ascontiguousarray(value if row is None else value[row])
    return out


def regularized_variables(model: Any, kind: str, arch: Mapping[str, Any]) -> list[Any]:
    """The variables L1/L2 penalize (kernels only), via the canonical names."""
    mapping = canonical_variables(model, kind, arch)
    return [mapping[s.name][0] for s in weight_specs(kind, arch) if s.regularized]
