"""The quiet-machine policy: wait (bounded) for quiet and say what was seen; --require-quiet refuses a busy
machine at once. Probes are scripted here; one test probes a real busy-loop neighbour."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from greenbench.errors import EnvironmentFault, UserError
from greenbench.measure.cotenancy import CoTenancy
from greenbench.measure.quiet import probe_share, quiet_wait_s, wait_until_quiet


class Script:
    """Probe results in order, and a clock that advances one second per probe."""

    def __init__(self, *shares: float) -> None:
        self.shares, self.now = list(shares), 0.0

    def probe(self) -> float:
        self.now += 1.0
        return self.shares.pop(0)

    def clock(self) -> float:
        return self.now


def test_it_waits_until_the_machine_is_quiet_and_records_what_it_saw() -> None:
    s = Script(0.6, 0.4, 0.05)
    seen = wait_until_quiet(threshold=0.1, max_wait_s=30, probe=s.probe, clock=s.clock)
    assert seen == {"quiet": True, "waited_s": 3.0, "probes": 3, "last_share": 0.05, "max_share": 0.6,
                    "threshold": 0.1, "max_wait_s": 30}


def test_the_wait_is_bounded_and_a_still_busy_machine_is_reported() -> None:
    s = Script(*([0.5] * 10))
    seen = wait_until_quiet(threshold=0.1, max_wait_s=3, probe=s.probe, clock=s.clock)
    assert seen["quiet"] is False and seen["probes"] == 3 and seen["waited_s"] == 3.0
    assert s.shares == [0.5] * 7  # it stopped probing at the bound


def test_a_quiet_machine_costs_one_probe() -> None:
    s = Script(0.0, 0.9)
    assert wait_until_quiet(threshold=0.1, max_wait_s=30, probe=s.probe, clock=s.clock)["probes"] == 1


def test_require_quiet_refuses_a_busy_machine_at_once() -> None:
    s = Script(0.35, 0.0)
    with pytest.raises(EnvironmentFault) as err:
        wait_until_quiet(threshold=0.1, max_wait_s=30, require=True, probe=s.probe, clock=s.clock)
    assert str(err.value).startswith("the machine is busy: other processes used 35% of its CPU (threshold 10%)")
    assert s.shares == [0.0]  # no waiting


def test_the_wait_bound_can_be_set_per_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENBENCH_QUIET_WAIT_S", raising=False)
    assert quiet_wait_s(30.0) == 30.0
    monkeypatch.setenv("GREENBENCH_QUIET_WAIT_S", "0")
    assert quiet_wait_s(30.0) == 0.0
    monkeypatch.setenv("GREENBENCH_QUIET_WAIT_S", "soon")
    with pytest.raises(UserError, match=r"^GREENBENCH_QUIET_WAIT_S='soon': give a number of seconds >= 0"):
        quiet_wait_s(30.0)


def test_a_real_probe_sees_a_busy_neighbour(busy_neighbour: subprocess.Popen) -> None:
    """The probe's root is a sleeping process of its own, so the busy loop (this test's child) is a neighbour."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        loop = psutil.Process(busy_neighbour.pid)
        before = sum(loop.cpu_times()[:2])
        share = probe_share(1.0, CoTenancy(root_pid=sleeper.pid, gpu=False))
        loop_share = (sum(loop.cpu_times()[:2]) - before) / (1.0 * (psutil.cpu_count() or 1))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert loop_share > 0.0
    assert share >= 0.8 * loop_share  # at least what the loop itself used (clock ticks aside)
