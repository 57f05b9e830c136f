"""The comparability guard: what differs between the two sides besides the code under test.

Each message names the fact, the values on each side, and what it does to the comparison.
Facts come from the records' environment fingerprints and energy provenance; a fact that a
side did not record (older records, a fingerprint without the key) is not compared.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from greenbench.backend_registry import BUILTIN
from greenbench.compare.load import Side

# (column, label, which runs the library matters for: None for all)
# The built-in backends' version keys (from their registry entries) matter for their own runs.
def _runs_of(backend: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df["backend"] == backend


_VERSIONS: list[tuple[str, str, Callable[[pd.DataFrame], pd.Series] | None]] = [
    *[(f"{key}_version", key, _runs_of(b.name)) for b in BUILTIN for key in b.version_keys],
    ("codecarbon_version", "codecarbon", None),
    ("numpy_version", "numpy", None),
    ("python_version", "python", None),
]


# Facts that are equal for two records only when they are the same run (a copy).
_SAME_RUN = ("run_id", "machine", "started_at", "train_time_s", "total_energy_kwh", "test_accuracy")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _values(df: pd.DataFrame, column: str) -> list[str]:
    if column not in df or df.empty:
        return []
    vals = df[column].dropna()
    if column == "carbon_intensity_g_per_kwh":
        vals = pd.to_numeric(vals, errors="coerce").dropna().round(1)
    return sorted({_fmt(v) for v in vals})


def _join(vals: Iterable[str]) -> str:
    vals = list(vals)
    return ", ".join(vals) if vals else "unknown"


def _differs(base: pd.DataFrame, head: pd.DataFrame, column: str) -> tuple[list[str], list[str]] | None:
    """Both sides' distinct values, when both recorded the fact and the sets differ."""
    b, h = _values(base, column), _values(head, column)
    if not b or not h or b == h:
        return None
    return b, h


def _kind(values: list[str]) -> set[str]:
    return {v.partition(":")[0] for v in values}


def energy_messages(base: pd.DataFrame, head: pd.DataFrame) -> list[str]:
    out = []
    d = _differs(base, head, "energy_source")
    if d:
        b, h = d
        kb, kh = _kind(b), _kind(h)
        if ("measured" in kb and "measured" not in kh) or ("measured" in kh and "measured" not in kb):
            out.append(
                f"energy is measured on one side and estimated on the other (energy source: base {_join(b)}; "
                f"head {_join(h)}): a hardware reading and a model estimate differ by the model's error, not the "
                "code, so energy and CO₂ rows whose methods differ are not compared"
            )
        else:
            out.append(f"energy source differs (base {_join(b)}; head {_join(h)}): energy and CO₂ rows whose methods "
                       "differ are not compared")
    for comp, label in (("cpu", "CPU"), ("gpu", "GPU"), ("ram", "RAM")):
        d = _differs(base, head, f"{comp}_energy_source")
        if d:
            out.append(f"{label} energy provenance differs: base {_join(d[0])}; head {_join(d[1])}")
    return out


def carbon_messages(base: pd.DataFrame, head: pd.DataFrame) -> list[str]:
    out = []
    d = _differs(base, head, "country")
    if d:
        out.append(
            f"country differs (base {_join(d[0])}; head {_join(d[1])}): CO₂ ratios reflect different "
            "electricity grids, not the code"
        )
    d = _differs(base, head, "carbon_intensity_g_per_kwh")
    if d:
        out.append(
            f"carbon intensity differs (base {_join(d[0])} g/kWh; head {_join(d[1])} g/kWh): CO₂ ratios "
            "include the grid's change"
        )
    return out


def version_messages(base: pd.DataFrame, head: pd.DataFrame) -> list[str]:
    out = []
    for column, label, applies in _VERSIONS:
        b = base[applies(base)] if applies is not None and not base.empty else base
        h = head[applies(head)] if applies is not None and not head.empty else head
        d = _differs(b, h, column)
        if d:
            out.append(f"{label} version differs: base {_join(d[0])}; head {_join(d[1])}")
    d = _differs(base, head, "os")
    if d:
        out.append(f"operating system differs: base {_join(d[0])}; head {_join(d[1])}")
    d = _differs(base, head, "intra_op_threads")
    if d:
        out.append(
            f"framework thread count differs (base {_join(d[0])}; head {_join(d[1])}): training times are not "
            "comparable"
        )
    d = _differs(base, head, "omp_wait_policy")
    if d:
        out.append(
            f"OpenMP wait policy differs (base {_join(d[0])}; head {_join(d[1])}): spinning threads change time and "
            "energy on a shared machine"
        )
    return out


def hardware_messages(base: pd.DataFrame, head: pd.DataFrame, paired_by_machine: bool) -> list[str]:
    out = []
    bm, hm = _values(base, "machine"), _values(head, "machine")
    if paired_by_machine:
        for machine in sorted(set(bm) & set(hm)):
            b = base[base["machine"] == machine]
            h = head[head["machine"] == machine]
            for column, label in (("cpu_model", "CPU"), ("usable_cores", "usable CPU cores"), ("gpus", "GPUs")):
                d = _differs(b, h, column)
                if d:
                    out.append(
                        f"machine {machine!r} is not the same hardware on both sides ({label}: base {_join(d[0])}; "
                        f"head {_join(d[1])}): time and energy changes may come from the hardware"
                    )
        return out
    if bm != hm:
        cpus = lambda df: _join(_values(df, "cpu_model"))  # noqa: E731
        out.append(
            f"hardware comparison: base ran on {_join(bm)} ({cpus(base)}), head on {_join(hm)} ({cpus(head)}); "
            "time and energy ratios compare machines, not code"
        )
    else:
        for column, label in (("cpu_model", "CPU"), ("usable_cores", "usable CPU cores"), ("gpus", "GPUs")):
            d = _differs(base, head, column)
            if d:
                out.append(f"{label} differs: base {_join(d[0])}; head {_join(d[1])}: this is a hardware comparison")
    for side, vals in (("base", bm), ("head", hm)):
        if len(vals) > 1:
            out.append(
                f"{side} pools runs from {len(vals)} machines ({_join(vals)}): its repeats mix hardware, so their "
                "spread is not noise alone"
            )
    return out


def data_messages(base_all: pd.DataFrame, head_all: pd.DataFrame) -> list[str]:
    diffs = []
    for column in ("dataset", "train_samples", "test_samples"):
        d = _differs(base_all, head_all, column)
        if d:
            diffs.append(f"{column}: base {_join(d[0])}; head {_join(d[1])}")
    if not diffs:
        return []
    return [f"data subsets differ ({' / '.join(diffs)}): runs on different data are never matched (see unmatched)"]


def contaminated_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``df`` whose measured windows were shared with other processes (co-tenancy)."""
    if "contaminated" not in df.columns:
        return df.iloc[0:0]
    return df[df["contaminated"].map(lambda v: v is True or v == 1.0 or v is np.True_)]


def cotenancy_messages(base: pd.DataFrame, head: pd.DataFrame) -> list[str]:
    """A message per side with runs measured while other processes shared the machine."""
    msgs = []
    for side, df in (("base", base), ("head", head)):
        bad = contaminated_runs(df)
        if len(bad):
            reason = next((r for r in bad.get("contamination_reason", pd.Series(dtype=object)) if isinstance(r, str)),
                          None)
            msgs.append(f"{side}: {len(bad)} of {len(df)} runs were measured while other processes shared the machine "
                        f"(contaminated{': e.g. ' + reason if reason else ''}); their time and energy may be "
                        "inflated — rerun them on a quiet machine, or refuse them with --refuse-contaminated")
    return msgs


def guard_messages(
    base: Side,
    head: Side,
    base_matched: pd.DataFrame,
    head_matched: pd.DataFrame,
    *,
    paired_by_machine: bool,
    one_sided_fields: dict[str, list[str]],
) -> list[str]:
    """Every reason the matched runs may not be comparable, most serious first."""
    msgs: list[str] = []
    msgs += cotenancy_messages(base_matched, head_matched)
    msgs += energy_messages(base_matched, head_matched)
    msgs += carbon_messages(base_matched, head_matched)
    msgs += data_messages(base.frame[base.frame["status"] == "completed"], head.frame[head.frame["status"] == "completed"])
    msgs += version_messages(base_matched, head_matched)
    msgs += hardware_messages(base_matched, head_matched, paired_by_machine)
    for side in ("base", "head"):
        df = base_matched if side == "base" else head_matched
        low = df["energy_low_confidence"].fillna(False).astype(bool)
        if low.any():
            msgs.append(f"{side}: energy of {int(low.sum())} of {len(df)} runs is marked low-confidence by the meter")
    for side, fields in one_sided_fields.items():
        if fields:
            shown = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
            msgs.append(f"config field(s) only in {side} records ({shown}): a schema change; ignored for matching")
    ids = lambda df: set(zip(*(df[c].astype(str) for c in _SAME_RUN)))  # noqa: E731
    if ids(base_matched) and ids(base_matched) == ids(head_matched):
        msgs.append(f"base and head hold the same {len(base_matched)} runs: this compares a result set with itself")
    for side in (base, head):
        if side.corrupt:
            f, why = side.corrupt[0]
            msgs.append(f"{side.name}: {len(side.corrupt)} unreadable record file(s) skipped (e.g. {f}: {why})")
    return msgs
