"""``greenbench compare``: what changed between two result sets, with statistical regression gates.

>>> from greenbench.compare import compare, to_markdown
>>> c = compare("results/main", "results/pr")          # match by workload, test every metric
>>> c.regressions, c.guard_messages, c.unmatched
>>> print(to_markdown(c))

- :func:`compare` matches runs by workload (resolved config without seed and run settings),
  tests each metric over the repeats (Mann-Whitney U + bootstrap interval of the ratio),
  adjusts the p-values of all rows together (Benjamini–Hochberg by default) and flags a change
  only when the adjusted p < α **and** the effect reaches the threshold.
- The comparability guard lists what differs besides the code (energy provenance, country and
  carbon intensity, library versions, data subsets, hardware).
- Energy and CO₂ rows are tested as ratios only when both sides' energy comes from one method, whose
  systematic error then largely cancels (``Comparison.method_note`` says so); across methods they are
  ``incomparable``, with the reason, and never fail the gate (:mod:`greenbench.compare.methods`).
- :func:`hardware_table` merges result sets from several machines, relative to a reference, with each
  energy figure's interval by its method.
- :func:`run_compare` is the CLI's body and returns its exit code; :func:`render_table` (terminals),
  :func:`render_lines` (logs, 80 columns) and :func:`to_markdown` are what it prints.

This package reads only :mod:`greenbench.results`; it never imports a framework.
"""

from greenbench.compare.core import Comparison, Row, compare
from greenbench.compare.hardware import hardware_summary, hardware_table
from greenbench.compare.metrics import DEFAULT_METRICS, METRIC_SPECS, MetricSpec, parse_pp, parse_threshold
from greenbench.compare.output import benchmark_json_paths, render_lines, render_table, to_benchmark_json, to_markdown
from greenbench.compare.run import run_compare
from greenbench.compare.stats import adjust_p_values, compare_family, compare_samples, min_attainable_p

__all__ = [
    "DEFAULT_METRICS",
    "METRIC_SPECS",
    "Comparison",
    "MetricSpec",
    "Row",
    "adjust_p_values",
    "benchmark_json_paths",
    "compare",
    "compare_family",
    "compare_samples",
    "hardware_summary",
    "hardware_table",
    "min_attainable_p",
    "parse_pp",
    "parse_threshold",
    "render_lines",
    "render_table",
    "run_compare",
    "to_benchmark_json",
    "to_markdown",
]
