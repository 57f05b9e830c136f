"""Failed and skipped runs: why each one did not complete, with its stderr; unreadable record files."""

from __future__ import annotations

import pandas as pd

from .. import fmt
from ..markdown import md_escape
from .base import Inputs, Section, Spec, Table


def build(inp: Inputs, sec: Section) -> None:
    res = inp.res
    df = res.df
    bad = df[df["status"] != "completed"]
    items = []
    for i, r in bad.sort_values(["status", "label"]).iterrows():
        rec = res.records[i]
        items.append(
            {
                "label": r["label"],
                "run_id": r["run_id"],
                "status": r["status"],
                "machine": r["machine"],
                "reason": fmt.truncate(r["reason"] or "no reason recorded", 2000),
                "stderr": fmt.truncate(rec.get("stderr_tail"), 8000) if rec.get("stderr_tail") else "",
                "log": rec.get("log") or "",
            }
        )
    sec.details = items
    if not items and not res.corrupt:
        sec.empty = "Every run completed."
    elif items:
        counts = bad["status"].value_counts().to_dict()
        sec.intro.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + " of " + str(len(df)) + " runs.")
    if res.corrupt:
        sec.tables.append(
            Table(
                pd.DataFrame(res.corrupt, columns=["file", "problem"]),
                caption="Unreadable record files (left out of this report)",
            )
        )


def markdown(sec: Section, rows: int) -> list[str]:
    out = ["", "## Failed and skipped runs", ""]
    fails = sec.details or []
    if not fails:
        # the unreadable record files (if any) are listed at the top of the Markdown report
        out.append("Every run that could be read completed; unreadable record files are listed at the top."
                   if sec.tables else "Every run completed.")
    for f in fails[:rows]:
        out.append(
            f"- **{md_escape(f['status'])}** {md_escape(f['label'], 120)} (`{md_escape(f['run_id'], 80)}`): "
            f"{md_escape(f['reason'], 300)}"
        )
    if len(fails) > rows:
        out.append(f"- … and {len(fails) - rows} more in the HTML report.")
    return out


SECTION = Spec("failures", "Failed and skipped runs", build, markdown)
