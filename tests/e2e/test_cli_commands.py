"""The real CLI's `data fetch`, `data verify` and `env`: exit codes and what they print.

Each test runs ``python -m greenbench`` in a subprocess, as a user would, and checks the
output against facts the test gets on its own (the published checksums, this process's
Python, platform and CPU), not against greenbench's own functions.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from machine_support import probe_sensors
from network_support import offline_env

import greenbench

from e2e_support import ROOT

# The SHA-256 of each file's decompressed IDX payload, as published (shared/datasets/README.md).
MNIST_PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
STATUS_LINE = re.compile(r"^\s*(ok|mismatch|malformed) (\S.*)$")


def cli(*args: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    """``python -m greenbench ARGS`` as a user runs it, with no GREENBENCH_DATA_DIR and an empty cache,
    so that the CLI sees only the data the test hands it."""
    env = {k: v for k, v in os.environ.items() if k != "GREENBENCH_DATA_DIR"}
    env.update(COLUMNS="200", GREENBENCH_CACHE_DIR=str(tmp_path / "cache"), XDG_CACHE_HOME=str(tmp_path / "xdg"),
               **extra)
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def verify_lines(stdout: str) -> dict[str, tuple[str, list[str]]]:
    """``greenbench data verify``'s output: file name → (status, the indented lines under it)."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in stdout.splitlines():
        m = STATUS_LINE.match(line)
        if m:
            current = Path(m.group(2)).name
            out[current] = (m.group(1), [])
        elif line.strip():
            assert current is not None, stdout
            out[current][1].append(" ".join(line.split()))
    return out


def copy_mnist(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in MNIST_PAYLOAD_SHA256:
        shutil.copyfile(src / name, dst / name)
    return dst


# --------------------------------------------------------------------------- data verify
def test_data_verify_on_the_good_copy_says_ok_for_every_file(tmp_path: Path, mnist_dir: Path) -> None:
    proc = cli("data", "verify", "--data-dir", str(mnist_dir), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = verify_lines(proc.stdout)
    assert rows == {name: ("ok", []) for name in MNIST_PAYLOAD_SHA256}, proc.stdout
    assert proc.stderr == ""


def test_data_verify_names_a_corrupted_file_with_both_hashes(tmp_path: Path, mnist_dir: Path) -> None:
    copy = copy_mnist(mnist_dir, tmp_path / "mnist")
    victim = copy / "t10k-labels-idx1-ubyte.gz"
    payload = bytearray(gzip.decompress(victim.read_bytes()))
    payload[8 + 100] = (payload[8 + 100] + 1) % 10  # one byte: the 101st test label, still a valid digit
    victim.write_bytes(gzip.compress(bytes(payload)))
    actual = hashlib.sha256(payload).hexdigest()

    proc = cli("data", "verify", "--data-dir", str(copy), tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    rows = verify_lines(proc.stdout)
    expected = MNIST_PAYLOAD_SHA256[victim.name]
    assert rows.pop(victim.name) == ("mismatch", [f"expected {expected}", f"actual {actual}"]), proc.stdout
    assert rows == {name: ("ok", []) for name in MNIST_PAYLOAD_SHA256 if name != victim.name}
    assert "Traceback" not in proc.stderr


def test_data_verify_calls_a_broken_gzip_malformed(tmp_path: Path, mnist_dir: Path) -> None:
    copy = copy_mnist(mnist_dir, tmp_path / "mnist")
    victim = copy / "train-labels-idx1-ubyte.gz"
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one byte of the compressed stream
    victim.write_bytes(bytes(raw))

    proc = cli("data", "verify", "--data-dir", str(copy), tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    rows = verify_lines(proc.stdout)
    status, detail = rows.pop(victim.name)
    assert status == "malformed", proc.stdout
    assert detail[0] == f"expected {MNIST_PAYLOAD_SHA256[victim.name]}"
    assert rows == {name: ("ok", []) for name in MNIST_PAYLOAD_SHA256 if name != victim.name}
    assert "Traceback" not in proc.stderr


def test_data_verify_on_an_empty_directory_is_one_error_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("data", "verify", "--data-dir", str(empty), tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: MNIST data not found: missing train-images-idx3-ubyte.gz")
    assert f"{empty} (no MNIST files)" in line
    assert "not attempted by verify" in line  # verify never downloads
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.gz"))


# --------------------------------------------------------------------------- data fetch
def test_data_fetch_with_a_good_copy_is_ready_there(tmp_path: Path, mnist_dir: Path) -> None:
    proc = cli("data", "fetch", "--data-dir", str(mnist_dir), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.fullmatch(r"mnist: ready in (.+)\n", proc.stdout)
    assert m and Path(m.group(1)).resolve() == mnist_dir.resolve(), proc.stdout
    assert proc.stderr == ""


@pytest.fixture
def offline(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Environment additions for a subprocess without network (an audit hook, its positive control
    already run), and the hook's log of attempts."""
    return offline_env(tmp_path)


def test_data_fetch_offline_without_data_is_one_error_line(tmp_path: Path, offline: tuple[dict[str, str], Path]
                                                           ) -> None:
    extra, attempts = offline
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("data", "fetch", "--data-dir", str(empty), tmp_path=tmp_path, **extra)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: MNIST data not found: missing train-images-idx3-ubyte.gz")
    assert "download: failed" in line and "GREENBENCH_DATA_DIR" in line
    assert "Traceback" not in proc.stderr
    # it did try to download, and the network was refused (not merely unreachable)
    assert attempts.is_file() and attempts.read_text().startswith("socket.getaddrinfo"), proc.stderr
    cache = tmp_path / "cache"
    assert not [p for p in cache.rglob("*") if p.is_file() and p.name.endswith((".gz", ".part", ".tmp"))]


# --------------------------------------------------------------------------- env
def _cpu_model() -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    m = re.search(r"^model name\s*:\s*(.+)$", text, flags=re.MULTILINE)
    return m.group(1).strip() if m else None


def env_rows(stdout: str) -> dict[str, str]:
    """``greenbench env``'s aligned lines: label → value; sub-rows (packages, sensors) keep their indent."""
    rows: dict[str, str] = {}
    for line in stdout.splitlines():
        m = re.fullmatch(r"( *)(\S+(?: \S+)*)(?: {2,}(.*))?", line)
        assert m, line
        rows.setdefault(m.group(1)[:2] + m.group(2), (m.group(3) or "").strip())
    return rows


def test_env_prints_this_machine(tmp_path: Path) -> None:
    proc = cli("env", tmp_path=tmp_path, GREENBENCH_MACHINE="")
    assert proc.returncode == 0, proc.stderr
    rows = env_rows(proc.stdout)
    for label in ("Machine", "Hostname", "CPU", "Cores", "Memory", "GPUs", "OS", "Python", "Packages", "Energy"):
        assert label in rows, (label, proc.stdout)
    assert rows["Hostname"] == socket.gethostname()
    assert rows["Machine"].startswith(f"{socket.gethostname()}-")
    model = _cpu_model()
    if model is not None:  # Linux: the CPU line names the CPU the kernel reports
        assert rows["CPU"] == f"{model} [{platform.machine()}]"
    assert re.fullmatch(rf"(\d+|\?) physical / {os.cpu_count()} logical( \(\d+ usable\))?", rows["Cores"]), rows["Cores"]
    assert rows["Python"] == f"{platform.python_version()} ({platform.python_implementation()})"
    assert platform.python_version() == sys.version.split()[0]
    assert rows["  greenbench"] == greenbench.__version__
    # the energy sensors: what this machine can measure, probed by the test itself
    sensors = probe_sensors()
    cpu, gpu, ram = (rows[f"  {part}"].split(" — ")[0] for part in ("CPU", "GPU", "RAM"))
    if sensors.linux:
        assert cpu == ("measured:rapl" if sensors.rapl == "readable" else "estimated")
    assert gpu == sensors.gpu_label() and ram == "estimated:ram-model"
    assert rows["Energy"] == sensors.energy_source(cpu)
    if sensors.nvidia_gpus:
        assert rows["GPUs"].startswith("0: "), rows["GPUs"]
    else:
        assert rows["GPUs"] == "none"


FINGERPRINT_KEYS = {"machine", "hostname", "cpu", "memory_bytes", "gpus", "os", "python", "versions", "blas", "rapl",
                    "energy_capabilities"}


def test_env_json_is_this_machines_fingerprint(tmp_path: Path) -> None:
    proc = cli("env", "--json", tmp_path=tmp_path, GREENBENCH_MACHINE="")
    assert proc.returncode == 0, proc.stderr
    fp = json.loads(proc.stdout)
    assert set(fp) == FINGERPRINT_KEYS
    assert fp["hostname"] == socket.gethostname()
    assert fp["python"] == {"version": platform.python_version(), "implementation": platform.python_implementation()}
    assert fp["os"]["platform"] == platform.platform() and fp["os"]["system"] == platform.system()
    assert fp["os"]["kernel"] == platform.release()
    cpu = fp["cpu"]
    assert set(cpu) == {"model", "arch", "physical_cores", "logical_cores", "usable_cores", "max_mhz"}
    assert cpu["logical_cores"] == os.cpu_count() and cpu["arch"] == platform.machine()
    if hasattr(os, "sched_getaffinity"):
        assert cpu["usable_cores"] == len(os.sched_getaffinity(0))
    if _cpu_model() is not None:
        assert cpu["model"] == _cpu_model()
    assert fp["machine"].startswith(f"{socket.gethostname()}-")  # no GREENBENCH_MACHINE: host and CPU hash
    assert fp["versions"]["greenbench"] == greenbench.__version__
    assert isinstance(fp["memory_bytes"], int) and fp["memory_bytes"] > 0
    sensors = probe_sensors()
    assert fp["rapl"] == {"present": bool(sensors.rapl_counters), "readable": len(sensors.rapl_readable),
                          "unreadable": len(sensors.rapl_counters) - len(sensors.rapl_readable)}
    assert len(fp["gpus"]) == sensors.nvidia_gpus
    caps = fp["energy_capabilities"]
    assert set(caps) == {"cpu", "cpu_note", "gpu", "gpu_note", "ram", "ram_note", "summary"}
    assert caps["gpu"] == sensors.gpu_label() and caps["ram"] == "estimated:ram-model"
    assert caps["summary"] == sensors.energy_source(caps["cpu"])


def test_env_json_honours_the_machine_label(tmp_path: Path) -> None:
    proc = cli("env", "--json", tmp_path=tmp_path, GREENBENCH_MACHINE="ci-runner-7")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["machine"] == "ci-runner-7"
