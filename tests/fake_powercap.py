"""A fake powercap tree whose RAPL package counter follows a known load → power curve.

``FakePowercap(root, curve)`` makes ``root/intel-rapl:0/{name,energy_uj,max_energy_range_uj}`` (plus a
core sub-domain and a psys domain, which a package reader must leave out). While :meth:`running`, a
background thread ticks at ~20 Hz: it reads the machine CPU load (``psutil.cpu_percent(interval=None)``,
whose baseline psutil keeps per thread; or the ``load`` callable given) and adds ``curve(load) × dt``
joules to ``energy_uj``, wrapping at ``max_energy_range_uj`` as the kernel does. Every write is atomic
(a temporary file in the same directory, then ``os.replace``): a reader never sees a half-written
number. The thread can run in the test process while the code under test (even the real CLI in a
subprocess) reads the files.
(A uniquely named module: every test folder has a ``conftest``.)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import psutil

TICK_S = 0.05


def linear_curve(idle_w: float = 20.0, full_w: float = 50.0) -> Callable[[float], float]:
    """``idle_w + (full_w − idle_w) × load/100``: linear, so a window's mean power is the power at its mean load."""
    return lambda load: idle_w + (full_w - idle_w) * load / 100.0


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class FakePowercap:
    def __init__(self, root: Path, curve: Callable[[float], float], *, start_uj: int = 0,
                 max_range_uj: int = 262_143_328_850, load: Callable[[], float] | None = None,
                 tick_s: float = TICK_S) -> None:
        self.root = Path(root)
        self.curve = curve
        self.load = load  # None: the machine's load, psutil.cpu_percent(interval=None)
        self.tick_s = tick_s
        self.max_range_uj = max_range_uj
        self.package = self.root / "intel-rapl:0"
        self.energy = self.package / "energy_uj"
        self.package.mkdir(parents=True)
        write_atomic(self.package / "name", "package-0\n")
        write_atomic(self.package / "max_energy_range_uj", f"{max_range_uj}\n")
        # A core sub-domain and a psys domain with large counters: added to the package, they would show.
        core = self.package / "intel-rapl:0:0"
        core.mkdir()
        write_atomic(core / "name", "core\n")
        write_atomic(core / "energy_uj", "123456789\n")
        psys = self.root / "intel-rapl:1"
        psys.mkdir()
        write_atomic(psys / "name", "psys\n")
        write_atomic(psys / "energy_uj", "987654321\n")
        self._uj = float(start_uj)
        write_atomic(self.energy, f"{start_uj}\n")
        self.ticks = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            read_load = self.load or (lambda: psutil.cpu_percent(interval=None))
            read_load()  # psutil: this thread's baseline
            last = time.monotonic()
            while not self._stop.wait(self.tick_s):
                load = read_load()
                now = time.monotonic()
                self._uj = (self._uj + self.curve(load) * (now - last) * 1e6) % (self.max_range_uj + 1)
                last = now
                write_atomic(self.energy, f"{int(self._uj)}\n")
                self.ticks += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test through .errors
            self.errors.append(exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fake-powercap", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @contextlib.contextmanager
    def running(self) -> Iterator[FakePowercap]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
