"""The machine fingerprint behind `greenbench env`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from machine_support import Sensors

from greenbench.measure import env


def test_fingerprint_imports_no_framework_and_no_codecarbon() -> None:
    # What would make `greenbench env` slow (seconds of framework imports) is checked by what it
    # imports, not by a timing, which a loaded CI machine could break.
    code = (
        "import sys, json\n"
        "from greenbench.measure.env import fingerprint, format_fingerprint\n"
        "fp = fingerprint(); text = format_fingerprint(fp)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras', 'codecarbon', 'jax'))\n"
        "print(json.dumps({'imported': bad}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["imported"] == []


def test_fingerprint_content(sensors: Sensors) -> None:
    fp = env.fingerprint()
    json.dumps(fp, allow_nan=False)
    cpu = fp["cpu"]
    assert cpu["model"] and cpu["logical_cores"] >= 1 and cpu["arch"]
    assert fp["memory_bytes"] > 0
    assert isinstance(fp["gpus"], list)
    assert fp["os"]["system"] and fp["os"]["kernel"] and fp["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    v = fp["versions"]
    assert v["greenbench"] and v["numpy"] and v["codecarbon"]
    assert set(v) >= {"torch", "tensorflow", "pandas"}  # None where not installed
    assert fp["machine"].startswith(fp["hostname"])
    caps = fp["energy_capabilities"]
    assert set(caps) >= {"cpu", "gpu", "ram", "summary"}
    # what this machine has, probed by the test itself
    assert fp["rapl"] == {"present": bool(sensors.rapl_counters), "readable": len(sensors.rapl_readable),
                          "unreadable": len(sensors.rapl_counters) - len(sensors.rapl_readable)}
    assert len([g for g in fp["gpus"] if g["vendor"] == "nvidia"]) == sensors.nvidia_gpus
    assert caps["gpu"] == sensors.gpu_label()
    if sensors.linux:
        assert caps["cpu"] == ("measured:rapl" if sensors.rapl == "readable" else "estimated")
    assert caps["summary"] == sensors.energy_source(caps["cpu"])


def test_framework_versions_come_from_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    def fake(dist: str) -> str:
        if dist in ("torch", "tensorflow-cpu"):
            return {"torch": "9.9.9", "tensorflow-cpu": "8.8.8"}[dist]
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(metadata, "version", fake)
    v = env.versions()
    assert v["torch"] == "9.9.9" and v["tensorflow"] == "8.8.8" and v["numpy"] is None
    assert v["greenbench"]  # falls back to the package's own version


def test_machine_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(env.MACHINE_ENV, raising=False)
    a = env.machine_label("host", "Intel(R) Xeon(R) Gold 6230")
    assert a == env.machine_label("host", "Intel(R) Xeon(R) Gold 6230")  # stable
    assert a.startswith("host-") and len(a) == len("host-") + 6
    assert a != env.machine_label("host", "AMD EPYC 7763")
    monkeypatch.setenv(env.MACHINE_ENV, "ci-runner-3")
    assert env.machine_label("host", "x") == "ci-runner-3"
    assert env.fingerprint()["machine"] == "ci-runner-3"


def test_rapl_status_on_a_fake_tree(fake_rapl: Any) -> None:
    rapl = fake_rapl("readable")
    status = env.rapl_status()
    assert status["present"] and status["readable"] == [str(rapl.energy)] and status["unreadable"] == {}
    caps = env.energy_capabilities(status, [])
    assert caps["cpu"] == "measured:rapl" and caps["summary"] == "mixed"


def test_unreadable_rapl_is_reported(fake_rapl: Any) -> None:
    rapl = fake_rapl("permission")
    status = env.rapl_status()
    assert status["present"] and status["readable"] == []
    assert "PermissionError" in status["unreadable"][str(rapl.energy)]
    caps = env.energy_capabilities(status, [])
    assert caps["cpu"] == "estimated" and "cannot be read" in caps["cpu_note"]


def test_no_powercap_tree(tmp_path: Path) -> None:
    status = env.rapl_status(tmp_path / "absent")
    assert status == {"root": str(tmp_path / "absent"), "present": False, "readable": [], "unreadable": {}}


def test_gpus_reported_and_nvml_forecast() -> None:
    gpus = [{"index": 0, "name": "NVIDIA H100", "memory_bytes": 80 * 1024**3, "driver": "550.1", "vendor": "nvidia"}]
    caps = env.energy_capabilities({"root": "/x", "present": False, "readable": [], "unreadable": {}}, gpus)
    assert caps["gpu"] == "measured:nvml" and caps["summary"] == "mixed"
    text = env.format_fingerprint({**env.fingerprint(), "gpus": gpus, "energy_capabilities": caps})
    assert "0: NVIDIA H100 (80.0 GiB, driver 550.1)" in text


def test_format_fingerprint_lists_the_essentials() -> None:
    fp = env.fingerprint()
    text = env.format_fingerprint(fp)
    for label in ("Machine", "CPU", "Cores", "Memory", "GPUs", "OS", "Python", "Packages", "Energy"):
        assert any(line.startswith(label) for line in text.splitlines()), label
    assert fp["cpu"]["model"] in text and fp["machine"] in text
    assert "codecarbon" in text and "torch" in text


def test_a_broken_probe_does_not_break_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env, "_gpus_nvml", lambda: None)
    monkeypatch.setattr(env.shutil, "which", lambda name: "/nonexistent/nvidia-smi")
    assert env.gpus() == []  # nvidia-smi cannot run: no GPUs, no exception


def test_gpus_through_nvml(fake_nvml: Any) -> None:
    fp = env.fingerprint()
    assert fp["gpus"] == [{"index": 0, "name": "NVIDIA Fake H100", "memory_bytes": 80 * 1024**3,
                           "driver": "550.54", "vendor": "nvidia"}]
    assert fp["energy_capabilities"]["gpu"] == "measured:nvml"


NO_RAPL = {"root": "/x", "present": False, "readable": [], "unreadable": {}}


def test_without_counters_the_forecast_names_a_declared_power_or_a_calibration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from greenbench.measure import curves

    monkeypatch.setattr(curves, "find_curve", lambda model: None)
    monkeypatch.delenv("GREENBENCH_CPU_TDP_W", raising=False)
    caps = env.energy_capabilities(NO_RAPL, [])
    assert caps["cpu"] == "estimated" and "greenbench calibrate" in caps["cpu_note"]
    monkeypatch.setenv("GREENBENCH_CPU_TDP_W", "35")
    caps = env.energy_capabilities(NO_RAPL, [])
    assert caps["cpu"] == "estimated:declared-tdp" and "GREENBENCH_CPU_TDP_W = 35 W" in caps["cpu_note"]

    class Curve:
        path, rel_error = "/cache/calibration/amd-epyc.json", 0.04

    monkeypatch.setattr(curves, "find_curve", lambda model: Curve())
    caps = env.energy_capabilities(NO_RAPL, [])
    assert caps["cpu"] == "estimated:calibrated"
    assert caps["cpu_note"] == ("no CPU counter: calibrated load → power curve for this CPU model "
                                "(/cache/calibration/amd-epyc.json, fit error ±4.0%)")
    # counters win over both
    caps = env.energy_capabilities({"root": "/x", "present": True, "readable": ["/x/energy_uj"], "unreadable": {}}, [])
    assert caps["cpu"] == "measured:rapl"


NEOVERSE_CPUINFO = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

"""


@pytest.mark.parametrize("text, name", [
    (NEOVERSE_CPUINFO, "Arm Neoverse-N1"),  # an Arm server's cpuinfo: no "model name" line
    (NEOVERSE_CPUINFO.replace("0xd0c", "0xd4a"), "Arm implementer 0x41 part 0xd4a"),  # a core not in the table
])
def test_an_arm_cpu_without_a_model_name_is_named_by_its_core(monkeypatch, text: str, name: str) -> None:
    from greenbench.measure import env

    monkeypatch.setattr(env.sys, "platform", "linux")
    monkeypatch.setattr(env, "_read", lambda path: text if str(path) == "/proc/cpuinfo" else None)
    assert env.cpu_model() == name
