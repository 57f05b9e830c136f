"""Read one side of a comparison: every record under a path, flattened, with its workload identity.

A side may be a results directory as written by ``greenbench run``, a folder of such
directories at any depth (CI artifacts: ``base/<runner>/rep-1/…``) or a single record file.
Repeats of the same run (same run id in different directories) are separate samples.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from greenbench.backend_registry import BUILTIN
from greenbench.choices import AXIS_DEFAULTS, CONFIG_AXES, LABEL_AXES, axis_in_identity
from greenbench.errors import UserError
from greenbench.results.frame import COLUMNS, record_to_row
from greenbench.results.walk import find_records

# Config keys that say where or how a run was executed, never what it computes; plus the
# seed, whose runs are the samples of a workload. Everything else identifies the workload.
NOT_WORKLOAD = frozenset({"run_id", "workload_id", "suite", "seed", "runner", "energy", "data.dir"})

# Readable workload columns (of the pandas frame), shown for each compared workload.
WORKLOAD_COLUMNS = [
    *CONFIG_AXES,
    "dataset",
    "epochs",
    "batch_size",
    "learning_rate",
    "train_samples",
    "test_samples",
]
LABEL_COLUMNS = list(LABEL_AXES)
# Extra per-run facts from the environment fingerprint that the frame does not carry.
# Besides numpy: the version keys of the built-in backends beyond their framework's own (keras).
EXTRA_VERSION_KEYS = ["numpy", *[k for b in BUILTIN for k in b.version_keys[1:]]]
ENV_COLUMNS = [*[f"{k}_version" for k in EXTRA_VERSION_KEYS], "python_version", "os", "usable_cores", "gpus"]


@dataclass
class Side:
    """One side (base or head): one row per run; ``_ident`` holds each run's flattened workload config."""

    name: str
    paths: list[str]
    frame: pd.DataFrame
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (file, why)


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts → ``{"training.epochs": "1", ...}``; leaves as canonical JSON text."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        if not obj and prefix:
            out[prefix[:-1]] = "{}"
        return out
    out[prefix[:-1]] = json.dumps(obj, sort_keys=True, default=str)
    return out


def identity(config: dict[str, Any]) -> dict[str, str]:
    """The flattened config minus what is not part of the workload (see :data:`NOT_WORKLOAD`)."""
    flat = flatten(config or {})
    for axis in AXIS_DEFAULTS:  # an axis added later, at the value runs had before it: as before
        if axis in flat and not axis_in_identity(axis, json.loads(flat[axis])):
            del flat[axis]
    return {k: v for k, v in flat.items() if not any(k == x or k.startswith(x + ".") for x in NOT_WORKLOAD)}


def workload_key(ident: dict[str, str], fields: Iterable[str]) -> str:
    """A short digest of the identity restricted to ``fields`` (those both sides know) and the later axes
    (:data:`~greenbench.choices.AXIS_DEFAULTS`: absent at their old value, so a run off it never matches one at it)."""
    sub = {k: ident[k] for k in sorted({*fields, *AXIS_DEFAULTS}) if k in ident}
    return hashlib.sha256(json.dumps(sub, sort_keys=True).encode()).hexdigest()[:16]


def _env_facts(rec: dict[str, Any]) -> dict[str, Any]:
    env = rec.get("env") or {}
    env = env if isinstance(env, dict) else {}
    versions = env.get("versions") if isinstance(env.get("versions"), dict) else {}
    py = env.get("python")
    osi = env.get("os") if isinstance(env.get("os"), dict) else {}
    cpu = env.get("cpu") if isinstance(env.get("cpu"), dict) else {}
    gpus = env.get("gpus") if isinstance(env.get("gpus"), list) else []
    names = sorted(str(g.get("name")) for g in gpus if isinstance(g, dict) and g.get("name"))
    os_name = osi.get("distro") or osi.get("system")
    return {
        **{f"{k}_version": versions.get(k) for k in EXTRA_VERSION_KEYS},
        "python_version": py.get("version") if isinstance(py, dict) else py if isinstance(py, str) else None,
        "os": os_name,
        "usable_cores": cpu.get("usable_cores"),
        "gpus": ", ".join(names) if names else None,
    }


def _read(paths: Sequence[Path], side: str) -> tuple[list[tuple[dict[str, Any], str]], list[tuple[str, str]]]:
    records: list[tuple[dict[str, Any], str]] = []
    corrupt: list[tuple[str, str]] = []
    for p in paths:
        if not p.exists():
            raise UserError(f"{side}: {p}: no such results directory or record file")
        found = find_records(p, deep=True)
        if found.corrupt and p.is_file():  # a record file named outright must be one
            raise UserError(f"{side}: {p}: {found.corrupt[0][1]}")
        records.extend(found.records)
        corrupt.extend(found.corrupt)
        if not found.records:
            if corrupt:
                f, why = corrupt[0]
                raise UserError(f"{side}: {p} holds no readable run record ({len(corrupt)} unreadable, e.g. {f}: {why})")
            raise UserError(f"{side}: {p} holds no run records (no *.json written by `greenbench run` under it)")
    return records, corrupt


def load_side(paths: str | Path | Sequence[str | Path], side: str) -> Side:
    """Load one side; raises :class:`UserError` for a missing path, no records, or no completed run."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError(f"{side}: no results directory given")
    records, corrupt = _read(paths, side)
    rows, idents = [], []
    for rec, source in records:
        rows.append({**record_to_row(rec, source), **_env_facts(rec)})
        idents.append(identity(rec.get("config") or {}))
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *ENV_COLUMNS])
    frame["_ident"] = idents
    frame = frame.drop_duplicates(subset=["run_id", "machine", "source"]).reset_index(drop=True)
    done = frame["status"] == "completed"
    if not done.any():
        counts = frame["status"].value_counts().to_dict()
        shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        where = ", ".join(map(str, paths))
        raise UserError(f"{side}: no completed run in {where} ({shown}); nothing to compare")
    return Side(name=side, paths=[str(p) for p in paths], frame=frame, corrupt=corrupt)
