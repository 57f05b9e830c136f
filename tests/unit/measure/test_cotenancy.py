"""Co-tenancy: CPU time of processes outside the run's tree is recorded per window, and a run whose measured
windows were shared beyond the threshold is judged contaminated. The real tests start a real busy-loop
process; none asserts a time — only attributions and flags."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from greenbench.measure.cotenancy import MIN_JUDGED_S, CoTenancy, verdict
from greenbench.measure.phases import PhaseRecorder



class Counters:
    """Machine and own-tree CPU seconds the test sets by hand."""

    def __init__(self) -> None:
        self.busy = self.steal = self.own = 0.0

    def machine(self) -> tuple[float, float]:
        return self.busy, self.steal

    def tree(self) -> float:
        return self.own


def test_a_window_splits_the_machines_cpu_time_into_own_other_and_stolen() -> None:
    c = Counters()
    co = CoTenancy(root_pid=1, machine=c.machine, own=c.tree, gpu=False)
    co.cpus = 4
    start = co.snapshot()
    c.busy, c.own, c.steal = 3.0, 1.0, 0.2
    end = co.snapshot()
    end = type(end)(t=start.t + 2.0, busy_s=end.busy_s, steal_s=end.steal_s, own_s=end.own_s)
    w = co.window(start, end)
    assert w["own_cpu_s"] == pytest.approx(1.0)
    assert w["other_cpu_s"] == pytest.approx(2.0)
    assert w["steal_s"] == pytest.approx(0.2)
    assert w["other_share"] == pytest.approx((2.0 + 0.2) / (2.0 * 4))
    assert w["cpus"] == 4 and w["gpu_other_processes"] is None


def phase(share: float | None, wall: float = 5.0, gpu: int | None = 0) -> dict[str, Any]:
    return {"wall_s": wall, "cotenancy": {"other_share": share, "gpu_other_processes": gpu}}


def test_the_verdict_flags_a_shared_window_and_names_it() -> None:
    v = verdict({"train": phase(0.35), "train/epoch-1": phase(0.9), "evaluate": phase(0.02)}, threshold=0.1)
    assert v["contaminated"] is True and v["worst_phase"] == "train"  # epoch windows are inside train: not judged
    assert v["max_other_share"] == pytest.approx(0.35)
    assert v["reason"] == "other processes used 35% of the machine's CPU during train (threshold 10%)"
    quiet = verdict({"train": phase(0.04), "evaluate": phase(0.01)}, threshold=0.1)
    assert quiet["contaminated"] is False and quiet["reason"] is None


def test_short_windows_are_recorded_but_not_judged() -> None:
    v = verdict({"latency": phase(0.8, wall=MIN_JUDGED_S / 2)}, threshold=0.1)
    assert v["contaminated"] is None and "no measured window" in v["reason"]
    v = verdict({"latency": phase(0.8, wall=MIN_JUDGED_S / 2), "train": phase(0.05)}, threshold=0.1)
    assert v["contaminated"] is False


def test_another_process_on_the_gpu_contaminates() -> None:
    v = verdict({"train": phase(0.0, gpu=2)}, threshold=0.1)
    assert v["contaminated"] is True and v["reason"] == "another process used a GPU during train"


def _cpu_s(proc: subprocess.Popen) -> float:
    t = psutil.Process(proc.pid).cpu_times()
    return t.user + t.system


def _record(root_pid: int, neighbour: subprocess.Popen, seconds: float = 1.5) -> tuple[dict[str, Any], float]:
    """One 'train' window; also the busy loop's own CPU seconds during it, read independently from its /proc."""
    with PhaseRecorder(False, cotenancy=CoTenancy(root_pid=root_pid, gpu=False)) as rec:
        before = _cpu_s(neighbour)
        with rec.phase("train"):
            time.sleep(seconds)
        loop_s = _cpu_s(neighbour) - before
        return rec.take(), loop_s


def test_a_real_busy_neighbour_is_counted_as_other_and_flags_the_run(busy_neighbour: subprocess.Popen) -> None:
    """The busy loop is outside the measured tree (the tree's root is a sleeping process of its own)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        phases, loop_s = _record(sleeper.pid, busy_neighbour)
    finally:
        sleeper.kill()
        sleeper.wait()
    c = phases["train"]["cotenancy"]
    wall = phases["train"]["wall_s"]
    assert loop_s > 0.05  # the loop ran (a precondition, read from its own /proc entry)
    assert c["other_cpu_s"] >= 0.9 * loop_s  # all of it was seen as a neighbour's (clock ticks: 10 ms)
    assert c["own_cpu_s"] < 0.5 * loop_s
    share = loop_s / (wall * c["cpus"])
    assert c["other_share"] >= 0.9 * share
    v = verdict(phases, threshold=0.5 * share)
    assert v["contaminated"] is True and v["worst_phase"] == "train"


def test_the_runs_own_processes_are_never_a_neighbour(busy_neighbour: subprocess.Popen) -> None:
    """The same busy loop inside the measured tree (this process's child) is the run's own work."""
    phases, loop_s = _record(psutil.Process().pid, busy_neighbour)
    c = phases["train"]["cotenancy"]
    assert loop_s > 0.05
    assert c["own_cpu_s"] >= 0.9 * loop_s
