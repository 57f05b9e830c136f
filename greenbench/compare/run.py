"""``greenbench compare``'s body: compare, print, write the outputs, return the exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from greenbench.compare.core import Comparison, compare
from greenbench.compare.output import (
    benchmark_json_paths,
    render_lines,
    render_table,
    rule_text,
    summary_text,
    to_benchmark_json,
    to_markdown,
)
from greenbench.errors import UserError, write_fault
from greenbench.fsutil import atomic_write_text
from greenbench.results.store import check_output_path

if TYPE_CHECKING:
    from rich.console import Console


def _write(path: Path, text: str, what: str, option: str) -> None:
    """Write an output file atomically; a full disk or read-only place is exit 1, a file in the way exit 2."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise write_fault(exc, path, f"write the {what}", option) from None


FORMATS = ("table", "markdown", "json")


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
    fmt: str = "table",
    err_console: "Console | None" = None,
    refuse_contaminated: bool = False,
) -> int:
    """Compare HEAD with BASE, print the verdicts, write Markdown/JSON; return the exit code.

    ``fmt`` says what goes to ``console`` (stdout): ``"table"`` — the report for people: a rich
    table in a terminal, one line per row (verdict first) in a pipe or a CI log; ``"markdown"`` —
    :func:`to_markdown`; ``"json"`` — :meth:`Comparison.to_dict`. With ``markdown`` or ``json``
    stdout holds that document alone and the verdict line goes to ``err_console`` (stderr).

    1 when a regression is flagged (or a workload that completed on base fails on head) and
    ``fail_on_regression`` is set, else 0. Bad input raises :class:`UserError` (exit code 2), and so do
    contaminated matched runs (measured beside other processes) with ``refuse_contaminated``.
    """
    from greenbench.console import make_console

    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    console = console or make_console()
    # Checked before anything is compared or printed: an output file never replaces recorded results.
    if markdown_path is not None:
        check_output_path(Path(markdown_path), "--markdown")
    if json_path is not None:
        for path in benchmark_json_paths(json_path).values():
            check_output_path(path, "--json")
    result = compare(base, head, metrics=metrics, threshold=threshold, alpha=alpha,
                     accuracy_threshold_pp=accuracy_threshold, correction=correction)
    if refuse_contaminated and any(result.contaminated.values()):
        sides = ", ".join(f"{n} on {side}" for side, n in result.contaminated.items() if n)
        raise UserError(f"--refuse-contaminated: matched runs were measured while other processes shared the machine "
                        f"({sides}); rerun them on a quiet machine (greenbench run --require-quiet) or compare "
                        "without the option, which warns instead")
    if fmt == "table":
        human = console
        print_report(console, result)
    else:
        document = (to_markdown(result) if fmt == "markdown"
                    else json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        console.file.write(document)
        console.file.flush()
        human = err_console or make_console(stderr=True)
    _write_outputs(human, result, markdown_path, json_path)
    print_verdict(human, result)
    regressed = result.has_regression
    return 1 if (regressed and fail_on_regression) else 0


def print_report(console: "Console", result: Comparison) -> None:
    """Guard messages, the rows (a table in a terminal, lines in a log), what did not match, the rule, notes."""
    from rich.panel import Panel

    from greenbench.console import flow, interactive, print_lines, text, words

    width = console.width
    if result.guard_messages:
        title = text(("⚠ These results may not be comparable", "bold"))
        if interactive(console):
            body = text("\n").join(text("• ", m) for m in result.guard_messages)
            console.print(Panel(body, title=title, border_style="bold yellow", title_align="left"))
        else:
            print_lines(console, [text(title, ":", style="yellow")])
            for m in result.guard_messages:
                print_lines(console, flow(words(m), width, lead="  • "))
    if interactive(console):
        console.print(render_table(result))
    else:
        print_lines(console, flow(words(text(("greenbench compare", "bold"), ": ", summary_text(result))), width,
                                  indent=2))
        print_lines(console, render_lines(result, width))
    for side in ("base", "head"):
        names = result.unmatched.get(side) or []
        if names:
            head = words((f"{len(names)} workload(s) only in {side}, not compared:", "yellow"))
            print_lines(console, flow([*head, *(n + ("," if i < len(names) - 1 else "") for i, n in enumerate(names))],
                                      width, indent=2))
    if result.newly_failing:
        head = words(("completed on base, failing on head:", "bold red"))
        names = result.newly_failing
        print_lines(console, flow([*head, *(n + ("," if i < len(names) - 1 else "") for i, n in enumerate(names))],
                                  width, indent=2))
    print_lines(console, flow(words((rule_text(result), "dim")), width))
    if result.method_note:
        print_lines(console, flow([text(("energy:", "cyan")), *words(result.method_note)], width, indent=2))
    for note in result.notes:
        print_lines(console, flow([text(("note:", "yellow")), *words(note)], width, indent=2))


def _write_outputs(console: "Console", result: Comparison, markdown_path: str | Path | None,
                   json_path: str | Path | None) -> None:
    from greenbench.console import say

    if markdown_path is not None:
        _write(Path(markdown_path), to_markdown(result), "Markdown summary", "--markdown")
        say(console, "markdown: ", str(markdown_path), soft_wrap=True)
    if json_path is not None:
        paths = benchmark_json_paths(json_path)
        for direction, path in paths.items():
            entries = to_benchmark_json(result, direction)  # type: ignore[arg-type]
            if direction == "smaller" or entries:
                _write(path, json.dumps(entries, indent=2, ensure_ascii=False) + "\n", "benchmark JSON", "--json")
                tool = "customSmallerIsBetter" if direction == "smaller" else "customBiggerIsBetter"
                say(console, f"json ({tool}): ", str(path), soft_wrap=True)


def print_verdict(console: "Console", result: Comparison) -> None:
    """The last line: regression or not, and the counts."""
    from greenbench.console import flow, print_lines, text, words

    regressed = result.has_regression
    style = "bold red" if regressed else "bold green"
    verdict = text(("regression" if regressed else "no regression", style), ":")
    print_lines(console, flow([verdict, *words(summary_text(result))], console.width, indent=2))
