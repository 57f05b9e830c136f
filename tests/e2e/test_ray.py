"""`greenbench run --executor ray` on a real two-node Ray cluster on this machine (loopback only), never a mock.

Each test starts its own cluster in a network namespace of its own (tests/ray_support.py): a head node with
MNIST and a worker node without it (the driver ships its copy), one ``greenbench_slot`` each. Skipped, with
the reason, where Ray is not installed (``pip install 'greenbench[ray]'``) or no network namespace can be made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ray_support import ADDRESS, GREENBENCH, leftover_processes, ray_missing, run_on_cluster


def needs_ray(test):  # noqa: ANN001, ANN201 - a decorator
    """Skipped, with the reason, where no loopback Ray cluster can be started; CI promises one
    (``GREENBENCH_TEST_REQUIRE=ray``, tests/capabilities.py), and there the skip is a failure."""
    test = pytest.mark.skipif(ray_missing() is not None, reason=str(ray_missing()))(test)
    return pytest.mark.requires("ray")(test)

ROOT = Path(__file__).resolve().parents[2]

# Four workloads (two per node), one epoch, small subsets: the Ray path, not the models, is under test.
SUITE = """\
name: ray-mini
data: {dataset: mnist, train_samples: 1000, test_samples: 200, validation_samples: 0}
matrix:
  backend: %(backends)s
  model: [mlp, cnn]
  device: [cpu]
  optimizer: [adam]
  compression: [none, int8-dynamic]
  seed: %(seeds)s
models:
  mlp: {hidden: [32]}
  cnn: {channels: [4, 8], dense: 16}
training: {epochs: %(epochs)d, batch_size: 64}
energy: {country: USA, measure_power_secs: 0.5, min_phase_s: 0.5, min_samples: 1}
runner: {timeout_s: 600, latency_samples: 10}
"""


def _suite(tmp_path: Path, epochs: int = 1, *, torch_only: bool = False) -> Path:
    """Four workloads, eight runs: both frameworks (mlp, cnn), or — for the fault tests, which start the
    driver up to three times — torch alone with two seeds, so that no node imports TensorFlow each time."""
    path = tmp_path / "ray-mini.yaml"
    backends, seeds = ("[torch]", "[0, 1]") if torch_only else ("[torch, tensorflow]", "[0]")
    path.write_text(SUITE % {"epochs": epochs, "backends": backends, "seeds": seeds})
    return path


def _greenbench(*args: str) -> str:
    return " ".join([sys.executable, "-m", "greenbench", *args])


def _records(results: Path) -> dict[str, dict]:
    out = {}
    for path in results.glob("*.json"):
        rec = json.loads(path.read_text())
        if "run_id" in rec:
            out[rec["run_id"]] = rec
    return out


def _cluster(tmp_path: Path, driver: str, mnist_dir: Path, timeout: float = 1500):
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    # The driver and the head node have MNIST; the worker node has neither the data nor a cache with it.
    env = f"GREENBENCH_DATA_DIR={mnist_dir} GREENBENCH_QUIET_WAIT_S=0 GREENBENCH_IDLE_BASELINE_S=0"
    proc = run_on_cluster(f"env {env} {driver}", workdir=workdir, timeout=timeout,
                          head_env={"GREENBENCH_DATA_DIR": str(mnist_dir), "GREENBENCH_QUIET_WAIT_S": "0"},
                          worker_env={"GREENBENCH_CACHE_DIR": str(workdir / "worker-cache"),
                                      "GREENBENCH_QUIET_WAIT_S": "0"})
    return proc, workdir


@pytest.mark.slow
@needs_ray
def test_a_suite_runs_on_two_nodes_one_workload_per_node_and_resumes_a_local_run(tmp_path: Path,
                                                                               mnist_dir: Path) -> None:
    suite = _suite(tmp_path)
    results = tmp_path / "results"
    # First the local executor records the MLP workloads; the Ray run then resumes (same run ids) with the rest.
    driver = (f"{_greenbench('run', str(suite), '--results', str(results), '--only', 'model=mlp')} "
              f"> {tmp_path}/local.out 2>&1 || exit 70\n"
              f"{_greenbench('run', str(suite), '--results', str(results), '--executor', 'ray', '--address', ADDRESS)}")
    proc, workdir = _cluster(tmp_path, driver, mnist_dir)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:] + (tmp_path / "local.out").read_text()[-3000:]
    assert not leftover_processes(workdir)
    assert "4 already recorded" in proc.stdout or "resuming: 4 of 8" in proc.stdout, proc.stdout

    records = _records(results)
    assert len(records) == 8 and all(r["status"] == "completed" for r in records.values()), \
        {k: (r["status"], r["reason"]) for k, r in records.items()}
    local = {k: r for k, r in records.items() if r["config"]["model"] == "mlp"}
    remote = {k: r for k, r in records.items() if r["config"]["model"] == "cnn"}
    # the same record schema as the local executor's, plus the node that ran it
    for rec in remote.values():
        assert set(rec) == set(next(iter(local.values()))) | {"node"}, set(rec) ^ set(next(iter(local.values())))
        node = rec["node"]
        assert node["id"] and node["hostname"] and node["ip"] == "127.0.0.1"
        assert rec["env"]["hostname"] == node["hostname"]  # the fingerprint of the node that ran it
        assert rec["env"]["machine"] == rec["machine"]
        assert (results / "logs" / rec["log"]).is_file()
    assert not any("node" in rec for rec in local.values())
    # both nodes worked (one workload each here), so the worker node got MNIST from the driver and verified it
    assert len({r["node"]["id"] for r in remote.values()}) == 2
    assert (workdir / "worker-cache" / "datasets" / "mnist").is_dir()
    # one measured workload per node at a time: a node's workloads (first window to last record) never overlap
    spans: dict[str, list[tuple[float, float]]] = {}
    for wid in {r["workload_id"] for r in remote.values()}:
        mine = [r for r in remote.values() if r["workload_id"] == wid]
        spans.setdefault(mine[0]["node"]["id"], []).append(
            (min(r["node"]["started_unix"] for r in mine), max(r["node"]["recorded_unix"] for r in mine)))
    for node, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:]):
            assert start >= end, (node, intervals)
    # every measured window of a run lies inside its node's span
    for rec in remote.values():
        span = rec["node"]["recorded_unix"] - rec["node"]["started_unix"]
        for name, phase in rec["phases"].items():
            assert phase["start_s"] >= 0 and phase["wall_s"] <= span + 1.0, (rec["run_id"], name)


@pytest.mark.slow
@needs_ray
def test_an_address_nobody_answers_is_one_line_with_exit_code_2(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    script = tmp_path / "nocluster.sh"  # a network namespace of its own, with no cluster in it
    script.write_text("ip link set lo up\n" + _greenbench("run", str(suite), "--results", str(tmp_path / "r"),
                                                        "--executor", "ray", "--address", "127.0.0.1:6390") + "\n")
    began = time.monotonic()
    out = subprocess.run(["unshare", "-n", "sh", str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Ray cluster at 127.0.0.1:6390" in lines[0], out.stderr
    assert "greenbench_slot" in lines[0]
    assert time.monotonic() - began < 60
    assert not list((tmp_path / "r").glob("*.json"))


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    """Ray made unimportable for this one process (a ``ray`` package that raises ImportError first on the path)."""
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "greenbench", "run", str(_suite(tmp_path)), "--executor", "ray",
                          "--results", str(tmp_path / "r")], capture_output=True, text=True, timeout=120, env=env,
                         cwd=ROOT)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip() == ("error: --executor ray: Ray is not installed here; "
                                  "install with pip install 'greenbench[ray]'"), out.stderr


def test_the_suite_can_choose_the_executor_and_address_needs_ray(tmp_path: Path) -> None:
    path = _suite(tmp_path)
    path.write_text(path.read_text().replace("runner: {", "runner: {executor: bogus, "))
    out = subprocess.run([sys.executable, "-m", "greenbench", "validate", str(path)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 2 and "runner.executor" in out.stderr, out.stdout + out.stderr
    path.write_text(_suite(tmp_path).read_text().replace("runner: {", "runner: {node_retries: -1, "))
    out = subprocess.run([sys.executable, "-m", "greenbench", "validate", str(path)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 2 and "runner.node_retries" in out.stderr, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "greenbench", "run", str(_suite(tmp_path)), "--address", "127.0.0.1:1",
                          "--results", str(tmp_path / "r")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 2 and "--address names a Ray cluster" in out.stderr, out.stdout + out.stderr


@pytest.mark.slow
@needs_ray
def test_ctrl_c_or_sigterm_on_the_driver_interrupts_cancels_the_ray_work_and_the_same_command_resumes(
        tmp_path: Path, mnist_dir: Path) -> None:
    suite = _suite(tmp_path, epochs=2, torch_only=True)
    results = tmp_path / "results"
    args = f"run {suite} --results {results} --executor ray --address {ADDRESS}"
    out = tmp_path / "out"
    driver = f"""{GREENBENCH} {args} >{out}/first.out 2>&1 &
D=$!
wait_for '{results}/*.json' || {{ echo "no record appeared"; exit 71; }}
kill -INT $D
wait $D; echo "first=$?" >{out}/first.rc
sleep 3; node_runners >{out}/left.txt
n=$(ls {results}/*.json | wc -l)
{GREENBENCH} {args} >{out}/term.out 2>&1 &
D=$!
while [ $(ls {results}/*.json | wc -l) -le $n ]; do sleep 0.5; done  # a run more is recorded: SIGTERM
kill -TERM $D
wait $D; echo "term=$?" >{out}/term.rc
sleep 3; node_runners >>{out}/left.txt
{GREENBENCH} {args} >{out}/second.out 2>&1; echo "second=$?" >{out}/second.rc
"""
    out.mkdir()
    proc, workdir = _cluster(tmp_path, driver, mnist_dir)
    logs = {p.name: p.read_text() for p in out.iterdir()}
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:], logs)
    assert logs["first.rc"].strip() == "first=130", logs
    assert "interrupted" in logs["first.out"], logs["first.out"]
    # the node runners were killed with the driver's interrupt, and their framework workers with them
    assert logs["left.txt"].strip() == "", logs["left.txt"]
    assert not leftover_processes(workdir)
    assert logs["term.rc"].strip() == "term=143", logs  # SIGTERM (a cancelled CI job) the same way
    assert "interrupted" in logs["term.out"] and "SIGTERM" in logs["term.out"], logs["term.out"]
    assert logs["second.rc"].strip() == "second=0", logs
    records = _records(results)
    assert len(records) == 8 and all(r["status"] == "completed" for r in records.values())
    assert "resuming:" in logs["second.out"], logs["second.out"]


@pytest.mark.slow
@needs_ray
def test_a_node_lost_mid_run_fails_its_runs_and_they_are_retried_on_the_other_node(tmp_path: Path,
                                                                                  mnist_dir: Path) -> None:
    suite = _suite(tmp_path, epochs=3, torch_only=True)
    results = tmp_path / "results"
    out = tmp_path / "out"
    out.mkdir()
    driver = f"""{GREENBENCH} run {suite} --results {results} --executor ray --address {ADDRESS} >{out}/run.out 2>&1 &
D=$!
wait_for '{results}/*.json' || {{ echo "no record appeared"; exit 71; }}
sleep 2  # the worker node is mid-workload now (its first, or the next it took at once)
kill_worker_node
wait $D; echo "rc=$?" >{out}/run.rc
"""
    proc, workdir = _cluster(tmp_path, driver, mnist_dir)
    logs = {p.name: p.read_text() for p in out.iterdir()}
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:], logs)
    assert logs["run.rc"].strip() == "rc=0", logs
    assert not leftover_processes(workdir)
    records = _records(results)
    assert len(records) == 8 and all(r["status"] == "completed" for r in records.values()), \
        {k: (r["status"], r["reason"]) for k, r in records.items()}
    retried = [r for r in records.values() if r.get("attempts")]
    assert retried, logs["run.out"]
    for rec in retried:
        lost = rec["attempts"][0]
        assert lost["status"] == "failed" and "lost Ray node" in lost["reason"] and "retrying" in lost["reason"]
        assert lost["node"]["id"] != rec["node"]["id"]  # retried on the other node
    assert "failed" in logs["run.out"] and "retrying on another node" in logs["run.out"], logs["run.out"]
