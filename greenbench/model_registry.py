"""The model registry: everything greenbench knows about a model, in one entry.

An entry (:class:`ModelInfo`) names the model, its settings (a pydantic class: the sizes, the
activation, the dropout, and the per-model overrides of epochs, batch size and learning rate
every model has), its framework-neutral weights (``"module:function"`` or a function: ``arch`` →
the list of :class:`~greenbench.workloads.specs.WeightSpec`, imported only when weights are
asked for) and a one-line description for documentation and reports. The suite schema's allowed
models and its ``models:`` settings, and :func:`greenbench.workloads.specs.weight_specs`, read
these entries. Each backend builds a model from its own table of builders keyed by model name
(``greenbench/backends/<backend>/models.py``).

Adding a model is one entry in :data:`BUILTIN` (its settings class here, its weight specs in
:mod:`greenbench.workloads.specs`) and one builder per backend folder; from outside greenbench,
one :func:`register_model` call whose entry names its builders per backend in ``builders``
(``{"torch": "module:builder"}``). A spawned worker does not share its parent's registrations:
name the modules that register models in ``GREENBENCH_MODELS=module[,module...]`` and every
process imports them on its first look-up; a module so named registers each :class:`ModelInfo`
in its ``MODELS`` list.

Of greenbench it imports only :mod:`greenbench.choices` (the optimizers a learning rate may name);
besides the standard library, only pydantic: the schema and ``greenbench --help`` read it.
"""

from __future__ import annotations

import importlib
import os
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from greenbench.choices import OPTIMIZERS

MODELS_ENV = "GREENBENCH_MODELS"
ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu")


# --------------------------------------------------------------------------- settings
class BooleanInput:
    """A boolean given where a field takes no boolean (``epochs: true``, ``seed: [yes]``).

    pydantic reads ``True`` as the number 1; a suite that says ``epochs: yes`` means no number. Every
    settings model (:class:`StrictSettings`) puts this in place of such a boolean before its fields are
    validated, so the field's own type refuses it (``int_type``, ``float_type``, …) at the field's
    location, and the suite loader names it (``training.epochs: true: a boolean is not a number …``).
    """

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:  # as the suite file says it
        return "true" if self.value else "false"


def _admits_booleans(annotation: Any) -> bool:
    """Whether a field's type takes a boolean itself, or holds models that check their own fields."""
    if annotation is bool or annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_admits_booleans(arg) for arg in typing.get_args(annotation))


def _mark_booleans(value: Any) -> Any:
    """``value`` with each boolean in it (in lists, and as mapping values) made a :class:`BooleanInput`."""
    if isinstance(value, bool):
        return BooleanInput(value)
    if isinstance(value, list):
        marked = [_mark_booleans(v) for v in value]
        return marked if any(a is not b for a, b in zip(marked, value)) else value
    if isinstance(value, dict):
        marked_d = {k: _mark_booleans(v) for k, v in value.items()}
        return marked_d if any(marked_d[k] is not v for k, v in value.items()) else value
    return value


class StrictSettings(BaseModel):
    """The base of every settings model of a suite (its sections, each model's settings).

    Unknown keys are errors, NaN and ±inf are never a setting (a timeout of .inf or a learning rate of
    .nan is a typo, not a choice), and a boolean is never a number: ``epochs: true`` or ``seed: [yes]``
    is refused where pydantic alone would read it as 1. Fields that take booleans
    (``runner.require_quiet``) take them as before.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[Any, Any] | None = None
        for key, value in data.items():
            field = cls.model_fields.get(key) if isinstance(key, str) else None
            if field is None or _admits_booleans(field.annotation):
                continue
            marked = _mark_booleans(value)
            if marked is not value:
                out = dict(data) if out is None else out
                out[key] = marked
        return data if out is None else out


#: The largest learning rate a suite may give (a model's, an optimizer's): MNIST models train at 1e-4 to 0.1;
#: 1e300 is a typo that only diverges (and prints as lr 1e+300).
MAX_LEARNING_RATE = 10.0
LearningRate = Annotated[float, Field(gt=0.0, le=MAX_LEARNING_RATE)]


class ModelSettings(StrictSettings):
    """The settings every model has; a model's settings class extends it with its architecture.

    Unknown keys are errors, NaN and ±inf are never a setting, a boolean is never a number (as everywhere
    in the suite schema: :class:`StrictSettings`). Everything but ``epochs``, ``batch_size`` and
    ``learning_rate`` is the model's architecture (``RunSpec.arch``, what its weight specs and builders
    read), with ``dropout`` resolved.
    """

    epochs: int | None = Field(None, ge=1, le=1000)
    batch_size: int | None = Field(None, ge=1, le=65536)
    # one rate, or one per optimizer ({adam: 0.003}); each > 0 and <= MAX_LEARNING_RATE
    learning_rate: LearningRate | dict[Literal[OPTIMIZERS], LearningRate] | None = None
    dropout: float | None = Field(None, ge=0.0, lt=1.0)


class MLPConfig(ModelSettings):
    hidden: list[Annotated[int, Field(ge=1, le=8192)]] = Field(default_factory=lambda: [128], min_length=1)
    activation: Literal[ACTIVATIONS] = "relu"
    dropout: float | None = Field(0.2, ge=0.0, lt=1.0)


class CNNConfig(ModelSettings):
    channels: list[Annotated[int, Field(ge=1, le=1024)]] = Field(default_factory=lambda: [32, 64], min_length=1, max_length=4)
    kernel_size: int = Field(3, ge=1, le=7)
    pool: int = Field(2, ge=1, le=4)
    dense: int = Field(128, ge=1, le=8192)
    activation: Literal[ACTIVATIONS] = "relu"
    dropout: float | None = Field(0.25, ge=0.0, lt=1.0)
    dense_dropout: float = Field(0.5, ge=0.0, lt=1.0)


class RNNConfig(ModelSettings):
    cell: Literal["lstm", "gru"] = "lstm"
    hidden: int = Field(128, ge=1, le=4096)
    layers: int = Field(1, ge=1, le=4)
    dropout: float | None = Field(0.0, ge=0.0, lt=1.0)


class TransformerConfig(ModelSettings):
    patch_size: Literal[4, 7, 14] = 7
    dim: int = Field(64, ge=4, le=1024)
    heads: int = Field(4, ge=1, le=32)
    depth: int = Field(2, ge=1, le=12)
    mlp_dim: int = Field(128, ge=1, le=4096)
    pooling: Literal["cls", "mean"] = "cls"
    dropout: float | None = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> "TransformerConfig":
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        return self


# --------------------------------------------------------------------------- entries
def _resolve(target: Any) -> Any:
    """``"module:attr"`` → the attribute (imported now); anything else as it is."""
    if isinstance(target, str):
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)
    return target


@dataclass(frozen=True)
class ModelInfo:
    """One model, as every part of greenbench sees it."""

    name: str
    #: The model's settings (``models.<name>`` in a suite): a :class:`ModelSettings` subclass.
    config: type[ModelSettings]
    #: ``arch`` → its canonical weights (``list[WeightSpec]``, in a fixed order): a function, or its
    #: ``"module:function"`` (imported when weights are first asked for).
    specs: str | Callable[[Mapping[str, Any]], list[Any]]
    #: One line for documentation and reports.
    description: str = ""
    #: Backend name → ``"module:builder"`` (or the builder) of a model from outside greenbench, for
    #: backends whose own table has no builder of it. The built-in models leave it empty.
    builders: Mapping[str, Any] = field(default_factory=dict)

    def weight_specs(self, arch: Mapping[str, Any]) -> list[Any]:
        """The canonical weights of this model with architecture ``arch``."""
        return _resolve(self.specs)(arch)

    def builder(self, backend: str) -> Any | None:
        """This entry's builder for ``backend`` (imported now), or ``None``."""
        target = self.builders.get(backend)
        return None if target is None else _resolve(target)


_SPECS = "greenbench.workloads.specs"

#: The models greenbench ships, in the order they are listed (the model axis' values).
BUILTIN: tuple[ModelInfo, ...] = (
    ModelInfo("mlp", MLPConfig, f"{_SPECS}:mlp_weights",
              "multilayer perceptron: dense layers over the flattened image"),
    ModelInfo("cnn", CNNConfig, f"{_SPECS}:cnn_weights",
              "convolutional network: valid convolutions, max-pooling, a dense layer"),
    ModelInfo("rnn", RNNConfig, f"{_SPECS}:rnn_weights",
              "recurrent network (LSTM or GRU) over the 28 rows as 28 time steps"),
    ModelInfo("transformer", TransformerConfig, f"{_SPECS}:transformer_weights",
              "vision transformer: patch embedding, pre-norm self-attention blocks"),
)
BUILTIN_NAMES: tuple[str, ...] = tuple(m.name for m in BUILTIN)

_registry: dict[str, ModelInfo] = {m.name: m for m in BUILTIN}
_plugins_loaded: set[str] = set()


def register_model(info: ModelInfo) -> ModelInfo:
    """Add ``info`` to the registry (again registering an equal entry is harmless)."""
    known = _registry.get(info.name)
    if known is not None and known != info:
        raise ValueError(f"model {info.name!r} is already registered")
    if not issubclass(info.config, ModelSettings):
        raise TypeError(f"model {info.name!r}: config must subclass ModelSettings, got {info.config!r}")
    _registry[info.name] = info
    return info


def unregister_model(name: str) -> None:
    """Remove a model registered with :func:`register_model` (the built-in ones stay)."""
    if name in BUILTIN_NAMES:
        raise ValueError(f"model {name!r} is built in")
    _registry.pop(name, None)


def _load_plugins() -> None:
    from greenbench.errors import UserError
    from greenbench.plugins import import_module, module_names

    needs = "a MODELS list of ModelInfo"
    for module in module_names(MODELS_ENV, needs):
        if module in _plugins_loaded:
            continue
        entries = getattr(import_module(MODELS_ENV, module, needs), "MODELS", None)
        if not isinstance(entries, (list, tuple)) or not all(isinstance(e, ModelInfo) for e in entries):
            raw = os.environ.get(MODELS_ENV, "")
            got = "no MODELS" if entries is None else "a MODELS that is not a list of ModelInfo"
            raise UserError(f"{MODELS_ENV}={raw!r}: module {module!r} has {got}; each module needs {needs}")
        for info in entries:
            try:
                register_model(info)
            except ValueError as exc:  # a name taken by another entry
                raise UserError(f"{MODELS_ENV}: module {module!r}: {exc}") from None
        _plugins_loaded.add(module)


def models() -> dict[str, ModelInfo]:
    """Every registered model by name, the built-in ones first."""
    _load_plugins()
    return dict(_registry)


def model_names() -> tuple[str, ...]:
    return tuple(models())


def model_info(name: str) -> ModelInfo:
    """The entry of model ``name``; ``ValueError`` (one line naming the known ones) for an unknown one."""
    try:
        return models()[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; use one of: {', '.join(model_names())}") from None


__all__ = [
    "ACTIVATIONS",
    "BooleanInput",
    "BUILTIN",
    "BUILTIN_NAMES",
    "CNNConfig",
    "MLPConfig",
    "LearningRate",
    "MAX_LEARNING_RATE",
    "MODELS_ENV",
    "ModelInfo",
    "ModelSettings",
    "RNNConfig",
    "StrictSettings",
    "TransformerConfig",
    "model_info",
    "model_names",
    "models",
    "register_model",
    "unregister_model",
]
