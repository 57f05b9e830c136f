"""The ``greenbench`` command line: parse, call :mod:`greenbench.api`, print.

No framework is imported here or on the path of ``--help``, ``validate``, ``env``,
``report`` or ``compare``: training happens in worker processes.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

try:  # Ctrl-C while the command line is still loading (typer, rich): exit 130 quietly, no traceback
    import typer

    from greenbench import __version__
    from greenbench.console import make_console, say
    from greenbench.errors import UserError
except KeyboardInterrupt:
    raise SystemExit(130) from None

app = typer.Typer(
    name="greenbench",
    help="Fair, honest benchmarks of PyTorch and TensorFlow on identical MNIST workloads: "
    "accuracy, time, energy and CO₂.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Find, download and verify datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Every str printed on these is literal (greenbench/console.py): names, paths and messages are data.
console = make_console()
err_console = make_console(stderr=True)


def _version(value: bool) -> None:
    if value:
        say(console, f"greenbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """greenbench: measure what deep learning costs, fairly."""


# --------------------------------------------------------------------------- validate
@app.command()
def validate(
    suites: Annotated[list[Path], typer.Argument(help="Suite YAML files to check.", show_default=False, metavar="SUITE")],
) -> None:
    """Check suite files against the schema; print each suite's run count."""
    from greenbench.api import check_environment, plan_suite

    check_environment()  # a bad GREENBENCH_* value: one line, not one per suite
    problems: list[UserError] = []
    for path in suites:
        try:
            suite, runs = plan_suite(path)
        except UserError as exc:
            problems.append(exc)
            continue
        say(console, ("ok", "green"), f"  {path}: suite {suite.name!r}, {len(runs)} runs", soft_wrap=True)
    if problems:
        for p in problems:
            say(err_console, str(p), soft_wrap=True)
        raise typer.Exit(max(p.exit_code for p in problems))  # 2 if any input is bad, 1 if only unreadable


# --------------------------------------------------------------------------- run
class Executor(str, Enum):
    local = "local"
    ray = "ray"


class Isolation(str, Enum):
    node = "node"
    gpu = "gpu"


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="The suite YAML file, e.g. suites/mnist.yaml.", show_default=False, metavar="SUITE")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the expanded plan and run nothing.")] = False,
    results: Annotated[
        Optional[Path], typer.Option("--results", "-o", help="Results directory (default: results/<suite>).")
    ] = None,
    only: Annotated[
        Optional[list[str]],
        typer.Option("--only", help=(
            "Run a subset, e.g. --only backend=torch,model=cnn|mlp: runs with every key given, each with one of its "
            "values (a|b for either). Repeatable, the keys of every --only combine alike; give each key once.")),
    ] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Run again even runs that already completed.")] = False,
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="Directory with the dataset files (overrides the suite).")
    ] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Seconds allowed per run (overrides the suite).")] = None,
    require_quiet: Annotated[bool, typer.Option(
        "--require-quiet", help="Refuse to measure beside other busy processes (those runs fail at once, with the "
        "reason, and the command exits 1) instead of waiting up to runner.quiet_wait_s for quiet.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Stream each run's log lines.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="With --dry-run: print the plan as JSON, one object per run.")
    ] = False,
    executor: Annotated[
        Optional[Executor], typer.Option("--executor", help="Where runs execute: local worker processes, or the "
                                         "nodes of a Ray cluster, one workload per node (default: the suite's "
                                         "runner.executor, else local).")
    ] = None,
    address: Annotated[
        Optional[str], typer.Option("--address", help="With --executor ray: the cluster's address, HOST:PORT "
                                    "(default: $RAY_ADDRESS, else the cluster started on this machine).")
    ] = None,
    isolation: Annotated[
        Optional[Isolation], typer.Option("--isolation", help="With --executor ray: node (a workload holds its whole "
                                          "node) or gpu (a CUDA workload holds one GPU, so a node runs one per GPU; "
                                          "CPU workloads keep the whole node). Default: the suite's "
                                          "runner.ray_isolation, else node.")
    ] = None,
) -> None:
    """Run every run of a suite in isolated worker processes and record the measurements."""
    from greenbench import api

    if quiet and verbose:
        raise UserError("--quiet and --verbose cannot be used together")
    if json_out and not dry_run:
        raise UserError("--json prints the plan and needs --dry-run (results are JSON records in the results directory)")
    suite_obj, runs = api.plan_suite(suite, only=only, data_dir=data_dir, timeout=timeout, require_quiet=require_quiet)
    # Ray's options with another executor: refused by the dry run too (before, it ignored --address foo:1)
    api.check_executor(executor.value if executor is not None else suite_obj.runner.executor, address,
                       isolation.value if isolation is not None else None)
    if dry_run:
        from greenbench.results import ResultStore
        from greenbench.runner.progress import plan_json, print_plan

        # the results directory the real run would refuse (a file in the way, another suite's) is refused here too
        ResultStore(api.results_dir_for(suite_obj, results)).check(suite_obj.name)

        if json_out:
            sys.stdout.write(plan_json(runs))
            return
        print_plan(console, suite_obj, runs, results_dir=api.results_dir_for(suite_obj, results))
        return
    outcome = api.run_suite(
        suite_obj, runs, results_dir=results, rerun=rerun, console=console, quiet=quiet, verbose=verbose,
        executor=executor.value if executor is not None else None, address=address,
        isolation=isolation.value if isolation is not None else None,
    )
    if outcome.interrupted:
        raise typer.Exit(143 if outcome.interrupted_by == "SIGTERM" else 130)  # 128 + the signal's number
    if require_quiet and (outcome.counts.get("failed") or outcome.kept):
        # --require-quiet is for jobs that must not measure beside neighbours: a refused (or otherwise failed)
        # run makes the command fail, so a CI step stops instead of publishing a partial result as clean
        # (also a --rerun refused while an earlier completed record is kept).
        raise typer.Exit(1)


# --------------------------------------------------------------------------- env
@app.command()
def env(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print this machine's fingerprint: CPU, cores, RAM, GPUs, OS, Python, library versions, energy sensors."""
    import json

    from greenbench.measure.env import fingerprint, format_fingerprint

    fp = fingerprint()
    if json_out:
        print(json.dumps(fp, indent=2, default=str))
    else:
        say(console, format_fingerprint(fp), soft_wrap=True)


# --------------------------------------------------------------------------- calibrate
class TrainingRung(str, Enum):
    none = "none"
    torch = "torch"
    tensorflow = "tensorflow"


@app.command()
def calibrate(
    step_s: Annotated[float, typer.Option("--step-s", help="Seconds measured per rung of the load ladder.")] = 10.0,
    max_cores: Annotated[
        Optional[int], typer.Option("--max-cores", help="Busy cores to go up to (default: every logical CPU).")
    ] = None,
    training: Annotated[
        TrainingRung, typer.Option("--training", help="Add a rung training a small MLP with this framework "
                                   "(in a subprocess).")
    ] = TrainingRung.none,
    json_out: Annotated[bool, typer.Option("--json", help="Print the stored calibration as JSON.")] = False,
) -> None:
    """Measure this machine's CPU load → power curve with RAPL, store it, and compare codecarbon's estimate."""
    import json

    from greenbench.measure.calibration import calibrate as run_calibration

    def started(info: dict) -> None:
        say(console, f"calibrating {info['cpu_model']}: {len(info['packages'])} RAPL package counter(s) under "
                     f"{info['powercap_root']}, {info['step_s']:g} s per rung", soft_wrap=True)
        say(console, f"codecarbon TDP: {_num(info['codecarbon_tdp_w'])} W ({info['codecarbon_tdp_source']})",
            soft_wrap=True)
        say(console, f"{'step':<22} {'load %':>7} {'counters W':>11} {'codecarbon W':>13} {'diff %':>7}",
            soft_wrap=True)

    def rung_done(rung) -> None:  # noqa: ANN001
        cc = rung.codecarbon_w
        diff = None if cc is None or rung.power_w <= 0 else 100.0 * (cc - rung.power_w) / rung.power_w
        say(console, f"{rung.name:<22} {rung.load_pct:>7.1f} {rung.power_w:>11.2f} {_num(cc):>13} "
                     f"{'n/a' if diff is None else format(diff, '+.1f'):>7}", soft_wrap=True)

    quiet = json_out
    curve, doc = run_calibration(step_s=step_s, max_cores=max_cores, training=training.value,
                                 on_start=None if quiet else started, on_rung=None if quiet else rung_done)
    if json_out:
        print(json.dumps({**doc, "path": curve.path}, indent=2))
        return
    say(console, f"fit: {len(curve.points)} point(s), ±{100 * curve.rel_error:.1f} % "
                 f"({doc['fit']['error_method']})", soft_wrap=True)
    say(console, f"stored: {curve.path}", soft_wrap=True)
    for warning in doc["warnings"]:
        say(err_console, ("warning: ", "yellow"), warning, soft_wrap=True)


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


# --------------------------------------------------------------------------- data
class DatasetName(str, Enum):
    mnist = "mnist"
    fashion_mnist = "fashion-mnist"


@data_app.command("fetch")
def data_fetch(
    dataset: Annotated[DatasetName, typer.Option("--dataset", "-d", help="Which dataset.")] = DatasetName.mnist,
    data_dir: Annotated[Optional[Path], typer.Option(
        "--data-dir", help="Fetch into and verify this directory only (default: use $GREENBENCH_DATA_DIR or the "
        "cache, downloading into the cache).")] = None,
) -> None:
    """Make the dataset available offline (download what is missing) and verify it."""
    from greenbench.api import check_data_dir
    from greenbench.data import fetch

    check_data_dir(data_dir)
    where = fetch(dataset.value, data_dir=data_dir)
    say(console, f"{dataset.value}: ready in {where}", soft_wrap=True)


@data_app.command("verify")
def data_verify(
    dataset: Annotated[DatasetName, typer.Option("--dataset", "-d", help="Which dataset.")] = DatasetName.mnist,
    data_dir: Annotated[Optional[Path], typer.Option(
        "--data-dir", help="Verify this directory only (default: the copy `run` would use).")] = None,
) -> None:
    """Check the dataset files against their published SHA-256 checksums (exit 2 for a bad or missing file)."""
    from greenbench.api import check_data_dir
    from greenbench.data import verify

    check_data_dir(data_dir)
    rows = verify(dataset.value, data_dir=data_dir)
    bad = 0
    for row in rows:
        ok = row.status == "ok"
        bad += not ok
        colour = "green" if ok else "red"
        say(console, (f"{row.status:>8}", colour), f" {row.file}", soft_wrap=True)
        if not ok and row.expected:  # checksums whole, never folded at the log's width
            actual = f"\n          actual   {row.actual}" if row.actual else ""  # (a malformed file has none)
            say(console, f"          expected {row.expected}{actual}", soft_wrap=True)
    for row in rows:  # a file that cannot be read at all: what is wrong and what to do, as `data fetch` says it
        if row.status == "malformed" and row.message:
            say(err_console, "error: ", " ".join(row.message.split()), soft_wrap=True)
    if bad:
        raise typer.Exit(2)


# --------------------------------------------------------------------------- report
class ReportFormat(str, Enum):
    html = "html"
    md = "md"
    csv = "csv"
    parquet = "parquet"


@app.command()
def report(
    results_dirs: Annotated[
        Optional[list[Path]],
        typer.Argument(help="Result directories (default: every suite under results/).", show_default=False,
                      metavar="RESULTS_DIR"),
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output file (default: reports/<suite>.<ext>).")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")] = ReportFormat.html,
) -> None:
    """Render a self-contained report (HTML, Markdown) or export the results table (CSV, Parquet)."""
    from greenbench.api import report as make_report

    def warn(message: str) -> None:  # unreadable record files, left out of the report: one line on stderr
        say(err_console, ("warning: ", "yellow"), message, soft_wrap=True)

    path = make_report(results_dirs or [], out=out, fmt=fmt.value, warn=warn)
    say(console, f"report: {path}", soft_wrap=True)


# --------------------------------------------------------------------------- compare
class Correction(str, Enum):
    bh = "bh"
    holm = "holm"
    none = "none"


class CompareFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


ALPHA_RANGE = (0.0001, 0.5)


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="Baseline results directory.", show_default=False, metavar="BASE")],
    head: Annotated[Path, typer.Argument(help="Results directory to compare against the baseline.", show_default=False,
                                                metavar="HEAD")],
    metric: Annotated[
        Optional[list[str]], typer.Option("--metric", "-m", help="Metric to compare (repeatable).")
    ] = None,
    threshold: Annotated[str, typer.Option("--threshold", help="Minimum relative effect, e.g. 10% or 0.1.")] = "10%",
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Write a Markdown summary here.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write github-action-benchmark JSON here.")] = None,
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Exit 1 when a regression is flagged.")
    ] = False,
    accuracy_threshold: Annotated[
        str, typer.Option("--accuracy-threshold", help="Minimum accuracy change, in percentage points (e.g. 0.5pp).")
    ] = "0.5pp",
    alpha: Annotated[
        float, typer.Option("--alpha", help="Significance level of the Mann-Whitney U test, from 0.0001 to 0.5.")
    ] = 0.05,
    correction: Annotated[
        Correction,
        typer.Option("--correction", help="Multiple-comparison correction over all rows: Benjamini–Hochberg, "
                     "Holm, or none (each row on its own)."),
    ] = Correction.bh,
    refuse_contaminated: Annotated[
        bool, typer.Option("--refuse-contaminated", help="Refuse (exit 2) when matched runs were measured while other "
                           "processes shared the machine, instead of warning.")
    ] = False,
    fmt: Annotated[
        CompareFormat,
        typer.Option("--format", "-f", help="What to print on stdout: table (a table in a terminal, one line per "
                     "row in a pipe or CI log), markdown, or json (the whole comparison)."),
    ] = CompareFormat.table,
) -> None:
    """Compare two result sets workload by workload, with statistical regression gates."""
    import math

    from greenbench.compare import run_compare

    if not (math.isfinite(alpha) and ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1]):  # NaN fails every comparison
        raise UserError(f"--alpha {alpha:g}: not allowed; the significance level must be a number from "
                        f"{ALPHA_RANGE[0]:g} to {ALPHA_RANGE[1]:g}, e.g. 0.05")

    code = run_compare(
        base,
        head,
        metrics=metric or None,
        threshold=threshold,
        markdown_path=markdown,
        json_path=json_out,
        fail_on_regression=fail_on_regression,
        console=console,
        accuracy_threshold=accuracy_threshold,
        alpha=alpha,
        correction=correction.value,
        fmt=fmt.value,
        err_console=err_console,
        refuse_contaminated=refuse_contaminated,
    )
    raise typer.Exit(code)


def _one_line(message: str) -> str:
    """click's message on one line (typer words an invalid choice "Value error, 'x' is not one of …")."""
    return " ".join(message.replace("Value error, ", "").split())


def _stdout_fault(exc: OSError) -> None:
    """Standard output cannot be written (a full disk behind ``> file``, ``/dev/full``, a closed pipe): one line
    on stderr (none for a closed pipe, as for any Unix filter), exit 1, and no second error at exit."""
    import errno
    import os

    try:  # whatever is still buffered would fail again when the interpreter flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    if exc.errno != errno.EPIPE:
        why = {errno.ENOSPC: "no space left on the device", errno.EIO: "input/output error"}.get(
            exc.errno or 0, exc.strerror or str(exc))
        code = errno.errorcode.get(exc.errno or 0)
        say(err_console, "error: ", f"cannot write to standard output: {why}" + (f" ({code})" if code else "")
            + "; free some space or send the output elsewhere", soft_wrap=True)
    sys.exit(1)


def main() -> None:
    """Console-script entry point: bad input (greenbench's own checks and click's: a bad option value, an unknown
    option) is one line on stderr and exit code 2; the environment failing (a full disk, no permission, standard
    output that cannot be written) one line and exit 1; Ctrl-C outside a run's own handling ends quietly with
    exit code 130. Never a traceback for these."""
    from typer._click import exceptions as click_exc  # typer vendors click: its classes, not the click package's

    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()  # here, not at exit: a full stdout is reported like any other fault
    except UserError as exc:
        say(err_console, "error: ", str(exc), soft_wrap=True)
        sys.exit(exc.exit_code)
    except click_exc.NoArgsIsHelpError as exc:  # `greenbench`, `greenbench data`: the help, as before
        exc.show()
        sys.exit(exc.exit_code)
    except click_exc.FileError as exc:  # an input path that cannot be opened: the environment's fault
        say(err_console, "error: ", _one_line(exc.format_message()), soft_wrap=True)
        sys.exit(1)
    except click_exc.UsageError as exc:
        hint = ""
        if exc.ctx is not None and exc.ctx.command.get_help_option(exc.ctx) is not None:
            hint = f" (see {exc.ctx.command_path} {exc.ctx.help_option_names[0]})"
        say(err_console, "error: ", _one_line(exc.format_message()) + hint, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click_exc.ClickException as exc:
        say(err_console, "error: ", _one_line(exc.format_message()), soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        say(err_console, "interrupted (Ctrl-C)", soft_wrap=True)
        sys.exit(130)
    except KeyboardInterrupt:
        say(err_console, "interrupted (Ctrl-C)", soft_wrap=True)
        sys.exit(130)  # 128 + SIGINT
    except OSError as exc:
        # Files greenbench writes are named in their own errors (errors.write_fault); an OSError without a
        # file name that reaches here is the terminal's streams failing (stdout to a full disk or /dev/full).
        if exc.filename is None:
            _stdout_fault(exc)
        say(err_console, "error: ", f"{exc.strerror or exc}: {exc.filename}", soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
