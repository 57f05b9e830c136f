"""What a person sees while a suite runs: the plan, a progress bar with ETA, a summary.

Everything is printed as :func:`greenbench.console.text` (suite names, run ids, reasons and paths
are data, never markup). In a terminal the plan and the summary are rich tables; in a pipe or a
CI log (80 columns, not a terminal) they are plain aligned lines with every value whole.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from greenbench.choices import DEFAULT_LOOP, THREADS_ALL
from greenbench.console import Part, columns, flow, interactive, key_values, print_lines, say, text, words
from greenbench.results.record import outer_phases
from greenbench.suite.plan import RunSpec, group_by_workload

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from greenbench.runner.outcome import SuiteOutcome
    from greenbench.suite.schema import Suite

_STATUS_STYLE = {"completed": "green", "failed": "red", "skipped": "yellow", "interrupted": "magenta"}


def _regularization(r: RunSpec) -> str:
    reg = []
    if r.dropout:
        reg.append(f"dropout {r.dropout:g}")
    if r.l1:
        reg.append(f"l1 {r.l1:g}")
    if r.l2:
        reg.append(f"l2 {r.l2:g}")
    if r.augmentation != "none":
        reg.append(f"aug {r.augmentation}")
    return ", ".join(reg) or "-"


def _workload_label(spec: RunSpec) -> str:
    """``torch/mlp/adam s0``, plus the loop and thread setting where they are not the defaults."""
    label = f"{spec.backend}/{spec.model}/{spec.optimizer} s{spec.seed}"
    if spec.loop != DEFAULT_LOOP:
        label += f" {spec.loop}"
    return label if spec.threads == THREADS_ALL else f"{label} threads {spec.threads}"


_PLAN_COLUMNS: dict[str, Any] = {
    "backend": lambda r: r.backend,
    "model": lambda r: r.model,
    "device": lambda r: r.device,
    "optimizer": lambda r: r.optimizer,
    "compression": lambda r: r.compression,
    "seed": lambda r: str(r.seed),
    "regularization": _regularization,
    "loop": lambda r: r.loop,
    "threads": lambda r: str(r.threads),
    "epochs": lambda r: str(r.training.epochs),
    "batch": lambda r: str(r.training.batch_size),
    "lr": lambda r: f"{r.training.learning_rate:g}",
}


def print_plan(console: Console, suite: "Suite", runs: list[RunSpec], results_dir: "Path") -> None:
    """The expanded plan (columns that vary; constants above it), then the run count.

    A rich table in a terminal; in a pipe or a log, plain columns with every value whole (the run
    id on a line of its own when a row would not fit).
    """
    values = {name: [get(r) for r in runs] for name, get in _PLAN_COLUMNS.items()}
    varying = [n for n, v in values.items() if len(set(v)) > 1]
    constant = {n: v[0] for n, v in values.items() if n not in varying and v}
    width = console.width
    if constant:
        pairs = [f"{k} {v}" for k, v in constant.items()]
        print_lines(console, flow([*words("same for every run:"), *(p + ("," if i < len(pairs) - 1 else "")
                                                                  for i, p in enumerate(pairs))], width, indent=2))
    title = text("suite ", repr(suite.name), ": plan")
    rows = [[str(i + 1), *(values[n][i] for n in varying), r.run_id] for i, r in enumerate(runs)]
    if interactive(console):
        table = Table(title=title, title_justify="left")
        table.add_column("#", justify="right")
        for name in varying:
            table.add_column(text(name), no_wrap=True)
        table.add_column("run id", overflow="fold")
        for row in rows:
            table.add_row(*(text(v) for v in row))
        console.print(table)
    else:
        print_lines(console, [title])
        print_lines(console, columns(["#", *varying, "run id"], rows, width, right=[0]))
    workloads = len(group_by_workload(runs))
    data = suite.data
    subset = f"{data.train_samples or 'all'} train / {data.test_samples or 'all'} test images"
    print_lines(console, flow(
        words(f"{len(runs)} runs ({workloads} trainings: runs that differ only in compression share one), "
              f"{data.dataset}, {subset}; results →") + [text(str(results_dir))],
        width, indent=2))


def plan_json(runs: list[RunSpec]) -> str:
    """The plan for scripts: a JSON array, one object per run (run id, workload id, every axis value)."""
    return json.dumps([{"run_id": r.run_id, "workload_id": r.workload_id, **r.axes} for r in runs], indent=2) + "\n"


def _fmt_energy(kwh: float | None) -> str:
    if kwh is None:
        return "-"
    wh = kwh * 1000
    return f"{wh:.3g} Wh" if wh >= 0.01 else f"{kwh * 3.6e6:.3g} J"


class RunProgress:
    """A rich progress bar over runs and the epochs of the current workload (or plain lines)."""

    def __init__(self, console: Console | None, total: int, quiet: bool, verbose: bool, outcome: "SuiteOutcome") -> None:
        self.console = console
        self.quiet = quiet or console is None
        self.verbose = verbose
        self.outcome = outcome
        self._progress: Progress | None = None
        self._runs = self._epochs = None
        self.total = total

    def __enter__(self) -> "RunProgress":
        if not self.quiet and self.console is not None:
            if self.outcome.resumed:
                say(self.console, f"resuming: {self.outcome.resumed} of {self.outcome.planned} runs already recorded "
                    f"in {self.outcome.results_dir} (use --rerun to redo them)")
            for path, why in self.outcome.corrupt:
                say(self.console, f"corrupt record moved to {path}: {why}; its run will be redone", style="yellow")
            self._progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.__enter__()
            self._runs = self._progress.add_task("runs", total=self.total)
            self._epochs = self._progress.add_task("epochs", total=1, visible=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def _log(self, head: Part, *rest: Part) -> None:
        """One log line above the bar: ``head`` as it is, then ``rest`` flowed word by word, continuation
        lines indented under the run id."""
        if self._progress is not None:
            console = self._progress.console
            print_lines(console, flow([text(head), *words(text(*rest))], console.width, indent=12))

    def start_workload(self, group: list[RunSpec]) -> None:
        if self._progress is not None:
            spec = group[0]
            self._progress.update(
                self._epochs, description=f"  {_workload_label(spec)}",
                total=spec.training.epochs, completed=0, visible=True,
            )

    def event(self, event: dict[str, Any]) -> None:
        if self._progress is None:
            return
        if event["type"] == "epoch":
            self._progress.update(self._epochs, completed=event["epoch"], total=event["epochs"])
            if self.verbose:
                val = event.get("val_accuracy")
                self._log(
                    f"    epoch {event['epoch']}/{event['epochs']}: loss {event['train_loss']:.4f}, "
                    f"train acc {event['train_accuracy']:.4f}"
                    + (f", val acc {val:.4f}" if val is not None else "")
                    + f" ({event['wall_s']:.1f} s)"
                )
        elif event["type"] == "phase" and self.verbose:
            self._log(f"    {event['name']}: {event['wall_s']:.2f} s")

    def record(self, rec: dict[str, Any], retrying: bool = False) -> None:
        """A run's record (``retrying``: not its last, the run goes on elsewhere: shown, not counted)."""
        if self._progress is None:
            return
        if not retrying:
            self._progress.advance(self._runs)
        status = rec["status"]
        style = _STATUS_STYLE.get(status, "white")
        acc = rec.get("metrics", {}).get("test_accuracy")
        extra = f" acc {acc:.4f}" if acc is not None else ""
        if status != "completed":
            extra += f" — {rec.get('reason')}"
        self._log((f"{status:>11}", style), " ", rec["run_id"], extra)

    def skip_busy(self, group: list[RunSpec]) -> None:
        if self._progress is not None:
            self._progress.advance(self._runs, len(group))
            self._log(("       busy", "yellow"), " ", group[0].workload_id, ": another greenbench process is running it")


def _total_energy(rec: dict[str, Any]) -> float | None:
    vals = [(p.get("energy") or {}).get("total_kwh") for p in outer_phases(rec.get("phases")).values()]
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def _total_co2(rec: dict[str, Any]) -> float | None:
    vals = [(p.get("energy") or {}).get("co2_kg") for p in outer_phases(rec.get("phases")).values()]
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def print_summary(console: Console, outcome: "SuiteOutcome", records: list[dict[str, Any]]) -> None:
    """Counts by status, best accuracy, lowest CO₂, where the results are.

    A rich table in a terminal; ``label  value`` lines with every value whole in a pipe or a log.
    """
    rows: list[tuple[Part, Part]] = []
    counts = [(f"{v} {k}", _STATUS_STYLE.get(k, "white")) for k, v in sorted(outcome.counts.items(), key=lambda kv: kv[0])]
    runs = text(f"{outcome.planned} planned: ")
    for i, c in enumerate(counts):
        runs.append_text(text(", " if i else "", c))
    rows.append(("runs", runs))
    if outcome.resumed:
        rows.append(("resumed", f"{outcome.resumed} already recorded, not redone"))
    done = [r for r in records if r["status"] == "completed"]
    if done:
        best = max(done, key=lambda r: r["metrics"].get("test_accuracy") or 0.0)
        rows.append(("best accuracy", f"{best['metrics']['test_accuracy']:.4f}  {best['run_id']}"))
        # Only records that carry a training: a compression variant's record holds just its own
        # compress/evaluate/inference cost and would always look greenest.
        with_co2 = [r for r in done if "train" in (r.get("phases") or {}) and _total_co2(r) is not None]
        if with_co2:
            green = min(with_co2, key=_total_co2)
            sources = {(p.get("energy") or {}).get("energy_source") for p in green["phases"].values()} - {None}
            rows.append((
                "lowest CO₂ run",
                f"{_total_co2(green) * 1000:.3g} g CO₂eq, {_fmt_energy(_total_energy(green))} "
                f"({'/'.join(sorted(sources)) or 'unknown'})  {green['run_id']}",
            ))
    failed = [r for r in records if r["status"] in ("failed", "interrupted")]
    for r in failed[:5]:
        rows.append(((r["status"], "red"), f"{r['run_id']}: {r.get('reason')}"))
    if len(failed) > 5:
        rows.append(("", f"… and {len(failed) - 5} more (see the records)"))
    for run_id, status, reason in outcome.kept[:5]:
        rows.append(((f"rerun {status}", "red"), f"{run_id}: {reason}; its completed record is kept (this attempt "
                                                  "is listed under 'attempts' in it)"))
    if len(outcome.kept) > 5:
        rows.append(("", f"… and {len(outcome.kept) - 5} more reruns that did not complete (see 'attempts' in the "
                         "records)"))
    if outcome.busy:
        rows.append(("busy", f"{len(outcome.busy)} workloads were running in another greenbench process"))
    if outcome.corrupt:
        rows.append(("corrupt", f"{len(outcome.corrupt)} corrupt records set aside and redone"))
    rows.append(("wall time", f"{outcome.wall_s:.1f} s"))
    rows.append(("results", str(outcome.results_dir)))
    if outcome.interrupted:
        rows.append((("interrupted", "magenta"), "rerun the same command to resume"))
    if interactive(console):
        table = Table(title="summary", title_justify="left", show_header=False)
        table.add_column("what")
        table.add_column("value", overflow="fold")
        for what, value in rows:
            table.add_row(text(what), text(value))
        console.print(table)
    else:
        print_lines(console, [text(("summary", "bold"))])
        print_lines(console, key_values(rows, console.width, lead="  "))
