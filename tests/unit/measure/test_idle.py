"""The idle baseline (greenbench.measure.idle): its fields, net energy, drift, and what "idle" means per method.

A fake meter stands in for codecarbon: its power per component is set by the test (and can change between
windows), its clock advances by what the baseline sleeps, and its entries carry the interval the real meter
would give (greenbench.measure.intervals), so everything but codecarbon itself is the real code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from greenbench.measure import idle, intervals
from greenbench.measure.settings import ENV_IDLE_BASELINE, EnergySettings
from greenbench.results.store import SIDE_FILES, ResultStore

TDP = {"cpu": "estimated:tdp", "gpu": "none", "ram": "estimated:ram-model"}
RAPL_NVML = {"cpu": "measured:rapl", "gpu": "measured:nvml", "ram": "estimated:ram-model"}


def entry(watts: dict[str, float], duration: float, *, provenance: dict[str, str] = TDP, samples: int = 20,
          step: float = 0.5, mode: str = "machine", intensity: float = 400.0,
          detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """An energy entry as EnergyMeter.result writes it, for constant power per component."""
    kwh = {c: watts.get(c, 0.0) * duration / 3.6e6 for c in ("cpu", "gpu", "ram")}
    total = sum(kwh.values())
    e = {"energy_source": "estimated", "provenance": dict(provenance), "provenance_detail": dict(detail or {}),
         "cpu_kwh": kwh["cpu"], "gpu_kwh": kwh["gpu"], "ram_kwh": kwh["ram"], "total_kwh": total,
         "co2_kg": total * intensity / 1000.0, "duration_s": duration, "samples": samples,
         "carbon_intensity_g_per_kwh": intensity, "tracking_mode": mode, "measure_power_secs": step,
         "low_confidence": False, "low_confidence_reason": None}
    e["interval"] = intervals.interval(e)
    return e


class FakeMeter:
    """begin/end windows on a fake clock at the power the test sets (``meter.watts`` may change any time)."""

    def __init__(self, watts: dict[str, float], provenance: dict[str, str] = TDP, mode: str = "machine",
                 sample_every: float = 0.5, detail: dict[str, Any] | None = None) -> None:
        self.watts, self.provenance, self.mode, self.sample_every = dict(watts), provenance, mode, sample_every
        self.detail = detail
        self.t = 0.0
        self.open: dict[str, float] = {}
        self.closed = False

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def begin_window(self, name: str) -> None:
        self.open[name] = self.t

    def end_window(self, name: str) -> dict[str, Any]:
        duration = self.t - self.open.pop(name)
        return entry(self.watts, duration, provenance=self.provenance, mode=self.mode,
                     samples=int(duration / self.sample_every), step=self.sample_every, detail=self.detail)

    def close(self) -> None:
        self.closed = True


def settings(**kw: Any) -> EnergySettings:
    return EnergySettings.validated(**{"measure_power_secs": 0.5, "min_samples": 3, **kw})


class FakeTenancy:
    """What the rest of the machine did during the window: ``share`` of its CPU (and the order of calls)."""

    def __init__(self, share: float | None, calls: list[str] | None = None) -> None:
        self.share, self.calls = share, calls if calls is not None else []

    def snapshot(self) -> str:
        self.calls.append("snapshot")
        return "snap"

    def window(self, start: str, end: str) -> dict[str, Any]:
        return {"other_cpu_s": (self.share or 0.0) * 20.0, "steal_s": 0.0, "own_cpu_s": 0.1, "cpus": 2,
                "other_share": self.share, "load_1m": 1.0, "gpu_other_processes": None}


def baseline_of(meter: FakeMeter, seconds: float = 10.0, **kw: Any) -> dict[str, Any]:
    """The baseline on the fake clock, in a quiet window. The window's co-tenancy must come from a fake too:
    the machine's real CPU counters, read twice a few microseconds apart around a fake 10 s sleep, see a
    neighbour's 10 ms scheduler tick as most of the machine, and the baseline would be judged contaminated
    (seen once in 19 flake-check runs under a busy neighbour)."""
    return idle.measure_idle(settings(**kw), seconds, meter_factory=lambda s: meter, sleep=meter.sleep,
                             tenancy=FakeTenancy(0.0))


# --------------------------------------------------------------------------- the baseline
def test_the_baseline_has_its_fields_as_json_and_closes_its_meter() -> None:
    meter = FakeMeter({"cpu": 12.0, "ram": 6.0})
    b = baseline_of(meter, 10.0)
    assert meter.closed and not meter.open
    json.dumps(b)  # JSON-able
    assert b["duration_s"] == pytest.approx(10.0) and b["requested_s"] == 10.0 and b["samples"] == 20
    assert b["total_w"] == pytest.approx(18.0) and b["cpu_w"] == pytest.approx(12.0)
    assert b["gpu_w"] == 0.0 and b["ram_w"] == pytest.approx(6.0)
    assert b["total_w_low"] < b["total_w"] < b["total_w_high"]
    assert b["energy_source"] == "estimated" and b["provenance"] == TDP and b["tracking_mode"] == "machine"
    assert b["low_confidence"] is False and b["low_confidence_reason"] is None
    assert b["measured_at"].endswith("+00:00")
    assert set(b["meaning"]) == {"cpu", "gpu", "ram"}
    assert 0 < b["edge_fraction"] < 0.1  # one 0.5 s sample at the edges of a 10 s window, CPU only


def test_too_few_samples_make_a_low_confidence_baseline() -> None:
    b = baseline_of(FakeMeter({"cpu": 10.0}, sample_every=1.0), 2.0, min_samples=3)
    assert b["low_confidence"] is True and "2 power sample(s), fewer than 3" in b["low_confidence_reason"]
    assert "low confidence" in idle.describe(b)


def test_the_meter_is_closed_when_the_baseline_is_interrupted() -> None:
    meter = FakeMeter({"cpu": 10.0})

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        idle.measure_idle(settings(), 10.0, meter_factory=lambda s: meter, sleep=interrupted,
                          tenancy=FakeTenancy(0.0))
    assert meter.closed and not meter.open


def test_an_unavailable_meter_gives_a_baseline_without_figures_and_nothing_is_subtracted() -> None:
    class Unavailable(FakeMeter):
        def end_window(self, name: str) -> dict[str, Any]:
            self.open.pop(name)
            from greenbench.measure.energy import not_metered

            return not_metered("unavailable", "codecarbon could not start")

    b = baseline_of(Unavailable({}), 1.0)
    assert b["total_w"] is None and "codecarbon could not start" in b["reason"]
    phase = entry({"cpu": 30.0}, 5.0)
    assert idle.net_energy(phase, b) == phase
    assert "no figure" in idle.describe(b)


def test_the_console_line_is_one_line_with_power_interval_and_source() -> None:
    line = idle.describe(baseline_of(FakeMeter({"cpu": 12.0, "ram": 6.0}), 10.0))
    assert "\n" not in line
    assert line.startswith("idle baseline: 18 W (interval ") and "over 10.0 s: CPU 12 W + RAM 6 W, estimated" in line


def test_the_per_machine_setting_gives_the_length_and_zero_switches_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_IDLE_BASELINE, "0")
    assert settings().idle_seconds() == 0.0
    monkeypatch.setenv(ENV_IDLE_BASELINE, "3")
    assert settings(idle_baseline_s=10).idle_seconds() == 3.0
    monkeypatch.delenv(ENV_IDLE_BASELINE)
    assert settings(idle_baseline_s=7).idle_seconds() == 7.0


# --------------------------------------------------------------------------- what idle means
@pytest.mark.parametrize("component, provenance, mode, words", [
    ("cpu", "measured:rapl", "machine", "measured CPU power with no workload running"),
    ("gpu", "measured:nvml", "machine", "measured GPU power with no workload running"),
    ("cpu", "estimated:tdp", "machine", "a model's idle, not a measurement"),
    ("cpu", "estimated:declared-tdp", "machine", "TDP × (0.1 + 0.9 × load³)"),
    ("cpu", "estimated:calibrated", "machine", "the curve's idle, not a measurement"),
    ("cpu", "estimated:constant", "machine", "a model's idle, not a measurement"),
    ("ram", "estimated:ram-model", "machine", "net RAM energy is zero by construction"),
    ("cpu", "estimated:tdp", "process", "own-process share"),
    ("gpu", "none", "machine", "nothing to subtract"),
])
def test_meaning_says_what_idle_is_for_each_method(component: str, provenance: str, mode: str, words: str) -> None:
    assert words in idle.meaning(component, provenance, mode)


@pytest.mark.parametrize("cpu_mode, says, never", [
    ("constant", "net CPU energy is zero by construction", "a model's idle"),
    ("cpu_load", "TDP × (0.1 + 0.9 × load³)", "zero"),
])
def test_a_fallback_tdp_is_zero_net_only_without_a_load_term(cpu_mode: str, says: str, never: str) -> None:
    # codecarbon labels both "no TDP from its table"; on this 2-vCPU VM its load model with the fallback TDP
    # gave 0.8 W idle and about 7 W while training, so "net is zero by construction" was false there.
    text = idle.meaning("cpu", "estimated:constant", "machine", {"method": cpu_mode, "tdp_w": 8})
    assert says in text and never not in text


def test_the_baseline_reads_the_cpu_method_from_the_provenance_detail() -> None:
    constant = {"cpu": "estimated:constant", "gpu": "none", "ram": "estimated:ram-model"}
    load = baseline_of(FakeMeter({"cpu": 0.8, "ram": 20.0}, provenance=constant,
                                 detail={"cpu": {"method": "cpu_load", "tdp_w": 8}}))
    flat = baseline_of(FakeMeter({"cpu": 4.0, "ram": 20.0}, provenance=constant,
                                 detail={"cpu": {"method": "constant", "tdp_w": 8}}))
    assert "load³" in load["meaning"]["cpu"] and "zero" not in load["meaning"]["cpu"]
    assert "zero by construction" in flat["meaning"]["cpu"]


def test_the_baseline_carries_the_meaning_of_each_components_method() -> None:
    b = baseline_of(FakeMeter({"cpu": 20.0, "gpu": 60.0, "ram": 6.0}, provenance=RAPL_NVML))
    assert "measured CPU power" in b["meaning"]["cpu"] and "measured GPU power" in b["meaning"]["gpu"]
    assert "zero by construction" in b["meaning"]["ram"]
    process = baseline_of(FakeMeter({"cpu": 0.5, "ram": 0.1}, mode="process"), tracking_mode="process")
    assert "own-process share" in process["meaning"]["cpu"] and process["tracking_mode"] == "process"


# --------------------------------------------------------------------------- net energy
@pytest.mark.parametrize("phase_w", [0.0, 5.0, 18.0, 40.0, 400.0])
@pytest.mark.parametrize("duration", [0.05, 2.0, 60.0])
def test_net_is_between_zero_and_gross_for_every_phase(phase_w: float, duration: float) -> None:
    b = baseline_of(FakeMeter({"cpu": 12.0, "ram": 6.0}))
    gross = entry({"cpu": phase_w * 0.7, "ram": phase_w * 0.3}, duration)
    net = idle.net_energy(gross, b)
    assert 0.0 <= net["net_total_kwh"] <= net["total_kwh"]
    expected = max(0.0, gross["total_kwh"] - 18.0 * duration / 3.6e6)
    assert net["net_total_kwh"] == pytest.approx(expected, abs=1e-15)
    assert net["net_co2_kg"] == pytest.approx(net["net_total_kwh"] * 400.0 / 1000.0)
    assert net["idle_w"] == pytest.approx(18.0)
    assert {k: net[k] for k in gross} == gross  # the gross figures stay as they were


def test_the_net_interval_is_the_components_band_times_its_net_plus_the_gross_edge() -> None:
    b = baseline_of(FakeMeter({"cpu": 10.0}))
    gross = entry({"cpu": 40.0}, 30.0)
    net = idle.net_energy(gross, b)
    assert net["net_total_kwh"] / gross["total_kwh"] == pytest.approx(0.75)
    band = intervals.BANDS["estimated:tdp"]
    edge = 40.0 * 0.5 / 3.6e6  # one sampling interval of the gross power
    n = net["net_total_kwh"]
    assert net["net_interval_kwh"] == pytest.approx([n * band.low - edge, n * band.high + edge])
    assert net["net_interval_kwh"][0] <= n <= net["net_interval_kwh"][1]


def test_net_energy_takes_each_components_idle_and_band() -> None:
    # This VM: codecarbon's CPU load model with a fallback TDP (÷5 … ×5) and a constant 20 W RAM model.
    fallback = {"cpu": "estimated:constant", "gpu": "none", "ram": "estimated:ram-model"}
    b = baseline_of(FakeMeter({"cpu": 0.8, "ram": 20.0}, provenance=fallback))
    gross = entry({"cpu": 7.0, "ram": 20.0}, 10.0, provenance=fallback)
    net = idle.net_energy(gross, b)
    cpu_net = (7.0 - 0.8) * 10.0 / 3.6e6
    assert net["net_total_kwh"] == pytest.approx(cpu_net)  # the RAM model's net is zero: net is the CPU's
    # the RAM model's idle as a real baseline holds it (20 W read back through kWh and seconds): a reading equal
    # to it up to rounding is no energy, not a 3.2e-15 kWh lower bound the report would print
    rounded = {**b, "ram_w": 19.999999999999996, "cpu_w": 0.8}
    ram_only = idle.net_energy(entry({"cpu": 0.8, "ram": 20.0}, 0.652, provenance=fallback), rounded)
    assert ram_only["net_total_kwh"] == 0.0 and ram_only["net_interval_kwh"][0] == 0.0
    edge = 7.0 * 0.5 / 3.6e6
    assert net["net_interval_kwh"] == pytest.approx([max(0.0, cpu_net * 0.2 - edge), cpu_net * 5.0 + edge])
    # the gross mix's band, scaled, would claim a far narrower interval for the same figure
    lo, hi = gross["interval"]["total_kwh"]
    k = cpu_net / gross["total_kwh"]
    assert net["net_interval_kwh"][1] - net["net_interval_kwh"][0] > 1.5 * (hi - lo) * k


def test_a_baseline_without_component_watts_falls_back_to_the_total() -> None:
    b = {"total_w": 10.0}  # an older record's compact baseline
    gross = entry({"cpu": 40.0}, 30.0)
    net = idle.net_energy(gross, b)
    ratio = net["net_total_kwh"] / gross["total_kwh"]
    assert ratio == pytest.approx(0.75)
    lo, hi = gross["interval"]["total_kwh"]
    assert net["net_interval_kwh"] == pytest.approx([lo * ratio, hi * ratio])


def test_a_phase_below_idle_has_zero_net_energy_and_interval() -> None:
    net = idle.net_energy(entry({"cpu": 5.0}, 10.0), baseline_of(FakeMeter({"cpu": 10.0})))
    assert net["net_total_kwh"] == 0.0 and net["net_co2_kg"] == 0.0 and net["net_interval_kwh"] == [0.0, 0.0]


def test_a_component_below_its_idle_offsets_another_above_it_before_clipping() -> None:
    b = baseline_of(FakeMeter({"cpu": 12.0, "ram": 6.0}))
    net = idle.net_energy(entry({"cpu": 12.6, "ram": 5.4}, 10.0), b)  # 18 W in all: as much as idle
    assert net["net_total_kwh"] == pytest.approx(0.0, abs=1e-15)
    lo, hi = net["net_interval_kwh"]
    assert lo == 0.0 < hi  # the bands allow some energy above idle, not below zero


def test_a_record_gets_net_fields_on_metered_phases_and_the_compact_baseline() -> None:
    b = baseline_of(FakeMeter({"cpu": 10.0, "ram": 5.0}))
    rec = {"run_id": "r", "status": "completed", "phases": {
        "train": {"wall_s": 20.0, "energy": entry({"cpu": 30.0, "ram": 5.0}, 20.0)},
        "train/epoch-1": {"wall_s": 10.0, "energy": entry({"cpu": 30.0, "ram": 5.0}, 10.0)},
        "evaluate": {"wall_s": 1.0, "energy": {"energy_source": "disabled", "total_kwh": None}},
    }}
    out = idle.add_net_energy(rec, b, invocation="inv-1")
    assert out["idle_baseline"]["total_w"] == pytest.approx(15.0) and out["idle_baseline"]["invocation"] == "inv-1"
    assert set(out["idle_baseline"]) == {*idle.COMPACT_KEYS, "invocation"}
    for name in ("train", "train/epoch-1"):
        e = out["phases"][name]["energy"]
        assert 0 <= e["net_total_kwh"] <= e["total_kwh"]
    assert "net_total_kwh" not in out["phases"]["evaluate"]["energy"]
    assert "net_total_kwh" not in rec["phases"]["train"]["energy"]  # the input is not changed


def test_a_record_without_energy_stays_as_it_is() -> None:
    b = baseline_of(FakeMeter({"cpu": 10.0}))
    skipped = {"run_id": "r", "status": "skipped", "phases": {}}
    assert idle.add_net_energy(skipped, b) is skipped
    off = {"run_id": "r", "status": "completed", "phases": {"train": {"energy": {"energy_source": "disabled",
                                                                                 "total_kwh": None}}}}
    assert idle.add_net_energy(off, b) is off
    assert idle.add_net_energy(off, None) is off


# --------------------------------------------------------------------------- drift
def test_drift_is_flagged_when_idle_power_changes() -> None:
    meter = FakeMeter({"cpu": 10.0, "ram": 5.0})
    start = baseline_of(meter)
    meter.watts = {"cpu": 14.0, "ram": 5.0}  # a background job started: the load at idle went up
    end = baseline_of(meter)
    d = idle.drift(start, end)
    assert d["start_w"] == pytest.approx(15.0) and d["end_w"] == pytest.approx(19.0)
    assert d["change"] == pytest.approx(4 / 15) and d["flagged"] is True
    assert d["threshold"] == pytest.approx(max(0.10, start["edge_fraction"] + end["edge_fraction"]))
    down = idle.drift(end, start)
    assert down["change"] < 0 and down["flagged"] is True


def test_drift_is_not_flagged_when_idle_power_stays() -> None:
    meter = FakeMeter({"cpu": 10.0, "ram": 5.0})
    start = baseline_of(meter)
    meter.watts = {"cpu": 10.5, "ram": 5.0}  # +3 %: within 10 %
    d = idle.drift(start, baseline_of(meter))
    assert d["flagged"] is False and d["change"] == pytest.approx(0.5 / 15)
    assert idle.drift(start, start)["change"] == 0.0


def test_short_baselines_need_a_larger_change_to_flag_drift() -> None:
    # 1 s windows sampled every 0.5 s: each edge term is half the window's energy, so 30 % is within them
    meter = FakeMeter({"cpu": 10.0})
    start = baseline_of(meter, 1.0)
    meter.watts = {"cpu": 13.0}
    d = idle.drift(start, baseline_of(meter, 1.0))
    assert d["threshold"] == pytest.approx(1.0) and not d["flagged"]


def test_drift_without_figures_is_not_flagged() -> None:
    d = idle.drift({"total_w": None}, {"total_w": 10.0})
    assert d["change"] is None and d["flagged"] is False
    assert not math.isnan(d["threshold"])


# --------------------------------------------------------------------------- the file
def test_the_file_is_appended_to_and_never_loses_entries(tmp_path: Path) -> None:
    b = baseline_of(FakeMeter({"cpu": 10.0}))
    idle.append(tmp_path, baselines=[{**b, "invocation": "a", "when": "start", "machine": "m"}])
    idle.append(tmp_path, baselines=[{**b, "invocation": "b", "when": "start", "machine": "m"},
                                     {**b, "invocation": "b", "when": "end", "machine": "m"}],
                drifts=[{"invocation": "b", **idle.drift(b, b)}])
    data = idle.read_file(tmp_path / idle.FILE_NAME)
    assert [(e["invocation"], e["when"]) for e in data["baselines"]] == [("a", "start"), ("b", "start"), ("b", "end")]
    assert [d["invocation"] for d in data["drift"]] == ["b"]


def test_an_unreadable_file_is_set_aside_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / idle.FILE_NAME).write_text("{torn")
    idle.append(tmp_path, baselines=[{"invocation": "x", "when": "start"}])
    assert (tmp_path / f"{idle.FILE_NAME}.corrupt-1").read_text() == "{torn"
    assert idle.read_file(tmp_path / idle.FILE_NAME)["baselines"] == [{"invocation": "x", "when": "start"}]


def test_the_results_store_does_not_take_the_file_for_a_record(tmp_path: Path) -> None:
    assert idle.FILE_NAME in SIDE_FILES
    idle.append(tmp_path, baselines=[{"invocation": "x"}])
    scan = ResultStore(tmp_path).scan()
    assert scan.records == {} and scan.corrupt == []


# --------------------------------------------------------------------------- a busy idle window
def test_an_idle_window_shared_with_a_busy_neighbour_is_contaminated_and_nothing_is_subtracted() -> None:
    meter = FakeMeter({"cpu": 2.1, "ram": 20.0})
    b = idle.measure_idle(settings(), 10.0, meter_factory=lambda s: meter, sleep=meter.sleep,
                          tenancy=FakeTenancy(0.57), threshold=0.10)
    assert b["contaminated"] is True and b["cotenancy"]["other_share"] == 0.57
    assert "57% of the machine's CPU" in b["contamination_reason"] and "no net energy" in b["contamination_reason"]
    assert "no net energy" in idle.describe(b)
    rec = {"run_id": "r", "status": "completed",
           "phases": {"train": {"wall_s": 20.0, "energy": entry({"cpu": 1.9, "ram": 20.0}, 20.0)}}}
    out = idle.apply_baseline(rec, b)
    assert out["idle_baseline"]["contaminated"] is True  # the record says why it has no net figure
    assert "net_total_kwh" not in out["phases"]["train"]["energy"]


def test_a_quiet_idle_window_is_not_contaminated_and_a_short_one_is_not_judged() -> None:
    meter = FakeMeter({"cpu": 0.8, "ram": 20.0})
    quiet = idle.measure_idle(settings(), 10.0, meter_factory=lambda s: meter, sleep=meter.sleep,
                              tenancy=FakeTenancy(0.02), threshold=0.10)
    assert quiet["contaminated"] is False and quiet["contamination_reason"] is None
    rec = {"run_id": "r", "status": "completed",
           "phases": {"train": {"wall_s": 20.0, "energy": entry({"cpu": 7.0, "ram": 20.0}, 20.0)}}}
    assert idle.apply_baseline(rec, quiet)["phases"]["train"]["energy"]["net_total_kwh"] > 0
    meter = FakeMeter({"cpu": 0.8, "ram": 20.0})
    short = idle.measure_idle(settings(), 0.5, meter_factory=lambda s: meter, sleep=meter.sleep,
                              tenancy=FakeTenancy(0.9), threshold=0.10)
    assert short["contaminated"] is None  # CPU times tick every 10 ms: a window under 1 s is not judged


def test_the_quiet_wait_runs_before_the_idle_window_opens() -> None:
    calls: list[str] = []
    meter = FakeMeter({"cpu": 1.0})
    begin = meter.begin_window
    meter.begin_window = lambda name: (calls.append("begin"), begin(name))[1]  # type: ignore[method-assign]
    idle.measure_idle(settings(), 2.0, meter_factory=lambda s: meter, sleep=meter.sleep,
                      tenancy=FakeTenancy(0.0, calls), before=lambda: calls.append("wait for quiet"))
    assert calls == ["wait for quiet", "begin", "snapshot", "snapshot"]
