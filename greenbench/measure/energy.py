"""Energy and CO₂ of named windows, through codecarbon's ``OfflineEmissionsTracker``.

How it works
------------
One tracker per :class:`EnergyMeter`, started once (hardware detection happens here, not in a
measured window) and sampling continuously every ``measure_power_secs`` (≤ 1 s) in
codecarbon's own background timer. A window is a pair of *snapshots* of the tracker's
cumulative per-component energy (CPU, GPU, RAM); each snapshot first forces one extra
sample, so every window — even a 50 ms one — ends on a fresh reading and its energy is
exactly the integral between its two boundaries. Windows may nest or overlap freely (a
``train`` window around its ``train/epoch-N`` windows): each just keeps its start snapshot.
codecarbon's task API (``start_task``/``stop_task``) was measured and rejected: it cannot
nest, pauses the periodic sampler (ignoring ``measure_power_secs``) and reads the counters
once per task.

The rest is in three neighbours, one job each:

* :mod:`greenbench.measure.codecarbon_glue` — the tracker subclass (its replaced sampling step),
  its isolated construction (no network, no user config, no lock file), the check of codecarbon's
  private API (``CODECARBON_TESTED``) and the reaping of codecarbon's sampler threads;
* :mod:`greenbench.measure.provenance` — ``measured:…`` / ``estimated:…`` per component, from
  codecarbon's hardware objects, and the grid's carbon intensity;
* :mod:`greenbench.measure.settings` — the energy settings, validated once.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Iterator

from greenbench.measure import codecarbon_glue, intervals
from greenbench.measure.codecarbon_glue import (  # noqa: F401 - re-exported: public names of this module
    CODECARBON_TESTED,
    COMPONENTS,
    CodecarbonContractError,
    codecarbon_contract_problems,
    leftover_threads,
)
from greenbench.measure.provenance import carbon_intensity, hardware_provenance, overall_source
from greenbench.measure.settings import EnergySettings
from greenbench.measure.units import JOULES_PER_KWH, Energy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """Cumulative energy (kWh) per component and the sample count at one instant."""

    t: float
    cpu_kwh: float
    gpu_kwh: float
    ram_kwh: float
    samples: int


def not_metered(source: str, reason: str) -> dict[str, Any]:
    """The energy entry of a window that has no energy figures (``disabled`` or ``unavailable``)."""
    label = source if source == "disabled" else f"{source}: {reason}"
    return {
        "energy_source": source,
        "reason": reason,
        "provenance": {c: label for c in COMPONENTS},
        "cpu_kwh": None, "gpu_kwh": None, "ram_kwh": None, "total_kwh": None, "co2_kg": None,
        "low_confidence": None,
    }


class EnergyMeter:
    """Energy and CO₂ per named window, from one continuously sampling codecarbon tracker.

    ``EnergyMeter(country="USA", region=None, measure_power_secs=0.5, min_duration_s=2.0,
    min_samples=3, tracking_mode="machine")`` (settings checked by
    :meth:`~greenbench.measure.settings.EnergySettings.validated`; :meth:`from_settings` takes
    settings validated already) starts metering at once (hardware detection
    takes ~2 s the first time in a process). Use :meth:`begin_window` / :meth:`end_window`
    (nestable) and call :meth:`close` (idempotent) when done. If codecarbon cannot start, the
    meter is not :attr:`available`, windows return ``energy_source: "unavailable"`` with the
    reason, and nothing raises.

    ``tracking_mode="machine"`` (default) estimates from machine-wide CPU load and installed
    RAM, consistent with RAPL and NVML which are machine-wide counters anyway, and costs
    ~0.1 ms per sample; ``"process"`` attributes estimated CPU/RAM power to this process and
    its children but costs several ms per sample (psutil walks every process).
    """

    def __init__(self, country: str = "USA", region: str | None = None, **settings: Any) -> None:
        # measure_power_secs, min_duration_s, min_samples, tracking_mode: EnergySettings.validated's keywords
        self._begin(EnergySettings.validated(country, region, **settings))

    @classmethod
    def from_settings(cls, settings: EnergySettings) -> EnergyMeter:
        """A meter for settings validated already (:mod:`greenbench.measure.settings`); they are not checked again."""
        meter = cls.__new__(cls)
        meter._begin(settings)
        return meter

    def _begin(self, settings: EnergySettings) -> None:
        self.settings = settings
        self.country = settings.country
        self.region = settings.region
        self.measure_power_secs = settings.measure_power_secs
        self.min_duration_s = settings.min_duration_s
        self.min_samples = settings.min_samples
        self.tracking_mode = settings.tracking_mode
        self.codecarbon_version = codecarbon_glue.codecarbon_version()
        self.reason: str | None = None
        self.provenance: dict[str, str] = {}
        self.provenance_detail: dict[str, Any] = {}
        self.energy_source = "unavailable"
        self.intensity_g_per_kwh: float | None = None
        self.intensity_source: str | None = None
        self.country_name: str | None = None
        self._tracker: Any = None
        self._schedulers: list[Any] = []
        self._windows: dict[str, Snapshot] = {}
        self._closed = False
        self._workdir: str | None = None
        self._lock = threading.Lock()
        try:
            self._start()
        except CodecarbonContractError as exc:
            self.reason = str(exc)
            log.warning("energy metering unavailable: %s", self.reason)
            self._shutdown_tracker()
        except Exception as exc:  # noqa: BLE001 - never crash a run because of metering
            self.reason = f"codecarbon could not start: {type(exc).__name__}: {exc}"
            log.warning("energy metering unavailable: %s", self.reason)
            self._shutdown_tracker()

    # ------------------------------------------------------------------ lifecycle
    @property
    def available(self) -> bool:
        return self._tracker is not None and not self._closed

    def _start(self) -> None:
        from greenbench.measure import cpuinfo_cache, env

        import codecarbon  # noqa: F401 - its import resets its logger to INFO; quiet it afterwards

        try:  # codecarbon's CPU naming would otherwise spin a core for a second in every process
            cpuinfo_cache.install()
        except Exception as exc:  # noqa: BLE001 - an optimisation: never worth the energy figures
            log.info("py-cpuinfo cache not installed: %s", exc)

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        rapl = env.rapl_status()
        # RAPL counters that exist but cannot be read: make codecarbon estimate instead of trusting
        # its os.access() probe (which says "readable" to root even when reads fail) and then
        # reporting zero "measured" CPU energy.
        force_estimate = bool(rapl["present"] and not rapl["readable"])
        self._workdir = tempfile.mkdtemp(prefix="greenbench-codecarbon-")

        def build(cpu_power_w: float | None = None) -> Any:
            return codecarbon_glue.build_tracker(
                country=self.country, region=self.region, measure_power_secs=self.measure_power_secs,
                tracking_mode=self.tracking_mode, output_dir=self._workdir, force_estimate=force_estimate,
                cpu_power_w=cpu_power_w,
            )

        def begin(cpu_power_w: float | None = None) -> Any:
            tracker = build(cpu_power_w)
            self._tracker = tracker
            self._schedulers = codecarbon_glue.schedulers(tracker)
            codecarbon_glue.check_contract(tracker, self.codecarbon_version)
            codecarbon_glue.start(tracker)  # codecarbon picks each component's method here
            self.provenance, self.provenance_detail = hardware_provenance(list(tracker._hardware), rapl)
            return tracker

        tracker = begin()
        # No CPU counter: a calibrated curve for this CPU model (greenbench calibrate), else a declared CPU power,
        # else codecarbon's CPU table. Counters always win; what was chosen, and why, goes into the provenance.
        cpu_choice = self._cpu_estimate_choice() if self.provenance.get("cpu", "").startswith("estimated") else None
        if cpu_choice and cpu_choice[0] == "declared":
            self._shutdown_tracker(keep_workdir=True)
            tracker = begin(cpu_power_w=cpu_choice[1])
        if cpu_choice and self.provenance.get("cpu", "").startswith("estimated"):
            kind, value, detail = cpu_choice
            if kind == "calibrated":
                tracker.use_cpu_curve(value)
            self.provenance["cpu"] = f"estimated:{'calibrated' if kind == 'calibrated' else 'declared-tdp'}"
            self.provenance_detail["cpu"] = {**self.provenance_detail.get("cpu", {}), **detail}
        self.energy_source = overall_source(self.provenance)
        self.intensity_g_per_kwh, self.intensity_source, self.country_name = carbon_intensity(self.country, self.region)

    def _cpu_estimate_choice(self) -> tuple[str, Any, dict[str, Any]] | None:
        """``("calibrated", curve, detail)`` / ``("declared", watts, detail)`` for a machine without CPU counters,
        or ``None`` to keep codecarbon's CPU table."""
        curve = None
        try:
            from greenbench.measure import curves, env

            curve = curves.find_curve(env.cpu_model())
        except Exception as exc:  # noqa: BLE001 - a broken calibration file must not cost the energy figures
            log.warning("calibration curve not used: %s", exc)
        if curve is not None:
            return "calibrated", curve, {
                "method": "calibrated load → power curve (greenbench calibrate)",
                "curve": curve.path, "calibrated_cpu_model": curve.cpu_model, "fit_rel_error": curve.rel_error,
                "points": len(curve.points), "tdp_source": "calibration against RAPL counters on a machine with "
                "the same CPU model",
            }
        watts, origin = self.settings.declared_cpu_tdp()
        if watts is not None:
            return "declared", watts, {"tdp_w": watts, "tdp_source": f"declared: {origin} = {watts:g} W",
                                       "formula": "declared power × (0.1 + 0.9 × load³), load = machine CPU load"
                                       if self.tracking_mode == "machine" else "declared power × process CPU share"}
        return None

    def _shutdown_tracker(self, keep_workdir: bool = False) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            codecarbon_glue.shutdown(tracker, self._schedulers, timeout=self.measure_power_secs + 5.0)
        if self._workdir and not keep_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def close(self) -> None:
        """Stop the tracker and join its threads. Idempotent; windows still open are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._windows.clear()
            self._shutdown_tracker()

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leave sampler threads behind
        with contextlib.suppress(Exception):
            if not self._closed:
                self.close()

    # ------------------------------------------------------------------ windows
    def snapshot(self) -> Snapshot:
        """Force one sample now and return the cumulative totals (raises if unavailable)."""
        tracker = self._tracker
        if tracker is None:
            raise RuntimeError(self.reason or "energy meter is closed")
        with tracker._gb_lock:
            tracker._measure_power_and_energy()
            return Snapshot(
                t=tracker._gb_last_sample,
                cpu_kwh=float(tracker._total_cpu_energy.kWh),
                gpu_kwh=float(tracker._total_gpu_energy.kWh),
                ram_kwh=float(tracker._total_ram_energy.kWh),
                samples=int(tracker._power_measurement_count),
            )

    def unavailable(self) -> dict[str, Any]:
        reason = self.reason or ("energy meter is closed" if self._closed else "energy meter is not running")
        return not_metered("unavailable", reason)

    def begin_window(self, name: str) -> None:
        """Open window ``name`` (any number may be open, nested or overlapping)."""
        with self._lock:
            if name in self._windows:
                raise ValueError(f"energy window {name!r} is already open")
            if not self.available:
                return
            try:
                self._windows[name] = self.snapshot()
            except Exception as exc:  # noqa: BLE001
                self.reason = f"sampling failed: {type(exc).__name__}: {exc}"
                log.warning("energy window %r: %s", name, self.reason)

    def end_window(self, name: str) -> dict[str, Any]:
        """Close window ``name`` and return its energy entry (see :meth:`result`)."""
        with self._lock:
            start = self._windows.pop(name, None)
            if start is None or not self.available:
                return self.unavailable()
            try:
                end = self.snapshot()
            except Exception as exc:  # noqa: BLE001
                return not_metered("unavailable", f"sampling failed: {type(exc).__name__}: {exc}")
        return self.result(start, end)

    def result(self, start: Snapshot, end: Snapshot) -> dict[str, Any]:
        """The JSON-able energy entry of the interval between two snapshots."""
        duration = max(0.0, end.t - start.t)
        kwh = {c: max(0.0, getattr(end, f"{c}_kwh") - getattr(start, f"{c}_kwh")) for c in COMPONENTS}
        total = Energy(sum(kwh.values()))
        samples = end.samples - start.samples
        reasons = []
        if duration < self.min_duration_s:
            reasons.append(f"window of {duration:.3g} s is shorter than {self.min_duration_s:g} s")
        if samples < self.min_samples:
            reasons.append(f"{samples} power sample(s), fewer than {self.min_samples}")
        if self.provenance.get("cpu", "").startswith("measured") and kwh["cpu"] <= 0 and duration >= self.min_duration_s:
            reasons.append("the CPU energy counter reported nothing (unreadable or stalled counter?)")

        def watts(k: float) -> float:
            return k * JOULES_PER_KWH / duration if duration > 0 else 0.0

        assert self.intensity_g_per_kwh is not None
        entry = {
            "energy_source": self.energy_source,
            "provenance": dict(self.provenance),
            "provenance_detail": self.provenance_detail,
            "cpu_kwh": kwh["cpu"],
            "gpu_kwh": kwh["gpu"],
            "ram_kwh": kwh["ram"],
            "total_kwh": total.kwh,
            "co2_kg": total.co2_kg(self.intensity_g_per_kwh),
            "duration_s": duration,
            "cpu_power_w": watts(kwh["cpu"]),
            "gpu_power_w": watts(kwh["gpu"]),
            "ram_power_w": watts(kwh["ram"]),
            "samples": samples,
            "country": self.country,
            "country_name": self.country_name,
            "region": self.region,
            "carbon_intensity_g_per_kwh": self.intensity_g_per_kwh,
            "carbon_intensity_source": self.intensity_source,
            "tracking_mode": self.tracking_mode,
            "measure_power_secs": self.measure_power_secs,
            "codecarbon_version": self.codecarbon_version,
            "low_confidence": bool(reasons),
            "low_confidence_reason": "; ".join(reasons) or None,
        }
        # The interval of every figure, by the method that produced it (greenbench.measure.intervals).
        entry["interval"] = intervals.interval(entry)
        return entry

    @contextlib.contextmanager
    def window(self, name: str) -> Iterator[dict[str, Any]]:
        """``with meter.window("x") as e: ...`` — ``e`` is filled with the energy entry on exit."""
        out: dict[str, Any] = {}
        self.begin_window(name)
        try:
            yield out
        finally:
            out.update(self.end_window(name))


__all__ = ["EnergyMeter", "Snapshot", "carbon_intensity", "hardware_provenance", "leftover_threads",
           "not_metered", "overall_source"]
