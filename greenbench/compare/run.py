"""``greenbench compare``'s body: compare, print, write the outputs, return the exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from greenbench.compare.core import compare
from greenbench.compare.output import benchmark_json_paths, render_table, rule_text, summary_text, to_benchmark_json, to_markdown
from greenbench.errors import UserError
from greenbench.results.store import atomic_write_text

if TYPE_CHECKING:
    from rich.console import Console


def _write(path: Path, text: str, what: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UserError(f"cannot write the {what} to {path}: {exc.strerror or exc}") from None


def run_compare(
    base: str | Path | Sequence[str | Path],
    head: str | Path | Sequence[str | Path],
    metrics: Sequence[str] | None = None,
    threshold: str | float = "10%",
    markdown_path: str | Path | None = None,
    json_path: str | Path | None = None,
    fail_on_regression: bool = False,
    console: "Console | None" = None,
    *,
    accuracy_threshold: str | float = "0.5pp",
    alpha: float = 0.05,
    correction: str = "bh",
) -> int:
    """Compare HEAD with BASE, print the verdicts, write Markdown/JSON; return the exit code.

    1 when a regression is flagged (or a workload that completed on base fails on head) and
    ``fail_on_regression`` is set, else 0. Bad input raises :class:`UserError` (exit code 2).
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel

    console = console or Console()
    result = compare(base, head, metrics=metrics, threshold=threshold, alpha=alpha,
                     accuracy_threshold_pp=accuracy_threshold, correction=correction)
    if result.guard_messages:
        body = "\n".join(f"• {escape(m)}" for m in result.guard_messages)
        console.print(Panel(body, title="[bold]⚠ These results may not be comparable[/]", border_style="bold yellow",
                            title_align="left"))
    console.print(render_table(result))
    for side in ("base", "head"):
        names = result.unmatched.get(side) or []
        if names:
            console.print(f"[yellow]{len(names)} workload(s) only in {side}, not compared:[/] "
                          + escape(", ".join(names)), highlight=False)
    if result.newly_failing:
        console.print("[bold red]completed on base, failing on head:[/] " + escape(", ".join(result.newly_failing)),
                      highlight=False)
    console.print(f"[dim]{escape(rule_text(result))}[/]", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if markdown_path is not None:
        _write(Path(markdown_path), to_markdown(result), "Markdown summary")
        console.print(f"markdown: {markdown_path}", highlight=False)
    if json_path is not None:
        paths = benchmark_json_paths(json_path)
        for direction, path in paths.items():
            entries = to_benchmark_json(result, direction)  # type: ignore[arg-type]
            if direction == "smaller" or entries:
                _write(path, json.dumps(entries, indent=2, ensure_ascii=False) + "\n", "benchmark JSON")
                tool = "customSmallerIsBetter" if direction == "smaller" else "customBiggerIsBetter"
                console.print(f"json ({tool}): {path}", highlight=False)
    regressed = result.has_regression
    style = "bold red" if regressed else "bold green"
    console.print(f"[{style}]{'regression' if regressed else 'no regression'}[/]: {summary_text(result)}",
                  highlight=False)
    return 1 if (regressed and fail_on_regression) else 0
