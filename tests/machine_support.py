"""What this machine offers for energy measurement, probed by the tests themselves.

The energy tests run the real codecarbon, so what they see depends on the machine: a CI VM has
no RAPL and no GPU (everything estimated), a Linux laptop may have readable RAPL counters
(CPU measured), a workstation an NVIDIA GPU (GPU measured through NVML). Tests assert the
provenance this machine must produce, computed here from the same facts codecarbon looks at,
and probed without greenbench's own code (``greenbench.measure.env``), so that a wrong
forecast in greenbench cannot confirm itself.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")

# Labels greenbench may give a CPU that codecarbon meters through an OS interface other than
# Linux RAPL (macOS powermetrics, Intel Power Gadget, Windows EMI) or estimates.
ESTIMATED_CPU = ("estimated:tdp", "estimated:constant")
OTHER_OS_CPU = ("measured:powermetrics", "measured:intel-power-gadget", "measured:windows-emi", *ESTIMATED_CPU)


def _kind(label: str) -> str:
    return label.partition(":")[0]


@dataclass(frozen=True)
class Sensors:
    """Energy sensors of this machine: RAPL counters (Linux powercap) and NVIDIA GPUs (NVML)."""

    linux: bool
    rapl_counters: tuple[str, ...]  # every energy_uj file under the powercap tree
    rapl_readable: tuple[str, ...]  # those this process can actually read a number from
    nvidia_gpus: int  # GPUs NVML reports (0 without pynvml, a driver or a GPU)
    raspberry_tool: bool  # /usr/bin/vcgencmd: codecarbon may meter a Raspberry Pi 5 through its PMIC

    @property
    def rapl(self) -> str:
        """``readable``, ``unreadable`` (present, but no counter can be read) or ``absent``."""
        if self.rapl_readable:
            return "readable"
        return "unreadable" if self.rapl_counters else "absent"

    def cpu_labels(self) -> tuple[str, ...]:
        """The CPU provenance labels codecarbon can produce here (one, on a Linux PC)."""
        if not self.linux:
            return OTHER_OS_CPU
        if self.rapl == "readable":
            return ("measured:rapl",)
        return (*ESTIMATED_CPU, "measured:raspberry-pmic") if self.raspberry_tool else ESTIMATED_CPU

    def gpu_label(self) -> str:
        return "measured:nvml" if self.nvidia_gpus else "none"

    def energy_source(self, cpu_label: str) -> str:
        """The record's overall ``energy_source`` for a CPU label: RAM is always codecarbon's model."""
        kinds = {_kind(cpu_label), "estimated"} | ({"measured"} if self.nvidia_gpus else set())
        return kinds.pop() if len(kinds) == 1 else "mixed"


def _rapl_files(root: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found = sorted({*glob.glob(str(root / "intel-rapl*" / "energy_uj")),
                    *glob.glob(str(root / "intel-rapl*" / "intel-rapl*:*" / "energy_uj"))})
    readable = []
    for path in found:
        try:
            with open(path, encoding="ascii") as fh:
                float(fh.read().strip())
        except (OSError, ValueError):
            continue
        readable.append(path)
    return tuple(found), tuple(readable)


def _nvidia_gpus() -> int:
    try:
        import pynvml
    except Exception:  # noqa: BLE001 - not installed or broken: codecarbon cannot use NVML either
        return 0
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no GPU
        return 0
    try:
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:  # noqa: BLE001
        return 0
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def nvidia_gpu_processes() -> set[int]:
    """PIDs holding a compute or graphics context on any NVIDIA GPU (NVML), e.g. a laptop's display server;
    empty without pynvml, a driver or a GPU."""
    try:
        import pynvml
    except Exception:  # noqa: BLE001 - not installed or broken
        return set()
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no GPU
        return set()
    pids: set[int] = set()
    try:
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    pids.update(int(proc.pid) for proc in getattr(pynvml, getter)(handle))
                except Exception:  # noqa: BLE001 - not supported on this board
                    continue
    except Exception:  # noqa: BLE001
        pass
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
    return pids


def probe_sensors(powercap: Path = POWERCAP) -> Sensors:
    counters, readable = _rapl_files(powercap)
    return Sensors(
        linux=sys.platform.startswith("linux"),
        rapl_counters=counters,
        rapl_readable=readable,
        nvidia_gpus=_nvidia_gpus(),
        raspberry_tool=os.path.exists("/usr/bin/vcgencmd"),
    )
