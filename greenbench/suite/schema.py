"""The YAML suite schema (pydantic v2).

A suite names a dataset, a matrix of axes (backend × model × device × optimizer ×
compression × seed × regularization), per-model settings, training defaults and
energy settings. Unknown keys are errors everywhere: typos are the most common
mistake in a suite file.

This module imports no other greenbench module but three leaves: the backend registry and
:mod:`greenbench.choices` (standard library only: the matrix axes, the compression methods), and the
model registry (pydantic and :mod:`greenbench.choices`: each model's settings class).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, create_model, field_validator, model_validator

from greenbench.backend_registry import BUILTIN_NAMES, backend_names
# The compression methods (one parser of prune-<N>, one validation) come from greenbench.choices.
from greenbench.choices import COMPRESSION_HELP, MATRIX_AXES, prune_sparsity, validate_compression  # noqa: F401
# The values of the device, optimizer and augmentation axes, listed once in greenbench.choices.
from greenbench.choices import (AUGMENTATIONS, DEFAULT_LOOP, DEVICES, LOOPS, OMP_WAIT_POLICIES, OPTIMIZERS, THREADS_ALL,
                                THREADS_DEFAULT)
# The models and their settings come from their registry (greenbench.model_registry, a leaf).
from greenbench.model_registry import ACTIVATIONS, BUILTIN as BUILTIN_MODELS, BUILTIN_NAMES as MODELS
from greenbench.model_registry import (  # noqa: F401 (the settings classes, re-exported)
    CNNConfig,
    MLPConfig,
    ModelInfo,
    ModelSettings,
    MAX_LEARNING_RATE,
    RNNConfig,
    StrictSettings,
    TransformerConfig,
    model_names,
    models,
)

# The backends come from their registry (greenbench.backend_registry, a standard-library leaf):
# the built-in ones are the default, and a backend registered at run time is allowed too.
BACKENDS = BUILTIN_NAMES
DATASETS = ("mnist", "fashion-mnist")
SCHEDULES = ("constant", "cosine", "step")

# A matrix larger than this is refused before it is expanded (expansion costs time and memory per run);
# suites/full.yaml, "everything", has 3,024 runs.
MAX_COMBINATIONS = 20_000
# The largest L1 / L2 penalty (matrix.l1, matrix.l2): MNIST studies use 1e-5 to 1e-3; above 1 the penalty
# drowns the loss, and 1e300 overflows it.
MAX_PENALTY = 1.0
# The longest a run may be allowed (runner.timeout_s, --timeout): 30 days. One workload of suites/full.yaml
# takes minutes on a CPU; a bound keeps a typo (1e9) from meaning "never time out" without saying so.
MAX_TIMEOUT_S = 30 * 86400
# The largest batch for the inference phase (runner.inference_batch), as for training.batch_size: a
# recurrent TFLite model is converted once per batch size with a static shape, so the batch is allocated.
MAX_BATCH = 65536



Compression = Annotated[str, AfterValidator(validate_compression)]


def validate_backend(value: Any) -> Any:
    """Return ``value`` if it names a registered backend, else raise ``ValueError``."""
    names = backend_names()
    if isinstance(value, str) and value in names:
        return value
    raise ValueError(f"{value!r} is not one of: {', '.join(names)}")


BackendName = Annotated[str, BeforeValidator(validate_backend)]


class _Strict(StrictSettings):
    # Unknown keys are errors, NaN and ±inf are never a setting, a boolean is never a number
    # (greenbench.model_registry.StrictSettings, the base of every model's settings too).
    pass


# --------------------------------------------------------------------------- data
class DataConfig(_Strict):
    dataset: Literal["mnist", "fashion-mnist"] = "mnist"
    dir: str | None = Field(None, description="Directory holding the IDX or npz files (optional).")
    train_samples: int | None = Field(None, ge=10, le=60000, description="Stratified subset of the training set.")
    test_samples: int | None = Field(None, ge=10, le=10000, description="Stratified subset of the test set.")
    validation_samples: int = Field(0, ge=0, le=20000, description="Held out of the training subset.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the subset and validation split (same for every run).")

    @model_validator(mode="after")
    def _training_images_remain(self) -> "DataConfig":
        if self.train_samples is not None and self.validation_samples >= self.train_samples:
            raise ValueError(
                f"validation_samples ({self.validation_samples}) must be less than train_samples "
                f"({self.train_samples}): the validation images are held out of the training images")
        return self


# --------------------------------------------------------------------------- models
# Each model's settings class is its entry's in the model registry (greenbench.model_registry, a leaf):
# the built-in ones are fields of ModelsConfig, and a model registered at run time is allowed too.
MODEL_CONFIGS: dict[str, type[ModelSettings]] = {m.name: m.config for m in BUILTIN_MODELS}
ModelConfig = ModelSettings  # (every model's settings class extends it)


def validate_model(value: Any) -> Any:
    """Return ``value`` if it names a registered model, else raise ``ValueError``."""
    names = model_names()
    if isinstance(value, str) and value in names:
        return value
    raise ValueError(f"{value!r} is not one of: {', '.join(names)}")


ModelName = Annotated[str, BeforeValidator(validate_model)]


class _Models(_Strict):
    """``models:``: one key per model, its settings class from its registry entry."""

    @model_validator(mode="wrap")
    @classmethod
    def _registered_models(cls, data: Any, handler: Any) -> Any:
        # A suite that sets a model registered after this module was built is validated by a
        # ModelsConfig with a field for every registered model (unknown keys stay errors).
        if isinstance(data, dict) and any(k not in cls.model_fields for k in data):
            current = models_config()
            if current is not cls:
                return current.model_validate(data)
        return handler(data)


def _models_class(entries: tuple[ModelInfo, ...], base: type[_Strict]) -> type[_Strict]:
    fields: dict[str, Any] = {m.name: (m.config, Field(default_factory=m.config)) for m in entries}
    return create_model("ModelsConfig", __base__=base, __module__=__name__, **fields)


ModelsConfig = _models_class(BUILTIN_MODELS, _Models)
_models_classes: dict[tuple[tuple[str, type[ModelSettings]], ...], type[_Strict]] = {}


def models_config() -> type[_Strict]:
    """The ``models:`` settings class of the models registered now (:class:`ModelsConfig` for the built-in ones)."""
    extra = tuple(m for name, m in models().items() if name not in ModelsConfig.model_fields)
    if not extra:
        return ModelsConfig
    key = tuple((m.name, m.config) for m in extra)
    if key not in _models_classes:
        _models_classes[key] = _models_class(extra, ModelsConfig)
    return _models_classes[key]


# --------------------------------------------------------------------------- optimizers
# Learning rates are > 0 and <= MAX_LEARNING_RATE (10; model_registry, where each model's own rate is checked
# too), epsilons > 0 and <= 1: larger values are typos (learning_rate: 1e300) that only make a run diverge.
class SGDConfig(_Strict):
    learning_rate: float = Field(0.05, gt=0, le=MAX_LEARNING_RATE)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False


class AdamConfig(_Strict):
    learning_rate: float = Field(0.001, gt=0, le=MAX_LEARNING_RATE)
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    beta2: float = Field(0.999, ge=0.0, lt=1.0)
    epsilon: float = Field(1e-7, gt=0, le=1.0)


class RMSpropConfig(_Strict):
    learning_rate: float = Field(0.001, gt=0, le=MAX_LEARNING_RATE)
    rho: float = Field(0.9, ge=0.0, lt=1.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    epsilon: float = Field(1e-7, gt=0, le=1.0)


class OptimizersConfig(_Strict):
    sgd: SGDConfig = Field(default_factory=SGDConfig)
    adam: AdamConfig = Field(default_factory=AdamConfig)
    rmsprop: RMSpropConfig = Field(default_factory=RMSpropConfig)


# --------------------------------------------------------------------------- training
MAX_THREADS = 1024


def validate_threads(value: Any) -> int | str:
    """A ``threads`` value: a count of intra-op threads (1..1024), ``all`` (every core the worker may use) or
    ``default`` (neither framework's pools set)."""
    if value in (THREADS_ALL, THREADS_DEFAULT):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_THREADS:
        return value
    raise ValueError(f"{value!r} is not a thread setting: give a count of threads 1..{MAX_THREADS}, "
                     f"{THREADS_ALL} or {THREADS_DEFAULT}")


ThreadsSetting = Annotated[int | str, BeforeValidator(validate_threads)]


class TrainingConfig(_Strict):
    epochs: int = Field(1, ge=1, le=1000)
    batch_size: int = Field(128, ge=1, le=MAX_BATCH)
    schedule: Literal["constant", "cosine", "step"] = "constant"
    target_accuracy: float | None = Field(None, gt=0.0, le=1.0, description="Stop once validation (or test) accuracy reaches it.")
    threads: int | None = Field(None, ge=1, le=MAX_THREADS, description=(
        "Intra-op threads for both frameworks (default: all cores); the one-value form of matrix.threads."))
    eval_batch_size: int = Field(1000, ge=1, le=MAX_BATCH)
    prune_finetune_epochs: int = Field(0, ge=0, le=100)


# --------------------------------------------------------------------------- energy
class EnergyConfig(_Strict):
    enabled: bool = True
    country: str = Field("USA", description="ISO 3166-1 alpha-3 code for the grid's carbon intensity.")
    region: str | None = None
    measure_power_secs: float = Field(0.5, gt=0.0, le=1.0, description="Seconds between power samples.")
    min_phase_s: float = Field(2.0, ge=0.0, le=86400.0,
                               description="Phases shorter than this are flagged low-confidence.")
    min_samples: int = Field(3, ge=1, le=100_000, description=(
        "Phases with fewer power samples are flagged low-confidence (MLPerf Power asks for 60 at >= 1 Hz)."))
    tracking_mode: Literal["machine", "process"] = "machine"
    idle_baseline_s: float = Field(10.0, ge=0.0, le=3600.0, description=(
        "Seconds of idle power measured before the first workload (0: none); phases get net energy above it."))
    idle_recheck_after_s: float | None = Field(1800.0, gt=0.0, le=366 * 86400, description=(
        "Measure idle power again at the end of a suite that ran longer than this, to detect drift (null: never)."))
    cpu_tdp_w: float | None = Field(None, gt=0.0, le=5000.0, description=(
        "Declared CPU power (W) for CPUs codecarbon does not know; used only when no CPU energy counter is readable."))

    @field_validator("country")
    @classmethod
    def _iso3(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", v):
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-3 country code (e.g. USA, FRA, DEU)")
        code = v.upper()
        # Only codes codecarbon has a carbon intensity for: an unknown one would silently fall back.
        # The one import that runs back up (suite -> measure, while measure/settings reads EnergyConfig):
        # measure/grid is a leaf (standard library only, no greenbench module) that reads the grid table
        # codecarbon ships; the report's what-if section reads it too. Imported here, when a country is checked.
        from greenbench.measure.grid import load_grid_data

        grid = load_grid_data()
        if grid is not None and grid.countries and code not in grid.countries:
            raise ValueError(
                f"{v!r} is not a country codecarbon has grid data for (ISO 3166-1 alpha-3 codes such as "
                "USA, FRA, DEU, GBR, IND, CHN)"
            )
        return code


class RunnerConfig(_Strict):
    # Where the runs execute: worker processes on this machine, or the nodes of a Ray cluster (--executor).
    # Not part of a run's configuration (excluded from records and ids): a run resumes across executors.
    executor: Literal["local", "ray"] = Field("local", exclude=True)
    # --executor ray: how often a workload whose node was lost is retried on another node (0: never).
    node_retries: int = Field(1, ge=0, le=10, exclude=True)
    # --executor ray: what a measured workload holds. node (default): the whole node (its greenbench_slot), one
    # workload per node. gpu: a workload whose device is cuda holds one of the node's Ray GPUs instead, so a
    # node runs one such workload per GPU (sharing its CPU package and RAM); other devices keep the whole node.
    ray_isolation: Literal["node", "gpu"] = Field("node", exclude=True)
    # --executor ray: a node runner that sends no event for longer than the workload's timeout_s plus this many
    # seconds is taken for hung (alive, but silent): the driver kills it and retries the workload elsewhere.
    node_silence_margin_s: float = Field(300.0, gt=0.0, le=86400.0, exclude=True)
    timeout_s: float = Field(3600.0, gt=0, le=MAX_TIMEOUT_S)
    inference_batch: int = Field(1000, ge=1, le=MAX_BATCH)
    latency_samples: int = Field(200, ge=10, le=100000)
    cotenancy_threshold: float = Field(0.10, gt=0.0, le=1.0, description=(
        "A run is marked contaminated when other processes used more than this fraction of the machine's CPU "
        "during one of its measured windows."))
    quiet_wait_s: float = Field(30.0, ge=0.0, le=86400.0, description=(
        "Before each workload, wait up to this long for other processes to leave the machine (0: do not wait)."))
    require_quiet: bool = Field(False, description=(
        "Refuse to measure a workload (failed, with the reason) when the machine is busy, instead of waiting."))
    omp_wait_policy: Literal[OMP_WAIT_POLICIES] | None = Field(None, description=(
        "OpenMP's wait policy in the worker processes (OMP_WAIT_POLICY): passive threads sleep while they wait, "
        "active ones spin. null: the environment's setting, else the OpenMP runtime's default."))


# --------------------------------------------------------------------------- matrix
def _axis(default: list[Any]) -> Any:
    return Field(default_factory=lambda: list(default), min_length=1)


class MatrixEntry(_Strict):
    """One ``include``/``exclude`` entry: a partial assignment of axis values."""

    backend: BackendName | None = None
    model: ModelName | None = None
    device: Literal[DEVICES] | None = None
    optimizer: Literal[OPTIMIZERS] | None = None
    compression: Compression | None = None
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    l1: float | None = Field(None, ge=0.0, le=MAX_PENALTY)
    l2: float | None = Field(None, ge=0.0, le=MAX_PENALTY)
    augmentation: Literal[AUGMENTATIONS] | None = None
    loop: Literal[LOOPS] | None = None
    threads: ThreadsSetting | None = None

    def assigned(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in MATRIX_AXES if k in self.model_fields_set}


class Matrix(_Strict):
    backend: list[BackendName] = _axis(list(BACKENDS))
    model: list[ModelName] = _axis(["mlp"])
    device: list[Literal[DEVICES]] = _axis(["cpu"])
    optimizer: list[Literal[OPTIMIZERS]] = _axis(["adam"])
    compression: list[Compression] = _axis(["none"])
    seed: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = _axis([0])
    # `null` means "the model's own dropout setting".
    dropout: list[Annotated[float, Field(ge=0.0, lt=1.0)] | None] = _axis([None])
    # penalties added to the loss (l1*sum|w| + l2*sum w²), at most MAX_PENALTY
    l1: list[Annotated[float, Field(ge=0.0, le=MAX_PENALTY)]] = _axis([0.0])
    l2: list[Annotated[float, Field(ge=0.0, le=MAX_PENALTY)]] = _axis([0.0])
    augmentation: list[Literal[AUGMENTATIONS]] = _axis(["none"])
    # parity: the shared-schedule loop; idiomatic: Keras compile + fit, a torch DataLoader loop.
    loop: list[Literal[LOOPS]] = _axis([DEFAULT_LOOP])
    # intra-op threads in both frameworks: a count, all (every usable core) or default (each framework's own
    # pools); each setting in workers of its own.
    threads: list[ThreadsSetting] = _axis([THREADS_ALL])
    include: list[MatrixEntry] = Field(default_factory=list)
    exclude: list[MatrixEntry] = Field(default_factory=list)

    @field_validator(*MATRIX_AXES)
    @classmethod
    def _no_duplicates(cls, values: list[Any]) -> list[Any]:
        seen: list[Any] = []
        for v in values:
            if v in seen:  # (a duplicate would run, and be recorded, twice under one run id)
                raise ValueError(f"duplicate value {v!r}: each value may appear once in an axis")
            seen.append(v)
        return values

    @model_validator(mode="after")
    def _bounded(self) -> "Matrix":
        sizes = {k: len(getattr(self, k)) for k in MATRIX_AXES}
        total = math.prod(sizes.values())
        for entry in self.include:
            fixed = entry.assigned()
            total += math.prod(n for k, n in sizes.items() if k not in fixed)
        if total > MAX_COMBINATIONS:
            raise ValueError(
                f"expands to {total:,} combinations before exclude; at most {MAX_COMBINATIONS:,} are allowed "
                "(split the study into several suites)"
            )
        return self


# The matrix's fields are the axes of greenbench.choices, in its order (one list, read everywhere);
# each model and optimizer of those lists has its settings here.
for _model in (MatrixEntry, Matrix):
    assert tuple(_model.model_fields)[: len(MATRIX_AXES)] == MATRIX_AXES, _model
del _model
assert tuple(MODEL_CONFIGS) == tuple(ModelsConfig.model_fields) == MODELS
assert tuple(OptimizersConfig.model_fields) == OPTIMIZERS


class Suite(_Strict):
    name: str = Field(..., min_length=1, max_length=120)
    description: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    matrix: Matrix = Field(default_factory=Matrix)
    models: ModelsConfig = Field(default_factory=lambda: models_config()())
    optimizers: OptimizersConfig = Field(default_factory=OptimizersConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)

    @model_validator(mode="after")
    def _threads_once(self) -> "Suite":
        """``training.threads: N`` is the one-value form of ``matrix.threads: [N]``; a suite gives one or the other."""
        if self.training.threads is None:
            return self
        if "threads" in self.matrix.model_fields_set:
            raise ValueError("training.threads and matrix.threads are both set: give the thread settings once, "
                             "in matrix.threads (a list of counts, all, default)")
        return self.model_copy(update={"matrix": self.matrix.model_copy(update={"threads": [self.training.threads]})})

    @property
    def slug(self) -> str:
        """The suite's name as a safe folder/file name (``results/<slug>/``)."""
        return suite_slug(self.name)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SLUG_MAX = 64  # readable part of a changed name; with the hash a slug stays far below any file-name limit


def suite_slug(name: str) -> str:
    """A suite's name as a safe, distinct folder and file name (``results/<slug>/``, ``reports/<slug>.html``).

    A name made only of ASCII letters, digits and ``-_.`` (not starting with ``-`` or ``.``, at most
    64 characters) is its own slug: ``smoke`` stays ``results/smoke``. Any other name keeps its safe
    characters (other runs become ``-``) and gets the first 8 hex digits of the SHA-256 of its exact
    UTF-8 text, so two different names never share a folder: ``テスト`` → ``suite-<hash>``,
    ``a/../b`` → ``a-..-b-<hash>``. The result never holds a path separator, is never ``.`` or
    ``..``, and never starts with ``-`` or ``.``.
    """
    readable = _UNSAFE.sub("-", name).strip("-.")
    if readable == name and len(name) <= SLUG_MAX:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    readable = readable[:SLUG_MAX].rstrip("-.")
    return f"{readable}-{digest}" if readable else f"suite-{digest}"


def legacy_suite_slug(name: str) -> str:
    """The folder name greenbench gave a suite before :func:`suite_slug` (kept to find old results)."""
    return _UNSAFE.sub("-", name).strip("-.") or "suite"
