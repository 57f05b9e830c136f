"""Fixtures for the measurement tests: fast meter settings, a fake RAPL tree, a socket guard.

Real codecarbon runs in these tests. The tests of the real machine assert what its sensors
allow (``sensors``: readable RAPL counters measure the CPU, an NVIDIA GPU is measured through
NVML, the rest is estimated). RAPL and NVML are also faked, driven by data — RAPL as a directory
tree, the way the kernel's powercap tree looks — so that measured paths are tested everywhere.
"""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from machine_support import Sensors, probe_sensors

from greenbench.measure import env as gb_env

FAST = {"measure_power_secs": 0.1, "min_duration_s": 0.0, "min_samples": 1}


@pytest.fixture
def fast() -> dict[str, Any]:
    """EnergyMeter keyword arguments for quick tests (0.1 s sampling, no low-confidence floor)."""
    return dict(FAST)


@pytest.fixture(scope="session")
def sensors() -> Sensors:
    """This machine's real energy sensors (RAPL, NVML), probed without greenbench's own code."""
    return probe_sensors()


# Network events of CPython's audit hooks: every socket connection and name lookup raises one,
# whichever Python library (requests, urllib3, http.client, ...) asks through the socket module.
NETWORK_EVENTS = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                  "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg")
_ARMED: list[list[Any]] = []  # the attempts list of the test that guards the network now, if any
_HOOKED = False


def _network_guard(event: str, args: tuple[Any, ...]) -> None:
    if _ARMED and event in NETWORK_EVENTS:
        target = args[1] if event in ("socket.connect", "socket.sendto", "socket.sendmsg") else args[0]
        _ARMED[-1].append((event, target))
        raise OSError(f"greenbench test: network access attempted ({event} {target!r})")


@pytest.fixture
def connect_attempts() -> Iterator[list[Any]]:
    """Refuse every network access of this process (any thread) and record the attempts.

    An audit hook (``sys.addaudithook``) sees connections and name lookups at the socket module,
    below every HTTP library; hooks cannot be removed, so one is installed per process and only
    acts while a test holds this fixture. ``test_the_network_guard_sees_and_refuses_a_connection``
    proves it catches a real connection.
    """
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_network_guard)
        _HOOKED = True
    attempts: list[Any] = []
    _ARMED.append(attempts)
    try:
        yield attempts
    finally:
        _ARMED.remove(attempts)


@pytest.fixture
def fresh_codecarbon_hardware() -> Iterator[None]:
    """codecarbon caches its hardware plan per process; tests that change the hardware clear it."""
    from codecarbon.core import hardware_cache

    hardware_cache.clear_cache()
    yield
    hardware_cache.clear_cache()


class FakeRapl:
    """A powercap tree: ``<root>/intel-rapl/intel-rapl:0/{name,energy_uj,max_energy_range_uj}``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.domain = root / "intel-rapl" / "intel-rapl:0"
        self.domain.mkdir(parents=True)
        (self.domain / "name").write_text("package-0\n")
        (self.domain / "max_energy_range_uj").write_text("262143328850\n")
        self.energy = self.domain / "energy_uj"

    def set_uj(self, value: int) -> None:
        """Set the counter atomically, as the kernel does: a reader sees the old or the new value.

        ``write_text`` truncates then writes; codecarbon's sampling thread reading in between got
        an empty file, took it as an unreadable sample, reset its baseline and lost the jump
        (``cpu_kwh == 0``). A temporary file renamed over ``energy_uj`` never shows a half state.
        """
        tmp = self.energy.with_name(f".energy_uj.{os.getpid()}.tmp")
        tmp.write_text(f"{int(value)}\n")
        os.replace(tmp, self.energy)


@pytest.fixture
def fake_rapl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_codecarbon_hardware: None
) -> Callable[[str], FakeRapl]:
    """Point codecarbon and greenbench at a fake RAPL tree.

    ``fake_rapl("readable")``: a counter the test drives with ``set_uj``.
    ``fake_rapl("permission")``: ``energy_uj`` mode 000, as on Linux >= 5.10 for non-root users
    (when the tests run as root, whom the mode does not stop, reads under the tree are refused
    the way the kernel refuses a non-root user).
    ``fake_rapl("directory")``: ``energy_uj`` exists but cannot be read even by root.
    """
    from codecarbon.core import cpu as cc_cpu
    from codecarbon.external import hardware as cc_hw

    def make(kind: str) -> FakeRapl:
        rapl = FakeRapl(tmp_path / "powercap")
        base = str(rapl.root)
        monkeypatch.setattr(gb_env, "POWERCAP_ROOT", rapl.root)
        monkeypatch.setattr(cc_cpu, "_get_candidate_bases", lambda rapl_dir: [base])
        defaults = list(cc_hw.CPU.__init__.__defaults__)
        defaults[0] = str(rapl.root / "intel-rapl")  # rapl_dir
        monkeypatch.setattr(cc_hw.CPU.__init__, "__defaults__", tuple(defaults))
        if kind == "readable":
            rapl.set_uj(1_000_000)
        elif kind == "permission":
            rapl.set_uj(1_000_000)
            os.chmod(rapl.energy, 0)
            if os.geteuid() == 0:
                guarded = str(rapl.root)
                real_access, real_open = os.access, builtins.open

                def access(path: Any, mode: int, *a: Any, **k: Any) -> bool:
                    if str(path).startswith(guarded) and str(path).endswith("energy_uj"):
                        return False
                    return real_access(path, mode, *a, **k)

                def open_(file: Any, *a: Any, **k: Any) -> Any:
                    if isinstance(file, (str, os.PathLike)) and str(file).startswith(guarded) \
                            and str(file).endswith("energy_uj"):
                        raise PermissionError(13, "Permission denied", str(file))
                    return real_open(file, *a, **k)

                monkeypatch.setattr(os, "access", access)
                monkeypatch.setattr(builtins, "open", open_)
        elif kind == "directory":
            rapl.energy.mkdir()
        else:
            raise ValueError(kind)
        return rapl

    return make


class FakeNVML:
    """A stand-in for the ``pynvml`` module, driven by data: one GPU whose counters the test sets."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):  # noqa: N801 - pynvml's name
        pass

    class c_nvmlMemory_t:  # noqa: N801 - pynvml's name
        def __init__(self, total: int, free: int, used: int) -> None:
            self.total, self.free, self.used = total, free, used

    def __init__(self) -> None:
        self.energy_mj = 1_000_000  # board energy counter, millijoules since driver load
        self.power_mw = 75_000
        self.name = "NVIDIA Fake H100"

    # the calls codecarbon 3.3 and greenbench make
    def nvmlInit(self) -> None: ...  # noqa: N802, E704
    def nvmlShutdown(self) -> None: ...  # noqa: N802, E704
    def nvmlSystemGetDriverVersion(self) -> str: return "550.54"  # noqa: N802, E704
    def nvmlDeviceGetCount(self) -> int: return 1  # noqa: N802, E704
    def nvmlDeviceGetHandleByIndex(self, i: int) -> int: return i  # noqa: N802, E704
    def nvmlDeviceGetName(self, h: int) -> str: return self.name  # noqa: N802, E704
    def nvmlDeviceGetUUID(self, h: int) -> str: return "GPU-00000000-fake"  # noqa: N802, E704
    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any: return self.c_nvmlMemory_t(80 * 1024**3, 79 * 1024**3, 1024**3)  # noqa: N802, E704, E501
    def nvmlDeviceGetTemperature(self, h: int, kind: int) -> int: return 40  # noqa: N802, E704
    def nvmlDeviceGetPowerUsage(self, h: int) -> int: return self.power_mw  # noqa: N802, E704
    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int: return 700_000  # noqa: N802, E704
    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int: return self.energy_mj  # noqa: N802, E704
    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any: return type("U", (), {"gpu": 50, "memory": 10})()  # noqa: N802, E704, E501
    def nvmlDeviceGetComputeMode(self, h: int) -> int: return 0  # noqa: N802, E704
    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list: return []  # noqa: N802, E704
    def nvmlDeviceGetGraphicsRunningProcesses(self, h: int) -> list: return []  # noqa: N802, E704


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch, fresh_codecarbon_hardware: None) -> FakeNVML:
    """Make codecarbon (and greenbench's fingerprint) see one NVIDIA GPU through a fake NVML."""
    import sys

    from codecarbon.core import gpu as cc_gpu
    from codecarbon.core import gpu_nvidia

    nvml = FakeNVML()
    monkeypatch.setattr(gpu_nvidia, "pynvml", nvml)
    monkeypatch.setattr(cc_gpu, "PYNVML_AVAILABLE", True)
    monkeypatch.setattr(cc_gpu, "is_nvidia_system", lambda: True)
    monkeypatch.setattr(cc_gpu, "is_rocm_system", lambda: False)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return nvml
