"""``greenbench calibrate``: measure this machine's CPU load → package power curve with RAPL.

Usage (on a machine whose RAPL package counters can be read)::

    greenbench calibrate                        # idle, then 1..N busy cores, 10 s each
    greenbench calibrate --step-s 30            # 60 samples per rung at 2 Hz (MLPerf Power: >= 60 at >= 1 Hz)
    greenbench calibrate --max-cores 8 --training torch --json

What it does
    1. Reads the RAPL *package* counters (``intel-rapl:N`` whose ``name`` is ``package-N``) under
       ``$GREENBENCH_POWERCAP_ROOT`` or ``/sys/class/powercap`` (:mod:`greenbench.measure.rapl`;
       sub-domains are never added; counter wrap-around is handled with ``max_energy_range_uj``).
       Without a readable one it stops with one line naming what is missing (exit code 2).
    2. Runs a load ladder: ``idle``, then ``k`` busy cores for k = 1..N (N = ``os.cpu_count()``, capped
       by ``--max-cores``), and, with ``--training torch|tensorflow``, a rung where a small MLP trains on
       random data in a subprocess (no framework is ever imported in the calibrating process; the rung
       is measured only once the subprocess has imported its framework and taken a first step). Busy
       cores are subprocesses spinning ``while True: pass``; each also stops on its own when its parent
       goes away, and all are killed when the ladder ends, on an error, on Ctrl-C and on SIGTERM.
       Each rung first settles (``min(2 s, step/4)``), then is measured for ``step_s`` seconds: the
       counters are sampled every ``min(0.5 s, step/10)`` (≥ 2 Hz; the samples are kept per rung), the
       machine CPU load is psutil's busy share of all CPUs over the same window.
    3. Fits load → power: a monotone (non-decreasing) piecewise-linear curve through the rungs' points
       (rungs whose loads lie within 0.5 points are averaged; a dip in power is pooled with its
       neighbour, pool-adjacent-violators). :meth:`CalibrationCurve.power_w` interpolates linearly and
       is clamped at the ends (no extrapolation).
    4. Compares with codecarbon's machine-mode CPU estimate ``TDP × (0.1 + 0.9 × load³)`` at each rung,
       with the TDP codecarbon would use here: its CPU table's entry for this CPU model, or, when the
       model is not in its table, its fallback of 4 W per thread × logical CPUs. Prints a table:
       rung, load %, counters W, codecarbon W, difference % (``(codecarbon − counters) / counters``).
    5. Stores the curve (atomically) as ``<cache>/calibration/<slug of the CPU model>.json`` (cache:
       ``$GREENBENCH_CACHE_DIR`` or the user cache directory), with the CPU model, hostname, logical
       CPUs, the fitted ``points``, every rung (load, power, samples, codecarbon's figure), ``fit``,
       ``rel_error``, ``created`` (UTC ISO), the greenbench version, codecarbon's TDP and where it came
       from, the powercap root read, and ``warnings`` (an idle rung above 10 % load — something else
       ran — or loads that did not spread). A later calibration of the same CPU model replaces it.
       ``--json`` prints this document (plus ``path``) instead of the table.

The fit's error, ``rel_error`` (a fraction: 0.05 = ±5 %), is what a user of the curve takes as its
± interval. It is the larger of
    * the leave-one-out error at the interior points: for every rung whose load lies strictly between
      two others (by more than 0.5 points), ``|P_i − curve_without_i(load_i)| / P_i`` — how far the curve is off where it has to
      interpolate across a gap twice as wide as the real one (conservative; the end points are not
      checked this way, since the curve is clamped rather than extrapolated there), and
    * the largest relative standard error of a rung's mean power (``std / sqrt(n) / mean`` of the
      per-sample powers): the sampling noise of the points themselves.
With fewer than three distinct loads only the second applies; ``fit.error_method`` says which.

Using the curve elsewhere: :func:`find_curve` returns the stored :class:`CalibrationCurve` for a CPU
model (machines with the same CPU model and no counters may use it as ``estimated:calibrated``, with
``rel_error`` as the interval); :func:`cpu_model_name` names this machine's CPU as py-cpuinfo does.

Not here (yet): an NVML (GPU) ladder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from greenbench.errors import EnvironmentFault, UserError
from greenbench.measure import rapl
from greenbench.measure.curves import (  # noqa: F401 - re-exported: the calibration API
    CalibrationCurve,
    _interp,
    calibration_dir,
    curve_path,
    find_curve,
    load_curve,
    slug,
)

log = logging.getLogger("greenbench.measure")

SCHEMA = 1
CODECARBON_WATTS_PER_THREAD = 4.0  # codecarbon.core.cpu.DEFAULT_POWER_PER_CORE (its fallback, per thread)
MERGE_LOAD_PCT = 0.5  # rungs closer than this in load are one point of the curve
IDLE_LOAD_WARN_PCT = 10.0  # an idle rung busier than this was not idle
TRAINING_CHOICES = ("none", "torch", "tensorflow")
TRAINING_READY_TIMEOUT_S = 600.0

# A busy core: spins, and every few milliseconds checks that its parent still exists, so that
# no spinner outlives a calibrating process killed without a chance to clean up (SIGKILL).
_SPIN = "import os\np=os.getppid()\nwhile os.getppid()==p:\n    for _ in range(200000): pass\n"
_WATCH_PARENT = (
    "import os, threading, time\n"
    "def _watch(p=os.getppid()):\n"
    "    while os.getppid() == p: time.sleep(0.5)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=_watch, daemon=True).start()\n"
)
_TRAINING = {
    "torch": _WATCH_PARENT + (
        "import torch\n"
        "torch.manual_seed(0)\n"
        "model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.01)\n"
        "loss_fn = torch.nn.CrossEntropyLoss()\n"
        "x = torch.randn(256, 784); y = torch.randint(0, 10, (256,))\n"
        "def step():\n"
        "    opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()\n"
        "step()\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    step()\n"
    ),
    "tensorflow": _WATCH_PARENT + (
        "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')\n"
        "import tensorflow as tf, keras\n"
        "keras.utils.set_random_seed(0)\n"
        "model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation='relu'),"
        " keras.layers.Dense(10)])\n"
        "model.compile(optimizer='sgd', loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
        "x = tf.random.normal((256, 784)); y = tf.random.uniform((256,), maxval=10, dtype=tf.int32)\n"
        "model.train_on_batch(x, y)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    model.train_on_batch(x, y)\n"
    ),
}


# --------------------------------------------------------------------------- the CPU model
def cpu_model_name() -> str | None:
    """This machine's CPU model as codecarbon names it (py-cpuinfo's ``brand_raw``).

    Read as ``greenbench env`` reads it (:func:`greenbench.measure.env.cpu_model`: ``/proc/cpuinfo``'s
    ``model name`` on Linux, the same string py-cpuinfo reports there), without py-cpuinfo's helper
    process, which keeps a core busy for a second (see :mod:`greenbench.measure.cpuinfo_cache`).
    """
    from greenbench.measure.env import cpu_model

    model = cpu_model()
    return model.strip() if model and model.strip() else None


def fit_points(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A monotone piecewise-linear curve's points through ``points`` (load %, W).

    Points closer than :data:`MERGE_LOAD_PCT` in load are averaged; then power is made non-decreasing
    in load by pooling adjacent violators (weighted by how many rungs each point holds).
    """
    pts = sorted((float(x), float(y)) for x, y in points)
    groups: list[list[tuple[float, float]]] = []
    for p in pts:
        if groups and p[0] - groups[-1][0][0] < MERGE_LOAD_PCT:
            groups[-1].append(p)
        else:
            groups.append([p])
    merged = [(sum(x for x, _ in g) / len(g), sum(y for _, y in g) / len(g), len(g)) for g in groups]
    blocks: list[list[float]] = []  # [mean power, weight, number of points]
    for _, y, w in merged:
        blocks.append([y, float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            y2, w2, n2 = blocks.pop()
            y1, w1, n1 = blocks[-1]
            blocks[-1] = [(y1 * w1 + y2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    powers = [b[0] for b in blocks for _ in range(int(b[2]))]
    return [(x, y) for (x, _, _), y in zip(merged, powers)]


def leave_one_out_error(points: list[tuple[float, float]]) -> float | None:
    """Largest ``|P_i − curve_without_i(load_i)| / P_i`` over the interior points (None: fewer than 3 loads)."""
    if len(fit_points(points)) < 3:
        return None
    lo, hi = min(x for x, _ in points), max(x for x, _ in points)
    worst = 0.0
    for i, (x, y) in enumerate(points):
        if not lo + MERGE_LOAD_PCT <= x <= hi - MERGE_LOAD_PCT or y <= 0:
            continue
        rest = fit_points(points[:i] + points[i + 1:])
        if len(rest) < 2:
            continue
        worst = max(worst, abs(y - _interp(rest, x)) / y)
    return worst


# --------------------------------------------------------------------------- measuring
def _machine_cpu_times() -> Any:
    import psutil

    return psutil.cpu_times()


def _cpu_busy_total(times: Any) -> tuple[float, float]:
    """(busy, total) CPU seconds of a ``psutil.cpu_times()`` tuple, as psutil's cpu_percent counts them."""
    total = float(sum(times))
    if sys.platform.startswith("linux"):  # guest time is already in user/nice
        total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    busy = total - times.idle - getattr(times, "iowait", 0.0)
    return busy, total


@dataclass
class Rung:
    """One rung of the ladder, measured."""

    name: str
    busy_cores: int
    load_pct: float
    power_w: float
    samples: list[float]  # per-sample package power, W
    sample_interval_s: float
    window_s: float
    codecarbon_w: float | None = None

    @property
    def sem_rel(self) -> float:
        """Relative standard error of the rung's mean power (0 with fewer than two samples)."""
        n = len(self.samples)
        if n < 2 or self.power_w <= 0:
            return 0.0
        mean = sum(self.samples) / n
        var = sum((s - mean) ** 2 for s in self.samples) / (n - 1)
        return math.sqrt(var / n) / self.power_w

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "busy_cores": self.busy_cores, "load_pct": round(self.load_pct, 2),
            "power_w": round(self.power_w, 3), "codecarbon_w": None if self.codecarbon_w is None
            else round(self.codecarbon_w, 3),
            "samples": len(self.samples), "sample_interval_s": round(self.sample_interval_s, 3),
            "window_s": round(self.window_s, 3), "sample_power_w": [round(s, 3) for s in self.samples],
        }


def measure_window(energy: rapl.PackageEnergy, window_s: float, sample_s: float,
                   cpu_times: Callable[[], Any] | None = None) -> tuple[float, float, list[float], float]:
    """Sample the counters every ``sample_s`` for ``window_s``: (load %, W, per-sample W, seconds measured)."""
    if cpu_times is None:
        cpu_times = _machine_cpu_times
    b0, t0 = _cpu_busy_total(cpu_times())
    energy.start()
    began = time.monotonic()
    joules = seconds = 0.0
    samples: list[float] = []
    n = 0
    while True:
        n += 1
        wake = began + n * sample_s
        time.sleep(max(0.0, wake - time.monotonic()))
        s = energy.sample()
        if s.joules is not None and s.dt > 0:
            joules += s.joules
            seconds += s.dt
            samples.append(s.joules / s.dt)
        if s.t - began >= window_s - 1e-3:
            break
    b1, t1 = _cpu_busy_total(cpu_times())
    load = 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
    if seconds <= 0:
        raise EnvironmentFault("the RAPL counters gave no usable interval (every one wrapped with an unknown range)")
    return max(0.0, min(100.0, load)), joules / seconds, samples, seconds


class _Children:
    """The ladder's subprocesses: always killed, whatever ends the ladder."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.files: list[Any] = []

    def spin(self) -> None:
        self.procs.append(subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop_all(self) -> None:
        for p in self.procs:
            with contextlib.suppress(OSError):
                p.kill()
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=10)
        for f in [p.stdout for p in self.procs if p.stdout is not None] + self.files:
            with contextlib.suppress(Exception):
                f.close()
        self.procs.clear()
        self.files.clear()

    def train(self, framework: str) -> subprocess.Popen:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the CPU's curve: keep a GPU out of it
        err_file = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty framework never blocks
        proc = subprocess.Popen([sys.executable, "-c", _TRAINING[framework]], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err_file, text=True, env=env)
        self.procs.append(proc)
        self.files.append(err_file)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline() if proc.stdout else ""),
                                  daemon=True)
        reader.start()
        reader.join(TRAINING_READY_TIMEOUT_S)
        if not ready or ready[0].strip() != "ready":
            proc.kill()
            proc.wait(timeout=10)
            err_file.seek(0)
            err = err_file.read()
            tail = " | ".join((err or "").strip().splitlines()[-3:])
            raise UserError(f"the {framework} training rung did not start (exit code {proc.returncode}): "
                            f"{tail or 'no output'}; run calibrate with --training none, or install {framework}")
        return proc


@contextlib.contextmanager
def _sigterm_raises() -> Any:
    """SIGTERM (a cancelled job, ``timeout``) ends the ladder through ``finally`` like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_ladder(counters: list[rapl.PackageCounter], *, step_s: float, max_cores: int | None = None,
               training: str = "none", on_rung: Callable[[Rung], None] | None = None) -> list[Rung]:
    """Measure idle, 1..N busy cores and (optionally) a training step; see the module docstring."""
    n = os.cpu_count() or 1
    if max_cores is not None:
        n = max(1, min(n, max_cores))
    settle_s = min(2.0, step_s / 4)
    sample_s = min(0.5, step_s / 10)
    energy = rapl.PackageEnergy(counters)
    children = _Children()
    rungs: list[Rung] = []

    def measure(name: str, cores: int) -> None:
        time.sleep(settle_s)
        load, watts, samples, seconds = measure_window(energy, step_s, sample_s)
        rung = Rung(name, cores, load, watts, samples, sample_s, seconds)
        rungs.append(rung)
        if on_rung is not None:
            on_rung(rung)

    with _sigterm_raises():
        try:
            measure("idle", 0)
            for k in range(1, n + 1):
                children.spin()
                measure(f"{k} core" + ("s" if k > 1 else ""), k)
            children.stop_all()
            if training != "none":
                children.train(training)
                measure(f"training ({training})", 0)
        finally:
            children.stop_all()
    return rungs


# --------------------------------------------------------------------------- codecarbon's view
def codecarbon_tdp(cpu_model: str | None) -> tuple[float | None, str]:
    """(TDP in W codecarbon's machine mode would use here, where it comes from)."""
    threads = os.cpu_count() or 1
    fallback = threads * CODECARBON_WATTS_PER_THREAD
    try:
        from greenbench.measure.provenance import _cpu_table_match

        matched, tdp = _cpu_table_match(cpu_model)
    except Exception as exc:  # noqa: BLE001 - codecarbon absent or changed: say so, keep the measurement
        return None, f"unknown: codecarbon's CPU table could not be read ({type(exc).__name__}: {exc})"
    if matched is not None and tdp:
        return float(tdp), f"codecarbon CPU table: {matched}"
    return fallback, (f"codecarbon's fallback: {cpu_model!r} is not in its CPU table, "
                      f"{CODECARBON_WATTS_PER_THREAD:g} W per thread × {threads} threads")


def codecarbon_power_w(tdp_w: float, load_pct: float) -> float:
    """codecarbon's machine-mode CPU power: ``TDP × (0.1 + 0.9 × load³)``, load as a fraction."""
    return tdp_w * (0.1 + 0.9 * (load_pct / 100.0) ** 3)


# --------------------------------------------------------------------------- calibrate, store, find
def _version() -> str:
    from greenbench._version import __version__

    return __version__


def calibrate(*, step_s: float = 10.0, max_cores: int | None = None, training: str = "none",
              root: Path | str | None = None, cpu_model: str | None = None, store: bool = True,
              on_start: Callable[[dict[str, Any]], None] | None = None,
              on_rung: Callable[[Rung], None] | None = None) -> tuple[CalibrationCurve, dict[str, Any]]:
    """Run the ladder on this machine's RAPL counters, fit, compare with codecarbon and store.

    Returns the curve and the stored document. Raises :class:`EnvironmentFault` (exit 1) when there is
    nothing to read (no readable RAPL package counter, no CPU model to store the curve under) and
    :class:`UserError` (exit 2) when an option is out of range.
    """
    if not (math.isfinite(step_s) and step_s >= 0.5):
        raise UserError(f"--step-s {step_s:g}: must be at least 0.5 seconds (10 or more for a usable curve)")
    if max_cores is not None and max_cores < 1:
        raise UserError(f"--max-cores {max_cores}: must be at least 1")
    if training not in TRAINING_CHOICES:
        raise UserError(f"--training {training!r}: choose one of {', '.join(TRAINING_CHOICES)}")
    base = Path(root) if root is not None else rapl.powercap_root()
    counters = rapl.package_counters(base)
    if not counters:
        # a sensor this machine lacks (or will not let us read) is the environment's problem, not the input's
        raise EnvironmentFault(f"no readable RAPL package counters under {base}; calibrate needs a machine with "
                               f"RAPL (Intel, or AMD Zen) whose energy_uj it can read: "
                               f"{rapl.missing_counters_reason(base)}")
    model = cpu_model or cpu_model_name()
    if not model:
        raise EnvironmentFault("cannot name this machine's CPU model (no 'model name' in /proc/cpuinfo): a curve "
                               "is stored per CPU model")
    tdp, tdp_source = codecarbon_tdp(model)  # before the ladder: importing codecarbon is not idle

    def rung_done(rung: Rung) -> None:
        if tdp is not None:
            rung.codecarbon_w = codecarbon_power_w(tdp, rung.load_pct)
        if on_rung is not None:
            on_rung(rung)

    if on_start is not None:
        on_start({"cpu_model": model, "powercap_root": str(base), "packages": [c.name for c in counters],
                  "step_s": step_s, "codecarbon_tdp_w": tdp, "codecarbon_tdp_source": tdp_source})
    rungs = run_ladder(counters, step_s=step_s, max_cores=max_cores, training=training, on_rung=rung_done)
    raw = [(r.load_pct, r.power_w) for r in rungs]
    points = fit_points(raw)
    loo = leave_one_out_error(raw)
    noise = max((r.sem_rel for r in rungs), default=0.0)
    rel_error = max(loo or 0.0, noise)
    method = ("max(leave-one-out relative error at interior points, largest relative standard error of a "
              "rung's mean power)" if loo is not None else
              "largest relative standard error of a rung's mean power (fewer than 3 distinct loads: no "
              "leave-one-out check)")
    warnings = []
    if rungs[0].load_pct > IDLE_LOAD_WARN_PCT:
        warnings.append(f"the idle rung's load was {rungs[0].load_pct:.0f} %: something else was running, so the "
                        "curve's low end is not this machine's idle power; calibrate again on a quiet machine")
    if len(points) < 2:
        warnings.append("every rung had the same load: the curve is one point (a constant power)")
    path = curve_path(model)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "cpu_model": model,
        "hostname": socket.gethostname(),
        "logical_cpus": os.cpu_count(),
        "points": [[round(x, 3), round(y, 4)] for x, y in points],
        "rungs": [r.as_dict() for r in rungs],
        "fit": {"kind": "monotone piecewise-linear in machine CPU load %, clamped at the ends",
                "error_method": method, "leave_one_out": loo, "sampling_sem_rel": noise},
        "rel_error": rel_error,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "greenbench_version": _version(),
        "codecarbon": {"tdp_w": tdp, "tdp_source": tdp_source, "formula": "TDP × (0.1 + 0.9 × load³)"},
        "powercap_root": str(base),
        "packages": [str(c.directory) for c in counters],
        "step_s": step_s,
        "training": training,
        "warnings": warnings,
    }
    if store:
        from greenbench.errors import write_fault
        from greenbench.fsutil import atomic_write_text

        try:
            atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
        except OSError as exc:
            raise write_fault(exc, path, "store the calibration curve", "GREENBENCH_CACHE_DIR") from None
    curve = CalibrationCurve(cpu_model=model, points=[(x, y) for x, y in doc["points"]], rel_error=rel_error,
                             path=str(path), data=doc)
    return curve, doc


__all__ = ["CalibrationCurve", "Rung", "calibrate", "codecarbon_power_w", "codecarbon_tdp", "cpu_model_name",
           "find_curve", "fit_points", "leave_one_out_error", "load_curve", "run_ladder"]
