"""``compare(base, head)``: match runs by workload, compare each metric over the repeats."""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from greenbench.compare.guard import contaminated_runs, guard_messages
from greenbench.compare.load import LABEL_COLUMNS, WORKLOAD_COLUMNS, Side, load_side, workload_key
from greenbench.compare.methods import ENERGY_METRICS, MethodCheck, cancellation_note, describe
from greenbench.compare.methods import check as check_methods
from greenbench.compare.metrics import METRIC_SPECS, MetricSpec, parse_pp, parse_threshold, resolve_metrics
from greenbench.compare.stats import CORRECTIONS, VERDICTS, Sample, Verdict, compare_family, min_attainable_p, min_repeats
from greenbench.errors import UserError

@dataclass(frozen=True)
class Row:
    """One workload × one metric. Means and differences are in the metric's stored unit."""

    workload: dict[str, Any]  # the readable workload columns (backend, model, …, train_samples, test_samples)
    label: str  # e.g. "torch/mlp/cpu/adam/none" (+ the settings that tell workloads apart)
    machine: str | None  # set when runs are paired per machine across several machines
    metric: str
    unit: str  # display unit (see MetricSpec.scale)
    direction: str  # "lower" or "higher" is better
    n_base: int
    n_head: int
    base_mean: float
    head_mean: float
    base_std: float
    head_std: float
    ratio: float  # head_mean / base_mean
    ratio_ci_low: float
    ratio_ci_high: float
    diff: float  # head_mean - base_mean
    diff_ci_low: float
    diff_ci_high: float
    p_value: float | None  # Mann-Whitney U, two-sided
    p_adjusted: float | None  # p_value after the comparison's correction, used by the gate; None outside the family
    verdict: Verdict  # "incomparable": energy from different methods on the two sides, not tested
    note: str
    # Energy and CO₂ rows: the method both sides share (a description with its band; None when the
    # sides differ, the method was not recorded, or the metric is not an energy figure) …
    energy_method: str | None = None
    # … and the means of the runs' interval bounds by that method (greenbench.measure.intervals), stored unit.
    base_low: float = math.nan
    base_high: float = math.nan
    head_low: float = math.nan
    head_high: float = math.nan

    @property
    def spec(self) -> MetricSpec:
        return METRIC_SPECS[self.metric]

    @property
    def name(self) -> str:
        """Workload label, prefixed with the machine when runs are paired per machine."""
        return f"{self.machine}: {self.label}" if self.machine else self.label


@dataclass
class Comparison:
    """The result of :func:`compare`: rows, the guard's messages and what did not match."""

    base: list[str]
    head: list[str]
    rows: list[Row]
    guard_messages: list[str]
    unmatched: dict[str, list[str]]  # {"base": [labels only in base], "head": [labels only in head]}
    newly_failing: list[str]  # completed on base, only failed runs on head
    metrics: list[str]
    threshold: float
    accuracy_threshold_pp: float
    alpha: float
    confidence: float
    paired_by_machine: bool
    base_machines: list[str] = field(default_factory=list)
    head_machines: list[str] = field(default_factory=list)
    correction: str = "bh"  # multiple-comparison correction over the rows: "bh", "holm" or "none"
    family_size: int = 0  # rows that entered the correction (those where p < alpha was attainable)
    notes: list[str] = field(default_factory=list)  # what the gate can and cannot see with these repeats
    # Workload × metric pairs that are not rows because the metric has no value on either side:
    # {"workload": name, "metric": metric name, "reason": "shared-training" | "no-values"}.
    left_out: list[dict[str, str]] = field(default_factory=list)
    # One line on the energy rows tested by the ratio: both sides come from one method whose systematic
    # error largely cancels in the ratio (greenbench.compare.methods); "" when no such row.
    method_note: str = ""
    # Matched runs measured while other processes shared the machine (co-tenancy), per side.
    contaminated: dict[str, int] = field(default_factory=lambda: {"base": 0, "head": 0})

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "regressed"]

    @property
    def improvements(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "improved"]

    @property
    def has_regression(self) -> bool:
        """A flagged regression, or a workload that completed on base and only fails on head."""
        return bool(self.regressions or self.newly_failing)

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in VERDICTS}
        for r in self.rows:
            out[r.verdict] += 1
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per workload × metric (the workload columns spread out)."""
        recs = []
        for r in self.rows:
            d = asdict(r)
            d.update(d.pop("workload"))
            recs.append(d)
        return pd.DataFrame(recs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counts"] = self.counts()
        d["has_regression"] = self.has_regression
        return _clean(d)


def _clean(obj: Any) -> Any:
    """JSON-ready: NaN → None, numpy scalars → Python, tuples → lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _plain(obj)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _short(field_name: str) -> str:
    for prefix in ("training.", "data.", "optimizer_config."):
        if field_name.startswith(prefix):
            return field_name[len(prefix):]
    return field_name


def _labels(idents: dict[str, dict[str, str]], heads: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``backend/model/device/optimizer/compression``, plus the settings that tell apart workloads
    sharing that label (dropout, widths, epochs, data subset …)."""
    groups: dict[str, list[str]] = {}
    for k in idents:
        groups.setdefault("/".join(str(heads[k].get(c, "?")) for c in LABEL_COLUMNS), []).append(k)
    out = {}
    for base, keys in groups.items():
        fields = {f for k in keys for f in idents[k]}
        varying, vectors = [], set()
        # A field repeating another's values (arch.dropout and dropout, training.l2 and l2) is
        # shown once, under the shorter name.
        for f in sorted(fields, key=lambda f: (f.count("."), len(f), f)):
            vector = tuple(idents[k].get(f) for k in keys)
            if f in LABEL_COLUMNS or len(set(vector)) < 2 or vector in vectors:
                continue
            vectors.add(vector)
            varying.append(f)
        for k in keys:
            extra = []
            for f in varying:
                v = idents[k].get(f)
                if v is None:
                    continue
                try:
                    v = json.loads(v)
                except (TypeError, ValueError):
                    pass
                extra.append(f"{_short(f)}={json.dumps(v) if isinstance(v, (list, dict)) else v}")
            out[k] = base + (f" ({', '.join(extra)})" if extra else "")
    # Identical labels for different workloads would hide a difference: disambiguate by key.
    seen: dict[str, list[str]] = {}
    for k, lab in out.items():
        seen.setdefault(lab, []).append(k)
    for lab, ks in seen.items():
        if len(ks) > 1:
            for k in ks:
                out[k] = f"{lab} [{k[:8]}]"
    return out


def _assign_keys(base: Side, head: Side) -> dict[str, list[str]]:
    """Give every run a ``_key`` over the config fields both sides know; return the one-sided fields."""
    fb = set().union(*base.frame["_ident"]) if len(base.frame) else set()
    fh = set().union(*head.frame["_ident"]) if len(head.frame) else set()
    common = fb & fh
    for side in (base, head):
        side.frame["_key"] = [workload_key(ident, common) for ident in side.frame["_ident"]]
    return {"base": sorted(fb - fh), "head": sorted(fh - fb)}


def _explain_no_match(base: pd.DataFrame, head: pd.DataFrame, paired: bool) -> str:
    diffs = []
    for col in [*WORKLOAD_COLUMNS, "machine"] if paired else WORKLOAD_COLUMNS:
        b = sorted({str(v) for v in base[col].dropna()})
        h = sorted({str(v) for v in head[col].dropna()})
        if b and h and not set(b) & set(h):
            diffs.append(f"{col}: base {', '.join(b)}; head {', '.join(h)}")
    if not diffs:
        fb = {f: v for ident in base["_ident"] for f, v in ident.items()}
        fh = {f: v for ident in head["_ident"] for f, v in ident.items()}
        diffs = [f"{f}: base {fb[f]}; head {fh[f]}" for f in sorted(set(fb) & set(fh)) if fb[f] != fh[f]][:4]
    why = f" (they differ in {' / '.join(diffs)})" if diffs else ""
    return f"nothing to compare: no workload of head matches one of base{why}"


# Metrics measured in the training phase: a compression variant's record has none of them, as the
# variant is applied to the model its uncompressed sibling trained (see greenbench/runner/execute.py).
TRAINING_METRICS = frozenset({"train_time_s", "train_cpu_s", "train_energy_kwh", "train_co2_kg"})


def _why_no_values(spec: MetricSpec, workload: dict[str, Any]) -> str:
    if spec.name in TRAINING_METRICS and str(workload.get("compression") or "none") != "none":
        return "shared-training"
    return "no-values"


def _untested(base: np.ndarray, head: np.ndarray, reason: str) -> dict[str, Any]:
    """A row's statistics when it is not tested: each side's mean and spread, no ratio, no p, the reason."""
    b, h = base[np.isfinite(base)], head[np.isfinite(head)]
    mean = lambda x: float(x.mean()) if len(x) else math.nan  # noqa: E731
    std = lambda x: float(x.std(ddof=1)) if len(x) > 1 else math.nan  # noqa: E731
    nan = math.nan
    return {"n_base": len(b), "n_head": len(h), "base_mean": mean(b), "head_mean": mean(h), "base_std": std(b),
            "head_std": std(h), "ratio": nan, "ratio_ci_low": nan, "ratio_ci_high": nan, "diff": nan,
            "diff_ci_low": nan, "diff_ci_high": nan, "p_value": None, "p_adjusted": None, "verdict": "incomparable",
            "note": reason}


def _bounds(base: pd.DataFrame, head: pd.DataFrame, metric: str) -> dict[str, float]:
    """Means of the runs' ``<metric>_low`` / ``_high`` (the method's interval of each side's mean), where recorded."""
    out = {}
    for side, df in (("base", base), ("head", head)):
        for end in ("low", "high"):
            col = f"{metric}_{end}"
            vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float) if col in df else np.array([])
            vals = vals[np.isfinite(vals)]
            # the interval of a mean only when every run with a value has its bounds
            n = int(np.isfinite(pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float)).sum())
            out[f"{side}_{end}"] = float(vals.mean()) if len(vals) and len(vals) == n else math.nan
    return out


def _noise_messages(rows: list[Row], thr: float, acc_thr: float, correction: str) -> list[str]:
    """Say when the repeats scatter so much that a change near the threshold is hard to tell from noise.

    Beyond half the threshold (benchmarks/bench_compare_gate.py, 5 vs 5, 16 rows, 10 % timing
    noise): judged row by row, 9 % of A/A comparisons flag a change that is not there; judged
    together, false alarms stay under α but a 20 % slowdown is caught only 30–40 % of the time.
    """
    out = []
    for metric in dict.fromkeys(r.metric for r in rows):
        spec = METRIC_SPECS[metric]
        spreads = []
        for r in rows:
            if r.metric != metric:
                continue
            for std, mean in ((r.base_std, r.base_mean), (r.head_std, r.head_mean)):
                if math.isfinite(std) and math.isfinite(mean) and mean > 0:
                    spreads.append(std * 100 if spec.effect == "pp" else std / mean)
        if not spreads:
            continue
        spread = float(np.median(spreads))
        limit = acc_thr if spec.effect == "pp" else thr
        if spread > limit / 2:
            shown = f"{spread:.2g} pp" if spec.effect == "pp" else f"{spread * 100:.2g}%"
            limit_txt = f"{limit:g} pp" if spec.effect == "pp" else f"{limit * 100:g}%"
            out.append(
                f"{spec.label} varies by {shown} between repeats (median standard deviation"
                f"{'' if spec.effect == 'pp' else ' / mean'}), more than half the {limit_txt} threshold: "
                + ("expect false alarms" if correction == "none" else "changes near the threshold may go unflagged")
                + "; add repeats or raise the threshold"
            )
    return out


def _power_notes(sizes: list[tuple[int, int]], correction: str, alpha: float) -> list[str]:
    """Say when the correction leaves the repeats too few to flag a change seen in one row alone.

    Both Benjamini–Hochberg and Holm need p < α / m for the smallest p of m rows; the exact test
    cannot go below 2 / C(n_base + n_head, n_base) (0.0079 for 5 vs 5).
    """
    m = len(sizes)
    if correction == "none" or m < 2:
        return []
    lone = alpha / m
    blind = [(nb, nh) for nb, nh in sizes if min_attainable_p(nb, nh) >= lone]
    if not blind:
        return []
    nb, nh = Counter(blind).most_common(1)[0][0]  # the usual sample sizes, named in the note
    reps = f"{nb} repeats per side" if nb == nh else f"{nb} base and {nh} head repeats"
    where = "" if len(blind) == m else f" (in {len(blind)} of {m} rows)"
    return [
        f"with {reps}{where} the smallest attainable p is {min_attainable_p(nb, nh):.3g}: after "
        f"{CORRECTIONS[correction]} over {m} rows a change seen in one row alone needs p < {lone:.3g} and cannot be "
        "flagged; a change seen in several rows at once (time, energy and CO₂ of a workload, or several workloads) "
        f"still can. To catch a lone change run ≥ {min_repeats(lone)} repeats per side or compare fewer metrics"
    ]


def compare(
    base_paths: str | Path | Sequence[str | Path],
    head_paths: str | Path | Sequence[str | Path],
    metrics: Sequence[str] | str | None = None,
    threshold: float | str = 0.10,
    alpha: float = 0.05,
    *,
    accuracy_threshold_pp: float | str = 0.5,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
    by_machine: bool | None = None,
    correction: str = "bh",
) -> Comparison:
    """Compare the runs under ``head_paths`` with those under ``base_paths``, workload by workload.

    Runs match when their resolved configuration is the same apart from the seed and from
    where/how they ran (``runner``, ``energy``, ``data.dir``, suite name); seeds and repeated
    runs are the samples. With ``by_machine=None`` runs are also paired per machine when both
    sides share a machine label (CI matrices); otherwise sides from different machines are a
    hardware comparison, which the guard says.

    ``threshold`` is the minimum relative change (0.1 or "10%") for every metric except
    accuracy, whose minimum change is ``accuracy_threshold_pp`` percentage points.

    Energy and CO₂ rows are tested only where both sides' energy comes from one method
    (:mod:`greenbench.compare.methods`; ``Comparison.method_note`` says why the ratio is then
    meaningful); where the methods differ the row is ``incomparable``, with the reason in its note.

    ``correction`` adjusts the p-values of all rows together before the gate: ``"bh"``
    (Benjamini–Hochberg, default), ``"holm"`` or ``"none"`` (each row on its own: with many rows
    an A/A comparison then flags something far more often than ``alpha``).
    """
    specs = resolve_metrics(metrics)
    thr = parse_threshold(threshold)
    acc_thr = parse_pp(accuracy_threshold_pp)
    if not 0 < float(alpha) < 1:
        raise UserError(f"alpha {alpha!r} must be between 0 and 1, e.g. 0.05")
    if not 0 < float(confidence) < 1:
        raise UserError(f"confidence {confidence!r} must be between 0 and 1, e.g. 0.95")
    if correction not in CORRECTIONS:
        raise UserError(f"unknown correction {correction!r}; allowed: {', '.join(CORRECTIONS)}")

    base = load_side(base_paths, "base")
    head = load_side(head_paths, "head")
    one_sided = _assign_keys(base, head)
    bdone = base.frame[base.frame["status"] == "completed"].copy()
    hdone = head.frame[head.frame["status"] == "completed"].copy()
    base_machines = sorted({str(m) for m in bdone["machine"].dropna()})
    head_machines = sorted({str(m) for m in hdone["machine"].dropna()})
    paired = bool(set(base_machines) & set(head_machines)) if by_machine is None else bool(by_machine)

    def group(df: pd.DataFrame) -> pd.Series:
        return (df["machine"].astype(str) + "|" + df["_key"]) if paired else df["_key"]

    for df in (bdone, hdone):
        df["_group"] = group(df)
    bkeys, hkeys = set(bdone["_group"]), set(hdone["_group"])
    matched = sorted(bkeys & hkeys)
    if not matched:
        raise UserError(_explain_no_match(bdone, hdone, paired))

    # Readable labels over every workload on either side (a workload has one label on every machine).
    idents: dict[str, dict[str, str]] = {}
    heads: dict[str, dict[str, Any]] = {}
    key_of: dict[str, str] = {}
    machine_of: dict[str, Any] = {}
    for df in (bdone, hdone):
        for g, key, ident, machine, (_, row) in zip(df["_group"], df["_key"], df["_ident"], df["machine"],
                                                    df[WORKLOAD_COLUMNS].iterrows()):
            key_of.setdefault(g, key)
            machine_of.setdefault(g, _plain(machine))
            if key not in idents:
                idents[key] = ident
                heads[key] = {c: _plain(row[c]) for c in WORKLOAD_COLUMNS}
    labels = _labels(idents, heads)

    # Name the machine in each row only where the rows are paired across several machines.
    show_machine = paired and len(set(base_machines) | set(head_machines)) > 1

    def shown(g: str) -> str:
        label = labels[key_of[g]]
        return f"{machine_of[g]}: {label}" if show_machine else label

    # Workloads that completed on base but only fail on head (a crash is a regression too).
    hfail = head.frame[head.frame["status"] == "failed"].copy()
    failing_groups = set(group(hfail)) if not hfail.empty else set()
    newly_failing = sorted(shown(g) for g in bkeys - hkeys if g in failing_groups)
    unmatched = {
        "base": sorted(shown(g) for g in bkeys - hkeys if g not in failing_groups),
        "head": sorted(shown(g) for g in hkeys - bkeys),
    }

    bgroups = dict(tuple(bdone.groupby("_group")))
    hgroups = dict(tuple(hdone.groupby("_group")))
    samples: list[tuple[str, MetricSpec, np.ndarray, np.ndarray]] = []
    left_out: list[dict[str, str]] = []
    checks: dict[str, MethodCheck] = {}  # per group with an energy row: what its energy methods allow
    for g in sorted(matched, key=shown):
        for spec in specs:
            bvals = pd.to_numeric(bgroups[g][spec.name], errors="coerce").to_numpy(dtype=float)
            hvals = pd.to_numeric(hgroups[g][spec.name], errors="coerce").to_numpy(dtype=float)
            if not (np.isfinite(bvals).any() or np.isfinite(hvals).any()):
                # Nothing to judge on either side: the metric does not apply to this workload (a
                # compression variant reuses its uncompressed model's training, so its record holds
                # no training phase) or was not recorded at all. Not a row, and not "insufficient data".
                left_out.append({"workload": shown(g), "metric": spec.name,
                                 "reason": _why_no_values(spec, heads[key_of[g]])})
                continue
            samples.append((g, spec, bvals, hvals))
            if spec.name in ENERGY_METRICS and g not in checks:
                checks[g] = check_methods(bgroups[g], hgroups[g])

    def incomparable(g: str, spec: MetricSpec, b: np.ndarray, h: np.ndarray) -> bool:
        # (a side without values is insufficient data, whatever the methods)
        return (spec.name in ENERGY_METRICS and not checks[g].comparable
                and bool(np.isfinite(b).any() and np.isfinite(h).any()))

    # One gate over the whole report: the p-values of all rows are adjusted together. Energy rows whose
    # sides come from different methods are not tested, so they do not enter the family.
    tested = [s for s in samples if not incomparable(*s)]
    family = compare_family(
        [Sample(b, h, spec.direction, spec.effect, acc_thr if spec.effect == "pp" else thr,
                np.random.default_rng([seed, zlib.crc32(f"{g}|{spec.name}".encode())]))
         for g, spec, b, h in tested],
        alpha=float(alpha), correction=correction, confidence=float(confidence), n_resamples=n_resamples,  # type: ignore[arg-type]
    )
    results = iter(family.rows)
    rows: list[Row] = []
    for g, spec, b, h in samples:
        if incomparable(g, spec, b, h):
            res = _untested(b, h, checks[g].reason)
        else:
            res = asdict(next(results))
        method = checks[g].method if spec.name in ENERGY_METRICS else None
        rows.append(
            Row(
                workload=dict(heads[key_of[g]]),
                label=labels[key_of[g]],
                machine=machine_of[g] if show_machine else None,
                metric=spec.name,
                unit=spec.unit,
                direction=spec.direction,
                **res,
                energy_method=describe(method) if method is not None else None,
                **_bounds(bgroups[g], hgroups[g], spec.name),
            )
        )

    bm = bdone[bdone["_group"].isin(matched)]
    hm = hdone[hdone["_group"].isin(matched)]
    messages = guard_messages(base, head, bm, hm, paired_by_machine=paired, one_sided_fields=one_sided)
    contaminated = {"base": len(contaminated_runs(bm)), "head": len(contaminated_runs(hm))}
    messages += _noise_messages([r for r in rows if r.verdict != "incomparable"], thr, acc_thr, correction)
    notes = _power_notes(family.tested, correction, float(alpha))
    return Comparison(
        base=base.paths,
        head=head.paths,
        rows=rows,
        guard_messages=messages,
        unmatched=unmatched,
        newly_failing=newly_failing,
        metrics=[s.name for s in specs],
        threshold=thr,
        accuracy_threshold_pp=acc_thr,
        alpha=float(alpha),
        confidence=float(confidence),
        paired_by_machine=paired,
        base_machines=base_machines,
        head_machines=head_machines,
        correction=correction,
        family_size=len(family.tested),
        notes=notes,
        left_out=left_out,
        method_note=cancellation_note([checks[g] for g in dict.fromkeys(
            g for g, spec, _, _ in samples if spec.name in ENERGY_METRICS)]),
        contaminated=contaminated,
    )
