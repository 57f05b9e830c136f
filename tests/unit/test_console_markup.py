"""One escaping rule at the console boundary (issue 17): text that comes from data is printed literally.

Suite names, run ids, reasons, paths, install hints, error messages and table cells can look like rich
markup (``[tensorflow]``, ``[/]``, ``[bold``, ``[link=x]``) or an emoji code (``:warning:``); every
printing path prints them as they are and none crashes.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from golden_support import run_piped
from rich.console import Console

from greenbench.console import flow, make_console, say, text, words
from greenbench.runner.local import SuiteOutcome, run_plan
from greenbench.runner.progress import print_plan, print_summary
from greenbench.runner.records import base_record
from greenbench.suite import expand, load_suite
from greenbench.suite.plan import RunSpec

MARKUP = ["[tensorflow]", "[/]", "[bold", "[link=x]", "[/] release [bold", ":warning:", "[bold red]x[/]", "\\[x]"]
NAME = "[/] release [bold"


class Tty(io.StringIO):
    """A StringIO that says it is a terminal: the rich-table layouts."""

    def isatty(self) -> bool:
        return True


def _plain(s: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", s)


def _consoles() -> list[tuple[str, Console, io.StringIO]]:
    """Every kind of console a printing path meets: greenbench's (log and terminal) and a caller's plain rich one."""
    log, tty, theirs = io.StringIO(), Tty(), io.StringIO()
    return [("log", make_console(file=log, width=100), log), ("terminal", make_console(file=tty, width=200), tty),
            ("rich default", Console(file=theirs, width=200), theirs)]


def _suite(tmp_path: Path, name: str = NAME) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"name: {json.dumps(name)}\n"
        "data: {dataset: mnist, train_samples: 600, test_samples: 200}\n"
        "matrix: {backend: [torch, tensorflow], model: [mlp], compression: [none, int8-dynamic]}\n"
    )
    return path


@pytest.mark.parametrize("value", MARKUP)
def test_text_and_say_print_data_literally_on_any_console(value: str) -> None:
    for _, console, out in _consoles():
        say(console, ("ok", "green"), "  ", value, " and ", (value, "bold"))
        assert _plain(out.getvalue()) == f"ok  {value} and {value}\n"
    # flow keeps each value whole and literal
    lines = flow(words(f"skipped: {value} here"), 80)
    assert [ln.plain for ln in lines] == [f"skipped: {value} here"]
    assert text(value).plain == value


def test_greenbench_consoles_print_even_a_plain_str_literally() -> None:
    out = io.StringIO()
    make_console(file=out, width=80).print("[bold]x[/] :warning: [link=y]z")
    assert out.getvalue() == "[bold]x[/] :warning: [link=y]z\n"


def test_validate_and_dry_run_print_a_markup_suite_name(tmp_path: Path) -> None:
    path = _suite(tmp_path)
    proc = run_piped("validate", str(path))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == f"ok  {path}: suite '{NAME}', 4 runs\n"
    proc = run_piped("run", str(path), "--dry-run")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"suite '{NAME}': plan" in proc.stdout.splitlines()


@pytest.mark.parametrize("value", MARKUP)
def test_plan_prints_suite_name_and_results_path_literally(tmp_path: Path, value: str) -> None:
    suite = load_suite(_suite(tmp_path, name=f"n{value}"))
    runs = expand(suite)
    for kind, console, out in _consoles():
        print_plan(console, suite, runs, results_dir=Path(f"res{value}"))
        got = _plain(out.getvalue())
        assert f"suite {'n' + value!r}: plan" in got, (kind, got)
        assert f"results → res{value}" in got.replace("\n  ", " "), (kind, got)
        assert all(r.run_id in got for r in runs)


def test_error_messages_are_printed_literally(tmp_path: Path) -> None:
    (tmp_path / "[bold]x[").mkdir()
    bad = tmp_path / "[bold]x[/] [link=y].yaml"  # a folder "[bold]x[" and a file "] [link=y].yaml"
    bad.write_text("name: x\nmatrix: {backend: [torch, '[tensorflow]']}\n")
    proc = run_piped("validate", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{bad}: matrix.backend[1]: '[tensorflow]' is not one of: torch, tensorflow")
    proc = run_piped("run", str(bad), "--dry-run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {bad}: matrix.backend[1]: '[tensorflow]'")
    missing = tmp_path / "[/] :warning: missing.yaml"
    proc = run_piped("run", str(missing), "--dry-run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr


class FakeDispatcher:
    """torch runs: the uncompressed one completes, the variant fails with a reason full of markup."""

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
        for spec in group:
            if spec.compression == "none":
                rec = base_record(spec, "completed", env={})
                rec["metrics"] = {"test_accuracy": 0.9}
            else:
                rec = base_record(spec, "failed", env={}, reason="compress failed: [/] [bold] [link=x] :warning:")
            yield {"type": "record", "record": rec}

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_run_progress_skip_lines_and_summary_print_data_literally(tmp_path: Path, monkeypatch) -> None:
    """With only torch installed, the TensorFlow runs' skip line names the extra to install, brackets and all."""
    import greenbench.backends.base as backends
    import greenbench.data as data

    monkeypatch.setattr(backends, "framework_installed", lambda backend: backend == "torch")
    monkeypatch.setattr(data, "fetch", lambda *a, **k: tmp_path)
    suite = load_suite(_suite(tmp_path))
    results = tmp_path / "[bold]results[/]"
    for kind, console, out in _consoles():
        run_plan(suite, expand(suite), results_dir=results, dispatcher=FakeDispatcher(), console=console,
                 quiet=False, rerun=True)
        got = _plain(out.getvalue())
        flat = re.sub(r"\s+", " ", got)
        assert "tensorflow is not installed here (pip install 'greenbench[tensorflow]')" in flat, (kind, got)
        assert "compress failed: [/] [bold] [link=x] :warning:" in flat, (kind, got)
        assert str(results) in got, (kind, got)
        assert "2 failed" not in flat and "1 failed" in flat


def test_summary_cells_print_literally(make_record, tmp_path: Path) -> None:
    ok = make_record(accuracy=0.9)
    ok["run_id"] = "run[/]id[bold"
    bad = make_record(status="failed", model="cnn")
    bad["reason"] = "[link=x]boom[/] :warning: pip install 'greenbench[tensorflow]'"
    outcome = SuiteOutcome(results_dir=Path("out[/]dir"), planned=2, counts={"completed": 1, "failed": 1})
    for kind, console, out in _consoles():
        print_summary(console, outcome, [ok, bad])
        flat = re.sub(r"\s+", " ", _plain(out.getvalue()).replace("│", " "))
        assert "0.9000 run[/]id[bold" in flat, (kind, flat)
        assert f"{bad['run_id']}: [link=x]boom[/] :warning: pip install 'greenbench[tensorflow]'" in flat, (kind, flat)
        assert "out[/]dir" in flat


class _Tty:
    def __init__(self) -> None:
        self.written: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.written.append(s)
        return len(s)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("term, expected", [("xterm-256color", True), ("dumb", False), ("unknown", False)])
def test_a_dumb_terminal_gets_the_log_layout(monkeypatch: pytest.MonkeyPatch, term: str, expected: bool) -> None:
    # rich takes a dumb terminal for 80 columns whatever its width: the plan table would cut run ids there
    from rich.console import Console

    from greenbench.console import interactive

    monkeypatch.setenv("TERM", term)
    assert interactive(Console(file=_Tty(), width=200)) is expected
