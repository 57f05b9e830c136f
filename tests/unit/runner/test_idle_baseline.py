"""run_plan and the idle baseline: measured once before the first workload, written to idle-baseline.json,
added to every record the driver writes (net energy per phase), measured again at the end of a long
invocation (drift), and a Ctrl-C in the middle of it handled like one anywhere else.

A fake dispatcher records runs with constant-power energy entries; a fake meter (time-based, power set by
the test) stands in for codecarbon in the driver. The real meter and the real CLI: tests/e2e/test_run_idle_baseline.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from greenbench.console import make_console
from greenbench.measure import idle, intervals
from greenbench.runner.local import run_plan
from greenbench.runner.records import base_record
from greenbench.suite import expand, load_suite
from greenbench.suite.plan import RunSpec

SMOKE = Path(__file__).resolve().parents[3] / "suites" / "smoke.yaml"
PHASE_W = {"cpu": 30.0, "ram": 6.0}
PROVENANCE = {"cpu": "estimated:tdp", "gpu": "none", "ram": "estimated:ram-model"}


def energy(watts: dict[str, float], duration: float, step: float = 0.5) -> dict[str, Any]:
    kwh = {c: watts.get(c, 0.0) * duration / 3.6e6 for c in ("cpu", "gpu", "ram")}
    e = {"energy_source": "estimated", "provenance": dict(PROVENANCE), "provenance_detail": {},
         **{f"{c}_kwh": v for c, v in kwh.items()}, "total_kwh": sum(kwh.values()),
         "co2_kg": sum(kwh.values()) * 0.4, "carbon_intensity_g_per_kwh": 400.0, "duration_s": duration,
         "samples": int(duration * 2), "tracking_mode": "machine", "measure_power_secs": step,
         "low_confidence": False, "low_confidence_reason": None}
    e["interval"] = intervals.interval(e)
    return e


class FakeDispatcher:
    """Records every run as completed, with a train phase at PHASE_W; a skipped run has no phases."""

    env = {"machine": "fake-machine"}

    def __init__(self) -> None:
        self.ready_waits = 0
        self.interrupted = self.closed = False

    def wait_ready(self) -> None:
        self.ready_waits += 1

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
        for spec in group:
            rec = base_record(spec, "completed", env=self.env)
            rec["metrics"] = {"test_accuracy": 0.9}
            rec["phases"] = {"train": {"wall_s": 4.0, "energy": energy(PHASE_W, 4.0)},
                             "evaluate": {"wall_s": 1.0, "energy": energy(PHASE_W, 1.0)}}
            yield {"type": "record", "record": rec}

    def interrupt(self) -> None:
        self.interrupted = True

    def close(self) -> None:
        self.closed = True


class FakeMeter:
    """The driver's meter: windows of real (monotonic) time at ``power[0]`` watts of CPU + 6 W RAM, sampled
    every 10 ms (so that a 0.2 s baseline's edges leave room to see drift: greenbench.measure.idle.drift)."""

    power = [10.0]
    made: list["FakeMeter"] = []

    def __init__(self, settings: Any) -> None:
        self.open: dict[str, float] = {}
        self.closed = False
        FakeMeter.made.append(self)

    def begin_window(self, name: str) -> None:
        self.open[name] = time.monotonic()

    def end_window(self, name: str) -> dict[str, Any]:
        duration = time.monotonic() - self.open.pop(name)
        return energy({"cpu": FakeMeter.power[0], "ram": 6.0}, duration, step=0.01) | {"samples": 10}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_meter(monkeypatch: pytest.MonkeyPatch) -> type[FakeMeter]:
    monkeypatch.setattr(idle, "_default_meter", FakeMeter)
    monkeypatch.setenv("GREENBENCH_IDLE_BASELINE_S", "0.2")
    FakeMeter.power = [10.0]
    FakeMeter.made = []
    return FakeMeter


def plan(**energy_settings: Any):
    suite = load_suite(SMOKE)
    if energy_settings:
        suite = suite.model_copy(update={"energy": suite.energy.model_copy(update=energy_settings)})
    return suite, [r for r in expand(suite) if r.backend == "torch" and r.model == "mlp"]


def run(tmp_path: Path, **energy_settings: Any) -> tuple[Any, str, FakeDispatcher]:
    suite, runs = plan(**energy_settings)
    out = io.StringIO()
    fake = FakeDispatcher()
    outcome = run_plan(suite, runs, results_dir=tmp_path, dispatcher=fake,
                       console=make_console(file=out, width=200), quiet=False)
    return outcome, out.getvalue(), fake


def records(results: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("*.json")) if p.name != idle.FILE_NAME]


def test_the_baseline_is_measured_once_written_shown_and_added_to_every_record(
        tmp_path: Path, mnist_dir: Path, fake_meter: type[FakeMeter]) -> None:
    outcome, console, fake = run(tmp_path)
    assert outcome.counts == {"completed": 2}
    assert len(fake_meter.made) == 1 and fake_meter.made[0].closed and fake.ready_waits == 1
    lines = [ln for ln in console.splitlines() if ln.startswith("idle baseline: ")]
    assert len(lines) == 1 and "16 W" in lines[0] and "CPU 10 W + RAM 6 W" in lines[0]
    data = json.loads((tmp_path / idle.FILE_NAME).read_text())
    (start,) = data["baselines"]
    assert start["when"] == "start" and start["machine"] == "fake-machine" and start["total_w"] == pytest.approx(16.0)
    assert data["drift"] == []  # a short invocation is not measured again
    recs = records(tmp_path)
    assert len(recs) == 2
    for rec in recs:
        assert rec["idle_baseline"]["invocation"] == start["invocation"]
        assert rec["idle_baseline"]["total_w"] == pytest.approx(16.0)
        for phase in rec["phases"].values():
            e = phase["energy"]
            assert 0 <= e["net_total_kwh"] <= e["total_kwh"]
            assert e["net_total_kwh"] == pytest.approx(e["total_kwh"] * (36 - 16) / 36)
            assert e["idle_w"] == pytest.approx(16.0)


def test_a_second_invocation_appends_and_a_finished_suite_measures_nothing(
        tmp_path: Path, mnist_dir: Path, fake_meter: type[FakeMeter]) -> None:
    suite, runs = plan()
    run_plan(suite, runs[:1], results_dir=tmp_path, dispatcher=FakeDispatcher())
    run_plan(suite, runs, results_dir=tmp_path, dispatcher=FakeDispatcher())
    first, second = json.loads((tmp_path / idle.FILE_NAME).read_text())["baselines"]
    assert first["invocation"] != second["invocation"]
    by_run = {r["run_id"]: r["idle_baseline"]["invocation"] for r in records(tmp_path)}
    assert by_run == {runs[0].run_id: first["invocation"], runs[1].run_id: second["invocation"]}
    run_plan(suite, runs, results_dir=tmp_path, dispatcher=FakeDispatcher())  # nothing left to run
    assert len(fake_meter.made) == 2
    assert len(json.loads((tmp_path / idle.FILE_NAME).read_text())["baselines"]) == 2


@pytest.mark.parametrize("why", ["energy off", "length 0"])
def test_no_baseline_without_energy_or_with_length_zero(
        tmp_path: Path, mnist_dir: Path, fake_meter: type[FakeMeter], monkeypatch: pytest.MonkeyPatch,
        why: str) -> None:
    if why == "energy off":
        outcome, console, _ = run(tmp_path, enabled=False)
    else:
        monkeypatch.setenv("GREENBENCH_IDLE_BASELINE_S", "0")
        outcome, console, _ = run(tmp_path)
    assert outcome.counts == {"completed": 2}
    assert fake_meter.made == [] and not (tmp_path / idle.FILE_NAME).exists()
    assert "idle baseline" not in console
    assert all("idle_baseline" not in r and "net_total_kwh" not in r["phases"]["train"]["energy"]
               for r in records(tmp_path))


def test_a_long_invocation_measures_again_and_warns_of_drift(
        tmp_path: Path, mnist_dir: Path, fake_meter: type[FakeMeter]) -> None:
    class Drifting(FakeDispatcher):
        def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
            FakeMeter.power[0] = 20.0  # a background job raised the idle load meanwhile
            yield from super().execute(group, log_path)

    suite, runs = plan(idle_recheck_after_s=0.001)
    out = io.StringIO()
    run_plan(suite, runs, results_dir=tmp_path, dispatcher=Drifting(), console=make_console(file=out, width=200),
             quiet=False)
    data = json.loads((tmp_path / idle.FILE_NAME).read_text())
    assert [b["when"] for b in data["baselines"]] == ["start", "end"]
    (d,) = data["drift"]
    assert d["invocation"] == data["baselines"][0]["invocation"]
    assert d["start_w"] == pytest.approx(16.0) and d["end_w"] == pytest.approx(26.0) and d["flagged"] is True
    assert "warning: idle power drifted +6" in out.getvalue()  # +62 % (+63 % as the fake clock rounds)


def test_no_drift_warning_when_idle_power_stays(tmp_path: Path, mnist_dir: Path, fake_meter: type[FakeMeter]) -> None:
    _, console, _ = run(tmp_path, idle_recheck_after_s=0.001)
    (d,) = json.loads((tmp_path / idle.FILE_NAME).read_text())["drift"]
    assert d["flagged"] is False and d["change"] == pytest.approx(0.0)
    assert "drifted" not in console


def test_ctrl_c_during_the_baseline_stops_like_anywhere_else_and_keeps_what_is_recorded(
        tmp_path: Path, mnist_dir: Path, fake_meter: type[FakeMeter], monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    suite, runs = plan()
    run_plan(suite, runs[:1], results_dir=tmp_path, dispatcher=FakeDispatcher())
    kept = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}

    class Interrupted(FakeMeter):
        def begin_window(self, name: str) -> None:
            super().begin_window(name)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the driver sleeps through the baseline

    monkeypatch.setattr(idle, "_default_meter", Interrupted)
    monkeypatch.setenv("GREENBENCH_IDLE_BASELINE_S", "5")
    # Ctrl-C as from a terminal: pytest launched in the background of a non-interactive shell inherits SIGINT
    # *ignored*, and run_plan (rightly) keeps ignoring it there — the baseline would sleep its 5 s through
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, ignored))
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    fake = FakeDispatcher()
    t0 = time.monotonic()
    outcome = run_plan(suite, runs, results_dir=tmp_path, dispatcher=fake)
    assert time.monotonic() - t0 < 5
    assert outcome.interrupted and outcome.interrupted_by == "SIGINT"
    assert fake.interrupted and fake.closed and FakeMeter.made[-1].closed
    assert {s: signal.getsignal(s) for s in before} == before
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.json")} == kept  # nothing recorded is lost
    assert outcome.counts == {"completed": 1, "not run": 1}
