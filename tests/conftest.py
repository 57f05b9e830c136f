"""Shared fixtures. Records built here follow greenbench/results/record.py exactly."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

# One framework per test process: the --framework option, the framework marks and the import guard.
from framework_guard import (  # noqa: F401  (pytest hooks, collected from this module)
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure as _guard_configure,
    pytest_report_header,
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_sessionfinish,
    pytest_unconfigure,
)
# Promised capabilities (GREENBENCH_TEST_REQUIRE): a skip for a missing one fails instead.
from capabilities import pytest_configure as _capabilities_configure
from capabilities import pytest_runtest_makereport  # noqa: F401  (pytest hook)

from greenbench.results import ResultStore
from greenbench.suite import expand, parse_suite

# No idle baseline in tests: GREENBENCH_IDLE_BASELINE_S is the per-machine setting of its length
# (greenbench.measure.idle), and left unset every `greenbench run` — in this process or in a CLI
# subprocess, which inherits os.environ — would first sit 10 s measuring idle power. Set at import, so
# that the whole session has it; the tests of the baseline opt back in with monkeypatch.setenv (in this
# process) or extra_env (a CLI subprocess).
os.environ["GREENBENCH_IDLE_BASELINE_S"] = "0"
# Likewise no quiet-machine wait (greenbench.measure.quiet): a test machine is shared by design (the flake
# check runs a busy neighbour on purpose), and each workload would wait up to runner.quiet_wait_s. The policy's
# own tests opt back in the same way.
os.environ["GREENBENCH_QUIET_WAIT_S"] = "0"
# Per-machine settings a user exports once on a machine (documented knobs): each changes what a run records —
# a declared CPU power replaces codecarbon's CPU estimate (provenance estimated:declared-tdp), a machine label
# replaces <hostname>-<hash>, a powercap root moves the RAPL counters, plugin lists add backends and models.
# The tests assert what this machine's hardware gives (tests/machine_support.py), so on a laptop that sets one
# of them they failed (GREENBENCH_CPU_TDP_W=50: 4 tests). The session starts without them, in this process and
# in every CLI subprocess; the tests of each setting set it themselves.
for _setting in ("GREENBENCH_CPU_TDP_W", "GREENBENCH_MACHINE", "GREENBENCH_POWERCAP_ROOT", "GREENBENCH_BACKENDS",
                 "GREENBENCH_MODELS"):
    os.environ.pop(_setting, None)


def _cache_without_calibrations() -> None:
    """The cache as this machine has it, less its calibration curves (``greenbench calibrate``).

    A curve stored for this machine's CPU model makes every run without readable RAPL estimate its CPU from
    it (provenance estimated:calibrated), a per-machine setting like the ones above: 5 tests of what the
    hardware gives failed with one in the cache. Where the cache holds curves, the session gets a cache of its
    own whose entries link to the machine's (datasets, array caches: nothing is fetched or decoded again)
    except ``calibration``. The calibration tests use caches of their own anyway."""
    import atexit
    import shutil
    import tempfile

    from greenbench.data.cache import cache_root

    root = cache_root()
    if not (root / "calibration").exists():
        return
    session = Path(tempfile.mkdtemp(prefix="greenbench-test-cache-"))
    for entry in root.iterdir():
        if entry.name != "calibration":
            (session / entry.name).symlink_to(entry.resolve())
    os.environ["GREENBENCH_CACHE_DIR"] = str(session)
    atexit.register(shutil.rmtree, session, True)  # the links only, never what they point to


_cache_without_calibrations()

# Terminal settings of the machine running the tests: rich reads them for every console, even one on a StringIO
# with an explicit width. FORCE_COLOR (which CI systems set to get colours in their logs) and TTY_COMPATIBLE put
# ANSI codes into the captured text the golden and markup tests compare (9 tests failed with FORCE_COLOR=1), and
# TERM=dumb (Jenkins, Emacs shells, some containers) makes every terminal console 80 columns whatever width it
# was given (9 tests). The tests build the consoles they need themselves; golden_support strips the same for
# its CLI subprocesses.
for _setting in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
    os.environ.pop(_setting, None)
if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
    os.environ.pop("TERM")
# Loopback bypasses any HTTP proxy this machine configures (http_proxy / https_proxy, common on corporate
# laptops and CI runners behind a proxy): the tests' own servers listen on 127.0.0.1, and urllib, which the
# product downloads with, would otherwise send even those requests to the proxy (6 download and network-guard
# tests failed with http_proxy=http://proxy.example:3128). Only loopback is added: real downloads keep the proxy.
_no_proxy = [e.strip() for n in ("no_proxy", "NO_PROXY") for e in os.environ.get(n, "").split(",") if e.strip()]
_no_proxy += [host for host in ("127.0.0.1", "localhost", "::1") if host not in _no_proxy]
os.environ["no_proxy"] = os.environ["NO_PROXY"] = ",".join(dict.fromkeys(_no_proxy))


@pytest.fixture
def busy_neighbour() -> Iterator[subprocess.Popen]:
    """A real busy-loop process (``python -c "while True: pass"``), killed after the test. It is the test's child:
    outside the process tree of a ``greenbench run`` the test starts, and a test that measures its own tree
    chooses that tree's root."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def refuse_read(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``refuse_read(*paths)``: reading those files' bytes raises ``PermissionError`` (EACCES) from then on, as for a
    file without read permission. chmod means nothing to root, who runs CI, so the refusal is faked on the read;
    ``monkeypatch.undo()`` lifts it."""
    real = Path.read_bytes

    def refuse(*paths: Path) -> None:
        locked = set(paths)

        def refusing(self: Path) -> bytes:
            if self in locked:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", refusing)

    return refuse


def pytest_configure(config: pytest.Config) -> None:
    _guard_configure(config)
    _capabilities_configure(config)


SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist"


def _energy(kwh: float, *, intensity: float = 380.0, source: str = "estimated") -> dict[str, Any]:
    cpu, ram = kwh * 0.8, kwh * 0.2
    return {
        "cpu_kwh": cpu,
        "gpu_kwh": 0.0,
        "ram_kwh": ram,
        "total_kwh": kwh,
        "co2_kg": kwh * intensity / 1000.0,
        "energy_source": source,
        "provenance": {"cpu": "estimated:tdp", "gpu": "none", "ram": "estimated:ram-model"},
        "country": "USA",
        "carbon_intensity_g_per_kwh": intensity,
        "low_confidence": False,
    }


def _phase(wall: float, kwh: float, **kw: Any) -> dict[str, Any]:
    return {"wall_s": wall, "cpu_s": wall * 1.9, "peak_rss_bytes": 500_000_000, "peak_device_mem_bytes": None,
            "energy": _energy(kwh, **kw)}


@pytest.fixture
def make_record() -> Callable[..., dict[str, Any]]:
    """Build a schema-valid record for a run of a tiny synthetic suite.

    ``make_record(backend="torch", model="mlp", seed=0, accuracy=0.95, train_s=10.0, kwh=1e-4, **overrides)``
    """

    def build(
        backend: str = "torch",
        model: str = "mlp",
        optimizer: str = "adam",
        compression: str = "none",
        seed: int = 0,
        accuracy: float = 0.95,
        train_s: float = 10.0,
        kwh: float = 1e-4,
        status: str = "completed",
        machine: str = "test-machine",
        suite: str = "synthetic",
        **overrides: Any,
    ) -> dict[str, Any]:
        spec = expand(
            parse_suite(
                {
                    "name": suite,
                    "data": {"train_samples": 600, "test_samples": 200},
                    "matrix": {"backend": [backend], "model": [model], "optimizer": [optimizer],
                               "compression": [compression], "seed": [seed]},
                }
            )
        )[0]
        per_class = [min(1.0, accuracy + 0.01 * ((i % 3) - 1)) for i in range(10)]
        rec: dict[str, Any] = {
            "schema_version": 1,
            "run_id": spec.run_id,
            "workload_id": spec.workload_id,
            "suite": suite,
            "status": status,
            "reason": None if status == "completed" else f"{status}: synthetic reason",
            "stderr_tail": None,
            "config": spec.model_dump(),
            "greenbench_version": "0.1.0",
            "machine": machine,
            "env": {"machine": machine, "cpu": {"model": "Synthetic CPU"},
                    "versions": {"torch": "2.13.0", "tensorflow": "2.21.0", "codecarbon": "3.3.2"}},
            "started_at": "2026-11-26T12:00:00+00:00",
            "finished_at": "2026-11-26T12:00:20+00:00",
            "metrics": {},
            "history": [],
            "phases": {},
            "compression": None,
            "samples": None,
            "log": f"logs/{spec.run_id}.log",
        }
        if status == "completed":
            rec["metrics"] = {
                "test_accuracy": accuracy, "test_loss": 0.2, "params": 101770, "epochs_run": 2,
                "per_class_accuracy": per_class,
                "confusion": [[20 if i == j else 0 for j in range(10)] for i in range(10)],
                "time_to_target_s": None, "energy_to_target_kwh": None, "target_accuracy": None,
                "threads": {"setting": "all", "intra_op": 2, "inter_op": 1, "omp_wait_policy": "default"},
            }
            rec["history"] = [
                {"epoch": e, "train_loss": 1.0 / e, "train_accuracy": accuracy - 0.05 / e,
                 "val_accuracy": accuracy - 0.03 / e, "wall_s": train_s / 2, "energy_kwh": kwh / 2,
                 "co2_kg": kwh / 2 * 0.38}
                for e in (1, 2)
            ]
            # As the runner writes them: each epoch's window nested inside train (already counted in it)
            rec["phases"] = {
                "setup": _phase(0.5, kwh * 0.05),
                "train": _phase(train_s, kwh),
                "train/epoch-1": _phase(train_s / 2, kwh / 2),
                "train/epoch-2": _phase(train_s / 2, kwh / 2),
                "evaluate": _phase(0.3, kwh * 0.03),
            }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(rec.get(key), dict):
                rec[key] = {**rec[key], **copy.deepcopy(value)}
            else:
                rec[key] = copy.deepcopy(value)
        return rec

    return build


@pytest.fixture
def write_records(tmp_path: Path) -> Callable[..., Path]:
    """Write records into ``tmp_path/<name>`` with the real store; returns the directory."""

    def write(records: list[dict[str, Any]], name: str = "results") -> Path:
        store = ResultStore(tmp_path / name)
        for rec in records:
            store.write(rec)
        return store.root

    return write


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST copy handed over through GREENBENCH_DATA_DIR (CI sets it)."""
    value = os.environ.get("GREENBENCH_DATA_DIR")
    if not value:
        pytest.skip("GREENBENCH_DATA_DIR is not set: no local MNIST copy to test against")
    return Path(value)
