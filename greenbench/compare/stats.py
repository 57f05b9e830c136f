"""The statistics of one comparison: two small samples of repeats, one metric.

- **Test**: Mann-Whitney U, two-sided (:func:`scipy.stats.mannwhitneyu`). Rank-based, so one
  run slowed down by a noisy neighbour on a shared CI runner cannot flag a change by itself,
  and no normal distribution is assumed for timings (they are right-skewed).
- **Attainability**: with few repeats the exact test cannot reach small p-values at all: the
  smallest two-sided p for sample sizes m and n is ``2 / C(m+n, m)`` (3 vs 3 → 0.10). Where
  that is not below α the verdict is *insufficient-data*, never a silent *unchanged*, and an
  asymptotic p computed on tied values cannot sneak under α either.
- **Effect**: the ratio of the means head/base (relative metrics) or the difference of the
  means in percentage points (accuracy), with a percentile bootstrap confidence interval that
  resamples each side independently (:func:`scipy.stats.bootstrap`, seeded, so reports are
  reproducible). The interval is reported; the gate uses the test and the point effect.
- **Gate**: a change is flagged only when the p-value, adjusted over the report (below), is
  below α **and** the effect reaches the threshold.
- **Many rows, one gate**: a report tests every workload × metric, and one false alarm is
  enough to fail a CI job, so the p-values of one comparison are adjusted together
  (:func:`adjust_p_values`): Benjamini–Hochberg by default, which keeps the chance that an A/A
  comparison flags anything at all at or below α (provably for independent rows; for rows that
  move together, as time, energy and CO₂ of the same runs do, benchmarks/bench_compare_gate.py
  shows it holding too) while a change that shows in several rows —
  time, energy and CO₂ of a workload, or several workloads — still needs only a moderate p.
  Holm controls the same family-wise rate under any dependence, at the cost of power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

# "incomparable": an energy or CO₂ row whose sides come from different energy methods (see
# greenbench.compare.methods): not tested, never flagged, the reason in its note.
Verdict = Literal["improved", "regressed", "unchanged", "insufficient-data", "incomparable"]
VERDICTS: tuple[Verdict, ...] = ("regressed", "improved", "unchanged", "insufficient-data", "incomparable")
Correction = Literal["bh", "holm", "none"]
CORRECTIONS: dict[str, str] = {"bh": "Benjamini–Hochberg", "holm": "Holm", "none": "no correction"}


@dataclass(frozen=True)
class SampleComparison:
    n_base: int
    n_head: int
    base_mean: float
    head_mean: float
    base_std: float
    head_std: float
    ratio: float  # head_mean / base_mean
    ratio_ci_low: float
    ratio_ci_high: float
    diff: float  # head_mean - base_mean, in the metric's stored unit
    diff_ci_low: float
    diff_ci_high: float
    p_value: float | None
    p_adjusted: float | None  # p_value after the report's correction, which the gate then used (None: not adjusted)
    verdict: Verdict
    note: str


def min_attainable_p(m: int, n: int) -> float:
    """Smallest two-sided p-value the exact Mann-Whitney U test can give for sizes ``m`` and ``n``."""
    if m < 1 or n < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(m + n, m))


def min_repeats(alpha: float) -> int:
    """The fewest repeats per side (equal sizes) with which p < ``alpha`` is attainable."""
    n = 1
    while min_attainable_p(n, n) >= alpha:
        n += 1
    return n


def adjust_p_values(p_values: Sequence[float], method: Correction) -> list[float]:
    """Adjust one family of p-values for multiple comparisons; an adjusted p < α is significant.

    ``"bh"``: Benjamini–Hochberg (:func:`scipy.stats.false_discovery_control`): p_(i) · m / i,
    made monotone. ``"holm"``: Holm's step-down, max over j ≤ i of (m − j + 1) · p_(j).
    ``"none"``: unchanged. Adjusted values are capped at 1 and keep the input order.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; allowed: {', '.join(CORRECTIONS)}")
    p = np.asarray(p_values, dtype=float)
    if p.size == 0 or method == "none":
        return [float(x) for x in p]
    if method == "bh":
        from scipy import stats

        return [float(x) for x in stats.false_discovery_control(p, method="bh")]
    order = np.argsort(p, kind="stable")
    m = p.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return [float(x) for x in out]


EXACT_TIES_LIMIT = 50_000  # exact permutation p with ties up to this many splits (9 vs 9: 48,620)


def _u_statistic(h: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mann-Whitney U of ``h`` (mid-ranks for ties), vectorised along ``axis``."""
    from scipy import stats

    ranks = stats.rankdata(np.concatenate([h, b], axis=axis), axis=axis)
    n = h.shape[axis]
    return np.take(ranks, np.arange(n), axis=axis).sum(axis=axis) - n * (n + 1) / 2


def mann_whitney_p(base: np.ndarray | Sequence[float], head: np.ndarray | Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney U p over the finite values; 1.0 when every value is equal, None when a side is empty.

    Without ties, scipy's exact distribution (small samples) or normal approximation. With ties
    — repeats of one seed, or accuracies that agree to the last digit, are common — scipy falls
    back to the normal approximation, which for few repeats gives p-values below what any split
    of the values can give (0.0040 for 5 identical vs 5 identical, against an exact 0.0079); so
    small tied samples get the exact permutation p over every split of the pooled values, and
    larger ones never go below the exact floor :func:`min_attainable_p`.
    """
    from scipy import stats

    b = np.asarray(base, dtype=float)
    h = np.asarray(head, dtype=float)
    b, h = b[np.isfinite(b)], h[np.isfinite(h)]
    if len(b) == 0 or len(h) == 0:
        return None
    pooled = np.concatenate([b, h])
    if np.all(pooled == b[0]):
        return 1.0  # every value equal: nothing to rank
    tied = len(np.unique(pooled)) < len(pooled)
    if tied and math.comb(len(pooled), len(b)) <= EXACT_TIES_LIMIT:
        res = stats.permutation_test((h, b), _u_statistic, permutation_type="independent", vectorized=True,
                                     alternative="two-sided", n_resamples=math.inf)
        return float(min(1.0, res.pvalue))
    p = float(stats.mannwhitneyu(h, b, alternative="two-sided").pvalue)
    return max(p, min_attainable_p(len(b), len(h)))


def testable(n_base: int, n_head: int, alpha: float) -> bool:
    """Whether p < ``alpha`` is attainable at all with these repeats (else the verdict is insufficient-data).

    Rows that fail this never enter a correction's family: a test that cannot reject must not
    make the others stricter (Tarone's refinement for discrete tests).
    """
    return n_base >= 2 and n_head >= 2 and min_attainable_p(n_base, n_head) < alpha


def _std(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def _rng_kw(func: object, rng: np.random.Generator) -> dict[str, np.random.Generator]:
    # scipy ≥ 1.15 takes ``rng``; older releases (the project allows ≥ 1.11) take ``random_state``.
    import inspect

    name = "rng" if "rng" in inspect.signature(func).parameters else "random_state"  # type: ignore[arg-type]
    return {name: rng}


def _bootstrap(
    base: np.ndarray, head: np.ndarray, confidence: float, n_resamples: int, rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """Percentile bootstrap interval of (ratio, difference) of the means, sides resampled independently."""
    from scipy import stats

    # The ratio is bootstrapped only when no resample can have a zero base mean.
    with_ratio = bool(np.all(base > 0))

    def statistic(b: np.ndarray, h: np.ndarray, axis: int = -1) -> np.ndarray:
        bm, hm = b.mean(axis=axis), h.mean(axis=axis)
        return np.stack([hm / bm, hm - bm]) if with_ratio else np.stack([hm - bm])

    res = stats.bootstrap(
        (base, head),
        statistic,
        n_resamples=n_resamples,
        vectorized=True,
        paired=False,
        confidence_level=confidence,
        method="percentile",
        **_rng_kw(stats.bootstrap, rng),
    )
    lo, hi = res.confidence_interval.low, res.confidence_interval.high
    if with_ratio:
        return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])
    return math.nan, math.nan, float(lo[0]), float(hi[0])


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def compare_samples(
    base: np.ndarray | list[float],
    head: np.ndarray | list[float],
    *,
    direction: Literal["lower", "higher"],
    effect: Literal["relative", "pp"],
    threshold: float,
    alpha: float,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    rng: np.random.Generator | None = None,
    p_adjusted: float | None = None,
    correction: str = "",
    p_value: float | None = None,
) -> SampleComparison:
    """Compare repeats of one metric; ``threshold`` is relative (0.1) or in pp (0.5) per ``effect``.

    The gate uses ``p_adjusted`` when given — this row's p after a multiple-comparison
    correction over the whole report (``correction`` names it, for the note) — else the raw p.
    ``n_resamples=0`` skips the bootstrap interval (simulations that need only the verdict).
    ``p_value`` is :func:`mann_whitney_p` of the same samples when the caller has it already.
    """
    b = np.asarray(base, dtype=float)
    h = np.asarray(head, dtype=float)
    b, h = b[np.isfinite(b)], h[np.isfinite(h)]
    nb, nh = len(b), len(h)
    nan = math.nan
    if nb == 0 or nh == 0:
        missing = "base" if nb == 0 else "head"
        return SampleComparison(nb, nh, float(b.mean()) if nb else nan, float(h.mean()) if nh else nan,
                                _std(b), _std(h), nan, nan, nan, nan, nan, nan, None, None, "insufficient-data",
                                f"no values on {missing}")
    bm, hm = float(b.mean()), float(h.mean())
    ratio = hm / bm if bm > 0 else nan
    diff = hm - bm
    constant = bool(np.all(b == b[0]) and np.all(h == h[0]))
    if nb >= 2 and nh >= 2 and not constant and n_resamples > 0:
        r_lo, r_hi, d_lo, d_hi = _bootstrap(b, h, confidence, n_resamples, rng or np.random.default_rng(0))
    elif constant:  # no spread on either side: the interval is the point
        r_lo, r_hi, d_lo, d_hi = ratio, ratio, diff, diff
    else:
        r_lo = r_hi = d_lo = d_hi = nan
    p = mann_whitney_p(b, h) if p_value is None else p_value
    gate_p = p if p_adjusted is None else p_adjusted

    size = (ratio - 1.0) if effect == "relative" else diff * 100.0
    size_txt = (_pct(size) if effect == "relative" else f"{size:+.2f} pp") if math.isfinite(size) else "n/a"
    limit_txt = f"{threshold * 100:g}%" if effect == "relative" else f"{threshold:g} pp"
    worse = size > 0 if direction == "lower" else size < 0
    big = math.isfinite(size) and abs(size) >= threshold - 1e-12
    pmin = min_attainable_p(nb, nh)
    need = min_repeats(alpha)

    verdict: Verdict
    if nb < 2 or nh < 2:
        verdict = "insufficient-data"
        note = (f"insufficient repeats (n={nb} base, {nh} head): a test needs ≥ 2 per side, "
                f"and ≥ {need} per side to reach p < {alpha:g}")
    elif pmin >= alpha:
        verdict = "insufficient-data"
        note = (f"insufficient repeats (n={nb} base, {nh} head): the smallest attainable p is {pmin:.3g} ≥ α={alpha:g}; "
                f"run ≥ {need} repeats per side")
    elif effect == "relative" and not math.isfinite(ratio):
        verdict = "insufficient-data"
        note = "base mean is not positive: no ratio"
    elif gate_p is not None and gate_p < alpha and big:
        verdict = "regressed" if worse else "improved"
        note = ""  # the change and p say it all
    else:
        verdict = "unchanged"
        adjusted = p_adjusted is not None and p is not None and p_adjusted != p
        if gate_p is not None and gate_p < alpha:
            shown = f"p={p:.3g}" + (f", adjusted {gate_p:.3g}" if adjusted else "")
            note = f"significant ({shown}) but {size_txt} is below the {limit_txt} threshold"
        elif big and adjusted and p is not None and p < alpha:
            note = (f"{size_txt} with p={p:.3g}, but not significant after {correction or 'correction'} "
                    f"(adjusted p={gate_p:.3g} ≥ {alpha:g})")
        elif big:
            note = f"{size_txt} but not significant (p={p:.3g} ≥ {alpha:g})"
        else:
            note = ""
    return SampleComparison(nb, nh, bm, hm, _std(b), _std(h), ratio, r_lo, r_hi, diff, d_lo, d_hi, p, p_adjusted,
                            verdict, note)


@dataclass(frozen=True)
class Sample:
    """One row to compare: the repeats of one metric of one workload, and how to judge them."""

    base: np.ndarray | Sequence[float]
    head: np.ndarray | Sequence[float]
    direction: Literal["lower", "higher"]
    effect: Literal["relative", "pp"]
    threshold: float
    rng: np.random.Generator | None = None  # for the bootstrap interval


@dataclass(frozen=True)
class Family:
    """The rows of one comparison, judged together; ``tested`` are the sample sizes of the corrected rows."""

    rows: list[SampleComparison]
    tested: list[tuple[int, int]]


def compare_family(
    samples: Sequence[Sample],
    *,
    alpha: float,
    correction: Correction = "bh",
    confidence: float = 0.95,
    n_resamples: int = 9999,
) -> Family:
    """Compare every row, the p-values of the rows that can reach ``alpha`` adjusted together."""
    finite = [(np.asarray(s.base, dtype=float), np.asarray(s.head, dtype=float)) for s in samples]
    finite = [(b[np.isfinite(b)], h[np.isfinite(h)]) for b, h in finite]
    raw = [mann_whitney_p(b, h) for b, h in finite]
    # Rows that can be flagged at all: p < alpha attainable, and a ratio where the effect is relative.
    members = [i for i, (s, p, (b, h)) in enumerate(zip(samples, raw, finite))
               if p is not None and testable(len(b), len(h), alpha) and (s.effect == "pp" or b.mean() > 0)]
    adjusted = dict(zip(members, adjust_p_values([raw[i] for i in members], correction)))  # type: ignore[misc]
    label = f"{CORRECTIONS[correction]} over {len(members)} rows"
    rows = [
        compare_samples(b, h, direction=s.direction, effect=s.effect, threshold=s.threshold, alpha=alpha,
                        confidence=confidence, n_resamples=n_resamples, rng=s.rng,
                        p_adjusted=adjusted.get(i), correction=label, p_value=raw[i])
        for i, (s, (b, h)) in enumerate(zip(samples, finite))
    ]
    return Family(rows, [(len(finite[i][0]), len(finite[i][1])) for i in members])
