"""Matrix expansion: a :class:`Suite` becomes a list of fully resolved :class:`RunSpec`.

Expansion follows GitHub Actions' matrix:

1. the cartesian product of every axis;
2. ``exclude`` entries remove each combination that matches all the keys they name;
3. ``include`` entries then add runs (even ones excluded above): the axes an entry
   names are fixed, the axes it leaves out range over the matrix's values.
   Duplicates are dropped, so an include that is already in the product adds nothing,
   and so are combinations that resolve to a run already planned (``dropout: null`` is
   the model's own dropout: ``[null, 0.0]`` is one run for a model without dropout).

Every run has a stable id derived from its resolved configuration (not from where
the data lives or how long the runner waits): the same configuration always gets
the same id, and any change that can move a measurement gives a new one.
Runs that differ only in ``compression`` share a ``workload_id``: they are trained
once and compressed many times.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from greenbench.choices import (AXIS_DEFAULTS, DEFAULT_LOOP, MATRIX_AXES, NO_COMPRESSION, THREADS_ALL,
                               axis_in_identity, thread_count)
from greenbench.model_registry import model_info
from greenbench.suite.schema import (
    DataConfig,
    EnergyConfig,
    MatrixEntry,
    RunnerConfig,
    Suite,
)


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    target_accuracy: float | None
    threads: int | None
    eval_batch_size: int
    prune_finetune_epochs: int
    l1: float
    l2: float
    augmentation: str


class RunSpec(BaseModel):
    """Everything a worker needs to execute one run; plain data, picklable and JSON-able."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    workload_id: str
    suite: str
    backend: str
    model: str
    device: str
    optimizer: str
    compression: str
    seed: int
    dropout: float
    l1: float
    l2: float
    augmentation: str
    loop: str = DEFAULT_LOOP  # parity or idiomatic (greenbench.choices.LOOPS): which training loop runs
    threads: int | str = THREADS_ALL  # intra-op threads in both frameworks, or all; training.threads as a count
    arch: dict[str, Any]
    optimizer_config: dict[str, Any]
    training: TrainSpec
    data: DataConfig
    energy: EnergyConfig
    runner: RunnerConfig

    @property
    def axes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in MATRIX_AXES}

    def label(self) -> str:
        label = f"{self.backend}/{self.model}/{self.device}/{self.optimizer}/{self.compression}/seed{self.seed}"
        if self.loop != DEFAULT_LOOP:
            label += f"/{self.loop}"
        return label if self.threads == THREADS_ALL else f"{label}/threads{self.threads}"


# Fields that change where things live or how long we wait, never what is measured.
_NOT_IDENTITY_DATA = {"dir"}


def _identity(spec: dict[str, Any], *, with_compression: bool) -> dict[str, Any]:
    ident = {k: v for k, v in spec.items() if k not in {"run_id", "workload_id", "suite", "runner"}}
    ident["data"] = {k: v for k, v in ident["data"].items() if k not in _NOT_IDENTITY_DATA}
    for axis in AXIS_DEFAULTS:  # a run as every run was before the axis keeps its id
        if axis in ident and not axis_in_identity(axis, ident[axis]):
            del ident[axis]
    # How the runner runs is not identity, except OpenMP's wait policy: it moves time and energy on a shared machine.
    wait = (spec.get("runner") or {}).get("omp_wait_policy")
    if wait is not None:
        ident["omp_wait_policy"] = wait
    if not with_compression:
        ident.pop("compression")
    return ident


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _matches(combo: dict[str, Any], entry: MatrixEntry) -> bool:
    return all(combo[k] == v for k, v in entry.assigned().items())


def expand_combinations(suite: Suite) -> list[dict[str, Any]]:
    """The matrix's axis combinations after ``exclude`` and ``include``, in a stable order."""
    m = suite.matrix
    axes = {k: list(getattr(m, k)) for k in MATRIX_AXES}
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    combos = [c for c in combos if not any(_matches(c, e) for e in m.exclude)]
    for entry in m.include:
        fixed = entry.assigned()
        free = {k: v for k, v in axes.items() if k not in fixed}
        for values in itertools.product(*free.values()):
            combos.append({**dict(zip(free, values)), **fixed})
    seen: set[str] = set()
    unique = []
    for c in combos:
        key = json.dumps([c[k] for k in MATRIX_AXES], default=str)
        if key not in seen:
            seen.add(key)
            unique.append({k: c[k] for k in MATRIX_AXES})
    return unique


def resolve(suite: Suite, combo: dict[str, Any]) -> RunSpec:
    """Resolve one axis combination into a :class:`RunSpec` with its ids."""
    # A model registered after the suite's `models:` was read has its default settings.
    model_cfg = getattr(suite.models, combo["model"], None) or model_info(combo["model"]).config()
    opt_cfg = getattr(suite.optimizers, combo["optimizer"]).model_dump()
    lr = model_cfg.learning_rate
    if isinstance(lr, dict):
        lr = lr.get(combo["optimizer"])
    if lr is not None:
        opt_cfg["learning_rate"] = float(lr)
    dropout = combo["dropout"] if combo["dropout"] is not None else (model_cfg.dropout or 0.0)
    arch = model_cfg.model_dump(exclude={"epochs", "batch_size", "learning_rate"})
    arch["dropout"] = float(dropout)
    t = suite.training
    training = TrainSpec(
        epochs=model_cfg.epochs or t.epochs,
        batch_size=model_cfg.batch_size or t.batch_size,
        learning_rate=opt_cfg["learning_rate"],
        schedule=t.schedule,
        target_accuracy=t.target_accuracy,
        threads=thread_count(combo["threads"]),
        eval_batch_size=t.eval_batch_size,
        prune_finetune_epochs=t.prune_finetune_epochs,
        l1=float(combo["l1"]),
        l2=float(combo["l2"]),
        augmentation=combo["augmentation"],
    )
    fields: dict[str, Any] = {
        **combo,
        "dropout": float(dropout),
        "l1": float(combo["l1"]),
        "l2": float(combo["l2"]),
        "suite": suite.name,
        "arch": arch,
        "optimizer_config": opt_cfg,
        "training": training.model_dump(),
        "data": suite.data.model_dump(),
        "energy": suite.energy.model_dump(),
        "runner": suite.runner.model_dump(),
    }
    run_hash = _digest(_identity(fields, with_compression=True))[:10]
    workload_hash = _digest(_identity(fields, with_compression=False))[:10]
    c = combo
    fields["run_id"] = f"{c['backend']}-{c['model']}-{c['optimizer']}-{c['compression']}-s{c['seed']}-{run_hash}"
    fields["workload_id"] = f"{c['backend']}-{c['model']}-{c['optimizer']}-s{c['seed']}-{workload_hash}"
    return RunSpec.model_validate(fields)


def expand(suite: Suite) -> list[RunSpec]:
    """All runs of ``suite``, fully resolved, in a stable order, each once.

    Two combinations can resolve to the same run — ``dropout: null`` is the model's own
    dropout, so ``[null, 0.0]`` names one run twice for a model whose default is 0 — and a
    run is counted, planned and run once.
    """
    runs: dict[str, RunSpec] = {}
    for combo in expand_combinations(suite):
        spec = resolve(suite, combo)
        runs.setdefault(spec.run_id, spec)
    return list(runs.values())


def group_by_workload(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """Runs sharing a trained model, in plan order; ``compression: none`` first in each group."""
    groups: dict[str, list[RunSpec]] = {}
    for r in runs:
        groups.setdefault(r.workload_id, []).append(r)
    return [sorted(g, key=lambda r: r.compression != NO_COMPRESSION) for g in groups.values()]
