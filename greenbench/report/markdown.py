"""A short Markdown summary for CI logs and pull-request comments (always under 1 MiB).

Each section writes its own part (``markdown`` in its module under :mod:`.sections`) with
the helpers here; this module imports no section, so the sections can import it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import fmt

if TYPE_CHECKING:  # pragma: no cover
    from .sections.base import Section, Table

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


def md_tables(sec: Section, rows: int, *, first: int | None = None) -> list[str]:
    """The section's tables (the first ``first`` of them), each with its caption and note."""
    out: list[str] = []
    tables: list[Table] = sec.tables[:first] if first else sec.tables
    for t in tables:
        if t.caption:
            out += ["", f"**{md_escape(t.caption)}**", ""]
        out += md_table(t.frame, rows)
        if t.note:
            out += ["", f"_{md_escape(t.note, 1500)}_"]
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
    unreadable = ctx.get("unreadable") or []
    if unreadable:  # as the HTML report's table under Failed and skipped runs
        out += [
            "",
            f"> **Unreadable record files:** {len(unreadable)} record file(s) could not be read and are left out "
            "of this report; every figure below is without them.",
            "",
            *md_table(pd.DataFrame(unreadable, columns=["file", "problem"]), rows),
        ]
    for sec in ctx["sections"]:  # in SECTIONS order; a section without a Markdown form is left out
        if sec.spec is not None and sec.spec.markdown is not None:
            out += sec.spec.markdown(sec, rows)
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
