"""``greenbench calibrate``'s measurement, fit and store (greenbench/measure/calibration.py, rapl.py).

The RAPL counter is a fake powercap tree (tests/fake_powercap.py) whose ``energy_uj`` a thread
advances by a KNOWN load → power curve. Two ways of driving it:

* a virtual CPU: the machine load is whatever the test sets for each rung (busy cores are not
  spawned), read both by the fake counter and by the calibrator, so the ladder reaches distinct,
  known loads on any machine, loaded or not — the fit and its error are checked exactly;
* the real machine: real busy-core subprocesses, the load read by psutil in both readers.

No framework is imported: these tests belong to the ``none`` session.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import namedtuple
from pathlib import Path
from typing import Callable

import psutil
import pytest
from fake_powercap import FakePowercap, linear_curve, write_atomic

from greenbench.errors import EnvironmentFault, UserError
from greenbench.measure import calibration, rapl
from greenbench.measure.calibration import CalibrationCurve, find_curve, fit_points, leave_one_out_error

MODEL = "Test CPU 9000 @ 3.00GHz"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("GREENBENCH_CACHE_DIR", str(root))
    monkeypatch.delenv(rapl.ENV_POWERCAP_ROOT, raising=False)
    return root


def spinners() -> list[psutil.Process]:
    """This process's busy-core children still running."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any("getppid" in a for a in child.cmdline()):
                out.append(child)
        except psutil.Error:
            continue
    return out


# --------------------------------------------------------------------------- reading the powercap tree
def test_package_counters_take_packages_only_and_each_once(tmp_path: Path) -> None:
    flat = FakePowercap(tmp_path / "flat", linear_curve())  # + a core sub-domain and a psys domain
    found = rapl.package_counters(flat.root)
    assert [(c.name, c.directory) for c in found] == [("package-0", flat.package)]
    assert found[0].max_range_uj == flat.max_range_uj

    # the nested layout (intel-rapl/intel-rapl:N), with the same domain also linked at the top as sysfs does
    nested = tmp_path / "nested"
    FakePowercap(nested / "intel-rapl", linear_curve())
    (nested / "intel-rapl:0").symlink_to(nested / "intel-rapl" / "intel-rapl:0")
    found = rapl.package_counters(nested)
    assert [c.name for c in found] == ["package-0"]


def test_counter_delta_handles_wrap_around(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "pc", linear_curve(), start_uj=29_000_000, max_range_uj=30_000_000)
    (counter,) = rapl.package_counters(fake.root)
    assert counter.delta_j() is None  # first read: a baseline
    write_atomic(fake.energy, "29500000\n")
    assert counter.delta_j() == pytest.approx(0.5)
    write_atomic(fake.energy, "1500000\n")  # wrapped past 30 J
    assert counter.delta_j() == pytest.approx(2.0)
    counter.max_range_uj = None  # unknown range: a wrapped interval is unknown, not negative
    write_atomic(fake.energy, "1000000\n")
    assert counter.delta_j() is None


def test_no_counters_is_an_environment_fault_naming_what_is_missing(tmp_path: Path) -> None:
    # a missing sensor is the environment's problem (exit 1), not bad input (exit 2)
    empty = tmp_path / "powercap"
    empty.mkdir()
    with pytest.raises(EnvironmentFault, match=r"^no readable RAPL package counters under .*powercap; calibrate needs"):
        calibration.calibrate(step_s=1, root=empty, cpu_model=MODEL)
    with pytest.raises(EnvironmentFault, match="does not exist"):
        calibration.calibrate(step_s=1, root=tmp_path / "absent", cpu_model=MODEL)
    # energy_uj that cannot be read (a directory: unreadable even by root)
    broken = FakePowercap(tmp_path / "broken", linear_curve())
    broken.energy.unlink()
    broken.energy.mkdir()
    with pytest.raises(EnvironmentFault, match="exist but cannot be read"):
        calibration.calibrate(step_s=1, root=broken.root, cpu_model=MODEL)


def test_root_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rapl.ENV_POWERCAP_ROOT, str(tmp_path / "pc"))
    assert rapl.powercap_root() == tmp_path / "pc"
    monkeypatch.delenv(rapl.ENV_POWERCAP_ROOT)
    from greenbench.measure import env

    assert rapl.powercap_root() == Path(env.POWERCAP_ROOT)


# --------------------------------------------------------------------------- the fit
def test_fit_is_monotone_merges_close_loads_and_interpolates_clamped() -> None:
    points = fit_points([(50.0, 30.0), (0.0, 10.0), (100.0, 28.0), (100.3, 30.0), (75.0, 40.0)])
    # 100.0 and 100.3 are one point (29 W); 75 % → 40 W then 29 W is a dip, pooled: (40 + 29×2)/3
    pooled = (40.0 + 29.0 * 2) / 3
    assert points == [(0.0, 10.0), (50.0, 30.0), (75.0, pytest.approx(pooled)),
                      (pytest.approx(100.15), pytest.approx(pooled))]
    curve = CalibrationCurve(MODEL, points, 0.1, "x")
    assert curve.power_w(25.0) == pytest.approx(20.0)
    assert curve.power_w(-5.0) == 10.0 and curve.power_w(120.0) == pytest.approx(pooled)


def test_leave_one_out_error_is_the_interior_interpolation_error() -> None:
    f = lambda x: 10 + 40 * (x / 100) ** 2  # noqa: E731 - convex
    pts = [(x, f(x)) for x in (10.0, 50.0, 90.0)]
    assert leave_one_out_error(pts) == pytest.approx(abs(f(50) - (f(10) + f(90)) / 2) / f(50))
    assert leave_one_out_error(pts[:2]) is None  # two loads: nothing to leave out
    line = [(x, 5 + 0.3 * x) for x in (0.0, 30.0, 60.0, 100.0)]
    assert leave_one_out_error(line) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- calibrating
Times = namedtuple("Times", "user idle")


class VirtualCpu:
    """A machine whose CPU load is ``load_for(busy_cores)``; its cpu_times integrate that load over time."""

    def __init__(self, load_for: Callable[[int], float]) -> None:
        self.load_for, self.cores = load_for, 0
        self._busy = self._total = 0.0
        self._t = time.monotonic()
        self._lock = threading.Lock()

    def _advance(self) -> None:
        now = time.monotonic()
        dt, self._t = now - self._t, now
        self._busy += dt * self.load_for(self.cores) / 100
        self._total += dt

    def load(self) -> float:
        with self._lock:
            return self.load_for(self.cores)

    def cpu_times(self) -> Times:
        with self._lock:
            self._advance()
            return Times(user=self._busy, idle=self._total - self._busy)

    def set_cores(self, k: int) -> None:
        with self._lock:
            self._advance()
            self.cores = k


@pytest.mark.slow
def test_calibrate_recovers_a_known_convex_curve_at_distinct_loads(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Loads 10 / 50 / 90 % whatever the machine does: each rung's power is the curve's at its load
    (within 5 %: counter quantization of 10-ms ticks over a 1-s window and thread scheduling), and
    rel_error is the leave-one-out error at 50 % (the curve is convex, so interpolation errs)."""
    f = lambda x: 10 + 40 * (x / 100) ** 2  # noqa: E731
    cpu = VirtualCpu(lambda k: 10.0 + 40.0 * k)
    # The virtual machine has 4 cores, whatever this one has: the ladder's length (1..min(cores, --max-cores)
    # busy cores) must not follow the real core count, or a 1-core CI runner would stop after "1 core".
    monkeypatch.setattr(calibration.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(calibration, "_machine_cpu_times", cpu.cpu_times)
    monkeypatch.setattr(calibration._Children, "spin", lambda self: cpu.set_cores(cpu.cores + 1))
    monkeypatch.setattr(calibration._Children, "stop_all", lambda self: cpu.set_cores(0))
    monkeypatch.setattr(calibration, "codecarbon_tdp", lambda model: (20.0, "test table"))
    fake = FakePowercap(tmp_path / "pc", f, load=cpu.load, tick_s=0.01, start_uj=29_000_000,
                        max_range_uj=30_000_000)  # wraps every second or so
    with fake.running():
        curve, doc = calibration.calibrate(step_s=1.0, max_cores=2, root=fake.root, cpu_model=MODEL)
    assert not fake.errors
    rungs = doc["rungs"]
    assert [r["name"] for r in rungs] == ["idle", "1 core", "2 cores"]
    assert [r["load_pct"] for r in rungs] == [pytest.approx(x, abs=0.5) for x in (10, 50, 90)]
    for r in rungs:
        assert r["power_w"] == pytest.approx(f(r["load_pct"]), rel=0.05), r
        assert r["samples"] >= 8  # sampled at >= 1 Hz over the window (every 0.1 s here)
        assert r["codecarbon_w"] == pytest.approx(20.0 * (0.1 + 0.9 * (r["load_pct"] / 100) ** 3))
    for load in (10, 30, 50, 70, 90):
        assert curve.power_w(load) == pytest.approx(
            calibration._interp([(x, f(x)) for x in (10, 50, 90)], load), rel=0.05)
    expected = abs(f(50) - (f(10) + f(90)) / 2) / f(50)  # 0.32
    assert doc["fit"]["leave_one_out"] == pytest.approx(expected, abs=0.05)
    assert curve.rel_error == pytest.approx(expected, abs=0.05)
    stored = json.loads(Path(curve.path).read_text())
    assert stored == doc
    assert Path(curve.path) == tmp_path / "cache" / "calibration" / "test-cpu-9000-3-00ghz.json"
    found = find_curve(MODEL)
    assert found is not None and found.points == curve.points and found.rel_error == curve.rel_error


@pytest.mark.slow
def test_calibrate_on_a_fake_rapl_tree_recovers_the_known_curve_at_the_real_load(tmp_path: Path) -> None:
    """Real busy cores, the load read by psutil in the calibrator and in the fake's thread. The
    curve is linear, so a rung's mean power is the power at its mean load; the two readers' windows
    differ by up to a tick (50 ms) at each end and in where they sample, so each rung is checked to
    15 % (3 W of a 20–50 W curve, i.e. 10 points of load)."""
    f = linear_curve(20.0, 50.0)
    fake = FakePowercap(tmp_path / "pc", f)
    model = calibration.cpu_model_name()  # this machine's, as the CLI names it (a made-up one if it has none)
    with fake.running():
        curve, doc = calibration.calibrate(step_s=1.5, max_cores=2, root=fake.root,
                                           cpu_model=None if model else MODEL)
    assert not fake.errors
    n = min(2, os.cpu_count() or 1)
    assert [r["name"] for r in doc["rungs"]] == ["idle", "1 core", "2 cores"][: n + 1]
    for r in doc["rungs"]:
        assert r["power_w"] == pytest.approx(f(r["load_pct"]), rel=0.15), r
        assert curve.power_w(r["load_pct"]) == pytest.approx(f(r["load_pct"]), rel=0.15), r
    assert all(a[1] <= b[1] for a, b in zip(curve.points, curve.points[1:]))
    assert math.isfinite(curve.rel_error) and curve.rel_error >= 0
    assert doc["cpu_model"] == (model or MODEL)
    assert doc["powercap_root"] == str(fake.root) and doc["packages"] == [str(fake.package)]
    assert doc["codecarbon"]["tdp_w"] and doc["codecarbon"]["tdp_source"]
    assert {"hostname", "logical_cpus", "created", "greenbench_version", "rel_error", "points"} <= set(doc)
    found = find_curve(model or MODEL)
    assert found is not None and found.path == curve.path and found.points == curve.points
    assert not spinners()


def test_busy_cores_are_killed_when_the_ladder_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePowercap(tmp_path / "pc", linear_curve())
    calls: list[list[int]] = []

    def failing(*args: object, **kwargs: object) -> None:
        calls.append([p.pid for p in spinners()])
        if len(calls) == 2:  # the first busy-core rung
            raise RuntimeError("boom")
        return (0.0, 20.0, [20.0], 1.0)

    monkeypatch.setattr(calibration, "measure_window", failing)
    monkeypatch.setattr(calibration, "codecarbon_tdp", lambda model: (None, "test"))
    with pytest.raises(RuntimeError, match="boom"):
        calibration.calibrate(step_s=0.5, max_cores=1, root=fake.root, cpu_model=MODEL)
    assert len(calls) == 2 and len(calls[1]) == 1  # one spinner was running when it failed
    assert not spinners()
    assert find_curve(MODEL) is None  # nothing stored


def test_find_curve_is_exact_and_ignores_broken_files(cache: Path) -> None:
    assert find_curve(None) is None and find_curve("") is None and find_curve(MODEL) is None
    path = calibration.curve_path(MODEL)
    path.parent.mkdir(parents=True)
    doc = {"cpu_model": MODEL, "points": [[5.0, 20.0], [100.0, 60.0]], "rel_error": 0.05}
    path.write_text(json.dumps(doc))
    curve = find_curve(MODEL)
    assert curve is not None and curve.power_w(52.5) == pytest.approx(40.0) and curve.path == str(path)
    assert find_curve("test cpu 9000 3.00ghz") is None  # same slug, another model
    path.write_text(json.dumps({**doc, "points": [[5.0, 60.0], [100.0, 20.0]]}))  # not monotone
    assert find_curve(MODEL) is None
    path.write_text("{not json")
    assert find_curve(MODEL) is None


def test_options_out_of_range_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--step-s"):
        calibration.calibrate(step_s=0.1, root=tmp_path)
    with pytest.raises(UserError, match="--max-cores"):
        calibration.calibrate(max_cores=0, root=tmp_path)
    with pytest.raises(UserError, match="--training"):
        calibration.calibrate(training="jax", root=tmp_path)


def _stub_window(*args: object, **kwargs: object) -> tuple[float, float, list[float], float]:
    return (50.0, 30.0, [30.0, 30.0], 1.0)


def _script_children() -> list[psutil.Process]:
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any("fake training" in a for a in child.cmdline()):
                out.append(child)
        except psutil.Error:
            continue
    return out


def test_training_rung_runs_in_a_subprocess_and_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePowercap(tmp_path / "pc", linear_curve())
    seen: list[int] = []

    def window(*args: object, **kwargs: object) -> tuple[float, float, list[float], float]:
        seen.append(len(_script_children()))
        return _stub_window()

    monkeypatch.setattr(calibration, "measure_window", window)
    monkeypatch.setattr(calibration, "codecarbon_tdp", lambda model: (None, "test"))
    monkeypatch.setitem(calibration._TRAINING, "torch",
                        "# fake training\nprint('ready', flush=True)\nwhile True: pass\n")
    curve, doc = calibration.calibrate(step_s=0.5, max_cores=1, training="torch", root=fake.root, cpu_model=MODEL,
                                       store=False)
    assert [r["name"] for r in doc["rungs"]] == ["idle", "1 core", "training (torch)"]
    assert seen == [0, 0, 1]  # measured while it trained, and only then
    assert not _script_children() and not spinners()
    assert doc["training"] == "torch" and not Path(curve.path).exists()  # store=False


def test_a_training_rung_that_cannot_start_is_one_clear_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePowercap(tmp_path / "pc", linear_curve())
    monkeypatch.setattr(calibration, "measure_window", _stub_window)
    monkeypatch.setattr(calibration, "codecarbon_tdp", lambda model: (None, "test"))
    monkeypatch.setitem(calibration._TRAINING, "tensorflow",
                        "# fake training\nimport sys\nsys.exit('ModuleNotFoundError: no tensorflow here')\n")
    with pytest.raises(UserError, match=r"tensorflow training rung did not start \(exit code 1\): "
                                        r"ModuleNotFoundError: no tensorflow here; run calibrate with --training none"):
        calibration.calibrate(step_s=0.5, max_cores=1, training="tensorflow", root=fake.root, cpu_model=MODEL)
    assert not spinners() and find_curve(MODEL) is None


def test_a_busy_idle_rung_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePowercap(tmp_path / "pc", linear_curve())
    monkeypatch.setattr(calibration, "measure_window", _stub_window)  # every rung at 50 %
    monkeypatch.setattr(calibration, "codecarbon_tdp", lambda model: (10.0, "test"))
    monkeypatch.setattr(calibration._Children, "spin", lambda self: None)
    curve, doc = calibration.calibrate(step_s=0.5, max_cores=2, root=fake.root, cpu_model=MODEL)
    assert curve.points == [(50.0, 30.0)] and curve.power_w(0) == curve.power_w(100) == 30.0
    assert len(doc["warnings"]) == 2
    assert "idle rung's load was 50 %" in doc["warnings"][0] and "one point" in doc["warnings"][1]
    assert doc["fit"]["leave_one_out"] is None and curve.rel_error == 0.0  # identical samples: no noise either
