"""The torch builder of the ``linear`` test model (:mod:`linear_model`): imported in a torch worker only."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from greenbench.workloads.specs import IMAGE_SIZE, NUM_CLASSES


class Linear(nn.Module):
    def __init__(self, arch: Mapping[str, Any]):
        super().__init__()
        self.head = nn.Linear(IMAGE_SIZE * IMAGE_SIZE, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1))

    def canonical(self) -> dict[str, tuple[nn.Parameter, str]]:
        """Canonical name → (parameter, layout kind), as greenbench's torch builders."""
        return {"head/kernel": (self.head.weight, "dense"), "head/bias": (self.head.bias, "identity")}
