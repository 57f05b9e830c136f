"""Co-tenancy: how much of the machine other processes used while a window was measured.

A training measured beside a busy neighbour is slower and, on an estimated CPU model, charged for the
neighbour's load (measured here: a torch MLP trained 4.3× slower beside one busy process). Every phase
window therefore records what the rest of the machine did during it:

* ``other_cpu_s`` — CPU time of every process **outside the run's own process tree**: the machine's busy
  CPU time (``/proc/stat`` through psutil: user + nice + system + irq + softirq) minus the CPU time of the
  run's tree. The tree is the greenbench driver and all its descendants (the driver names itself to its
  workers through ``GREENBENCH_DRIVER_PID``); without a driver, this process and its children.
* ``steal_s`` — CPU time the hypervisor gave to other virtual machines (a neighbour too, one the guest
  cannot see as a process).
* ``other_share`` — ``(other_cpu_s + steal_s) / (wall_s × logical CPUs)``: the fraction of the machine's
  CPU capacity the neighbours used during the window.
* ``load_1m`` — the 1-minute load average at the window's end; ``gpu_other_processes`` — processes outside
  the tree holding a context on an NVIDIA GPU (NVML), ``None`` where NVML is not available.

:func:`verdict` folds a run's top-level windows into one judgement: a run is **contaminated** when, in a
window at least :data:`MIN_JUDGED_S` long, the neighbours used more than ``threshold`` of the machine
(``runner.cotenancy_threshold``, default 10 %), or another process used a GPU. Shorter windows are recorded
but not judged: CPU times have a resolution of one clock tick (10 ms), too coarse for a fraction of a second.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

ENV_DRIVER_PID = "GREENBENCH_DRIVER_PID"
DEFAULT_THRESHOLD = 0.10
MIN_JUDGED_S = 1.0


@dataclass(frozen=True)
class CpuSnapshot:
    t: float
    busy_s: float  # machine-wide busy CPU time
    steal_s: float
    own_s: float  # the run's process tree


def machine_cpu_times() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot."""
    import psutil

    ct = psutil.cpu_times()
    busy = sum(getattr(ct, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))
    return float(busy), float(getattr(ct, "steal", 0.0))


def _root_pid() -> int:
    raw = os.environ.get(ENV_DRIVER_PID, "")
    if raw.isdigit():
        import psutil

        pid = int(raw)
        with contextlib.suppress(Exception):
            me = psutil.Process()
            if pid == me.pid or any(p.pid == pid for p in me.parents()):
                return pid
    return os.getpid()


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds of ``root_pid`` and all its living descendants (and of the children they have waited for)."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
    return total


def _gpu_other_processes(own: set[int]) -> int | None:
    """Processes outside the run's tree holding a context on any NVIDIA GPU; ``None`` without NVML."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no GPU
        return None
    try:
        pids: set[int] = set()
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                with contextlib.suppress(Exception):
                    pids.update(int(p.pid) for p in getattr(pynvml, getter)(handle))
        return len(pids - own)
    except Exception:  # noqa: BLE001
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


class CoTenancy:
    """Snapshots at window boundaries; :meth:`window` turns two of them into a window's co-tenancy entry.

    ``machine`` and ``own`` are injectable (the tests drive them with known figures); by default they read
    the machine's CPU times and the run's process tree.
    """

    def __init__(self, *, root_pid: int | None = None, machine: Callable[[], tuple[float, float]] | None = None,
                 own: Callable[[], float] | None = None, gpu: bool = True) -> None:
        import psutil

        self.root_pid = root_pid if root_pid is not None else _root_pid()
        self._machine = machine or machine_cpu_times
        self._own = own or (lambda: tree_cpu_s(self.root_pid))
        self.cpus = psutil.cpu_count(logical=True) or 1
        self._gpu = gpu

    def snapshot(self) -> CpuSnapshot:
        busy, steal = self._machine()
        return CpuSnapshot(time.perf_counter(), busy, steal, self._own())

    def window(self, start: CpuSnapshot, end: CpuSnapshot) -> dict[str, Any]:
        wall = max(0.0, end.t - start.t)
        own = max(0.0, end.own_s - start.own_s)
        other = max(0.0, (end.busy_s - start.busy_s) - own)
        steal = max(0.0, end.steal_s - start.steal_s)
        capacity = wall * self.cpus
        load = None
        with contextlib.suppress(OSError, AttributeError):
            load = round(os.getloadavg()[0], 2)
        gpu_others = None
        if self._gpu:
            own_pids = {self.root_pid}
            with contextlib.suppress(Exception):
                import psutil

                own_pids |= {p.pid for p in psutil.Process(self.root_pid).children(recursive=True)}
            gpu_others = _gpu_other_processes(own_pids)
        return {
            "other_cpu_s": other,
            "steal_s": steal,
            "own_cpu_s": own,
            "cpus": self.cpus,
            "other_share": min(1.0, (other + steal) / capacity) if capacity > 0 else None,
            "load_1m": load,
            "gpu_other_processes": gpu_others,
        }


def verdict(phases: Mapping[str, Mapping[str, Any]], threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """A run's co-tenancy judgement from its phase windows' ``cotenancy`` entries (top-level windows only).

    ``{"contaminated": bool | None, "max_other_share": float | None, "worst_phase": str | None,
    "threshold": float, "reason": str | None}`` — ``contaminated`` is ``None`` when no window could be judged.
    """
    worst_share, worst_phase, gpu_phase, judged = None, None, None, False
    for name, phase in phases.items():
        if "/" in name:
            continue
        c = phase.get("cotenancy") or {}
        share = c.get("other_share")
        if share is None or (phase.get("wall_s") or 0.0) < MIN_JUDGED_S:
            continue
        judged = True
        if worst_share is None or share > worst_share:
            worst_share, worst_phase = share, name
        if c.get("gpu_other_processes") and gpu_phase is None:
            gpu_phase = name
    if not judged:
        return {"contaminated": None, "max_other_share": None, "worst_phase": None, "threshold": threshold,
                "reason": f"no measured window was {MIN_JUDGED_S:g} s or longer"}
    assert worst_share is not None
    reasons = []
    if worst_share > threshold:
        reasons.append(f"other processes used {worst_share:.0%} of the machine's CPU during {worst_phase} "
                       f"(threshold {threshold:.0%})")
    if gpu_phase is not None:
        reasons.append(f"another process used a GPU during {gpu_phase}")
    return {"contaminated": bool(reasons), "max_other_share": worst_share, "worst_phase": worst_phase,
            "threshold": threshold, "reason": "; ".join(reasons) or None}


__all__ = ["CoTenancy", "CpuSnapshot", "DEFAULT_THRESHOLD", "ENV_DRIVER_PID", "MIN_JUDGED_S", "machine_cpu_times",
           "tree_cpu_s", "verdict"]
