"""A model from outside greenbench: ``linear`` (the 784 pixels → 10 logits, one dense layer),
registered through the model registry alone (``greenbench.model_registry.register_model``).

It proves that a model is one registry entry — its settings class and its weight specs, here —
plus one builder per backend (:mod:`linear_model_torch`, named in the entry's ``builders`` since a
module of the test tree cannot add to ``greenbench/backends/torch/models.py``'s table). This
module imports no framework: the parent process reads it too. A spawned worker learns of it
through ``GREENBENCH_MODELS=linear_model``, which imports this module and registers ``MODELS``.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

from pydantic import Field

from greenbench.model_registry import ModelInfo, ModelSettings
from greenbench.workloads.specs import IMAGE_SIZE, NUM_CLASSES, WeightSpec

NAME = "linear"


class LinearConfig(ModelSettings):
    # No dropout in a one-layer model; `init` is a setting of this model only (proof that the
    # settings class is the model's own).
    dropout: float | None = Field(0.0, ge=0.0, lt=1.0)
    init: Literal["glorot_uniform", "zeros"] = "glorot_uniform"


def linear_weights(arch: Mapping[str, Any]) -> list[WeightSpec]:
    n_in = IMAGE_SIZE * IMAGE_SIZE
    return [
        WeightSpec("head/kernel", (n_in, NUM_CLASSES), arch["init"], True, (n_in, NUM_CLASSES)),
        WeightSpec("head/bias", (NUM_CLASSES,), "zeros", False),
    ]


INFO = ModelInfo(
    name=NAME,
    config=LinearConfig,
    specs=linear_weights,
    description="multinomial logistic regression: one dense layer over the flattened image",
    builders={"torch": "linear_model_torch:Linear"},
)
MODELS = [INFO]
