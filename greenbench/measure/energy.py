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

One sampling step (``_measure_power_and_energy``) is replaced by a ~25-line version that
closes the interval for all components at one instant, under a lock shared by codecarbon's
timer and our boundary samples. codecarbon 3.3's own step reads the clock per component and
moves its interval start only afterwards, so under a busy GIL it lost up to 12 % of a 0.2 s
window's energy (measured here), and two concurrent calls would count one interval twice.
The per-component power and energy models (RAPL, NVML, TDP × load, RAM) stay codecarbon's.

Provenance comes from what codecarbon set up (its hardware objects), never from guesses:
``measured:rapl`` / ``measured:nvml`` / ``measured:powermetrics`` / … /
``estimated:tdp`` (CPU model matched in codecarbon's CPU table) / ``estimated:constant``
(no match: codecarbon's fallback constant) / ``estimated:ram-model`` / ``none``.

Isolation and containment of codecarbon's known failure modes
-------------------------------------------------------------
* **No network, ever**: the offline tracker, no output methods (no CSV/API/HTTP/Prometheus
  handler exists), no Electricity Maps token; carbon intensity comes from codecarbon's
  bundled data files.
* **User config files** (``~/.codecarbon.config``, ``./.codecarbon.config``, ``CODECARBON_*``
  variables) are not read at all while our tracker is built (codecarbon's config reader is
  swapped for an empty one under a lock), and every parameter is passed explicitly.
* **Stale lock file** (``$TMPDIR/.codecarbon.lock``, an empty file with no pid, left behind by
  a killed process): ``allow_multiple_runs=True`` skips the lock entirely, which also keeps
  codecarbon from installing its own SIGINT/SIGTERM handlers. Nobody else's file is deleted.
* **Errors hidden by codecarbon** (its ``__init__``/``start``/``stop`` swallow exceptions and
  leave a half-built tracker): we call the undecorated functions, so a failure surfaces and
  the meter degrades to time-only with ``energy_source: "unavailable"`` and the reason.
* **stop() twice**: :meth:`EnergyMeter.close` is idempotent.
* **Threads left running**: close() disarms codecarbon's self-re-arming timers and joins
  every one of their threads (a timer that fires during ``stop()`` re-arms itself in
  codecarbon 3.3).
* **Unreadable RAPL files**: codecarbon then falls back to estimation; the provenance says
  so, and names the unreadable file.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Iterator

from greenbench.errors import UserError
from greenbench.measure.units import JOULES_PER_KWH, Energy

log = logging.getLogger(__name__)

COMPONENTS = ("cpu", "gpu", "ram")
TRACKING_MODES = ("machine", "process")
_CONFIG_PATCH_LOCK = threading.Lock()


# The codecarbon releases greenbench is tested with (pyproject.toml declares the same range). greenbench
# replaces one private method of codecarbon's tracker (``_measure_power_and_energy``) and reads its
# private state; every start checks that this private API still has the shape below
# (:func:`codecarbon_contract_problems`), and a tracker that does not becomes "unavailable" with the
# reason, never a silent mis-measurement.
CODECARBON_TESTED = ">=3.3,<3.4"
# What the replacement sampling step and EnergyMeter read and write on codecarbon's tracker.
_TRACKER_STATE = (
    "_last_measured_time", "_hardware", "_pue", "_total_energy", "_total_cpu_energy", "_total_gpu_energy",
    "_total_ram_energy", "_cpu_power", "_gpu_power", "_ram_power", "_cpu_power_sum", "_gpu_power_sum",
    "_ram_power_sum", "_power_measurement_count", "_scheduler", "_scheduler_monitor_power", "_start_time",
)


def codecarbon_contract_problems(tracker: Any) -> list[str]:
    """What is missing or different in codecarbon's private tracker API greenbench relies on ([] when none).

    Checked on a built, not yet started tracker: the sampling method exists with no arguments and is what
    codecarbon's timer calls, the tracker's state attributes exist, every hardware object measures
    ``(power, energy)`` over a ``last_duration``, and energies carry ``kWh``.
    """
    import inspect

    from codecarbon.emissions_tracker import BaseEmissionsTracker

    problems: list[str] = []
    original = getattr(BaseEmissionsTracker, "_measure_power_and_energy", None)
    if original is None:
        problems.append("BaseEmissionsTracker._measure_power_and_energy is gone")
    elif list(inspect.signature(original).parameters) != ["self"]:
        problems.append(f"_measure_power_and_energy{inspect.signature(original)} takes arguments")
    missing = [name for name in _TRACKER_STATE if not hasattr(tracker, name)]
    if missing:
        problems.append(f"tracker attributes missing: {', '.join(missing)}")
    scheduled = getattr(getattr(tracker, "_scheduler", None), "function", None)
    if getattr(scheduled, "__func__", None) is not type(tracker)._measure_power_and_energy:
        problems.append("codecarbon's sampling timer no longer calls _measure_power_and_energy")
    for hw in getattr(tracker, "_hardware", None) or []:
        measure = getattr(hw, "measure_power_and_energy", None)
        if measure is None or "last_duration" not in inspect.signature(measure).parameters:
            problems.append(f"{type(hw).__name__}.measure_power_and_energy(last_duration=...) is gone")
    if not hasattr(getattr(tracker, "_total_energy", None), "kWh"):
        problems.append("tracker energies have no kWh")
    return problems


def _codecarbon_version() -> str | None:
    try:
        return metadata.version("codecarbon")
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Snapshot:
    """Cumulative energy (kWh) per component and the sample count at one instant."""

    t: float
    cpu_kwh: float
    gpu_kwh: float
    ram_kwh: float
    samples: int


def overall_source(provenance: dict[str, str]) -> str:
    """``measured`` / ``estimated`` / ``mixed`` from per-component provenance (``none`` ignored)."""
    kinds = {v.partition(":")[0] for v in provenance.values() if v != "none"}
    if not kinds:
        return "unavailable"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds <= {"measured", "estimated"}:
        return "mixed"
    return "+".join(sorted(kinds))


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


# --------------------------------------------------------------------------- codecarbon glue
def _undecorated(func: Any) -> Any:
    """codecarbon wraps __init__/start/stop in ``suppress(Exception)``; get the plain function."""
    return getattr(func, "__wrapped__", func)


@contextlib.contextmanager
def _without_user_config() -> Iterator[None]:
    """Build a tracker without reading ~/.codecarbon.config, ./.codecarbon.config or CODECARBON_*."""
    import codecarbon.emissions_tracker as et

    with _CONFIG_PATCH_LOCK:
        original = et.get_hierarchical_config
        et.get_hierarchical_config = lambda: {}
        try:
            yield
        finally:
            et.get_hierarchical_config = original


@functools.lru_cache(maxsize=1)
def _tracker_class() -> type:
    from codecarbon import OfflineEmissionsTracker

    class GreenbenchTracker(OfflineEmissionsTracker):  # type: ignore[misc, valid-type]
        """codecarbon's offline tracker with a lock around its sampling, and errors not swallowed."""

        def __init__(self, **kwargs: Any) -> None:
            self._gb_lock = threading.RLock()
            _undecorated(OfflineEmissionsTracker.__init__)(self, **kwargs)

        def _measure_power_and_energy(self) -> None:
            """One sample of every component over the *same* interval, under a lock.

            codecarbon 3.3 reads the clock separately for each component and only then moves
            its ``_last_measured_time``; when the GIL is busy (a training loop) the time between
            those reads — measured up to 25 ms per sample here — is counted for no component,
            and two concurrent calls count one interval twice. Here one instant closes the
            interval for all components. The components' own power/energy models are codecarbon's.
            """
            with self._gb_lock:
                now = time.perf_counter()
                duration = max(0.0, now - self._last_measured_time)
                for hw in self._hardware:
                    power, energy = hw.measure_power_and_energy(last_duration=duration)
                    power, energy = power * self._pue, energy * self._pue
                    self._total_energy += energy
                    part = _component(hw)
                    if part == "cpu":
                        self._total_cpu_energy += energy
                        self._cpu_power = power
                        self._cpu_power_sum += power.W
                    elif part == "gpu":
                        self._total_gpu_energy += energy
                        self._gpu_power = power
                        self._gpu_power_sum += power.W
                    elif part == "ram":
                        self._total_ram_energy += energy
                        self._ram_power = power
                        self._ram_power_sum += power.W
                self._power_measurement_count += 1
                self._last_measured_time = now
                self._gb_last_sample = now

    return GreenbenchTracker


def _component(hw: Any) -> str | None:
    """Which of cpu/gpu/ram a codecarbon hardware object meters."""
    kind = type(hw).__name__
    if kind in ("CPU", "GPU", "RAM"):
        return kind.lower()
    part = str(getattr(hw, "chip_part", "")).lower()  # AppleSiliconChip, Raspberry
    return part if part in COMPONENTS else None


def _scheduler_threads(schedulers: list[Any]) -> list[threading.Thread]:
    ids = {id(s) for s in schedulers}
    return [
        t for t in threading.enumerate()
        if isinstance(t, threading.Timer) and id(getattr(t.function, "__self__", None)) in ids  # type: ignore[attr-defined]
    ]


def _reap_schedulers(schedulers: list[Any], timeout: float) -> None:
    """Stop codecarbon's PeriodicSchedulers for good and join their timer threads.

    ``PeriodicScheduler._run`` re-arms itself *before* running its function, bypassing the
    stopped flag, so a timer that fires while ``stop()`` runs leaves a live scheduler behind.
    Replacing ``start`` on the instance makes re-arming impossible; then every timer thread
    of these schedulers is cancelled and joined.
    """
    schedulers = [s for s in schedulers if s is not None]
    for s in schedulers:
        s.start = lambda *a, **k: None  # disarm: no more re-scheduling from a firing timer
        with contextlib.suppress(Exception):
            s.stop()
    deadline = time.monotonic() + timeout
    current = threading.current_thread()
    while True:
        alive = [t for t in _scheduler_threads(schedulers) if t.is_alive() and t is not current]
        timers = [getattr(s, "_timer", None) for s in schedulers]
        for t in [*alive, *[x for x in timers if x is not None]]:
            t.cancel()
        if not alive or time.monotonic() > deadline:
            break
        for t in alive:
            t.join(max(0.0, deadline - time.monotonic()))


# --------------------------------------------------------------------------- provenance
@functools.lru_cache(maxsize=8)
def _cpu_table_match(model: str | None) -> tuple[str | None, float | None]:
    """(name matched in codecarbon's CPU power table, its TDP in W) — codecarbon's own matcher."""
    if not model:
        return None, None
    from codecarbon.core.cpu import TDP
    from codecarbon.input import DataSource

    table = DataSource().get_cpu_power_data()
    finder = TDP.__new__(TDP)  # TDP() would re-detect the CPU; only its matcher is needed
    name = finder._get_matching_cpu(model, table)
    if not name:
        return None, None
    return str(name), float(TDP._get_cpu_constant_power(name, table))


def _cpu_provenance(hw: Any, rapl: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mode = getattr(hw, "_mode", None)
    measured = {
        "intel_rapl": "measured:rapl",
        "windows_emi": "measured:windows-emi",
        "intel_power_gadget": "measured:intel-power-gadget",
    }
    if mode in measured:
        detail: dict[str, Any] = {"method": mode, "scope": "machine (CPU package counters)"}
        if mode == "intel_rapl":
            files = getattr(getattr(hw, "_intel_interface", None), "_rapl_files", [])
            detail["counters"] = [str(getattr(f, "path", f)) for f in files]
        return measured[mode], detail
    model = getattr(hw, "_model", None)
    tdp_w = getattr(hw, "_tdp", None)
    detail = {
        "method": mode,
        "cpu_model": model,
        "tdp_w": tdp_w,
        "tracking_mode": getattr(hw, "_tracking_mode", None),
        "formula": (
            "TDP × (0.1 + 0.9 × load³), load = machine CPU load" if mode == "cpu_load"
            and getattr(hw, "_tracking_mode", None) == "machine"
            else "TDP × process CPU share" if mode == "cpu_load"
            else "TDP × 0.5 (constant)" if mode == "constant" else None
        ),
    }
    if rapl.get("unreadable"):
        path, err = next(iter(rapl["unreadable"].items()))
        detail["rapl"] = f"present but unreadable ({path}: {err}); estimated instead"
    elif not rapl.get("present"):
        detail["rapl"] = "absent"
    if getattr(hw, "_is_generic_tdp", False):
        detail["tdp_source"] = "codecarbon's generic constant (CPU model unknown)"
        return "estimated:constant", detail
    try:
        matched, table_tdp = _cpu_table_match(model)
    except Exception as exc:  # noqa: BLE001 - provenance must not break metering
        detail["tdp_source"] = f"unknown (codecarbon's CPU table could not be read: {exc})"
        return "estimated:constant", detail
    if matched is not None:
        detail["tdp_source"] = "codecarbon CPU table"
        detail["matched_model"] = matched
        detail["table_tdp_w"] = table_tdp
        return "estimated:tdp", detail
    detail["tdp_source"] = "codecarbon's fallback constant: CPU model not in its table (4 W per thread)"
    return "estimated:constant", detail


def _gpu_provenance(hw: Any) -> tuple[str, dict[str, Any]]:
    devices = list(getattr(getattr(hw, "devices", None), "devices", []) or [])
    kinds = {type(d).__name__ for d in devices}
    names = []
    counters = []
    for d in devices:
        with contextlib.suppress(Exception):
            names.append(d._get_gpu_name())
        counters.append(bool(getattr(d, "_has_counter", False)))
    ids = getattr(hw, "gpu_ids", None)
    detail = {
        "devices": names,
        "tracked_ids": list(ids) if ids is not None else None,
        "method": "energy counter" if counters and all(counters) else "sampled power" if counters else None,
        "scope": "whole board(s)",
    }
    if any("AMD" in k for k in kinds):
        return "measured:amdsmi", detail
    return "measured:nvml", detail


def _ram_provenance(hw: Any) -> tuple[str, dict[str, Any]]:
    mode = getattr(hw, "_tracking_mode", None)
    detail: dict[str, Any] = {"tracking_mode": mode, "model": "codecarbon RAM model: ~5 W per DIMM (x86), DIMMs from size"}
    with contextlib.suppress(Exception):
        detail["memory_gb"] = round(float(hw.machine_memory_GB if mode == "machine" else hw.process_memory_GB), 2)
    with contextlib.suppress(Exception):
        detail["power_w"] = float(hw.total_power().W)
    return "estimated:ram-model", detail


def hardware_provenance(hardware: list[Any], rapl: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Per-component provenance and details from codecarbon's hardware objects."""
    prov = {"cpu": "none", "gpu": "none", "ram": "none"}
    detail: dict[str, Any] = {}
    for hw in hardware:
        kind = type(hw).__name__
        part = str(getattr(hw, "chip_part", "")).lower()
        if kind == "CPU":
            prov["cpu"], detail["cpu"] = _cpu_provenance(hw, rapl)
        elif kind == "GPU":
            prov["gpu"], detail["gpu"] = _gpu_provenance(hw)
        elif kind == "RAM":
            prov["ram"], detail["ram"] = _ram_provenance(hw)
        elif kind == "AppleSiliconChip" and part in ("cpu", "gpu"):
            prov[part], detail[part] = "measured:powermetrics", {"method": "Apple powermetrics"}
        elif kind == "Raspberry" and part in ("cpu", "ram"):
            prov[part], detail[part] = "measured:raspberry-pmic", {"method": "Raspberry Pi PMIC"}
    return prov, detail


def carbon_intensity(country: str, region: str | None) -> tuple[float, str, str | None]:
    """(gCO₂eq/kWh, where it comes from, country name) — computed by codecarbon's own emissions code."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy as CCEnergy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    data = DataSource()
    mix = data.get_global_energy_mix_data()
    row = mix.get(country)
    name = row.get("country_name") if isinstance(row, dict) else None
    geo = GeoMetadata(country_iso_code=country, country_name=name, region=region)
    engine = Emissions(data, electricitymaps_api_token=None)
    g_per_kwh = float(engine.get_private_infra_emissions(CCEnergy.from_energy(kWh=1.0), geo)) * 1000.0
    version = _codecarbon_version()
    if row is None:
        source = f"codecarbon {version} world average ({country!r} is not in its global_energy_mix.json)"
    else:
        national = float(engine.get_country_emissions(CCEnergy.from_energy(kWh=1.0), geo)) * 1000.0
        if region and not math.isclose(national, g_per_kwh, rel_tol=1e-9):
            source = f"codecarbon {version} regional data for {country}/{region}"
        else:
            year = row.get("year")
            source = f"codecarbon {version} global_energy_mix.json: {name}" + (f", {year}" if year else "")
            if region:
                source += f" (no regional data for {region!r}: national value)"
    return g_per_kwh, source, name


# --------------------------------------------------------------------------- the meter
class CodecarbonContractError(RuntimeError):
    """The installed codecarbon's private tracker API is not the one greenbench was built against."""


class EnergyMeter:
    """Energy and CO₂ per named window, from one continuously sampling codecarbon tracker.

    ``EnergyMeter(country="USA", region=None, measure_power_secs=0.5, min_duration_s=2.0,
    min_samples=3, tracking_mode="machine")`` starts metering at once (hardware detection
    takes ~2 s the first time in a process). Use :meth:`begin_window` / :meth:`end_window`
    (nestable) and call :meth:`close` (idempotent) when done. If codecarbon cannot start, the
    meter is not :attr:`available`, windows return ``energy_source: "unavailable"`` with the
    reason, and nothing raises.

    ``tracking_mode="machine"`` (default) estimates from machine-wide CPU load and installed
    RAM, consistent with RAPL and NVML which are machine-wide counters anyway, and costs
    ~0.1 ms per sample; ``"process"`` attributes estimated CPU/RAM power to this process and
    its children but costs several ms per sample (psutil walks every process).
    """

    def __init__(
        self,
        country: str = "USA",
        region: str | None = None,
        *,
        measure_power_secs: float = 0.5,
        min_duration_s: float = 2.0,
        min_samples: int = 3,
        tracking_mode: str = "machine",
    ) -> None:
        if not (isinstance(country, str) and len(country) == 3 and country.isalpha()):
            raise UserError(f"energy.country: {country!r} is not an ISO 3166-1 alpha-3 country code (e.g. USA, FRA)")
        if not (0 < float(measure_power_secs) <= 1.0):
            raise UserError(f"energy.measure_power_secs: {measure_power_secs} must be > 0 and <= 1")
        if tracking_mode not in TRACKING_MODES:
            raise UserError(f"energy.tracking_mode: {tracking_mode!r} is not one of: {', '.join(TRACKING_MODES)}")
        self.country = country.upper()
        self.region = region
        self.measure_power_secs = float(measure_power_secs)
        self.min_duration_s = float(min_duration_s)
        self.min_samples = int(min_samples)
        self.tracking_mode = tracking_mode
        self.codecarbon_version = _codecarbon_version()
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
        with _without_user_config():
            tracker = _tracker_class()(
                country_iso_code=self.country,
                region=self.region,
                cloud_provider=None,
                cloud_region=None,
                country_2letter_iso_code=None,
                project_name="greenbench",
                experiment_name="greenbench",
                measure_power_secs=self.measure_power_secs,
                api_call_interval=-1,
                output_dir=self._workdir,
                output_methods=[],  # no CSV, API, logger, Prometheus or Logfire output
                output_handlers=[],
                emissions_endpoint=None,
                electricitymaps_api_token=None,
                gpu_ids=None,  # all visible GPUs (CUDA_VISIBLE_DEVICES is honoured)
                tracking_mode=self.tracking_mode,
                log_level="error",
                logger_preamble="",
                force_cpu_power=None,
                force_ram_power=None,
                force_carbon_intensity_g_co2e_kwh=None,
                force_mode_cpu_load=force_estimate,
                pue=1.0,
                wue=0.0,
                allow_multiple_runs=True,  # no lock file, and no SIGINT/SIGTERM handler of codecarbon's
                rapl_include_dram=False,
                rapl_prefer_psys=False,
                metadata=None,
            )
        self._tracker = tracker
        self._schedulers = [getattr(tracker, "_scheduler", None), getattr(tracker, "_scheduler_monitor_power", None)]
        problems = codecarbon_contract_problems(tracker)
        if problems:
            raise CodecarbonContractError(
                f"codecarbon {self.codecarbon_version} does not have the private tracker API greenbench replaces "
                f"({'; '.join(problems)}); greenbench is tested with codecarbon {CODECARBON_TESTED}: install a "
                f"release in that range (pip install 'codecarbon{CODECARBON_TESTED}')")
        _undecorated(type(tracker).start)(tracker)
        if tracker._start_time is None:
            raise RuntimeError("the tracker did not start")
        self.provenance, self.provenance_detail = hardware_provenance(list(tracker._hardware), rapl)
        self.energy_source = overall_source(self.provenance)
        self.intensity_g_per_kwh, self.intensity_source, self.country_name = carbon_intensity(self.country, self.region)

    def _shutdown_tracker(self) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            schedulers = [*self._schedulers, getattr(tracker, "_scheduler", None),
                          getattr(tracker, "_scheduler_monitor_power", None)]
            _reap_schedulers(schedulers, timeout=self.measure_power_secs + 5.0)
            try:
                _undecorated(type(tracker).stop)(tracker)
            except Exception as exc:  # noqa: BLE001 - a failing stop() must not fail the run
                log.debug("codecarbon stop() failed: %s", exc)
            _reap_schedulers(schedulers, timeout=self.measure_power_secs + 5.0)
        if self._workdir:
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
        return {
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

    @contextlib.contextmanager
    def window(self, name: str) -> Iterator[dict[str, Any]]:
        """``with meter.window("x") as e: ...`` — ``e`` is filled with the energy entry on exit."""
        out: dict[str, Any] = {}
        self.begin_window(name)
        try:
            yield out
        finally:
            out.update(self.end_window(name))


def leftover_threads() -> list[threading.Thread]:
    """Live threads started by codecarbon's schedulers (or an apscheduler), for leak checks."""
    found = []
    for t in threading.enumerate():
        owner = getattr(getattr(t, "function", None), "__self__", None)
        mod = type(owner).__module__ if owner is not None else type(t).__module__
        if t.is_alive() and (mod.startswith("codecarbon") or mod.startswith("apscheduler")
                             or t.name.lower().startswith("apscheduler")):
            found.append(t)
    return found


__all__ = ["EnergyMeter", "Snapshot", "carbon_intensity", "hardware_provenance", "leftover_threads",
           "not_metered", "overall_source"]

