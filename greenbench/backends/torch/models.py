"""PyTorch builders of the workloads (:data:`BUILDERS`, one per model) and the canonical-weight mapping.

Architectures are specified in :mod:`greenbench.workloads.specs`; the hidden defaults are
set from :mod:`greenbench.workloads.parity`. Every model takes float32 ``(N, 28, 28)`` and
returns logits ``(N, 10)``. Only this package imports torch.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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

BACKEND = "torch"  # the registry name of this folder's backend (a model entry's builders are keyed by it)


def activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "gelu":
        return nn.GELU(approximate="tanh" if parity.GELU_APPROXIMATE else "none")
    raise ValueError(f"unknown activation {name!r}; use relu, sigmoid, tanh or gelu")


class MLP(nn.Module):
    def __init__(self, arch: Mapping[str, Any]):
        super().__init__()
        sizes = [IMAGE_SIZE * IMAGE_SIZE, *arch["hidden"]]
        self.dense = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = activation(arch["activation"])
        self.drop = nn.Dropout(arch["dropout"])
        self.head = nn.Linear(sizes[-1], NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.dense:
            h = self.drop(self.act(layer(h)))
        return self.head(h)

    def canonical(self) -> dict[str, tuple[nn.Parameter, str]]:
        out: dict[str, tuple[nn.Parameter, str]] = {}
        for i, layer in enumerate(self.dense):
            out.update(_linear(f"dense_{i}", layer))
        out.update(_linear("head", self.head))
        return out


class CNN(nn.Module):
    def __init__(self, arch: Mapping[str, Any]):
        super().__init__()
        k = arch["kernel_size"]
        chans = [1, *arch["channels"]]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, k, padding=parity.CONV_PADDING) for a, b in zip(chans[:-1], chans[1:]))
        self.act = activation(arch["activation"])
        self.pool = nn.MaxPool2d(arch["pool"])
        self.drop = nn.Dropout(arch["dropout"])
        _, pooled = cnn_geometry(arch)
        self.dense_0 = nn.Linear(pooled * pooled * chans[-1], arch["dense"])
        self.dense_drop = nn.Dropout(arch["dense_dropout"])
        self.head = nn.Linear(arch["dense"], NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NCHW shape in channels-last memory (see build_model): oneDNN's fast layout, Keras' native one.
        h = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        for conv in self.convs:
            h = self.act(conv(h))
        h = self.drop(self.pool(h))
        # NHWC before flattening, so the dense kernel is the same array as Keras' (channels-last) one.
        h = h.permute(0, 2, 3, 1).flatten(1)
        h = self.dense_drop(self.act(self.dense_0(h)))
        return self.head(h)

    def canonical(self) -> dict[str, tuple[nn.Parameter, str]]:
        out: dict[str, tuple[nn.Parameter, str]] = {}
        for i, conv in enumerate(self.convs):
            out[f"conv_{i}/kernel"] = (conv.weight, "conv")
            out[f"conv_{i}/bias"] = (conv.bias, "identity")
        out.update(_linear("dense_0", self.dense_0))
        out.update(_linear("head", self.head))
        return out


class RNN(nn.Module):
    def __init__(self, arch: Mapping[str, Any]):
        super().__init__()
        self.cell = arch["cell"]
        cls = nn.LSTM if self.cell == "lstm" else nn.GRU
        sizes = [IMAGE_SIZE] + [arch["hidden"]] * arch["layers"]
        # One module per layer so that dropout sits between layers exactly where Keras has it.
        self.rnns = nn.ModuleList(cls(a, b, num_layers=1, batch_first=True) for a, b in zip(sizes[:-1], sizes[1:]))
        if self.cell == "lstm" and parity.LSTM_TORCH_FROZEN_BIAS_HH:
            for rnn in self.rnns:
                # Keras' LSTM has one bias vector; torch adds bias_ih + bias_hh. Freezing bias_hh at
                # zero gives the same function and the same trainable parameters.
                with torch.no_grad():
                    rnn.bias_hh_l0.zero_()
                rnn.bias_hh_l0.requires_grad_(False)
        self.drop = nn.Dropout(arch["dropout"])
        self.head = nn.Linear(arch["hidden"], NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (N, 28 steps, 28 features): the image rows in order
        last = len(self.rnns) - 1
        for i, rnn in enumerate(self.rnns):
            h, _ = rnn(h)
            if i == last:
                h = h[:, -1]
            h = self.drop(h)
        return self.head(h)

    def canonical(self) -> dict[str, tuple[nn.Parameter, str]]:
        out: dict[str, tuple[nn.Parameter, str]] = {}
        gru = self.cell == "gru"
        for i, rnn in enumerate(self.rnns):
            out[f"rnn_{i}/kernel"] = (rnn.weight_ih_l0, "gru_kernel" if gru else "dense")
            out[f"rnn_{i}/recurrent_kernel"] = (rnn.weight_hh_l0, "gru_kernel" if gru else "dense")
            out[f"rnn_{i}/bias"] = (rnn.bias_ih_l0, "gru_bias" if gru else "identity")
            if gru:
                out[f"rnn_{i}/recurrent_bias"] = (rnn.bias_hh_l0, "gru_bias")
        out.update(_linear("head", self.head))
        return out


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate query/key/value/output projections (1:1 with Keras)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        dh = d // self.heads

        def split(z: torch.Tensor) -> torch.Tensor:
            return z.view(n, t, self.heads, dh).transpose(1, 2)  # (N, heads, T, dh)

        o = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)))
        return self.out(o.transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=parity.LAYER_NORM_EPSILON)
        self.attn = SelfAttention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim, eps=parity.LAYER_NORM_EPSILON)
        self.mlp_1 = nn.Linear(dim, mlp_dim)
        self.act = activation("gelu")
        self.mlp_2 = nn.Linear(mlp_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp_2(self.drop(self.act(self.mlp_1(self.ln_2(x))))))


class Transformer(nn.Module):
    def __init__(self, arch: Mapping[str, Any]):
        super().__init__()
        d, p = arch["dim"], arch["patch_size"]
        self.patch_size = p
        self.cls_pool = arch["pooling"] == "cls"
        tokens = transformer_tokens(arch) + (1 if self.cls_pool else 0)
        self.patch = nn.Linear(p * p, d)
        self.cls = nn.Parameter(torch.zeros(d)) if self.cls_pool else None
        self.pos = nn.Parameter(torch.zeros(tokens, d))
        self.drop = nn.Dropout(arch["dropout"])
        self.blocks = nn.ModuleList(Block(d, arch["heads"], arch["mlp_dim"], arch["dropout"]) for _ in range(arch["depth"]))
        self.ln = nn.LayerNorm(d, eps=parity.LAYER_NORM_EPSILON)
        self.head = nn.Linear(d, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, p = x.shape[0], self.patch_size
        g = IMAGE_SIZE // p
        # (N, 28, 28) -> (N, g*g patches in row-major order, p*p pixels row-major): same as Keras'.
        t = x.reshape(n, g, p, g, p).permute(0, 1, 3, 2, 4).reshape(n, g * g, p * p)
        t = self.patch(t)
        if self.cls is not None:
            t = torch.cat([self.cls.expand(n, 1, -1), t], dim=1)
        t = self.drop(t + self.pos)
        for block in self.blocks:
            t = block(t)
        t = self.ln(t)
        pooled = t[:, 0] if self.cls is not None else t.mean(dim=1)
        return self.head(pooled)

    def canonical(self) -> dict[str, tuple[nn.Parameter, str]]:
        out: dict[str, tuple[nn.Parameter, str]] = {}
        out.update(_linear("patch", self.patch))
        if self.cls is not None:
            out["cls"] = (self.cls, "identity")
        out["pos"] = (self.pos, "identity")
        for b, block in enumerate(self.blocks):
            pre = f"block_{b}"
            out.update(_norm(f"{pre}/ln_1", block.ln_1))
            for proj in ("query", "key", "value", "out"):
                out.update(_linear(f"{pre}/attn/{proj}", getattr(block.attn, proj)))
            out.update(_norm(f"{pre}/ln_2", block.ln_2))
            out.update(_linear(f"{pre}/mlp_1", block.mlp_1))
            out.update(_linear(f"{pre}/mlp_2", block.mlp_2))
        out.update(_norm("ln", self.ln))
        out.update(_linear("head", self.head))
        return out


def _linear(name: str, layer: nn.Linear) -> dict[str, tuple[nn.Parameter, str]]:
    return {f"{name}/kernel": (layer.weight, "dense"), f"{name}/bias": (layer.bias, "identity")}


def _norm(name: str, layer: nn.LayerNorm) -> dict[str, tuple[nn.Parameter, str]]:
    return {f"{name}/gamma": (layer.weight, "identity"), f"{name}/beta": (layer.bias, "identity")}


def _cnn(arch: Mapping[str, Any]) -> nn.Module:
    # Channels-last convolutions: about 25 % faster training steps on CPU (oneDNN) than NCHW,
    # measured on the default CNN; the values and the NCHW shapes are unchanged.
    return CNN(arch).to(memory_format=torch.channels_last)


#: This backend's builder of each model (``arch`` → an ``nn.Module`` with a ``canonical()`` mapping
#: canonical weight name → (parameter, layout kind)), keyed by the model's name in its registry.
BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "mlp": MLP,
    "cnn": _cnn,
    "rnn": RNN,
    "transformer": Transformer,
}


def builder(model: str) -> Callable[[Mapping[str, Any]], nn.Module]:
    """The builder of ``model``: this backend's table's, else (a model from outside greenbench) the one
    its registry entry names for torch; :class:`ArchitectureError` when there is none."""
    build = BUILDERS.get(model) or model_info(model).builder(BACKEND)
    if build is None:
        raise ArchitectureError(f"{BACKEND} has no builder for model {model!r}")
    return build


def build_model(model: str, arch: Mapping[str, Any]) -> nn.Module:
    """The torch module of ``model``; call :func:`load_canonical` to give it its initial weights."""
    weight_specs(model, arch)  # validates the architecture with a clear message
    return builder(model)(arch)


# --------------------------------------------------------------------------- layout mapping
def _gru_swap(a: np.ndarray, axis: int) -> np.ndarray:
    """Swap the first two gate blocks: Keras z,r,h <-> torch r,z,n (an involution)."""
    z, r, h = np.split(a, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def to_torch_layout(kind: str, a: np.ndarray) -> np.ndarray:
    if kind == "identity":
        return a
    if kind == "dense":  # (in, out) -> (out, in); LSTM kernels: gate order i,f,c,o in both
        return a.T
    if kind == "conv":  # HWIO -> OIHW
        return a.transpose(3, 2, 0, 1)
    if kind == "gru_kernel":
        return _gru_swap(a, axis=1).T
    if kind == "gru_bias":
        return _gru_swap(a, axis=0)
    raise ValueError(kind)


def from_torch_layout(kind: str, a: np.ndarray) -> np.ndarray:
    if kind == "identity":
        return a
    if kind == "dense":
        return a.T
    if kind == "conv":  # OIHW -> HWIO
        return a.transpose(2, 3, 1, 0)
    if kind == "gru_kernel":
        return _gru_swap(a.T, axis=1)
    if kind == "gru_bias":
        return _gru_swap(a, axis=0)
    raise ValueError(kind)


def load_canonical(module: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Copy canonical ``weights`` into ``module`` (every canonical weight must be present)."""
    mapping = module.canonical()  # type: ignore[operator]
    missing = set(mapping) - set(weights)
    extra = set(weights) - set(mapping)
    if missing or extra:
        raise ValueError(f"weights do not match the model: missing {sorted(missing)}, unexpected {sorted(extra)}")
    with torch.no_grad():
        for name, (param, kind) in mapping.items():
            value = np.ascontiguousarray(to_torch_layout(kind, np.asarray(weights[name], dtype=np.float32)))
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"{name}: shape {value.shape} does not fit torch parameter {tuple(param.shape)}")
            param.copy_(torch.from_numpy(value))


def export_canonical(module: nn.Module) -> dict[str, np.ndarray]:
    """The module's current weights in canonical layout (float32 numpy copies)."""
    return {
        name: np.ascontiguousarray(from_torch_layout(kind, param.detach().cpu().numpy()), dtype=np.float32)
        for name, (param, kind) in module.canonical().items()  # type: ignore[operator]
    }


def regularized_parameters(module: nn.Module, model: str, arch: Mapping[str, Any]) -> list[nn.Parameter]:
    """The parameters L1/L2 penalize (kernels only), via the canonical names."""
    mapping = module.canonical()  # type: ignore[operator]
    return [mapping[s.name][0] for s in weight_specs(model, arch) if s.regularized]
