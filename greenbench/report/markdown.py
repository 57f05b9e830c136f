"""A short Markdown summary for CI logs and pull-request comments (always under 1 MiB)."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from . import fmt
from .context import Section, Table

MAX_BYTES = 1024 * 1024 - 1024  # stay clear of the 1 MiB limit GitHub puts on comments
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: Any, limit: int = 300) -> str:
    """Plain text that renders as itself in a Markdown table cell or paragraph."""
    s = fmt.truncate(text, limit).replace("\r", " ").replace("\n", " ")
    s = s.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_table(frame: pd.DataFrame, max_rows: int) -> list[str]:
    if frame.empty:
        return []
    cols = list(frame.columns)
    out = ["| " + " | ".join(md_escape(c, 60) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.head(max_rows).iterrows():
        out.append("| " + " | ".join(md_escape(fmt.NA if pd.isna(v) else v, 160) for v in row) + " |")
    if len(frame) > max_rows:
        out.append(f"\n_… {len(frame) - max_rows} more rows in the HTML report._")
    return out


def _section(ctx: dict[str, Any], sid: str) -> Section:
    return next(s for s in ctx["sections"] if s.id == sid)


def _tables(sec: Section, rows: int, *, first: int | None = None) -> list[str]:
    out: list[str] = []
    tables: list[Table] = sec.tables[:first] if first else sec.tables
    for t in tables:
        if t.caption:
            out += ["", f"**{md_escape(t.caption)}**", ""]
        out += md_table(t.frame, rows)
        if t.note:
            out += ["", f"_{md_escape(t.note, 600)}_"]
    return out


def _render(ctx: dict[str, Any], rows: int) -> str:
    out = [f"# {md_escape(ctx['title'], 200)}", ""]
    out.append(
        f"_{len(ctx['machines'])} machine(s): {md_escape(', '.join(ctx['machines']), 400)} · "
        f"generated {ctx['generated_at']} by greenbench {ctx['version']}_"
    )
    if ctx["estimated"]:
        out += [
            "",
            f"> **{fmt.EST} Estimated energy:** some or all energy figures come from a power model, not a "
            "hardware meter; they carry the mark " + fmt.EST + ".",
        ]
    out += ["", "## Headline", ""]
    for card in ctx["headline"]["cards"]:
        out.append(
            f"- **{md_escape(card['kicker'])}: {md_escape(card['value'])}** — "
            + "; ".join(md_escape(x) for x in card["lines"])
        )
    if ctx["headline"]["answer"]:
        out += ["", md_escape(ctx["headline"]["answer"], 600)]
    head = _section(ctx, "headline")
    if head.empty:
        out += ["", md_escape(head.empty, 400)]
    for n in head.notes:
        out += ["", f"_{md_escape(n, 600)}_"]

    meth = _section(ctx, "methodology")
    out += ["", "## Methodology", ""] + [md_escape(p, 2000) + "\n" for p in meth.intro]
    out += [f"_{md_escape(n, 800)}_\n" for n in meth.notes]
    out += _tables(meth, rows, first=1)

    comp = _section(ctx, "comparisons")
    out += ["", "## Comparisons", ""]
    out += [md_escape(comp.empty)] if comp.empty else _tables(comp, rows)

    tgt = _section(ctx, "targets")
    if not tgt.empty:
        out += ["", "## Time and energy to target", ""] + _tables(tgt, rows)

    cmp_ = _section(ctx, "compression")
    out += ["", "## Compression", ""]
    out += [md_escape(cmp_.empty)] if cmp_.empty else _tables(cmp_, rows)

    fair = _section(ctx, "fairness")
    if not fair.empty:
        out += ["", "## Fairness across classes", ""] + [md_escape(p, 800) for p in fair.intro]
        out += _tables(fair, min(rows, 10))

    what = _section(ctx, "what-if")
    out += ["", "## CO₂ what-if", ""]
    out += [md_escape(what.empty)] if what.empty else [md_escape(p, 800) for p in what.intro] + _tables(what, rows)

    out += ["", "## Failed and skipped runs", ""]
    fails = ctx["failures"]
    if not fails:
        out.append("Every run completed.")
    for f in fails[:rows]:
        out.append(
            f"- **{md_escape(f['status'])}** {md_escape(f['label'], 120)} (`{md_escape(f['run_id'], 80)}`): "
            f"{md_escape(f['reason'], 300)}"
        )
    if len(fails) > rows:
        out.append(f"- … and {len(fails) - rows} more in the HTML report.")
    out += ["", f"_{fmt.EST} estimated energy · {fmt.LOW} low-confidence reading · {fmt.NA} not recorded._", ""]
    return "\n".join(out)


def render_markdown(ctx: dict[str, Any], max_bytes: int = MAX_BYTES) -> str:
    """The summary, with tables shortened until it fits in ``max_bytes`` (UTF-8)."""
    for rows in (30, 10, 3, 1):
        text = _render(ctx, rows)
        if len(text.encode("utf-8")) <= max_bytes:
            return text
    encoded = text.encode("utf-8")[: max_bytes - 200]
    return encoded.decode("utf-8", errors="ignore") + "\n\n_… summary cut to stay under 1 MiB._\n"
