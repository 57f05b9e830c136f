"""The statistics: attainable p-values, calibration under A/A, power under A/B, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from greenbench.compare import compare_samples, min_attainable_p
from greenbench.compare.stats import Sample, adjust_p_values, compare_family, mann_whitney_p, min_repeats

KW = dict(direction="lower", effect="relative", threshold=0.10, alpha=0.05, n_resamples=200)


def test_min_attainable_p():
    assert min_attainable_p(3, 3) == pytest.approx(0.1)
    assert min_attainable_p(4, 4) == pytest.approx(2 / 70)
    assert min_attainable_p(1, 5) == pytest.approx(1 / 3)
    assert min_attainable_p(0, 5) == 1.0
    assert min_repeats(0.05) == 4 and min_repeats(0.01) == 5


def _draws(rng, n, factor=1.0, cv=0.05):
    return 10.0 * factor * rng.lognormal(0.0, cv, size=n)


def test_aa_false_alarm_rate_is_low():
    # 400 A/A comparisons of 5 vs 5 repeats with 5 % timing noise.
    rng = np.random.default_rng(123)
    verdicts, pvals = [], []
    for i in range(400):
        r = compare_samples(_draws(rng, 5), _draws(rng, 5), rng=np.random.default_rng(i), **KW)
        verdicts.append(r.verdict)
        pvals.append(r.p_value)
    flagged = sum(v in ("regressed", "improved") for v in verdicts) / len(verdicts)
    significant = float(np.mean(np.array(pvals) < 0.05))
    assert flagged <= 0.01, flagged
    assert significant <= 0.08, significant  # the exact test holds its level (≈ 0.05 or less)


def test_ab_power_for_a_twenty_percent_slowdown():
    rng = np.random.default_rng(7)
    results = [compare_samples(_draws(rng, 5), _draws(rng, 5, factor=1.2), rng=np.random.default_rng(i), **KW)
               for i in range(200)]
    regressed = sum(r.verdict == "regressed" for r in results) / len(results)
    assert regressed >= 0.9, regressed


def test_bootstrap_is_seeded_and_brackets_the_ratio():
    base, head = [10.0, 10.4, 9.8, 10.1, 10.2], [12.1, 11.8, 12.4, 12.0, 12.3]
    a = compare_samples(base, head, rng=np.random.default_rng(5), **{**KW, "n_resamples": 999})
    b = compare_samples(base, head, rng=np.random.default_rng(5), **{**KW, "n_resamples": 999})
    assert (a.ratio_ci_low, a.ratio_ci_high) == (b.ratio_ci_low, b.ratio_ci_high)
    assert a.ratio_ci_low < a.ratio < a.ratio_ci_high
    assert a.diff_ci_low < a.diff < a.diff_ci_high
    assert a.verdict == "regressed" and a.p_value == pytest.approx(2 / 252)


def test_identical_values_are_unchanged_with_p_one():
    r = compare_samples([0.97] * 5, [0.97] * 5, direction="higher", effect="pp", threshold=0.5, alpha=0.05)
    assert r.p_value == 1.0 and r.verdict == "unchanged"
    assert r.ratio_ci_low == r.ratio_ci_high == 1.0


def test_deterministic_accuracy_change_is_flagged_with_enough_repeats():
    r = compare_samples([0.97] * 5, [0.95] * 5, direction="higher", effect="pp", threshold=0.5, alpha=0.05)
    assert r.verdict == "regressed" and r.diff * 100 == pytest.approx(-2.0)


def test_missing_values_and_zero_base():
    r = compare_samples([math.nan, math.nan], [1.0, 2.0], **KW)
    assert r.verdict == "insufficient-data" and r.note == "no values on base"
    r = compare_samples([0.0] * 5, [1.0, 2.0, 1.5, 1.2, 1.1], **KW)
    assert r.verdict == "insufficient-data" and "not positive" in r.note
    assert math.isnan(r.ratio_ci_low) and r.diff_ci_low < r.diff < r.diff_ci_high


def test_large_but_noisy_effect_is_not_significant():
    base, head = [10.0, 14.0, 8.0, 12.0, 9.0], [13.0, 9.5, 15.0, 10.5, 14.5]
    r = compare_samples(base, head, rng=np.random.default_rng(0), **KW)
    assert r.verdict == "unchanged" and "not significant" in r.note


# --------------------------------------------------------------------------- many rows, one gate
def test_adjust_p_values_by_hand():
    p = [0.01, 0.04, 0.03, 0.2]
    # BH: p_(i)·m/i = 0.04, 0.06, 0.0533, 0.2, made monotone from the largest down; input order kept.
    assert adjust_p_values(p, "bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    # Holm: (m − i + 1)·p_(i) = 0.04, 0.09, 0.08, 0.2, made monotone from the smallest up.
    assert adjust_p_values(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert adjust_p_values(p, "none") == p
    assert adjust_p_values([0.5, 0.9], "holm") == [1.0, 1.0]  # capped at 1
    assert adjust_p_values([], "bh") == []
    with pytest.raises(ValueError, match="unknown correction 'sidak'; allowed: bh, holm, none"):
        adjust_p_values(p, "sidak")  # type: ignore[arg-type]


def _rows(rng, n_rows, repeats, cv=0.10, changed=(), factor=1.3):
    return [Sample(_draws(rng, repeats, cv=cv), _draws(rng, repeats, factor=factor if i in changed else 1.0, cv=cv),
                   "lower", "relative", 0.10) for i in range(n_rows)]


def _flags(family):
    return [r.verdict in ("regressed", "improved") for r in family.rows]


def test_aa_reports_flag_anything_at_most_alpha_of_the_time_with_bh():
    # 100 A/A comparisons of 16 rows, 5 vs 5 repeats, 10 % timing noise: judged row by row, a
    # third of them flag something (one false flag is enough to fail a CI job).
    rng = np.random.default_rng(11)
    plain = bh = 0
    for _ in range(100):
        rows = _rows(rng, 16, 5)
        plain += any(_flags(compare_family(rows, alpha=0.05, correction="none", n_resamples=0)))
        bh += any(_flags(compare_family(rows, alpha=0.05, correction="bh", n_resamples=0)))
    assert bh <= 5, bh  # at most α of the comparisons
    assert plain >= 20, plain


def test_a_change_seen_in_several_rows_is_flagged_with_five_repeats():
    rng = np.random.default_rng(3)
    rows = [Sample([10.0, 10.1, 9.9, 10.2, 10.05], [12.0, 12.1, 11.9, 12.2, 12.05], "lower", "relative", 0.10)] * 3
    rows += [Sample([1.0] * 5, [1.0] * 5, "higher", "pp", 0.5)] + _rows(rng, 4, 5, cv=0.01)
    family = compare_family(rows, alpha=0.05, correction="bh", n_resamples=0)
    assert [r.verdict for r in family.rows[:3]] == ["regressed"] * 3
    assert family.rows[0].p_value == pytest.approx(2 / 252)
    assert family.rows[0].p_adjusted == pytest.approx(2 / 252 * 8 / 3)  # 3 of 8 rows at the smallest p
    assert len(family.tested) == 8


def test_a_lone_change_needs_more_repeats_after_correction_and_says_so():
    rng = np.random.default_rng(5)
    rows = _rows(rng, 16, 5, cv=0.02, changed={0})
    assert _flags(compare_family(rows, alpha=0.05, correction="none", n_resamples=0))[0]
    lone = compare_family(rows, alpha=0.05, correction="bh", n_resamples=0).rows[0]
    assert lone.verdict == "unchanged" and lone.p_value == pytest.approx(2 / 252)
    assert lone.p_adjusted == pytest.approx(min(1.0, 16 * 2 / 252))
    assert "not significant after Benjamini–Hochberg over 16 rows (adjusted p=0.127 ≥ 0.05)" in lone.note
    # Six repeats a side reach p = 2/924 < 0.05/16: the lone change is flagged.
    six = compare_family(_rows(rng, 16, 6, cv=0.02, changed={0}), alpha=0.05, correction="bh", n_resamples=0)
    assert six.rows[0].verdict == "regressed"


def test_rows_that_cannot_reach_alpha_stay_out_of_the_family():
    rng = np.random.default_rng(9)
    rows = _rows(rng, 2, 5, cv=0.01, changed={0}) + _rows(rng, 6, 3)  # 3 vs 3 can never give p < 0.05
    family = compare_family(rows, alpha=0.05, correction="bh", n_resamples=0)
    assert family.tested == [(5, 5), (5, 5)]
    assert family.rows[0].verdict == "regressed"  # 0.0079 · 2 / 1 < 0.05: the 3-repeat rows do not dilute it
    assert {r.verdict for r in family.rows[2:]} == {"insufficient-data"}
    assert all(r.p_adjusted is None for r in family.rows[2:])


def test_holm_controls_every_row_and_is_stricter():
    rows = [Sample([10.0, 10.1, 9.9, 10.2, 10.05], [12.0, 12.1, 11.9, 12.2, 12.05], "lower", "relative", 0.10)] * 3
    rows += [Sample([1.0] * 5, [1.0] * 5, "higher", "pp", 0.5)] * 5
    bh = compare_family(rows, alpha=0.05, correction="bh", n_resamples=0)
    holm = compare_family(rows, alpha=0.05, correction="holm", n_resamples=0)
    assert bh.rows[0].verdict == "regressed" and holm.rows[0].verdict == "unchanged"
    assert holm.rows[0].p_adjusted == pytest.approx(8 * 2 / 252)


def test_tied_repeats_get_the_exact_permutation_p_not_the_normal_approximation():
    # One seed repeated, or accuracies equal to the last digit: ties. scipy's normal
    # approximation would give 0.0040 for 5 identical vs 5 identical, below any exact split.
    from scipy import stats

    assert mann_whitney_p([0.97] * 5, [0.95] * 5) == pytest.approx(2 / 252)
    assert mann_whitney_p([0.97] * 7, [0.95] * 7) == pytest.approx(2 / 3432)
    base, head = [1, 2, 2, 3, 4], [2, 3, 3, 5, 6]
    exact = stats.mannwhitneyu(head, base, method=stats.PermutationMethod(n_resamples=np.inf)).pvalue
    assert mann_whitney_p(base, head) == pytest.approx(exact)
    # Beyond the exact limit (12 vs 12 with ties): the normal approximation, never under the exact floor.
    p = mann_whitney_p([1.0] * 12, [2.0] * 12)
    assert p >= min_attainable_p(12, 12)
    # Without ties: scipy's own exact test.
    b, h = [1.0, 2.5, 3.1, 4.2, 5.3], [2.2, 3.3, 6.1, 7.4, 8.5]
    assert mann_whitney_p(b, h) == pytest.approx(stats.mannwhitneyu(h, b).pvalue)


def test_rows_without_a_ratio_stay_out_of_the_family():
    rows = [Sample([10.0, 10.1, 9.9, 10.2, 10.05], [12.0, 12.1, 11.9, 12.2, 12.05], "lower", "relative", 0.10),
            Sample([0.0] * 5, [1.0, 2.0, 1.5, 1.2, 1.1], "lower", "relative", 0.10)]  # base mean 0: no ratio
    family = compare_family(rows, alpha=0.05, correction="bh", n_resamples=0)
    assert family.tested == [(5, 5)]
    assert family.rows[0].verdict == "regressed" and family.rows[0].p_adjusted == pytest.approx(2 / 252)
    assert family.rows[1].verdict == "insufficient-data" and family.rows[1].p_adjusted is None
