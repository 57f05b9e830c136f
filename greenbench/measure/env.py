"""The machine fingerprint (``greenbench env``): what a result was measured on.

Fast (well under a second) and safe: it never imports torch or TensorFlow (their versions
come from package metadata), never imports codecarbon (whose import pulls in pandas and
hardware probes), never opens a socket and never fails — a fact that cannot be read is
``None``. It holds only stable facts (no load, no free memory, no time), so two records
of the same machine have the same fingerprint and the report can flag real changes.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

MACHINE_ENV = "GREENBENCH_MACHINE"
# Where Linux exposes RAPL energy counters (module-level so tests can point it at a fake tree).
POWERCAP_ROOT = Path("/sys/class/powercap")

# Distribution names to ask importlib.metadata for; the first one installed wins. The backends'
# frameworks come between these, from their registry entries (see packages()).
CORE_PACKAGES: dict[str, tuple[str, ...]] = {
    "greenbench": ("greenbench",),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "codecarbon": ("codecarbon",),
}
SUPPORT_PACKAGES: dict[str, tuple[str, ...]] = {
    "psutil": ("psutil",),
    "pynvml": ("nvidia-ml-py", "pynvml"),
}


def packages() -> dict[str, tuple[str, ...]]:
    """Version key → distribution names: greenbench's own, every registered backend's, the probes'."""
    from greenbench.backend_registry import backends

    out = dict(CORE_PACKAGES)
    for info in backends().values():
        for key, dists in info.versions.items():
            out.setdefault(key, tuple(dists))
    out.update(SUPPORT_PACKAGES)
    return out


def _read(path: Path | str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def package_version(*dists: str) -> str | None:
    """Installed version of the first of ``dists`` found, without importing it."""
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # noqa: BLE001 - a broken metadata file must not break `greenbench env`
            continue
    return None


def versions() -> dict[str, str | None]:
    out = {name: package_version(*dists) for name, dists in packages().items()}
    if out["greenbench"] is None:  # running from a source tree that is not installed
        from greenbench._version import __version__

        out["greenbench"] = __version__
    return out


# --------------------------------------------------------------------------- CPU
# Arm cores by (CPU implementer, CPU part) of /proc/cpuinfo (the Arm architecture's MIDR fields), for servers whose
# cpuinfo has no "model name" line (Graviton, Ampere Altra, Grace): the cores' names, as Linux's own tables give them.
_ARM_CORES = {
    ("0x41", "0xd08"): "Arm Cortex-A72", ("0x41", "0xd0b"): "Arm Cortex-A76", ("0x41", "0xd0c"): "Arm Neoverse-N1",
    ("0x41", "0xd40"): "Arm Neoverse-V1", ("0x41", "0xd49"): "Arm Neoverse-N2", ("0x41", "0xd4f"): "Arm Neoverse-V2",
    ("0x41", "0xd8e"): "Arm Neoverse-N3", ("0x41", "0xd84"): "Arm Neoverse-V3", ("0xc0", "0xac3"): "AmpereOne",
}


def _arm_cpu_model(text: str) -> str | None:
    """A stable name for an Arm CPU from its implementer and part numbers (``Arm Neoverse-N1``), or the raw
    numbers where the core is not in :data:`_ARM_CORES` (``Arm implementer 0x41 part 0xd4a``): a calibration
    curve and a fingerprint need the same name on every machine with that core."""
    implementer = re.search(r"^CPU implementer\s*:\s*(\S+)", text, flags=re.MULTILINE)
    part = re.search(r"^CPU part\s*:\s*(\S+)", text, flags=re.MULTILINE)
    if not (implementer and part):
        return None
    key = (implementer.group(1).lower(), part.group(1).lower())
    return _ARM_CORES.get(key) or f"Arm implementer {key[0]} part {key[1]}"


def cpu_model() -> str | None:
    """The CPU's marketing name, read cheaply (no py-cpuinfo: it spawns a subprocess per call)."""
    if sys.platform.startswith("linux"):
        text = _read("/proc/cpuinfo") or ""
        for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
            m = re.search(rf"^{key}\s*:\s*(.+)$", text, flags=re.MULTILINE)
            if m and m.group(1).strip():
                return m.group(1).strip()
        arm = _arm_cpu_model(text)
        if arm is not None:
            return arm
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=2
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or None


def cpu_info() -> dict[str, Any]:
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        freq = psutil.cpu_freq()
        max_mhz = round(freq.max) if freq and freq.max else None
    except Exception:  # noqa: BLE001
        physical, max_mhz = None, None
    try:
        usable = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "model": cpu_model(),
        "arch": platform.machine() or None,
        "physical_cores": physical,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "max_mhz": max_mhz,
    }


def memory_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------- GPUs
def _gpus_nvml() -> list[dict[str, Any]] | None:
    try:
        import pynvml
    except Exception:  # noqa: BLE001 - not installed, or broken
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver / no GPU
        return None
    gpus = []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            gpus.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(h).total),
                    "driver": driver,
                    "vendor": "nvidia",
                }
            )
    except Exception:  # noqa: BLE001
        pass
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
    return gpus


def _gpus_nvidia_smi() -> list[dict[str, Any]] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,memory.total,driver_version", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            mem = int(float(parts[2]) * 1024 * 1024)  # MiB
        except ValueError:
            mem = None
        gpus.append({"index": int(parts[0]) if parts[0].isdigit() else parts[0], "name": parts[1],
                     "memory_bytes": mem, "driver": parts[3], "vendor": "nvidia"})
    return gpus


def gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs through NVML (or nvidia-smi); an empty list where there are none."""
    found = _gpus_nvml()
    if found is None:
        found = _gpus_nvidia_smi()
    return found or []


# --------------------------------------------------------------------------- energy sensors
def rapl_status(root: Path | str | None = None) -> dict[str, Any]:
    """Which RAPL energy counters exist under the powercap tree and whether they can be read.

    ``readable`` lists counters that could be read now; ``unreadable`` maps the others to the
    error (on Linux ≥ 5.10 ``energy_uj`` is root-only unless an administrator relaxes it).
    """
    base = Path(root) if root is not None else POWERCAP_ROOT
    out: dict[str, Any] = {"root": str(base), "present": False, "readable": [], "unreadable": {}}
    try:
        entries = sorted(p for p in base.iterdir() if p.name.startswith("intel-rapl"))
    except OSError:
        return out
    files: list[Path] = []
    for entry in entries:
        for d in [entry, *sorted(entry.glob("intel-rapl*:*"))]:
            f = d / "energy_uj"
            if f.exists() and f not in files:
                files.append(f)
    out["present"] = bool(files)
    for f in files:
        try:
            with open(f, encoding="ascii") as fh:
                float(fh.read().strip())
            out["readable"].append(str(f))
        except (OSError, ValueError) as exc:
            out["unreadable"][str(f)] = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
    return out


def _powermetrics_usable() -> bool:
    return sys.platform == "darwin" and shutil.which("powermetrics") is not None and os.geteuid() == 0


def energy_capabilities(rapl: dict[str, Any], gpu_list: list[dict[str, Any]]) -> dict[str, str]:
    """What codecarbon will be able to measure here, and what it will have to estimate.

    A forecast from the same probes codecarbon runs; each record's energy provenance says what
    was actually used.
    """
    if rapl["readable"]:
        cpu = "measured:rapl"
        cpu_note = f"{len(rapl['readable'])} readable RAPL counter(s) under {rapl['root']}"
    elif _powermetrics_usable():
        cpu, cpu_note = "measured:powermetrics", "Apple powermetrics (running as root)"
    else:
        cpu = "estimated"
        if rapl["present"]:
            first = next(iter(rapl["unreadable"].items()))
            cpu_note = (f"RAPL counters exist but cannot be read ({first[0]}: {first[1]}): TDP × load estimate "
                        "(make energy_uj readable to measure instead)")
        elif sys.platform.startswith("linux"):
            cpu_note = "no RAPL counters (VM or container?): TDP × load estimate"
        elif sys.platform == "darwin":
            cpu_note = "powermetrics needs root: TDP × load estimate"
        else:
            cpu_note = "no CPU energy counter: TDP × load estimate"
        cpu, cpu_note = _cpu_estimate(cpu_note)
    nvidia = [g for g in gpu_list if g.get("vendor") == "nvidia"]
    gpu = "measured:nvml" if nvidia else "none"
    gpu_note = f"{len(nvidia)} NVIDIA GPU(s) via NVML" if nvidia else "no NVIDIA GPU found"
    ram, ram_note = "estimated:ram-model", "codecarbon's RAM model (~5 W per DIMM)"
    kinds = {cpu.partition(":")[0], ram.partition(":")[0]} | ({"measured"} if nvidia else set())
    summary = kinds.pop() if len(kinds) == 1 else "mixed"
    return {"cpu": cpu, "cpu_note": cpu_note, "gpu": gpu, "gpu_note": gpu_note, "ram": ram, "ram_note": ram_note,
            "summary": summary}


def _cpu_estimate(note: str) -> tuple[str, str]:
    """Without CPU counters: what replaces codecarbon's CPU table here (a calibrated curve, a declared power)."""
    import os

    try:
        from greenbench.measure import curves

        curve = curves.find_curve(cpu_model())
    except Exception:  # noqa: BLE001 - a forecast: a broken calibration file is reported by the run itself
        curve = None
    if curve is not None:
        return "estimated:calibrated", (f"no CPU counter: calibrated load → power curve for this CPU model "
                                        f"({curve.path}, fit error ±{curve.rel_error:.1%})")
    from greenbench.errors import UserError
    from greenbench.measure.settings import EnergySettings

    declared = os.environ.get("GREENBENCH_CPU_TDP_W", "").strip()
    if declared:
        try:  # the same check greenbench run makes
            watts, _ = EnergySettings().declared_cpu_tdp()
        except UserError as exc:  # `env` reports the rest all the same; `run` refuses to start with this
            return "estimated", (f"{note}; INVALID {exc} (greenbench run refuses to start with it)")
        return "estimated:declared-tdp", (f"no CPU counter: declared CPU power GREENBENCH_CPU_TDP_W = {watts:g} W × "
                                          "load (a suite's energy.cpu_tdp_w overrides it)")
    return "estimated", (f"{note}; to narrow it, declare the CPU's power (energy.cpu_tdp_w or GREENBENCH_CPU_TDP_W) "
                         "or run greenbench calibrate on a machine with RAPL and the same CPU model (docs/energy.md)")


# --------------------------------------------------------------------------- the rest
def blas() -> dict[str, Any] | None:
    """numpy's BLAS (name and version), from numpy's own build configuration."""
    try:
        import numpy as np

        cfg = np.show_config(mode="dicts")  # type: ignore[call-arg]
        dep = (cfg or {}).get("Build Dependencies", {}).get("blas", {})
        if not dep:
            return None
        return {"name": dep.get("name"), "version": dep.get("version")}
    except Exception:  # noqa: BLE001
        return None


def os_info() -> dict[str, Any]:
    distro = None
    text = _read("/etc/os-release")
    if text:
        m = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, flags=re.MULTILINE)
        distro = m.group(1) if m else None
    return {
        "system": platform.system() or None,
        "kernel": platform.release() or None,
        "distro": distro,
        "platform": platform.platform(),
    }


def machine_label(hostname: str, model: str | None) -> str:
    """``$GREENBENCH_MACHINE`` if set, else ``<hostname>-<6 hex of the CPU model's hash>``."""
    explicit = os.environ.get(MACHINE_ENV, "").strip()
    if explicit:
        return explicit
    digest = hashlib.sha256((model or "unknown cpu").encode()).hexdigest()[:6]
    return f"{hostname or 'unknown'}-{digest}"


def fingerprint() -> dict[str, Any]:
    """This machine's fingerprint: CPU, cores, RAM, GPUs, OS, Python, library versions, energy sensors."""
    host = socket.gethostname()  # no network: reads the kernel's nodename
    cpu = cpu_info()
    gpu_list = gpus()
    rapl = rapl_status()
    return {
        "machine": machine_label(host, cpu["model"]),
        "hostname": host,
        "cpu": cpu,
        "memory_bytes": memory_bytes(),
        "gpus": gpu_list,
        "os": os_info(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "versions": versions(),
        "blas": blas(),
        "rapl": {"present": rapl["present"], "readable": len(rapl["readable"]),
                 "unreadable": len(rapl["unreadable"])},
        "energy_capabilities": energy_capabilities(rapl, gpu_list),
    }


def _gib(n: Any) -> str:
    return f"{n / 1024**3:.1f} GiB" if isinstance(n, (int, float)) else "unknown"


def format_fingerprint(fp: dict[str, Any]) -> str:
    """The fingerprint as aligned text lines for ``greenbench env``."""
    cpu = fp.get("cpu") or {}
    osi = fp.get("os") or {}
    py = fp.get("python") or {}
    caps = fp.get("energy_capabilities") or {}
    cores = f"{cpu.get('physical_cores') or '?'} physical / {cpu.get('logical_cores') or '?'} logical"
    if cpu.get("usable_cores") not in (None, cpu.get("logical_cores")):
        cores += f" ({cpu['usable_cores']} usable)"
    gpu_lines = [f"{g.get('index')}: {g.get('name')} ({_gib(g.get('memory_bytes'))}, driver {g.get('driver')})"
                 for g in fp.get("gpus") or []] or ["none"]
    blas_info = fp.get("blas") or {}
    rows: list[tuple[str, str]] = [
        ("Machine", str(fp.get("machine"))),
        ("Hostname", str(fp.get("hostname"))),
        ("CPU", f"{cpu.get('model') or 'unknown'} [{cpu.get('arch') or '?'}]"),
        ("Cores", cores),
        ("Memory", _gib(fp.get("memory_bytes"))),
        ("GPUs", gpu_lines[0]),
        *[("", line) for line in gpu_lines[1:]],
        ("OS", f"{osi.get('distro') or osi.get('system')} (kernel {osi.get('kernel')})"),
        ("Python", f"{py.get('version')} ({py.get('implementation')})"),
        ("BLAS", f"{blas_info.get('name')} {blas_info.get('version')}" if blas_info else "unknown"),
    ]
    rows.append(("Packages", ""))
    rows += [(f"  {name}", ver or "not installed") for name, ver in (fp.get("versions") or {}).items()]
    rows += [
        ("Energy", str(caps.get("summary", "unknown"))),
        ("  CPU", f"{caps.get('cpu')} — {caps.get('cpu_note')}"),
        ("  GPU", f"{caps.get('gpu')} — {caps.get('gpu_note')}"),
        ("  RAM", f"{caps.get('ram')} — {caps.get('ram_note')}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in rows)
