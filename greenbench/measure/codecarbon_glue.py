"""The codecarbon glue: greenbench's tracker subclass, its isolated construction, the contract check on
codecarbon's private API, and the reaping of codecarbon's sampler threads.

:class:`~greenbench.measure.energy.EnergyMeter` is the only user; provenance (what codecarbon's
hardware objects say about how each figure was obtained) is :mod:`greenbench.measure.provenance`.

The replaced sampling step
--------------------------
One sampling step (``_measure_power_and_energy``) is replaced by a ~25-line version that
closes the interval for all components at one instant, under a lock shared by codecarbon's
timer and the meter's boundary samples. codecarbon 3.3's own step reads the clock per component and
moves its interval start only afterwards, so under a busy GIL it lost up to 12 % of a 0.2 s
window's energy (measured here), and two concurrent calls would count one interval twice.
The per-component power and energy models (RAPL, NVML, TDP × load, RAM) stay codecarbon's.

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
* **Threads left running**: :func:`shutdown` disarms codecarbon's self-re-arming timers and joins
  every one of their threads (a timer that fires during ``stop()`` re-arms itself in
  codecarbon 3.3).
* **Unreadable RAPL files**: codecarbon then falls back to estimation (``force_estimate``); the
  provenance says so, and names the unreadable file.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from importlib import metadata
from typing import Any, Iterator

log = logging.getLogger(__name__)

COMPONENTS = ("cpu", "gpu", "ram")
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


class CodecarbonContractError(RuntimeError):
    """The installed codecarbon's private tracker API is not the one greenbench was built against."""


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


def check_contract(tracker: Any, version: str | None) -> None:
    """Raise :class:`CodecarbonContractError`, naming ``version`` and the tested range, if the contract is broken."""
    problems = codecarbon_contract_problems(tracker)
    if problems:
        raise CodecarbonContractError(
            f"codecarbon {version} does not have the private tracker API greenbench replaces "
            f"({'; '.join(problems)}); greenbench is tested with codecarbon {CODECARBON_TESTED}: install a "
            f"release in that range (pip install 'codecarbon{CODECARBON_TESTED}')")


def codecarbon_version() -> str | None:
    try:
        return metadata.version("codecarbon")
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- the tracker
def undecorated(func: Any) -> Any:
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
def tracker_class() -> type:
    from codecarbon import OfflineEmissionsTracker

    class GreenbenchTracker(OfflineEmissionsTracker):  # type: ignore[misc, valid-type]
        """codecarbon's offline tracker with a lock around its sampling, and errors not swallowed."""

        def __init__(self, **kwargs: Any) -> None:
            self._gb_lock = threading.RLock()
            self._gb_cpu_curve: Any = None  # a calibrated load → power curve (greenbench calibrate), if used
            undecorated(OfflineEmissionsTracker.__init__)(self, **kwargs)

        def use_cpu_curve(self, curve: Any) -> None:
            """Estimate CPU power from a calibrated load → power curve instead of codecarbon's TDP model.

            The machine's CPU load is read with psutil over each sampling interval (the same
            machine-wide load codecarbon's model reads); ``curve.power_w(load_pct)`` is the fit.
            """
            import psutil

            psutil.cpu_percent(interval=None)  # starts psutil's interval: the first sample reads from here
            self._gb_cpu_curve = curve

        def _gb_curve_sample(self, duration: float) -> tuple[Any, Any]:
            import psutil
            from codecarbon.core.units import Energy, Power, Time

            power = Power.from_watts(float(self._gb_cpu_curve.power_w(psutil.cpu_percent(interval=None))))
            return power, Energy.from_power_and_time(power=power, time=Time.from_seconds(duration))

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
                    part = component(hw)
                    if part == "cpu" and self._gb_cpu_curve is not None:
                        power, energy = self._gb_curve_sample(duration)
                    else:
                        power, energy = hw.measure_power_and_energy(last_duration=duration)
                    power, energy = power * self._pue, energy * self._pue
                    self._total_energy += energy
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


def build_tracker(*, country: str, region: str | None, measure_power_secs: float, tracking_mode: str,
                  output_dir: str, force_estimate: bool, cpu_power_w: float | None = None) -> Any:
    """A built, not yet started :func:`tracker_class` tracker: offline, no user config, every parameter explicit.

    ``cpu_power_w``: a declared CPU power (all sockets, W) for codecarbon's CPU load model instead of its
    CPU table (``force_cpu_power`` with the load model forced); only for machines without CPU counters.
    """
    with _without_user_config():
        return tracker_class()(
            country_iso_code=country,
            region=region,
            cloud_provider=None,
            cloud_region=None,
            country_2letter_iso_code=None,
            project_name="greenbench",
            experiment_name="greenbench",
            measure_power_secs=measure_power_secs,
            api_call_interval=-1,
            output_dir=output_dir,
            output_methods=[],  # no CSV, API, logger, Prometheus or Logfire output
            output_handlers=[],
            emissions_endpoint=None,
            electricitymaps_api_token=None,
            gpu_ids=None,  # all visible GPUs (CUDA_VISIBLE_DEVICES is honoured)
            tracking_mode=tracking_mode,
            log_level="error",
            logger_preamble="",
            force_cpu_power=cpu_power_w,
            force_ram_power=None,
            force_carbon_intensity_g_co2e_kwh=None,
            force_mode_cpu_load=force_estimate or cpu_power_w is not None,
            pue=1.0,
            wue=0.0,
            allow_multiple_runs=True,  # no lock file, and no SIGINT/SIGTERM handler of codecarbon's
            rapl_include_dram=False,
            rapl_prefer_psys=False,
            metadata=None,
        )


def start(tracker: Any) -> None:
    """Start the tracker with codecarbon's undecorated ``start`` (its errors surface)."""
    undecorated(type(tracker).start)(tracker)
    if tracker._start_time is None:
        raise RuntimeError("the tracker did not start")


def schedulers(tracker: Any) -> list[Any]:
    """codecarbon's two periodic samplers of ``tracker`` (either may be ``None``)."""
    return [getattr(tracker, "_scheduler", None), getattr(tracker, "_scheduler_monitor_power", None)]


def shutdown(tracker: Any, known: list[Any], timeout: float) -> None:
    """Stop ``tracker`` for good: its samplers (and the ``known`` ones) reaped before and after ``stop()``."""
    every = [*known, *schedulers(tracker)]
    reap_schedulers(every, timeout=timeout)
    try:
        undecorated(type(tracker).stop)(tracker)
    except Exception as exc:  # noqa: BLE001 - a failing stop() must not fail the run
        log.debug("codecarbon stop() failed: %s", exc)
    reap_schedulers(every, timeout=timeout)


def component(hw: Any) -> str | None:
    """Which of cpu/gpu/ram a codecarbon hardware object meters."""
    kind = type(hw).__name__
    if kind in ("CPU", "GPU", "RAM"):
        return kind.lower()
    part = str(getattr(hw, "chip_part", "")).lower()  # AppleSiliconChip, Raspberry
    return part if part in COMPONENTS else None


# --------------------------------------------------------------------------- threads
def _scheduler_threads(schedulers: list[Any]) -> list[threading.Thread]:
    ids = {id(s) for s in schedulers}
    return [
        t for t in threading.enumerate()
        if isinstance(t, threading.Timer) and id(getattr(t.function, "__self__", None)) in ids  # type: ignore[attr-defined]
    ]


def reap_schedulers(schedulers: list[Any], timeout: float) -> None:
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


__all__ = ["CODECARBON_TESTED", "COMPONENTS", "CodecarbonContractError", "build_tracker", "check_contract",
           "codecarbon_contract_problems", "codecarbon_version", "leftover_threads", "reap_schedulers",
           "schedulers", "shutdown", "start", "tracker_class"]
