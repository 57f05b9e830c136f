"""Isolation: a worker that raises, segfaults, is killed or hangs costs only its own runs.

These run the real runner with the real torch backend on a tiny MNIST subset; the
misbehaviour is injected with GREENBENCH_FAULT by the worker plugin tests/fault_injection.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from greenbench.api import plan_suite, run_suite
from greenbench.backends.base import framework_installed

import fault_injection

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not framework_installed("torch"), reason="torch is not installed"),
]

SUITE = """
name: isolation
data: {{train_samples: 200, test_samples: 100}}
matrix:
  backend: [torch]
  model: [mlp]
  seed: [0, 1]
  compression: {compression}
models:
  mlp: {{hidden: [16]}}
energy: {{min_phase_s: 0.0}}
runner: {{timeout_s: {timeout}, latency_samples: 10, inference_batch: 100}}
"""


def _run(tmp_path: Path, monkeypatch, fault: str | None, timeout: float = 120, compression: str = "[none]"):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(SUITE.format(timeout=timeout, compression=compression))
    if fault:
        fault_injection.enable(monkeypatch, fault)
    suite, runs = plan_suite(suite_file)
    outcome = run_suite(suite, runs, results_dir=tmp_path / "results")
    records = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")}
    return runs, outcome, records


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("raise@train", "RuntimeError: injected failure at train"),
        ("segfault@train", "worker died from SIGSEGV (segmentation fault)"),
        ("kill@evaluate", "worker died from SIGKILL (killed: out of memory or by another process)"),
        ("exit@setup", "worker exited with code 3"),
    ],
)
def test_a_failing_worker_yields_a_failed_record_and_the_suite_goes_on(
    tmp_path: Path, monkeypatch, mnist_dir: Path, fault: str, reason: str
) -> None:
    runs, outcome, records = _run(tmp_path, monkeypatch, f"{fault}:-s0-")
    s0, s1 = (next(r for r in runs if r.seed == s) for s in (0, 1))
    failed = records[s0.run_id]
    assert failed["status"] == "failed" and failed["reason"] == reason
    assert "injected fault" in (failed["stderr_tail"] or "")
    assert records[s1.run_id]["status"] == "completed"  # the next run still ran
    assert outcome.counts == {"completed": 1, "failed": 1}


def test_a_hanging_worker_is_killed_at_its_timeout(tmp_path: Path, monkeypatch, mnist_dir: Path) -> None:
    runs, outcome, records = _run(tmp_path, monkeypatch, "hang@train:-s0-", timeout=15)
    s0 = next(r for r in runs if r.seed == 0)
    assert records[s0.run_id]["status"] == "failed"
    assert records[s0.run_id]["reason"] == "timed out after 15 s (runner.timeout_s); worker killed"
    assert outcome.counts == {"completed": 1, "failed": 1}


def test_a_replacement_workers_start_up_is_not_counted_in_the_next_runs_timeout(
    tmp_path: Path, monkeypatch, mnist_dir: Path
) -> None:
    """After the hanging run's worker is killed, the next run gets a fresh worker; its start (a framework
    import: seconds, more on a busy machine) is waited for, not charged to that run's timeout."""
    monkeypatch.setenv("GREENBENCH_FAULT_SLOW_START", "12")  # every worker takes 12 s to start
    runs, outcome, records = _run(tmp_path, monkeypatch, "hang@train:-s0-", timeout=8)
    s0, s1 = (next(r for r in runs if r.seed == seed) for seed in (0, 1))
    assert records[s0.run_id]["reason"] == "timed out after 8 s (runner.timeout_s); worker killed"
    assert records[s1.run_id]["status"] == "completed", records[s1.run_id]["reason"]
    assert outcome.counts == {"completed": 1, "failed": 1}


def test_failed_runs_are_retried_on_the_next_invocation(tmp_path: Path, monkeypatch, mnist_dir: Path) -> None:
    runs, _, first = _run(tmp_path, monkeypatch, "raise@train:-s0-")
    monkeypatch.delenv("GREENBENCH_FAULT")
    s1 = next(r for r in runs if r.seed == 1)
    mtime = (tmp_path / "results" / f"{s1.run_id}.json").stat().st_mtime_ns
    _, outcome, again = _run(tmp_path, monkeypatch, None)
    assert {r["status"] for r in again.values()} == {"completed"}
    assert outcome.resumed == 1 and outcome.executed == 1
    assert (tmp_path / "results" / f"{s1.run_id}.json").stat().st_mtime_ns == mtime


def test_a_corrupt_record_is_reported_set_aside_and_its_run_redone(tmp_path: Path, monkeypatch, mnist_dir: Path) -> None:
    runs, _, _ = _run(tmp_path, monkeypatch, None)
    victim = tmp_path / "results" / f"{runs[0].run_id}.json"
    victim.write_text(victim.read_text()[:100])  # truncated, as by a full disk
    _, outcome, records = _run(tmp_path, monkeypatch, None)
    assert [p.name for p, _ in outcome.corrupt] == [f"{victim.name}.corrupt-1"]
    assert records[runs[0].run_id]["status"] == "completed"
    assert (tmp_path / "results" / f"{victim.name}.corrupt-1").exists()


def test_a_broken_compression_variant_costs_only_itself(tmp_path: Path, monkeypatch, mnist_dir: Path) -> None:
    runs, outcome, records = _run(
        tmp_path, monkeypatch, "raise@compress:-int8-dynamic-s0-", compression="[none, int8-dynamic]"
    )
    status = {(r.seed, r.compression): records[r.run_id]["status"] for r in runs}
    assert status == {(0, "none"): "completed", (0, "int8-dynamic"): "failed",
                      (1, "none"): "completed", (1, "int8-dynamic"): "completed"}


def test_no_socket_is_opened_during_a_run(tmp_path: Path, mnist_dir: Path) -> None:
    """Offline guarantee: an audit hook in every process (parent and workers) logs any network use.

    Positive controls: the hook logs a loopback connect attempt made under the same environment, and
    every process of the run (the parent and its worker) is shown to have loaded the hook."""
    import socket
    import subprocess
    import sys

    log, loaded = tmp_path / "network.log", tmp_path / "hook-loaded.log"
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(
        "import sys, os\n"
        "with open(os.environ['HOOK_LOADED'], 'a') as fh:\n"
        "    fh.write(f'{os.getpid()}\\n')\n"
        "def _hook(event, args, _log=os.environ['NETWORK_LOG']):\n"
        "    if event in ('socket.connect', 'socket.getaddrinfo', 'socket.sendto', 'socket.gethostbyname',\n"
        "                 'urllib.Request'):\n"
        "        with open(_log, 'a') as fh:\n"
        "            fh.write(f'{os.getpid()} {event} {args!r}\\n')\n"
        "sys.addaudithook(_hook)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{hook_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "NETWORK_LOG": str(log), "HOOK_LOADED": str(loaded)}

    # Positive control: a loopback connect (to a port this test listens on) under the same environment is logged.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5).close()"
        control = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert control.returncode == 0, control.stderr
    assert "socket.connect" in log.read_text() and f"{port}" in log.read_text()
    log.unlink()
    loaded.unlink()

    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(SUITE.format(timeout=120, compression="[none]"))
    proc = subprocess.run([sys.executable, "-m", "greenbench", "run", str(suite_file), "--results",
                           str(tmp_path / "results"), "--only", "seed=0", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert [r["status"] for r in records] == ["completed"]
    # The hook was live in the parent and in the worker (spawned processes start from sitecustomize too).
    assert len(set(loaded.read_text().split())) >= 2, loaded.read_text()
    assert not log.exists(), log.read_text()


def test_the_parent_process_never_imports_a_framework(tmp_path: Path, mnist_dir: Path) -> None:
    """Only workers import torch: not even unpickling a worker's events may pull it into the parent.
    Nor does the parent import pandas: it only writes records, and pandas would add 0.4 s to the
    start of every ``greenbench run``."""
    import subprocess
    import sys

    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(SUITE.format(timeout=120, compression="[none, int8-dynamic]"))
    code = (
        "import sys\n"
        "from greenbench.api import plan_suite, run_suite\n"
        f"suite, runs = plan_suite({str(suite_file)!r})\n"
        f"outcome = run_suite(suite, [r for r in runs if r.seed == 0], results_dir={str(tmp_path / 'r')!r})\n"
        "assert outcome.counts == {'completed': 2}, outcome.counts\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras', 'pandas')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
