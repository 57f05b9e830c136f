"""What a person sees while a suite runs: the plan, a progress bar with ETA, a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from greenbench.suite.plan import RunSpec, group_by_workload

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from greenbench.runner.local import SuiteOutcome
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


_PLAN_COLUMNS: dict[str, Any] = {
    "backend": lambda r: r.backend,
    "model": lambda r: r.model,
    "device": lambda r: r.device,
    "optimizer": lambda r: r.optimizer,
    "compression": lambda r: r.compression,
    "seed": lambda r: str(r.seed),
    "regularization": _regularization,
    "epochs": lambda r: str(r.training.epochs),
    "batch": lambda r: str(r.training.batch_size),
    "lr": lambda r: f"{r.training.learning_rate:g}",
}


def print_plan(console: Console, suite: "Suite", runs: list[RunSpec], results_dir: "Path") -> None:
    """The expanded plan as a table (columns that vary; constants above it), then the run count."""
    values = {name: [get(r) for r in runs] for name, get in _PLAN_COLUMNS.items()}
    varying = [n for n, v in values.items() if len(set(v)) > 1]
    constant = {n: v[0] for n, v in values.items() if n not in varying and v}
    if constant:
        console.print("same for every run: " + ", ".join(f"{k} {v}" for k, v in constant.items()), highlight=False)
    table = Table(title=f"suite {suite.name!r}: plan", title_justify="left")
    table.add_column("#", justify="right")
    for name in varying:
        table.add_column(name, no_wrap=True)
    table.add_column("run id", overflow="fold")
    for i, r in enumerate(runs):
        table.add_row(str(i + 1), *(values[n][i] for n in varying), r.run_id)
    console.print(table)
    workloads = len(group_by_workload(runs))
    data = suite.data
    subset = f"{data.train_samples or 'all'} train / {data.test_samples or 'all'} test images"
    console.print(
        f"{len(runs)} runs ({workloads} trainings: runs that differ only in compression share one), "
        f"{data.dataset}, {subset}; results → {results_dir}",
        highlight=False,
    )


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
                self.console.print(
                    f"resuming: {self.outcome.resumed} of {self.outcome.planned} runs already recorded in "
                    f"{self.outcome.results_dir} (use --rerun to redo them)"
                )
            for path, why in self.outcome.corrupt:
                self.console.print(f"[yellow]corrupt record moved to {path}: {why}; its run will be redone[/]")
            self._progress = Progress(
                TextColumn("{task.description}"),
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

    def _log(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, highlight=False)

    def start_workload(self, group: list[RunSpec]) -> None:
        if self._progress is not None:
            spec = group[0]
            self._progress.update(
                self._epochs, description=f"  {spec.backend}/{spec.model}/{spec.optimizer} s{spec.seed}",
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

    def record(self, rec: dict[str, Any]) -> None:
        if self._progress is None:
            return
        self._progress.advance(self._runs)
        status = rec["status"]
        style = _STATUS_STYLE.get(status, "white")
        acc = rec.get("metrics", {}).get("test_accuracy")
        extra = f" acc {acc:.4f}" if acc is not None else ""
        if status != "completed":
            extra += f" — {rec.get('reason')}"
        self._log(f"[{style}]{status:>11}[/] {rec['run_id']}{extra}")

    def skip_busy(self, group: list[RunSpec]) -> None:
        if self._progress is not None:
            self._progress.advance(self._runs, len(group))
            self._log(f"[yellow]       busy[/] {group[0].workload_id}: another greenbench process is running it")


def _total_energy(rec: dict[str, Any]) -> float | None:
    vals = [(p.get("energy") or {}).get("total_kwh") for p in (rec.get("phases") or {}).values()]
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def _total_co2(rec: dict[str, Any]) -> float | None:
    vals = [(p.get("energy") or {}).get("co2_kg") for p in (rec.get("phases") or {}).values()]
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def print_summary(console: Console, outcome: "SuiteOutcome", records: list[dict[str, Any]]) -> None:
    """Counts by status, best accuracy, lowest CO₂, where the results are."""
    table = Table(title="summary", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    counts = ", ".join(
        f"[{_STATUS_STYLE.get(k, 'white')}]{v} {k}[/]" for k, v in sorted(outcome.counts.items(), key=lambda kv: kv[0])
    )
    table.add_row("runs", f"{outcome.planned} planned: {counts}")
    if outcome.resumed:
        table.add_row("resumed", f"{outcome.resumed} already recorded, not redone")
    done = [r for r in records if r["status"] == "completed"]
    if done:
        best = max(done, key=lambda r: r["metrics"].get("test_accuracy") or 0.0)
        table.add_row("best accuracy", f"{best['metrics']['test_accuracy']:.4f}  {best['run_id']}")
        # Only records that carry a training: a compression variant's record holds just its own
        # compress/evaluate/inference cost and would always look greenest.
        with_co2 = [r for r in done if "train" in (r.get("phases") or {}) and _total_co2(r) is not None]
        if with_co2:
            green = min(with_co2, key=_total_co2)
            sources = {(p.get("energy") or {}).get("energy_source") for p in green["phases"].values()} - {None}
            table.add_row(
                "lowest CO₂ run",
                f"{_total_co2(green) * 1000:.3g} g CO₂eq, {_fmt_energy(_total_energy(green))} "
                f"({'/'.join(sorted(sources)) or 'unknown'})  {green['run_id']}",
            )
    failed = [r for r in records if r["status"] in ("failed", "interrupted")]
    for r in failed[:5]:
        table.add_row(f"[red]{r['status']}[/]", f"{r['run_id']}: {r.get('reason')}")
    if len(failed) > 5:
        table.add_row("", f"… and {len(failed) - 5} more (see the records)")
    if outcome.busy:
        table.add_row("busy", f"{len(outcome.busy)} workloads were running in another greenbench process")
    if outcome.corrupt:
        table.add_row("corrupt", f"{len(outcome.corrupt)} corrupt records set aside and redone")
    table.add_row("wall time", f"{outcome.wall_s:.1f} s")
    table.add_row("results", str(outcome.results_dir))
    if outcome.interrupted:
        table.add_row("[magenta]interrupted[/]", "rerun the same command to resume")
    console.print(table)
