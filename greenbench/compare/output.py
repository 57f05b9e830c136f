"""Outputs of a comparison: Markdown (step summaries, PR comments), github-action-benchmark JSON, a rich
table for terminals and one line per row for logs (:func:`render_lines`: pipes and CI logs, 80 columns).

:func:`summary_text` counts the rows that could be judged, then says how many could not and why, and
which workload × metric pairs are not rows at all (:attr:`Comparison.left_out`: a metric that cannot
apply, such as the training time of a compression variant, which reuses its uncompressed model's training).

github-action-benchmark's ``customSmallerIsBetter`` and ``customBiggerIsBetter`` tools read a
JSON array of ``{"name", "unit", "value", "range"?, "extra"?}`` (``value`` a number, the others
strings). One file holds one direction, so :func:`to_benchmark_json` takes the direction and
``greenbench compare --json FILE`` writes FILE (smaller is better: time, energy, CO₂, …) and,
when a higher-is-better metric (accuracy, throughput) was compared, ``<stem>-bigger.json``
beside it. Values are the HEAD means in display units; each entry's ``extra`` carries the
comparison with BASE.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from greenbench.compare.core import Comparison, Row
from greenbench.compare.metrics import METRIC_SPECS
from greenbench.compare.stats import CORRECTIONS, min_repeats

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

VERDICT_MARK = {
    "regressed": "🔴 regressed",
    "improved": "🟢 improved",
    "unchanged": "⚪ unchanged",
    "insufficient-data": "⚠️ insufficient data",
    "incomparable": "🚫 not comparable",
}
_RICH_STYLE = {"regressed": "bold red", "improved": "bold green", "unchanged": "dim", "insufficient-data": "yellow",
               "incomparable": "magenta"}


# --------------------------------------------------------------------------- formatting
def _num(x: float | None, digits: int = 4) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.{digits}g}"


def value_text(row: Row, which: Literal["base", "head"], interval: bool | None = None) -> str:
    """``0.155 Wh ± 0.0044`` (mean ± standard deviation of the repeats); with ``interval`` — by default for
    rows not compared across energy methods, whose absolute values are all there is — the interval of the
    mean by its method after it: ``0.155 Wh ± 0.0044 (method: 0.05345–0.4495 Wh)``."""
    spec = METRIC_SPECS[row.metric]
    mean = row.base_mean if which == "base" else row.head_mean
    std = row.base_std if which == "base" else row.head_std
    if mean is None or not math.isfinite(mean):
        return "–"
    unit = f" {spec.unit}" if spec.unit else ""
    text = f"{_num(mean * spec.scale)}{unit}"
    if std is not None and math.isfinite(std):
        text += f" ± {_num(std * spec.scale, 2)}"
    if interval is None:
        interval = row.verdict == "incomparable"
    low, high = (row.base_low, row.base_high) if which == "base" else (row.head_low, row.head_high)
    if interval and math.isfinite(low) and math.isfinite(high):
        text += f" (method: {_num(low * spec.scale)}–{_num(high * spec.scale)}{unit})"
    return text


def change_text(row: Row) -> str:
    """``+20.0% [+15.2%, +24.9%]`` (relative) or ``-1.20 pp [-1.50, -0.90]`` (accuracy)."""
    spec = METRIC_SPECS[row.metric]
    if spec.effect == "pp":
        point, lo, hi = row.diff * 100, row.diff_ci_low * 100, row.diff_ci_high * 100
        if not math.isfinite(point):
            return "–"
        ci = f" [{lo:+.2f}, {hi:+.2f}]" if math.isfinite(lo) and math.isfinite(hi) else ""
        return f"{point:+.2f} pp{ci}"
    if not math.isfinite(row.ratio):
        return "–"
    pct = lambda r: f"{(r - 1) * 100:+.1f}%"  # noqa: E731
    ci = (f" [{pct(row.ratio_ci_low)}, {pct(row.ratio_ci_high)}]"
          if math.isfinite(row.ratio_ci_low) and math.isfinite(row.ratio_ci_high) else "")
    return f"{pct(row.ratio)}{ci}"


def p_text(row: Row) -> str:
    return "–" if row.p_value is None else f"{row.p_value:.3g}"


def p_adjusted_text(row: Row) -> str:
    return "–" if row.p_adjusted is None else f"{row.p_adjusted:.3g}"


def _corrected(c: Comparison) -> bool:
    return c.correction != "none"


def rule_text(c: Comparison) -> str:
    if _corrected(c) and c.family_size > 1:
        test = (f"Mann-Whitney U gives p < {c.alpha:g} after {CORRECTIONS[c.correction]} correction over the "
                f"{c.family_size} tested rows")
    elif _corrected(c):
        test = f"Mann-Whitney U gives p < {c.alpha:g} ({c.family_size} tested row: nothing to correct)"
    else:
        test = f"Mann-Whitney U gives p < {c.alpha:g} (each row on its own, no correction for multiple comparisons)"
    return (f"a change is flagged only when {test} and the effect reaches "
            f"{c.threshold * 100:g}% (accuracy: {c.accuracy_threshold_pp:g} pp); intervals are "
            f"{c.confidence * 100:g}% bootstrap intervals over the repeats")


def _rows(n: int) -> str:
    return f"{n} row" + ("" if n == 1 else "s")


def _insufficient_reasons(c: Comparison) -> list[tuple[int, str]]:
    """Why rows could not be judged, most frequent first: [(count, reason)]."""
    found: dict[str, int] = {}
    sizes: Counter[tuple[int, int]] = Counter()
    for r in c.rows:
        if r.verdict != "insufficient-data":
            continue
        if r.note.startswith("insufficient repeats"):
            key = "too few repeats"
            sizes[(r.n_base, r.n_head)] += 1
        elif r.note.startswith("base mean is not positive"):
            key = "no ratio (base mean not positive)"
        else:
            key = r.note or "insufficient data"
        found[key] = found.get(key, 0) + 1
    out = []
    for key, n in sorted(found.items(), key=lambda kv: -kv[1]):
        if key == "too few repeats":
            nb, nh = sizes.most_common(1)[0][0]
            reps = f"{nb} a side" if nb == nh else f"{nb} base, {nh} head"
            key = f"too few repeats: {reps}, ≥ {min_repeats(c.alpha)} needed at α = {c.alpha:g}"
        out.append((n, key))
    return out


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def left_out_text(c: Comparison) -> str:
    """One clause on the workload × metric pairs that are not rows, and why; ``""`` when none."""
    parts = []
    for reason in ("shared-training", "no-values"):
        entries = [e for e in c.left_out if e["reason"] == reason]
        if not entries:
            continue
        labels = _and([METRIC_SPECS[m].label for m in dict.fromkeys(e["metric"] for e in entries)])
        if reason == "shared-training":
            parts.append(f"{len(entries)} not applicable: {labels} of compression variants, which reuse their "
                         "uncompressed model's training")
        else:
            parts.append(f"{len(entries)} without values on either side: {labels}")
    return "; ".join(parts)


def summary_text(c: Comparison) -> str:
    """One line: the verdicts of the rows that could be judged, then how many could not, and why."""
    n = c.counts()
    judged = n["regressed"] + n["improved"] + n["unchanged"]
    head = f"{n['regressed']} regressed, {n['improved']} improved, {n['unchanged']} unchanged ({_rows(judged)} judged)"
    if c.newly_failing:
        head = f"{len(c.newly_failing)} newly failing, " + head
    parts = [head]
    reasons = _insufficient_reasons(c)
    if len(reasons) == 1:
        parts.append(f"{n['insufficient-data']} could not be judged ({reasons[0][1]})")
    elif reasons:
        parts.append(f"{n['insufficient-data']} could not be judged: " + ", ".join(f"{k} {why}" for k, why in reasons))
    if n["incomparable"]:
        parts.append(f"{n['incomparable']} not compared: energy or CO₂ from different methods on the two sides "
                     "(no energy claim across methods)")
    left = left_out_text(c)
    if left:
        parts.append(left)
    return "; ".join(parts)


# --------------------------------------------------------------------------- Markdown
def _cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def _md_table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    sep = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join(sep[a] for a in align) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return lines


def to_markdown(c: Comparison, title: str = "greenbench compare") -> str:
    """GitHub-flavoured Markdown for ``$GITHUB_STEP_SUMMARY`` or a PR comment."""
    out = [f"## {title}", ""]
    out.append(f"**Base** `{', '.join(c.base)}` → **Head** `{', '.join(c.head)}`"
               + (" (paired per machine)" if c.paired_by_machine and len(c.base_machines) > 1 else ""))
    out.append("")
    if c.guard_messages:
        out += ["> [!WARNING]", "> **These results may not be comparable:**"]
        out += [f"> - {m}" for m in c.guard_messages]
        out.append("")
    verdict = "❌ **Regression**" if c.has_regression else "✅ No regression"
    out += [f"{verdict}: {summary_text(c)} — {rule_text(c)}.", ""]
    if c.notes:
        out += ["> [!NOTE]"] + [f"> {m}" for m in c.notes] + [""]
    if c.method_note:
        out += [f"**Energy method:** {c.method_note}.", ""]
    if c.newly_failing:
        out += ["**Completed on base, failing on head:**", ""]
        out += [f"- `{_cell(w)}`" for w in c.newly_failing]
        out.append("")
    flagged = [r for r in c.rows if r.verdict in ("regressed", "improved")]
    adj = _corrected(c)
    if flagged:
        out += ["**Flagged changes:**", ""]
        out += [f"- {VERDICT_MARK[r.verdict]} `{_cell(r.name)}` {METRIC_SPECS[r.metric].label}: "
                f"{_cell(change_text(r))} (p={p_text(r)}{f', adjusted {p_adjusted_text(r)}' if adj else ''})"
                for r in flagged]
        out.append("")
    header = ["Workload", "Metric", "n base/head", "Base", "Head", f"Change [{c.confidence * 100:g}% CI]", "p",
              *(["adj. p"] if adj else []), "Verdict", "Note"]
    rows = [[r.name, METRIC_SPECS[r.metric].label, f"{r.n_base}/{r.n_head}", value_text(r, "base"),
             value_text(r, "head"), change_text(r), p_text(r), *([p_adjusted_text(r)] if adj else []),
             VERDICT_MARK[r.verdict], r.note] for r in c.rows]
    out += _md_table(header, rows, ["l", "l", "r", "r", "r", "r", "r", *(["r"] if adj else []), "l", "l"])
    out.append("")
    for side in ("base", "head"):
        names = c.unmatched.get(side) or []
        if names:
            out += [f"<details><summary>{len(names)} workload(s) only in {side} (not compared)</summary>", ""]
            out += [f"- `{_cell(n)}`" for n in names]
            out += ["", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- github-action-benchmark
def _range(row: Row) -> str | None:
    spec = METRIC_SPECS[row.metric]
    if row.head_std is None or not math.isfinite(row.head_std):
        return None
    return f"± {_num(row.head_std * spec.scale, 3)}"


def benchmark_entry(row: Row) -> dict[str, Any]:
    """One github-action-benchmark entry: HEAD's mean, its spread, and the comparison with BASE."""
    spec = METRIC_SPECS[row.metric]
    entry: dict[str, Any] = {
        "name": f"{row.name} · {spec.label}",
        "unit": spec.unit or "1",
        "value": float(row.head_mean * spec.scale),
    }
    rng = _range(row)
    if rng is not None:
        entry["range"] = rng
    extra = [f"n={row.n_head} repeats (base n={row.n_base})",
             f"base: {value_text(row, 'base')}",
             f"change vs base: {change_text(row)}, p={p_text(row)}"
             + (f" (adjusted {p_adjusted_text(row)})" if row.p_adjusted not in (None, row.p_value) else ""),
             f"verdict: {row.verdict}" + (f": {row.note}" if row.note else "")]
    entry["extra"] = "\n".join(extra)
    return entry


def to_benchmark_json(c: Comparison, direction: Literal["smaller", "bigger"] = "smaller") -> list[dict[str, Any]]:
    """Entries for github-action-benchmark's ``customSmallerIsBetter`` (``direction="smaller"``) or
    ``customBiggerIsBetter`` (``"bigger"``) tool: only the metrics of that direction, rows with a HEAD value."""
    if direction not in ("smaller", "bigger"):
        raise ValueError(f"direction must be 'smaller' or 'bigger', not {direction!r}")
    want = "lower" if direction == "smaller" else "higher"
    return [benchmark_entry(r) for r in c.rows
            if r.direction == want and r.head_mean is not None and math.isfinite(r.head_mean)]


def benchmark_json_paths(path: str | Path) -> dict[str, Path]:
    """``bench.json`` → smaller-is-better in ``bench.json``, bigger-is-better in ``bench-bigger.json``."""
    p = Path(path)
    return {"smaller": p, "bigger": p.with_name(f"{p.stem}-bigger{p.suffix or '.json'}")}


# --------------------------------------------------------------------------- terminal and logs
# Every cell is a rich Text built by greenbench.console.text: labels, notes and messages are data,
# printed literally (a workload label holds "[64]", a machine name could hold "[bold]").
def render_table(c: Comparison) -> "Table":
    """A rich table of every row, verdicts coloured (for a terminal)."""
    from rich.table import Table

    from greenbench.console import text

    table = Table(title=text("greenbench compare — ", summary_text(c)), title_justify="left", show_lines=False)
    adj = _corrected(c)
    for name, just in (("Workload", "left"), ("Metric", "left"), ("n", "right"), ("Base", "right"),
                       ("Head", "right"), (f"Change [{c.confidence * 100:g}% CI]", "right"), ("p", "right"),
                       *([("adj. p", "right")] if adj else []), ("Verdict", "left")):
        table.add_column(text(name), justify=just, overflow="fold")  # type: ignore[arg-type]
    for r in c.rows:
        verdict = text((r.verdict, _RICH_STYLE[r.verdict]))
        if r.note:
            verdict.append("\n")
            verdict.append_text(text((r.note, "dim")))
        cells = [r.name, METRIC_SPECS[r.metric].label, f"{r.n_base}/{r.n_head}", value_text(r, "base"),
                 value_text(r, "head"), change_text(r), p_text(r), *([p_adjusted_text(r)] if adj else [])]
        table.add_row(*(text(v) for v in cells), verdict)
    return table


LINE_VERDICT = {"regressed": "regressed", "improved": "improved", "unchanged": "unchanged",
                "insufficient-data": "insufficient", "incomparable": "incomparable"}


def _detail(r: Row) -> str:
    """The second line of a row in :func:`render_lines`; ``""`` when the first line says it all."""
    flagged = r.verdict in ("regressed", "improved")
    too_few = r.verdict == "insufficient-data" and r.note.startswith("insufficient repeats")  # said in the summary
    if not flagged and (not r.note or too_few):
        return ""
    values = f"{value_text(r, 'base')} → {value_text(r, 'head')} (n={r.n_base}/{r.n_head})"
    return values + (f": {r.note}" if r.note else "")


def render_lines(c: Comparison, width: int = 80) -> list["Text"]:
    """The comparison for a log (a pipe, a CI job): one line per row, verdict first, under its workload.

    Columns are aligned, every value is whole and no line is wider than ``width`` where the values
    allow; a second, indented line follows a row only when it has more to say (base and head
    values of a flagged change, a note). The rich table of :func:`render_table` is for terminals.
    """
    from greenbench.console import flow, text, words

    adj = _corrected(c)
    metric_w = max((len(METRIC_SPECS[r.metric].label) for r in c.rows), default=0)
    change_w = max((len(change_text(r)) for r in c.rows), default=0)
    p_w = max((len(p_text(r)) for r in c.rows), default=0) + 2
    verdict_w = max(len(v) for v in LINE_VERDICT.values())
    lead, under = "  ", 2 + verdict_w + 2
    out: list[Text] = []
    name = None
    for r in c.rows:
        if r.name != name:
            name = r.name
            out += flow(words((name, "bold")), width, indent=4)
        chunks = [text((LINE_VERDICT[r.verdict].ljust(verdict_w), _RICH_STYLE[r.verdict])),
                  text(METRIC_SPECS[r.metric].label.ljust(metric_w)),
                  text(change_text(r).ljust(change_w)),
                  text(f"p={p_text(r)}".ljust(p_w))]
        if adj and r.p_adjusted is not None:  # rows that cannot reach α are outside the corrected family
            chunks.append(text(f"adj.p={p_adjusted_text(r)}"))
        out += flow(chunks, width, lead=lead, indent=under, sep="  ")
        detail = _detail(r)
        if detail:
            out += flow(words((detail, "dim")), width, lead=" " * under)
    return out
