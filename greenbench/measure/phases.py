"""Named, nestable measurement windows: wall time, CPU time, peak memory, energy.

    rec = PhaseRecorder(suite.energy, sync=backend.synchronize, device_memory=backend.peak_device_memory)
    with rec.phase("train"):
        for epoch in ...:
            with rec.phase(f"train/epoch-{epoch}"):
                ...
    rec.take()   # {"train": PHASE, "train/epoch-1": PHASE, ...}
    rec.close()

PHASE = ``{"wall_s", "cpu_s", "peak_rss_bytes", "peak_rss_method", "peak_device_mem_bytes",
"start_s", "energy": ENERGY, "cotenancy": COTENANCY}`` (plus ``"error"`` if the body raised), JSON-able;
COTENANCY is what the rest of the machine did during the window (:mod:`greenbench.measure.cotenancy`).

What each figure is
-------------------
* ``wall_s``: ``time.perf_counter()`` between the two boundaries. ``sync()`` runs *before*
  the start reading (the previous phase's queued device work stays out) and *before* the
  end reading (this phase's queued work is in).
* ``cpu_s``: ``time.process_time()`` delta — user + system time of every thread of this
  process; child processes are not included (the workloads run in-process).
* ``peak_rss_bytes``: the highest resident set size during the window. The kernel's
  high-water mark (``VmHWM``, and ``ru_maxrss``) is a process-lifetime peak, so at every
  window boundary it is read and then reset by writing ``5`` to ``/proc/self/clear_refs``
  (Linux ≥ 4.0, own process, no privilege); each window's peak is the max over the segments
  between boundaries inside it: exact, no sampling (``peak_rss_method: "vmhwm-reset"``).
  Where that is not possible (macOS, Windows, a locked-down /proc, or a second recorder in
  the same process) a thread samples RSS every ``rss_sample_secs`` and at every boundary
  (``"sampled-<interval>s"``): a spike shorter than the interval can be missed. One side
  effect of the reset: after it, ``ru_maxrss`` no longer holds the lifetime peak.
* ``peak_device_mem_bytes``: from the ``device_memory`` callback, called at every boundary;
  it must return the peak since its previous call (and reset it), or ``None`` (no GPU).
* ``energy``: see :mod:`greenbench.measure.energy`. Nested windows are metered by their own
  counter snapshots (exact, no attribution by duration share). With energy switched off
  (``enabled: false``) every window says ``energy_source: "disabled"``.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

from greenbench.measure.cotenancy import CoTenancy, CpuSnapshot
from greenbench.measure.energy import EnergyMeter, not_metered
from greenbench.measure.settings import energy_settings, settings_for

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_HWM_RE = re.compile(rb"VmHWM:\s+(\d+)\s+kB")
_RSS_RE = re.compile(rb"VmRSS:\s+(\d+)\s+kB")
_hwm_lock = threading.Lock()
_hwm_in_use = False  # VmHWM is per process: only one recorder may reset it

def _proc_kb(pattern: re.Pattern[bytes]) -> int | None:
    try:
        with open(_STATUS, "rb") as fh:
            m = pattern.search(fh.read())
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


def _rss_now() -> int:
    rss = _proc_kb(_RSS_RE)
    if rss is not None:
        return rss
    import psutil

    return int(psutil.Process().memory_info().rss)


class PeakRSS:
    """Peak resident memory between consecutive calls of :meth:`segment_peak`."""

    def __init__(self, sample_secs: float = 0.05) -> None:
        global _hwm_in_use
        self.sample_secs = sample_secs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak = 0
        self._lock = threading.Lock()
        self._owns_hwm = False
        with _hwm_lock:
            if not _hwm_in_use and self._reset_hwm() and _proc_kb(_HWM_RE) is not None:
                _hwm_in_use = self._owns_hwm = True
        if self._owns_hwm:
            self.method = "vmhwm-reset"
        else:
            self.method = f"sampled-{sample_secs:g}s"
            self._peak = _rss_now()
            self._thread = threading.Thread(target=self._sample, name="greenbench-rss-sampler", daemon=True)
            self._thread.start()

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open(_CLEAR_REFS, "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_secs):
            rss = _rss_now()
            with self._lock:
                self._peak = max(self._peak, rss)

    def segment_peak(self) -> int:
        """Peak RSS since the previous call (or since creation), then start a new segment."""
        if self._owns_hwm:
            peak = _proc_kb(_HWM_RE) or 0
            self._reset_hwm()
            return max(peak, _rss_now())
        rss = _rss_now()
        with self._lock:
            peak, self._peak = max(self._peak, rss), rss
        return peak

    def __del__(self) -> None:  # a recorder that was never closed must not hold the high-water mark
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        global _hwm_in_use
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._owns_hwm:
            with _hwm_lock:
                _hwm_in_use = self._owns_hwm = False


class _Window:
    __slots__ = ("name", "seq", "t0", "c0", "start_s", "peak_rss", "peak_dev", "co0")

    def __init__(self, name: str, seq: int, start_s: float, rss: int) -> None:
        self.name, self.seq, self.start_s = name, seq, start_s
        self.peak_rss = rss
        self.peak_dev: int | None = None
        self.t0 = self.c0 = 0.0
        self.co0: CpuSnapshot | None = None


class _Phase:
    """The context manager returned by :meth:`PhaseRecorder.phase`."""

    __slots__ = ("rec", "name", "sync")

    def __init__(self, rec: PhaseRecorder, name: str, sync: Callable[[], Any] | None) -> None:
        self.rec, self.name, self.sync = rec, name, sync

    def __enter__(self) -> PhaseRecorder:
        self.rec._open_window(self.name, self.sync)
        return self.rec

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.rec._close_window(self.name, self.sync, exc_type)


class PhaseRecorder:
    """Records named phase windows (nestable) for one process; see the module docstring.

    ``PhaseRecorder(energy=None, *, sync=None, device_memory=None, meter=None,
    rss_sample_secs=0.05)``: ``energy`` is the suite's energy settings (``EnergyConfig``,
    a mapping, ``None`` for the defaults, or ``False`` for off); an :class:`EnergyMeter`
    is started at once unless energy is off or ``meter`` is given (then the caller owns
    it). Call :meth:`close` when done (idempotent).
    """

    def __init__(
        self,
        energy: Any = None,
        *,
        sync: Callable[[], Any] | None = None,
        device_memory: Callable[[], int | None] | None = None,
        meter: EnergyMeter | None = None,
        rss_sample_secs: float = 0.05,
        cotenancy: CoTenancy | bool = True,
    ) -> None:
        if meter is None:
            settings = settings_for(energy)
        else:  # the caller's meter is used as it is; unknown keys in ``energy`` are still refused
            energy_settings(energy)
            settings = None
        self.sync = sync
        self.device_memory = device_memory
        self.energy_enabled = settings is not None or meter is not None
        self._owns_meter = meter is None and settings is not None
        self.meter: EnergyMeter | None = meter if meter is not None else (
            EnergyMeter.from_settings(settings) if settings is not None else None
        )
        self._rss = PeakRSS(rss_sample_secs)
        # What the rest of the machine did during each window (greenbench.measure.cotenancy)
        self.cotenancy: CoTenancy | None = (CoTenancy() if cotenancy is True else cotenancy) or None
        self._t_origin = time.perf_counter()
        self._open: dict[str, _Window] = {}
        self._done: dict[str, tuple[int, dict[str, Any]]] = {}
        self._seq = 0
        self._lock = threading.RLock()
        self._closed = False
        self.device_memory_error: str | None = None

    # ------------------------------------------------------------------ public
    def phase(self, name: str, *, sync: Callable[[], Any] | None = None) -> _Phase:
        """A window named ``name``; ``sync`` (else the recorder's) runs at both boundaries."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"phase name must be a non-empty string, got {name!r}")
        return _Phase(self, name, sync if sync is not None else self.sync)

    @property
    def phases(self) -> dict[str, dict[str, Any]]:
        """Closed windows not yet taken, in the order they were opened."""
        with self._lock:
            return {k: v for k, (_, v) in sorted(self._done.items(), key=lambda kv: kv[1][0])}

    def take(self) -> dict[str, dict[str, Any]]:
        """Return the closed windows (in opening order) and forget them; open windows stay."""
        with self._lock:
            out = self.phases
            self._done.clear()
            return out

    @property
    def open_phases(self) -> list[str]:
        return list(self._open)

    def close(self) -> None:
        """Stop energy metering (if this recorder started it) and the RSS sampler. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._open.clear()
        if self._owns_meter and self.meter is not None:
            self.meter.close()
        self._rss.close()

    def __enter__(self) -> PhaseRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ windows
    def _boundary(self) -> int:
        """Close the current memory segment: fold its peaks into every open window."""
        rss = self._rss.segment_peak()
        dev: int | None = None
        if self.device_memory is not None:
            try:
                value = self.device_memory()
                dev = int(value) if value is not None else None
            except Exception as exc:  # noqa: BLE001 - a failing probe costs the figure, not the run
                self.device_memory_error = f"{type(exc).__name__}: {exc}"
        for w in self._open.values():
            w.peak_rss = max(w.peak_rss, rss)
            if dev is not None:
                w.peak_dev = dev if w.peak_dev is None else max(w.peak_dev, dev)
        return rss

    def _open_window(self, name: str, sync: Callable[[], Any] | None) -> None:
        if self._closed:
            raise RuntimeError("PhaseRecorder is closed")
        if name in self._open:
            raise ValueError(f"phase {name!r} is already open")
        if sync is not None:
            sync()
        with self._lock:
            if name in self._done:
                raise ValueError(f"phase {name!r} was already recorded and not taken yet")
            self._boundary()
            self._seq += 1
            w = _Window(name, self._seq, time.perf_counter() - self._t_origin, _rss_now())
            self._open[name] = w
            # The co-tenancy snapshot first (it walks the process tree: milliseconds on a busy machine), then the
            # energy window, then the clocks: the energy window wraps the timed one as tightly as before.
            if self.cotenancy is not None:
                w.co0 = self.cotenancy.snapshot()
            if self.meter is not None:
                self.meter.begin_window(name)
            w.t0, w.c0 = time.perf_counter(), time.process_time()

    def _close_window(self, name: str, sync: Callable[[], Any] | None, exc_type: Any) -> None:
        sync_error: BaseException | None = None
        if sync is not None:
            try:
                sync()
            except BaseException as e:  # noqa: BLE001 - recorded first, re-raised below
                sync_error = e
        t1, c1 = time.perf_counter(), time.process_time()
        with self._lock:
            w = self._open.get(name)
            if w is None:  # closed meanwhile (recorder closed)
                if sync_error is not None and exc_type is None:
                    raise sync_error
                return
            self._boundary()
            del self._open[name]
            if self.meter is not None:
                energy = self.meter.end_window(name)
            elif self.energy_enabled:
                energy = not_metered("unavailable", "no energy meter")
            else:
                energy = not_metered("disabled", "energy metering is switched off (energy.enabled: false)")
            co1 = self.cotenancy.snapshot() if self.cotenancy is not None else None  # after the energy window
            result: dict[str, Any] = {
                "wall_s": t1 - w.t0,
                "cpu_s": c1 - w.c0,
                "peak_rss_bytes": int(w.peak_rss),
                "peak_rss_method": self._rss.method,
                "peak_device_mem_bytes": w.peak_dev,
                "start_s": w.start_s,
                "energy": energy,
            }
            if self.cotenancy is not None and w.co0 is not None and co1 is not None:
                result["cotenancy"] = self.cotenancy.window(w.co0, co1)
            if exc_type is not None:
                result["error"] = getattr(exc_type, "__name__", str(exc_type))
            elif sync_error is not None:
                result["error"] = f"sync: {type(sync_error).__name__}"
            self._done[name] = (w.seq, result)
        if sync_error is not None and exc_type is None:
            raise sync_error


__all__ = ["PeakRSS", "PhaseRecorder", "energy_settings"]
