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
- **Gate**: a change is flagged only when p < α **and** the effect reaches the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Verdict = Literal["improved", "regressed", "unchanged", "insufficient-data"]
VERDICTS: tuple[Verdict, ...] = ("regressed", "improved", "unchanged", "insufficient-data")


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
) -> SampleComparison:
    """Compare repeats of one metric; ``threshold`` is relative (0.1) or in pp (0.5) per ``effect``."""
    from scipy import stats

    b = np.asarray(base, dtype=float)
    h = np.asarray(head, dtype=float)
    b, h = b[np.isfinite(b)], h[np.isfinite(h)]
    nb, nh = len(b), len(h)
    nan = math.nan
    if nb == 0 or nh == 0:
        missing = "base" if nb == 0 else "head"
        return SampleComparison(nb, nh, float(b.mean()) if nb else nan, float(h.mean()) if nh else nan,
                                _std(b), _std(h), nan, nan, nan, nan, nan, nan, None, "insufficient-data",
                                f"no values on {missing}")
    bm, hm = float(b.mean()), float(h.mean())
    ratio = hm / bm if bm > 0 else nan
    diff = hm - bm
    constant = bool(np.all(b == b[0]) and np.all(h == h[0]))
    if nb >= 2 and nh >= 2 and not constant:
        r_lo, r_hi, d_lo, d_hi = _bootstrap(b, h, confidence, n_resamples, rng or np.random.default_rng(0))
    elif constant:  # no spread on either side: the interval is the point
        r_lo, r_hi, d_lo, d_hi = ratio, ratio, diff, diff
    else:
        r_lo = r_hi = d_lo = d_hi = nan
    if np.all(np.concatenate([b, h]) == b[0]):
        p: float | None = 1.0  # every value equal: nothing to rank
    else:
        p = float(stats.mannwhitneyu(h, b, alternative="two-sided").pvalue)

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
    elif p is not None and p < alpha and big:
        verdict = "regressed" if worse else "improved"
        note = ""  # the change and p say it all
    else:
        verdict = "unchanged"
        if p is not None and p < alpha:
            note = f"significant (p={p:.3g}) but {size_txt} is below the {limit_txt} threshold"
        elif big:
            note = f"{size_txt} but not significant (p={p:.3g} ≥ {alpha:g})"
        else:
            note = ""
    return SampleComparison(nb, nh, bm, hm, _std(b), _std(h), ratio, r_lo, r_hi, diff, d_lo, d_hi, p, verdict, note)
