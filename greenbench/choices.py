"""The one list of each choice a suite makes that several layers read: the matrix axes and the
compression methods.

The suite schema validates against these, the plan expands them, the results frame makes them its
configuration columns, the report labels and groups runs by them, and compare matches workloads on
them; the backends dispatch compression methods over their tables through :func:`compression_family`. (The backends
and the models are listed in their registries, :mod:`greenbench.backend_registry` and
:mod:`greenbench.model_registry`: the values of the backend and model axes.)

Standard library only, and no other greenbench module: any layer may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------- matrix axes
#: Axes of the matrix, in the order they appear in run ids, records' configs and tables.
MATRIX_AXES: tuple[str, ...] = (
    "backend",
    "model",
    "device",
    "optimizer",
    "compression",
    "seed",
    "dropout",
    "l1",
    "l2",
    "augmentation",
    "loop",
    "threads",
)
#: The axis whose runs are the repeats of one configuration.
SEED_AXIS = "seed"
#: The axes that tell configurations apart (every axis but the seed), in matrix order.
CONFIG_AXES: tuple[str, ...] = tuple(a for a in MATRIX_AXES if a != SEED_AXIS)
#: The axes a short workload label names (``torch/mlp/cpu/adam/none``).
LABEL_AXES: tuple[str, ...] = ("backend", "model", "device", "optimizer", "compression")

#: The values of the named axes (backends and models: their registries; compression: below).
DEVICES: tuple[str, ...] = ("cpu", "cuda", "mps")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rmsprop")
AUGMENTATIONS: tuple[str, ...] = ("none", "shift", "rotate", "shift-rotate")
#: Loop styles: ``parity``, greenbench's shared-schedule loop (the same data order, batches and learning
#: rate of every step in both frameworks); ``idiomatic``, what the framework's users write (Keras
#: ``compile`` + ``fit``, a torch ``DataLoader`` loop), from the same weights, data and hyperparameters.
LOOPS: tuple[str, ...] = ("parity", "idiomatic")
DEFAULT_LOOP = "parity"

#: Thread settings: a number of intra-op threads for both frameworks, ``all`` (every core the process may use,
#: inter-op 1: the same in both), or ``default``: neither pool set, each framework sizing them its own way (the
#: comparison a user without greenbench gets). A framework sets its thread pools once per process (TensorFlow
#: refuses a second setting), so each setting runs in worker processes of its own.
THREADS_ALL = "all"
THREADS_DEFAULT = "default"
#: OpenMP's wait policy for the workers (``runner.omp_wait_policy``; unset: the OpenMP runtime's default).
#: ``passive`` threads sleep while they wait for work, ``active`` ones spin: on a shared machine a spinning
#: thread takes a core from a neighbour, and a neighbour's thread from it.
OMP_WAIT_POLICIES: tuple[str, ...] = ("passive", "active")

#: Axes added after records existed, with the value every run had before: a run at that value keeps the
#: run id it had (the axis is left out of its identity) and a record without the key reads as that value.
#: (``threads`` is part of a run's identity only as ``default``: ``training.threads`` carries a count, and
#: ``null`` there is ``all``.)
AXIS_DEFAULTS: dict[str, object] = {"loop": DEFAULT_LOOP, "threads": THREADS_ALL}


def axis_in_identity(axis: str, value: object) -> bool:
    """Whether a run's ``axis`` value is part of its identity (run id, compare's matching). Not an axis added
    later at the value every run had before it (:data:`AXIS_DEFAULTS`), and not ``threads`` as a count or ``all``:
    ``training.threads`` carries those (null for all), so a run keeps the id a suite's ``training.threads: N``
    gave it before the axis existed; only ``default`` (no pool set) is new."""
    if axis in AXIS_DEFAULTS and value == AXIS_DEFAULTS[axis]:
        return False
    return axis != "threads" or value == THREADS_DEFAULT


def thread_count(setting: int | str) -> int | None:
    """A ``threads`` axis value as an intra-op thread count: ``None`` for ``all`` (every usable core) and for
    ``default`` (the framework's own choice)."""
    return None if setting in (THREADS_ALL, THREADS_DEFAULT) else int(setting)

# --------------------------------------------------------------------------- compression methods
#: The uncompressed, trained model (the baseline every variant is compared with).
NO_COMPRESSION = "none"
#: Methods that quantize.
QUANTIZATION_METHODS: tuple[str, ...] = ("int8-dynamic", "float16", "int8-static")
#: Every method that is not a family, in the order the help text lists them.
FIXED_METHODS: tuple[str, ...] = (NO_COMPRESSION, "int8-dynamic", "int8-static", "float16")
#: The pruning family's name (``prune-<N>``, N in 1..99 per cent): the key of a backend's compression table.
PRUNE = "prune"
PRUNE_RANGE = (1, 99)
COMPRESSION_HELP = ", ".join(
    [NO_COMPRESSION, f"{PRUNE}-<{PRUNE_RANGE[0]}..{PRUNE_RANGE[1]}> (e.g. {PRUNE}-50)", *FIXED_METHODS[1:]]
)
_PRUNE = re.compile(r"^prune-(\d{1,2})$")


@dataclass(frozen=True)
class PruneMethod:
    """A parsed ``prune-<N>`` method."""

    percent: int

    @property
    def sparsity(self) -> float:
        return self.percent / 100.0


def parse_prune(method: str) -> PruneMethod | None:
    """``'prune-90'`` → ``PruneMethod(90)``; any other method → ``None``; a ``prune-<N>`` outside 1..99
    raises ``ValueError``. The one parser of the pruning family (the schema and the backends use it)."""
    m = _PRUNE.match(method)
    if not m:
        return None
    percent = int(m.group(1))
    if not PRUNE_RANGE[0] <= percent <= PRUNE_RANGE[1]:
        raise ValueError(f"pruning target must be 1..99 %, got {method!r}")
    return PruneMethod(percent)


def validate_compression(value: str) -> str:
    """Return ``value`` if it names a compression method, else raise ``ValueError`` naming the allowed ones."""
    if value in FIXED_METHODS:
        return value
    try:
        if parse_prune(value) is not None:
            return value
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not one of: {COMPRESSION_HELP}")


def compression_family(method: str) -> str:
    """The key of ``method`` in a backend's compression table: :data:`PRUNE` for every ``prune-<N>``."""
    return PRUNE if parse_prune(method) is not None else method


def prune_sparsity(compression: str) -> float | None:
    """``'prune-90'`` → 0.9; anything else → ``None``."""
    m = _PRUNE.match(compression)
    return int(m.group(1)) / 100 if m else None


__all__ = [
    "AUGMENTATIONS",
    "AXIS_DEFAULTS",
    "DEFAULT_LOOP",
    "LOOPS",
    "OMP_WAIT_POLICIES",
    "THREADS_ALL",
    "THREADS_DEFAULT",
    "axis_in_identity",
    "DEVICES",
    "OPTIMIZERS",
    "COMPRESSION_HELP",
    "CONFIG_AXES",
    "FIXED_METHODS",
    "LABEL_AXES",
    "MATRIX_AXES",
    "NO_COMPRESSION",
    "PRUNE",
    "PRUNE_RANGE",
    "PruneMethod",
    "QUANTIZATION_METHODS",
    "SEED_AXIS",
    "compression_family",
    "parse_prune",
    "prune_sparsity",
    "thread_count",
    "validate_compression",
]
