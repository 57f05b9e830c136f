"""RAPL package energy counters, read straight from Linux's powercap tree.

The kernel exposes each CPU package's Running Average Power Limit energy counter as a plain text
file: ``<root>/intel-rapl:N/energy_uj`` (microjoules, monotonically increasing) with
``max_energy_range_uj`` (the value after which it wraps to 0) and ``name`` (``package-N``). AMD Zen
CPUs use the same ``intel-rapl`` names. Sub-domains (``intel-rapl:N:M``: core, uncore, dram) are
*parts of* or *beside* the package and are never added to it; a ``psys`` domain (the whole SoC on
some laptops) is not a package either.

``root`` is ``$GREENBENCH_POWERCAP_ROOT`` when set, else :data:`greenbench.measure.env.POWERCAP_ROOT`
(``/sys/class/powercap``) — the same tree ``greenbench env`` inspects with
:func:`greenbench.measure.env.rapl_status`. Both layouts are found: the flat one of
``/sys/class/powercap`` (``intel-rapl:0`` at the top) and the nested one (``intel-rapl/intel-rapl:0``);
one domain reached both ways is counted once (by its resolved path).

Standard library only; nothing here imports codecarbon or a framework.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

ENV_POWERCAP_ROOT = "GREENBENCH_POWERCAP_ROOT"
_PACKAGE_DIR = re.compile(r"^intel-rapl:\d+$")


def powercap_root() -> Path:
    """``$GREENBENCH_POWERCAP_ROOT`` if set, else ``greenbench.measure.env.POWERCAP_ROOT``."""
    value = os.environ.get(ENV_POWERCAP_ROOT, "").strip()
    if value:
        return Path(value).expanduser()
    from greenbench.measure import env

    return Path(env.POWERCAP_ROOT)


def _read_int(path: Path) -> int:
    with open(path, encoding="ascii") as fh:
        return int(fh.read().strip())


@dataclass
class PackageCounter:
    """One package's ``energy_uj`` counter, with wrap-around handled between reads."""

    name: str
    directory: Path
    max_range_uj: int | None  # None: unknown (a wrap then makes that interval's energy unknown)
    _last_uj: int | None = field(default=None, repr=False)

    @property
    def energy_file(self) -> Path:
        return self.directory / "energy_uj"

    def read_uj(self) -> int:
        return _read_int(self.energy_file)

    def delta_j(self) -> float | None:
        """Joules since the previous call (None on the first call, or across a wrap of unknown range)."""
        now = self.read_uj()
        last, self._last_uj = self._last_uj, now
        if last is None:
            return None
        delta = now - last
        if delta < 0:
            if not self.max_range_uj:
                return None
            delta += self.max_range_uj
        return delta / 1e6


def _candidates(root: Path) -> list[Path]:
    out: list[Path] = []
    try:
        top = sorted(root.iterdir())
    except OSError:
        return out
    for entry in top:
        if _PACKAGE_DIR.match(entry.name):
            out.append(entry)
        elif entry.name == "intel-rapl":  # nested layout: the control type's directory
            try:
                out.extend(sorted(p for p in entry.iterdir() if _PACKAGE_DIR.match(p.name)))
            except OSError:
                continue
    return out


def package_counters(root: Path | str | None = None) -> list[PackageCounter]:
    """The readable package counters under ``root`` (default :func:`powercap_root`), each once."""
    base = Path(root) if root is not None else powercap_root()
    seen: set[str] = set()
    found: list[PackageCounter] = []
    for d in _candidates(base):
        try:
            name = (d / "name").read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if not name.startswith("package"):
            continue
        key = os.path.realpath(d)
        if key in seen:
            continue
        try:
            _read_int(d / "energy_uj")
        except (OSError, ValueError):
            continue
        try:
            max_range: int | None = _read_int(d / "max_energy_range_uj")
        except (OSError, ValueError):
            max_range = None
        seen.add(key)
        found.append(PackageCounter(name=name, directory=d, max_range_uj=max_range))
    return found


def missing_counters_reason(root: Path | str | None = None) -> str:
    """Why :func:`package_counters` found nothing under ``root``, in words (for a one-line error)."""
    base = Path(root) if root is not None else powercap_root()
    if not base.is_dir():
        return f"{base} does not exist (no powercap tree: a VM, a container, or not Linux?)"
    from greenbench.measure.env import rapl_status

    status = rapl_status(base)
    if status["unreadable"]:
        path, err = next(iter(status["unreadable"].items()))
        return (f"the counters exist but cannot be read ({path}: {err}); on Linux >= 5.10 energy_uj is "
                "root-only: run as root or make energy_uj readable")
    if status["present"]:
        return f"{base} has RAPL counters but no package domain (no intel-rapl:N whose name is package-N)"
    return f"no intel-rapl domain under {base}"


@dataclass
class EnergySample:
    """One sampling interval: when it ended (monotonic s), its length (s) and the package joules in it."""

    t: float
    dt: float
    joules: float | None  # None: a counter wrapped with an unknown range in this interval


class PackageEnergy:
    """All packages' counters read together; :meth:`sample` returns the joules since the previous call."""

    def __init__(self, counters: list[PackageCounter], clock=time.monotonic) -> None:  # noqa: ANN001
        if not counters:
            raise ValueError("no package counters")
        self.counters = counters
        self.clock = clock
        self._t: float | None = None

    def start(self) -> None:
        for c in self.counters:
            c.delta_j()
        self._t = self.clock()

    def sample(self) -> EnergySample:
        if self._t is None:
            self.start()
        deltas = [c.delta_j() for c in self.counters]
        now = self.clock()
        dt, self._t = now - (self._t or now), now
        joules = None if any(d is None for d in deltas) else float(sum(d for d in deltas if d is not None))
        return EnergySample(t=now, dt=dt, joules=joules)


__all__ = ["ENV_POWERCAP_ROOT", "EnergySample", "PackageCounter", "PackageEnergy", "missing_counters_reason",
           "package_counters", "powercap_root"]
