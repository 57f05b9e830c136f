"""The real CLI's ``greenbench calibrate`` on a fake RAPL tree, and on a machine without one.

``python -m greenbench calibrate`` runs in a subprocess, as a user would, with
``GREENBENCH_POWERCAP_ROOT`` pointing at a fake powercap tree (tests/fake_powercap.py) whose counter a
thread of this test process advances by a known linear curve of the machine's CPU load — the load the
CLI's busy cores make. No framework is imported (``none`` session).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fake_powercap import FakePowercap, linear_curve
from process_support import gone

from e2e_support import ROOT, sigint_default

ROW = re.compile(r"^(idle|\d+ cores?)\s+(\d+\.\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d|n/a)\s+([+-]\d+\.\d|n/a)$")


def cli_env(tmp_path: Path, powercap: Path) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "GREENBENCH_CACHE_DIR": str(tmp_path / "cache"),
            "GREENBENCH_POWERCAP_ROOT": str(powercap)}


def calibrate_cli(*args: str, tmp_path: Path, powercap: Path) -> subprocess.CompletedProcess:
    env = cli_env(tmp_path, powercap)
    return subprocess.run([sys.executable, "-m", "greenbench", "calibrate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.slow
def test_calibrate_prints_the_ladder_and_stores_the_curve(tmp_path: Path) -> None:
    f = linear_curve(20.0, 50.0)
    fake = FakePowercap(tmp_path / "powercap", f)
    with fake.running():
        proc = calibrate_cli("--step-s", "1", "--max-cores", "2", tmp_path=tmp_path, powercap=fake.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not fake.errors
    lines = proc.stdout.splitlines()
    rows = [m.groups() for m in map(ROW.match, lines) if m]
    n = min(2, os.cpu_count() or 1)
    assert [r[0] for r in rows] == ["idle", "1 core", "2 cores"][: n + 1], proc.stdout
    for name, load, watts, cc, diff in rows:
        # linear curve: a rung's mean power is the power at its mean load (15 %: two readers of the load)
        assert float(watts) == pytest.approx(f(float(load)), rel=0.15), (name, proc.stdout)
        if cc != "n/a":
            assert float(diff) == pytest.approx(100 * (float(cc) - float(watts)) / float(watts), abs=0.2)
    stored = [line for line in lines if line.startswith("stored: ")]
    assert len(stored) == 1, proc.stdout
    path = Path(stored[0].removeprefix("stored: "))
    assert path.parent == tmp_path / "cache" / "calibration" and path.suffix == ".json"
    doc = json.loads(path.read_text())
    assert doc["powercap_root"] == str(fake.root)
    # the stored rungs are the printed ones; the table rounds to 0.1 % and 0.01 W, so compare within that rounding
    # (formatting the stored value again can land on the other side of a half: 51.535 → "51.53" vs "51.54")
    assert [r["name"] for r in doc["rungs"]] == [name for name, *_ in rows]
    for r, (name, load, watts, *_) in zip(doc["rungs"], rows, strict=True):
        assert abs(r["load_pct"] - float(load)) <= 0.05 + 1e-9 and abs(r["power_w"] - float(watts)) <= 0.005 + 1e-9, \
            (name, r, load, watts)
    assert doc["points"] and 0 <= doc["rel_error"] < 1
    assert any(line.startswith("codecarbon TDP: ") for line in lines), proc.stdout


@pytest.mark.parametrize("layout", ["empty", "absent"])
def test_calibrate_without_rapl_is_one_line_and_exit_1(tmp_path: Path, layout: str) -> None:
    # a missing sensor is an environment problem: exit 1 (before, 2, the code for bad input)
    root = tmp_path / "powercap"
    if layout == "empty":
        root.mkdir()
    proc = calibrate_cli("--step-s", "1", tmp_path=tmp_path, powercap=root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert err[0].startswith(f"error: no readable RAPL package counters under {root}; calibrate needs a machine "
                             "with RAPL"), err[0]
    assert not (tmp_path / "cache" / "calibration").exists()


@pytest.mark.slow
def test_calibrate_json_prints_the_stored_document(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "powercap", linear_curve())
    with fake.running():
        proc = calibrate_cli("--step-s", "1", "--max-cores", "1", "--json", tmp_path=tmp_path, powercap=fake.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)  # nothing else on stdout
    assert [r["name"] for r in doc["rungs"]] == ["idle", "1 core"]
    stored = json.loads(Path(doc.pop("path")).read_text())
    assert stored == doc


def _busy_cores_of(pid: int) -> list[int]:
    out = []
    for child in psutil.Process(pid).children():
        try:
            if any("getppid" in a for a in child.cmdline()):
                out.append(child.pid)
        except psutil.Error:
            continue
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_calibration_leaves_no_busy_core_behind(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    fake = FakePowercap(tmp_path / "powercap", linear_curve())
    with fake.running():
        proc = subprocess.Popen([sys.executable, "-m", "greenbench", "calibrate", "--step-s", "5", "--max-cores", "1"],
                                cwd=ROOT, env=cli_env(tmp_path, fake.root), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=sigint_default)
        try:
            busy: list[int] = []
            deadline = time.monotonic() + 120
            while not busy and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
                busy = _busy_cores_of(proc.pid)  # the 1-core rung has started
            assert busy, "no busy core appeared"
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == code, out + err
    assert "Traceback" not in err
    assert all(gone(pid, within_s=10) for pid in busy)
    assert not (tmp_path / "cache" / "calibration").exists()
