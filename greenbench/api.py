"""The Python API: what the CLI and notebooks call.

>>> import greenbench
>>> df = greenbench.load_results("results/smoke")      # one row per run
>>> greenbench.aggregate_results(df)                     # mean, std, 95% CI over seeds
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from greenbench.errors import SuiteError, UserError
from greenbench.suite import RunSpec, Suite, expand, load_suite
from greenbench.suite.schema import MAX_TIMEOUT_S
from greenbench.choices import MATRIX_AXES

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from greenbench.results.frame import aggregate as aggregate_results
    from greenbench.results.frame import load_results
    from greenbench.runner.outcome import SuiteOutcome

DEFAULT_RESULTS = Path("results")
DEFAULT_REPORTS = Path("reports")


# The pandas loaders are imported on first use: `greenbench run` writes records and never needs
# pandas (0.4 s of its start-up). Public name -> name in greenbench.results.frame.
_FRAME = {"load_results": "load_results", "aggregate_results": "aggregate"}


def __getattr__(name: str) -> Any:
    if name in _FRAME:
        from greenbench.results import frame

        return getattr(frame, _FRAME[name])
    raise AttributeError(f"module 'greenbench.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FRAME))


__all__ = [
    "aggregate_results",
    "load_results",
    "load_suite",
    "plan_suite",
    "results_dir_for",
    "run_suite",
    "report",
    "parse_only",
    "check_executor",
]


def parse_only(filters: Sequence[str] | None) -> dict[str, set[str]]:
    """``["backend=torch,model=cnn|mlp"]`` → ``{"backend": {"torch"}, "model": {"cnn", "mlp"}}``.

    A run is selected when it has, for every key given, one of that key's values: the keys of one ``--only``
    and of several ``--only`` options combine alike (and), the values of one key are its alternatives
    (``a|b``). So a key is given once: ``backend=torch,backend=tensorflow`` (or the same key in two ``--only``
    options) is an error that says to write ``backend=torch|tensorflow``, as are an empty ``--only ""`` and an
    empty alternative (``backend=torch|``). Errors name the ``--only`` text as it was typed.
    """
    wanted: dict[str, set[str]] = {}
    given: dict[str, tuple[int, str, list[str]]] = {}  # key -> (which --only, its text, its values)
    for index, item in enumerate(filters or []):
        parts = [p.strip() for p in item.split(",")]
        if not any(parts):
            raise UserError(f"--only {item!r}: empty filter; give key=value pairs like backend=torch,model=cnn "
                            "(or leave --only out for every run of the suite)")
        for part in parts:
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not value.strip():
                raise UserError(f"--only {item!r}: expected key=value pairs like backend=torch,model=cnn")
            if key not in MATRIX_AXES:
                raise UserError(f"--only: unknown key {key!r}; allowed keys: {', '.join(MATRIX_AXES)}")
            values = [v.strip() for v in value.split("|")]
            if not all(values):
                raise UserError(f"--only {item!r}: {part!r} has an empty value; separate a key's values with |, "
                                "e.g. backend=torch|tensorflow")
            if key in given:
                first, text, before = given[key]
                where = f"--only {item!r}" if first == index else f"--only {text!r} --only {item!r}"
                both = "|".join(dict.fromkeys(before + values))
                raise UserError(f"{where}: {key} is given twice; give each key once, its values separated by |: "
                                f"{key}={both}")
            given[key] = (index, item, values)
            wanted[key] = set(values)
    return wanted


def _value_matches(actual: Any, value: str) -> bool:
    """Whether an ``--only`` value names an axis value: as written, or for a number (``0.25``, ``1e-4``) by value."""
    if str(actual) == value:
        return True
    if isinstance(actual, float):
        try:
            return float(value) == actual
        except ValueError:
            return False
    return False


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _selected(run: RunSpec, wanted: dict[str, set[str]]) -> bool:
    axes = run.axes
    return all(any(_value_matches(axes[k], v) for v in values) for k, values in wanted.items())


def _check_only_values(wanted: dict[str, set[str]], runs: list[RunSpec]) -> None:
    """Every ``--only`` value must name a value some run of the plan has: a typo is an error, not a silent miss."""
    for key, values in wanted.items():
        present = list(dict.fromkeys(r.axes[key] for r in runs))
        missing = sorted(v for v in values if not any(_value_matches(p, v) for p in present))
        if missing:
            names = " or ".join(repr(v) for v in missing)
            raise UserError(
                f"--only {key}={'|'.join(missing)}: no run of this suite has {key} {names}; "
                f"{key} here is one of: {', '.join(_shown(p) for p in present)}"
            )


def check_data_dir(data_dir: str | Path | None, option: str = "--data-dir") -> None:
    """An explicitly given data directory must exist and be a directory (else one :class:`UserError`, exit 2):
    never a silent fall-back to ``$GREENBENCH_DATA_DIR`` or the cache, and never a record naming a folder
    that is not there."""
    if data_dir is None:
        return
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise UserError(f"{option} {data_dir}: no such directory; give the directory that holds the dataset files "
                        "(or leave the option out to use $GREENBENCH_DATA_DIR or the cache)")
    if not path.is_dir():
        raise UserError(f"{option} {data_dir}: is a file, not a directory; give the directory that holds the "
                        "dataset files")


def check_environment() -> None:
    """Refuse bad values of the ``GREENBENCH_*`` variables greenbench parses, before anything is measured: one
    :class:`UserError` (exit 2) naming the variable and what is allowed. (``GREENBENCH_DATA_DIR`` and
    ``GREENBENCH_CACHE_DIR``, ``GREENBENCH_POWERCAP_ROOT`` are places, checked where they are used;
    ``GREENBENCH_MACHINE`` is a free label;
    ``GREENBENCH_DRIVER_PID`` is set by greenbench itself.)"""
    from greenbench.backend_registry import backends
    from greenbench.measure.quiet import quiet_wait_s
    from greenbench.measure.settings import EnergySettings
    from greenbench.model_registry import models
    from greenbench.plugins import check_findable
    from greenbench.runner.hooks import NEEDS, PLUGINS_ENV

    quiet_wait_s(0.0)  # GREENBENCH_QUIET_WAIT_S
    EnergySettings().declared_cpu_tdp()  # GREENBENCH_CPU_TDP_W
    EnergySettings().idle_seconds()  # GREENBENCH_IDLE_BASELINE_S
    backends()  # GREENBENCH_BACKENDS
    models()  # GREENBENCH_MODELS
    check_findable(PLUGINS_ENV, NEEDS)  # imported by the workers, not here: that they exist


def plan_suite(
    path: str | Path,
    *,
    only: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    timeout: float | None = None,
    require_quiet: bool = False,
) -> tuple[Suite, list[RunSpec]]:
    """Load a suite, apply CLI overrides, expand it and filter with ``--only``."""
    check_environment()
    check_data_dir(data_dir)
    suite = load_suite(path)
    if suite.energy.enabled:  # the per-machine energy settings from the environment: refused here, in one line
        from greenbench.measure.settings import EnergySettings

        machine = EnergySettings.from_config(suite.energy)
        machine.declared_cpu_tdp()
        machine.idle_seconds()
    updates: dict[str, Any] = {}
    if data_dir is None and suite.data.dir and not Path(suite.data.dir).expanduser().is_absolute():
        # a relative data.dir in a suite file is relative to that file, not to where greenbench runs
        data_dir = (Path(path).parent / Path(suite.data.dir).expanduser()).resolve()
    if data_dir is not None:
        updates["data"] = suite.data.model_copy(update={"dir": str(data_dir)})
    if timeout is not None:
        if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT_S):  # NaN fails every comparison
            raise UserError(f"--timeout {timeout:g}: not allowed; the time allowed per run must be a finite number "
                            f"of seconds greater than 0 and at most {MAX_TIMEOUT_S} ({MAX_TIMEOUT_S // 86400} days), e.g. 600")
        updates["runner"] = suite.runner.model_copy(update={"timeout_s": float(timeout)})
    if require_quiet:  # --require-quiet: refuse to measure beside other processes instead of waiting for quiet
        runner = updates.get("runner", suite.runner)
        updates["runner"] = runner.model_copy(update={"require_quiet": True})
    if updates:
        suite = suite.model_copy(update=updates)
    runs = expand(suite)
    if not runs:
        raise SuiteError(
            f"{path}: matrix: expands to no runs: the exclude entries remove every combination; "
            "narrow or remove an exclude entry, or add an include entry"
        )
    wanted = parse_only(only)
    if wanted:
        _check_only_values(wanted, runs)
        everything = len(runs)
        runs = [r for r in runs if _selected(r, wanted)]
        if not runs:  # each value exists, but not together
            shown = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in wanted.items())
            raise UserError(f"--only {shown}: matches none of the suite's {everything} runs "
                            "(each value exists, but no run has them all)")
    return suite, runs


def results_dir_for(suite: Suite, results_dir: str | Path | None = None) -> Path:
    """``results_dir``, else ``results/<slug>`` (see :func:`greenbench.suite.schema.suite_slug`).

    A suite whose name greenbench used to shorten differently (``My Suite`` was ``results/My-Suite``)
    keeps using that older folder while it holds this suite's results and the new one does not exist.
    """
    if results_dir is not None:
        return Path(results_dir)
    from greenbench.results.store import ResultStore
    from greenbench.suite.schema import legacy_suite_slug

    path = DEFAULT_RESULTS / suite.slug
    legacy = DEFAULT_RESULTS / legacy_suite_slug(suite.name)
    if legacy != path and not path.exists() and legacy.is_dir() and ResultStore(legacy).belongs_to(suite.name):
        return legacy
    return path


def check_executor(executor: str = "local", address: str | None = None, isolation: str | None = None) -> None:
    """Refuse Ray's options for another executor (one :class:`UserError`, exit 2): ``--address`` and
    ``--isolation`` go with ``--executor ray``, or with a suite whose ``runner.executor`` is ``ray``; ``executor``
    is the one the run uses (the option, else the suite's). ``run`` and ``run --dry-run`` check before anything
    runs, so a dry run says what the real one would."""
    if executor not in ("local", "ray"):
        raise UserError(f"--executor {executor!r}: not one of: local, ray")
    if address is not None and executor != "ray":
        raise UserError("--address names a Ray cluster: use it with --executor ray (or runner.executor: ray)")
    if isolation is not None and isolation not in ("node", "gpu"):
        raise UserError(f"--isolation {isolation!r}: not one of: node, gpu")
    if isolation is not None and executor != "ray":
        raise UserError("--isolation says what a workload holds on a Ray node: use it with --executor ray "
                        "(or runner.executor: ray)")


def make_dispatcher(executor: str = "local", address: str | None = None, *, node_retries: int = 1,
                    isolation: str | None = None, isolation_default: str = "node",
                    silence_margin_s: float = 300.0) -> Any:
    """The dispatcher of ``executor``: local worker processes, or the Ray cluster at ``address`` (a workload
    whose node is lost, or whose node runner stays silent past its timeout plus ``silence_margin_s``, is
    retried ``node_retries`` times on another node; ``isolation``: ``node`` or ``gpu``, what a CUDA workload
    holds, default ``isolation_default``, the suite's ``runner.ray_isolation``)."""
    check_executor(executor, address, isolation)
    if executor == "ray":
        from greenbench.runner.ray_dispatcher import RayDispatcher

        return RayDispatcher(address, retries=node_retries, isolation=isolation or isolation_default,
                             silence_margin_s=silence_margin_s)
    from greenbench.runner.local import LocalDispatcher

    return LocalDispatcher()


def run_suite(
    suite: Suite | str | Path,
    runs: list[RunSpec] | None = None,
    *,
    results_dir: str | Path | None = None,
    rerun: bool = False,
    console: "Console | None" = None,
    quiet: bool = True,
    verbose: bool = False,
    executor: str | None = None,
    address: str | None = None,
    isolation: str | None = None,
) -> "SuiteOutcome":
    """Run a suite (or the given subset of its runs); returns the outcome.

    ``executor``: ``"local"`` (worker processes on this machine) or ``"ray"`` (the nodes of the Ray cluster at
    ``address``, else ``$RAY_ADDRESS``, else the one started on this machine); default: the suite's
    ``runner.executor``. ``isolation`` (Ray only): ``node`` or ``gpu``, default the suite's ``runner.ray_isolation``.
    """
    from greenbench.measure.cotenancy import ENV_DRIVER_PID
    from greenbench.runner.local import run_plan

    # This process is the root of the run's process tree: what runs outside it is a neighbour (co-tenancy).
    os.environ[ENV_DRIVER_PID] = str(os.getpid())
    if not isinstance(suite, Suite):
        suite, planned = plan_suite(suite)
        runs = runs if runs is not None else planned
    runs = runs if runs is not None else expand(suite)
    return run_plan(
        suite,
        runs,
        results_dir=results_dir_for(suite, results_dir),
        dispatcher=make_dispatcher(executor or suite.runner.executor, address, node_retries=suite.runner.node_retries,
                                   isolation=isolation, isolation_default=suite.runner.ray_isolation,
                                   silence_margin_s=suite.runner.node_silence_margin_s),
        rerun=rerun,
        console=console,
        quiet=quiet,
        verbose=verbose,
    )


def _default_result_dirs() -> list[Path]:
    if not DEFAULT_RESULTS.is_dir():
        raise UserError(f"no results to report: {DEFAULT_RESULTS}/ does not exist; run `greenbench run SUITE` first")
    dirs = sorted(d for d in DEFAULT_RESULTS.iterdir() if d.is_dir() and any(d.glob("*.json")))
    if not dirs:
        raise UserError(f"no results to report: {DEFAULT_RESULTS}/ holds no run records; run `greenbench run SUITE` first")
    return dirs


def report(result_dirs: Sequence[str | Path], out: str | Path | None = None, fmt: str = "html",
           warn: Callable[[str], None] | None = None) -> Path:
    """Render a report of ``result_dirs`` (default: every suite under ``results/``); returns its path.

    ``warn`` gets one line when record files could not be read (they are left out of the report)."""
    from greenbench.report import build_report

    dirs = [Path(d) for d in result_dirs] or _default_result_dirs()
    for d in dirs:
        if not d.exists():
            raise UserError(f"{d}: no such results directory")
    return build_report(dirs, out=Path(out) if out is not None else None, fmt=fmt, warn=warn)
