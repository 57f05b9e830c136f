"""py-cpuinfo's answer, remembered per machine, so that starting codecarbon does not spin a core.

codecarbon names the CPU through ``cpuinfo.get_cpu_info()["brand_raw"]`` in every process that
starts a tracker. py-cpuinfo 9 answers by running itself as a helper process (``python cpuinfo.py
--json``), and on x86 that helper queries CPUID in a further child that *sleeps one second* to count
clock ticks while the helper waits for it in ``while p.is_alive(): p.join(0)`` — one core fully busy
for a second (workhorsy/py-cpuinfo#205 and #155, open upstream). greenbench starts a tracker in every
worker, while the other worker imports its framework, so that second was paid once per worker per
invocation and slowed the other worker's start-up too (it is not measured work: it happens before any
phase window opens, but it is time the user waits).

The answer depends only on the machine's CPU (and the Python asking: py-cpuinfo reports the Python
version). On Linux :func:`install` wraps ``cpuinfo.get_cpu_info`` so that its first real answer is
kept in greenbench's cache (``<cache>/machine/cpuinfo-<key>.json``) and reused. The key hashes
``/proc/cpuinfo`` without its clock-speed lines (they change from one read to the next), the
machine architecture, the Python version and py-cpuinfo's version: another CPU, a changed CPU
count or a moved VM gives another key. The one field that is not a property of the CPU,
``hz_actual`` (the clock speed py-cpuinfo saw), stays as it was first seen; codecarbon reads only
``brand_raw``. A file lock makes workers that start together compute it once. Elsewhere (no
``/proc/cpuinfo``) nothing changes. The cache is an optimisation: any failure to read, lock or write
it falls back to asking py-cpuinfo.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import platform
import sys
import threading
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("greenbench.measure")

PROC_CPUINFO = Path("/proc/cpuinfo")
# Lines of /proc/cpuinfo that change while the machine stays the same.
_VOLATILE_PREFIXES = ("cpu mhz", "bogomips")

_install_lock = threading.Lock()
_MARK = "__greenbench_cpuinfo_cache__"  # set on the wrapper: never wrap twice


def cache_key(proc_cpuinfo: str, cpuinfo_version: str) -> str:
    """A short hash of what py-cpuinfo's answer depends on; clock-speed lines are left out."""
    stable = [
        line.strip() for line in proc_cpuinfo.splitlines()
        if not line.strip().lower().startswith(_VOLATILE_PREFIXES)
    ]
    material = "\n".join([*stable, platform.machine(), sys.version, cpuinfo_version])
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _read_cached(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and value else None


def _write_cached(path: Path, info: dict[str, Any]) -> None:
    from greenbench.fsutil import atomic_write

    try:
        atomic_write(path, lambda tmp: tmp.write_bytes(json.dumps(info, sort_keys=True).encode()))
    except (OSError, TypeError, ValueError) as exc:
        log.info("could not keep py-cpuinfo's answer in %s: %s", path, exc)


def remembered(path: Path, compute: Callable[[], Any]) -> Any:
    """The answer kept in ``path``, or ``compute()``'s, kept there when it is a non-empty dict.

    Concurrent callers (threads or processes) hold an exclusive lock on ``path.lock`` while they
    look and compute, so the first computes and the others read its answer. Without a usable lock
    (no ``fcntl``, a read-only or lock-less file system) each caller computes for itself.
    """
    cached = _read_cached(path)
    if cached is not None:
        return cached
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 - held until the answer is kept
    except (ImportError, OSError):
        return _compute_and_keep(path, compute)
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        except OSError as exc:
            log.info("cannot lock %s (%s): asking py-cpuinfo without it", lock.name, exc)
            return _compute_and_keep(path, compute)
        cached = _read_cached(path)
        if cached is not None:
            return cached
        return _compute_and_keep(path, compute)


def _compute_and_keep(path: Path, compute: Callable[[], Any]) -> Any:
    info = compute()
    if isinstance(info, dict) and info:  # py-cpuinfo answers {} when its helper process fails
        _write_cached(path, info)
    return info


def install(cache_dir: Path | None = None) -> bool:
    """Make ``cpuinfo.get_cpu_info`` answer from the per-machine cache (once per process).

    Returns whether the wrapper is in place. The wrapper returns a copy of the same dictionary
    py-cpuinfo returned the first time on this machine and Python; if the cache fails in any way,
    it asks py-cpuinfo.
    """
    with _install_lock:
        try:
            import cpuinfo  # py-cpuinfo, a codecarbon dependency
        except ImportError:
            return False
        if getattr(cpuinfo.get_cpu_info, _MARK, False):
            return True
        try:
            text = PROC_CPUINFO.read_text()
        except OSError:
            return False
        if cache_dir is None:
            from greenbench.data.cache import cache_root

            cache_dir = cache_root()
        version = str(getattr(cpuinfo, "CPUINFO_VERSION_STRING", "unknown"))
        path = Path(cache_dir) / "machine" / f"cpuinfo-{cache_key(text, version)}.json"
        original = cpuinfo.get_cpu_info

        @functools.wraps(original)
        def get_cpu_info() -> Any:
            try:
                return copy.deepcopy(remembered(path, original))
            except Exception as exc:  # noqa: BLE001 - the cache must never cost the answer
                log.info("py-cpuinfo cache failed (%s): asking py-cpuinfo", exc)
                return original()

        setattr(get_cpu_info, _MARK, True)
        cpuinfo.get_cpu_info = get_cpu_info
        return True


def uninstall() -> None:
    """Restore py-cpuinfo's own function (for tests)."""
    with _install_lock:
        try:
            import cpuinfo
        except ImportError:
            return
        if getattr(cpuinfo.get_cpu_info, _MARK, False):
            cpuinfo.get_cpu_info = cpuinfo.get_cpu_info.__wrapped__


__all__ = ["cache_key", "install", "remembered", "uninstall"]
