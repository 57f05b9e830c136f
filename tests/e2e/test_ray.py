"""`greenbench run --executor ray` on a real two-node Ray cluster on this machine (loopback only), never a mock.

Each test starts its own cluster in a network namespace of its own (tests/ray_support.py): a head node with
MNIST and a worker node without it (the driver ships its copy), one ``greenbench_slot`` each. Skipped, with
the reason, where Ray is not installed (``pip install 'greenbench[ray]'``) or no network namespace can be made.
"""

from __future__ import annotations

import json
import os
import re
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
RAY_CORE_LOG = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+ [DIWEF] \d+ \d+\] \w+\.cc:\d+: ")  # Ray's C++ log lines

# Four workloads (two per node), one epoch, small subsets: the Ray path, not the models, is under test.
# cotenancy_threshold 1.0: the two "nodes" share this machine's cores, so the worker node's idle window overlaps
# the head node's training by design; co-tenancy (a shared idle window has no net energy) has its own tests
# (tests/unit/measure/test_idle.py, tests/e2e/test_run_idle_baseline.py), this one follows each node's baseline.
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
energy: {country: USA, measure_power_secs: 0.5, min_phase_s: 0.5, min_samples: 1, idle_recheck_after_s: 0.001}
runner: {timeout_s: 600, latency_samples: 10, cotenancy_threshold: 1.0}
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


def _cluster(tmp_path: Path, driver: str, mnist_dir: Path, timeout: float = 1500, *,
             node_env: dict[str, str] | None = None, worker_env: dict[str, str] | None = None, worker_gpus: int = 0):
    """``driver`` on a fresh two-node cluster. Both nodes get ``node_env`` (and no idle baseline, as the tests'
    processes: GREENBENCH_IDLE_BASELINE_S=0 is inherited), the worker node ``worker_env`` and ``worker_gpus``
    logical GPUs on top."""
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    # The driver and the head node have MNIST; the worker node has neither the data nor a cache with it.
    env = f"GREENBENCH_DATA_DIR={mnist_dir} GREENBENCH_QUIET_WAIT_S=0 GREENBENCH_IDLE_BASELINE_S=0"
    proc = run_on_cluster(f"env {env} {driver}", workdir=workdir, timeout=timeout, worker_gpus=worker_gpus,
                          head_env={"GREENBENCH_DATA_DIR": str(mnist_dir), "GREENBENCH_QUIET_WAIT_S": "0",
                                    **(node_env or {})},
                          worker_env={"GREENBENCH_CACHE_DIR": str(workdir / "worker-cache"),
                                      "GREENBENCH_QUIET_WAIT_S": "0", **(node_env or {}), **(worker_env or {})})
    return proc, workdir


def _spans(records: dict[str, dict]) -> dict[str, list[tuple[float, float, str, str]]]:
    """Per node: (start, end, workload id, isolation) of each workload it ran, from first window to last record."""
    spans: dict[str, list[tuple[float, float, str, str]]] = {}
    for wid in {r["workload_id"] for r in records.values()}:
        mine = [r for r in records.values() if r["workload_id"] == wid]
        spans.setdefault(mine[0]["node"]["id"], []).append(
            (min(r["node"]["started_unix"] for r in mine), max(r["node"]["recorded_unix"] for r in mine), wid,
             mine[0]["node"]["isolation"]))
    return spans


# One-per-GPU isolation: two CUDA and two CPU workloads of torch (this machine has no GPU: the CUDA runs end
# skipped, with the reason, on the node that holds Ray's logical GPUs; the CPU runs train).
GPU_SUITE = """\
name: ray-gpu
data: {dataset: mnist, train_samples: 1000, test_samples: 200, validation_samples: 0}
matrix: {backend: [torch], model: [mlp], device: [cpu, cuda], optimizer: [adam], compression: [none], seed: [0, 1]}
models: {mlp: {hidden: [32]}}
training: {epochs: 1, batch_size: 64}
energy: {country: USA, measure_power_secs: 0.5, min_phase_s: 0.5, min_samples: 1}
runner: {timeout_s: 600, latency_samples: 10}
"""


@pytest.mark.slow
@needs_ray
def test_a_suite_runs_on_two_nodes_one_workload_per_node_and_resumes_a_local_run(tmp_path: Path,
                                                                               mnist_dir: Path) -> None:
    suite = _suite(tmp_path)
    results = tmp_path / "results"
    gpu_suite, gpu_results = tmp_path / "ray-gpu.yaml", tmp_path / "results-gpu"
    gpu_suite.write_text(GPU_SUITE)
    # First the local executor records the MLP workloads; the Ray run then resumes (same run ids) with the rest.
    # Then, on the same cluster, a suite of CPU and CUDA workloads with one-per-GPU isolation (--isolation gpu).
    # The worker node measures its own idle baseline (1 s: its GREENBENCH_IDLE_BASELINE_S); the head node, like
    # the driver, has none.
    driver = (f"{_greenbench('run', str(suite), '--results', str(results), '--only', 'model=mlp')} "
              f"> {tmp_path}/local.out 2>&1 || exit 70\n"
              f"{_greenbench('run', str(suite), '--results', str(results), '--executor', 'ray', '--address', ADDRESS)}"
              f" || exit 71\n"
              f"{_greenbench('run', str(gpu_suite), '--results', str(gpu_results), '--executor', 'ray', '--address', ADDRESS, '--isolation', 'gpu')}"
              f" > {tmp_path}/gpu.out 2>&1 || exit 72\n")
    proc, workdir = _cluster(tmp_path, driver, mnist_dir, worker_env={"GREENBENCH_IDLE_BASELINE_S": "1"},
                             worker_gpus=2)
    assert proc.returncode == 0, (proc.stdout[-5000:] + proc.stderr[-5000:] + (tmp_path / "local.out").read_text()[-3000:]
                                  + ((tmp_path / "gpu.out").read_text()[-3000:] if (tmp_path / "gpu.out").exists() else ""))
    assert not leftover_processes(workdir)
    assert "4 already recorded" in proc.stdout or "resuming: 4 of 8" in proc.stdout, proc.stdout

    records = _records(results)
    assert len(records) == 8 and all(r["status"] == "completed" for r in records.values()), \
        {k: (r["status"], r["reason"]) for k, r in records.items()}
    local = {k: r for k, r in records.items() if r["config"]["model"] == "mlp"}
    remote = {k: r for k, r in records.items() if r["config"]["model"] == "cnn"}
    # the same record schema as the local executor's, plus the node that ran it (and its idle baseline, where
    # the node measured one)
    for rec in remote.values():
        extra = {"node", "idle_baseline"} if "idle_baseline" in rec else {"node"}
        assert set(rec) == set(next(iter(local.values()))) | extra, set(rec) ^ set(next(iter(local.values())))
        node = rec["node"]
        assert node["id"] and node["hostname"] and node["ip"] == "127.0.0.1"
        assert node["isolation"] == "node" and node["neighbours"] == []  # nothing else ran on its node meanwhile
        assert rec["env"]["hostname"] == node["hostname"]  # the fingerprint of the node that ran it
        # Ray's OMP_NUM_THREADS=1 for an actor without CPUs does not reach the measuring workers: they run with
        # the thread environment the node was started with, as the local executor's workers do
        assert rec["metrics"]["threads"]["omp_num_threads"] == os.environ.get("OMP_NUM_THREADS"), rec["run_id"]
        assert rec["env"]["machine"] == rec["machine"]
        assert (results / "logs" / rec["log"]).is_file()
    assert not any("node" in rec for rec in local.values())
    # both nodes worked (one workload each here), so the worker node got MNIST from the driver and verified it
    assert len({r["node"]["id"] for r in remote.values()}) == 2
    assert (workdir / "worker-cache" / "datasets" / "mnist").is_dir()
    # one measured workload per node at a time: a node's workloads (first window to last record) never overlap
    for node, intervals in _spans(remote).items():
        intervals.sort()
        for (_, end, *_), (start, *_) in zip(intervals, intervals[1:]):
            assert start >= end, (node, intervals)
    # every measured window of a run lies inside its node's span
    for rec in remote.values():
        span = rec["node"]["recorded_unix"] - rec["node"]["started_unix"]
        for name, phase in rec["phases"].items():
            assert phase["start_s"] >= 0 and phase["wall_s"] <= span + 1.0, (rec["run_id"], name)
    _check_node_baselines(results, remote)
    _check_gpu_isolation(gpu_results, (tmp_path / "gpu.out").read_text())


def _check_node_baselines(results: Path, remote: dict[str, dict]) -> None:
    """Each node measured its own idle baseline (or none, where GREENBENCH_IDLE_BASELINE_S=0 says so), and its
    records' net energy is above that node's baseline, named in the record; the driver measured none. The node
    measured again at the end (the suite ran longer than its energy.idle_recheck_after_s) and the drift between
    the two is recorded for that node."""
    data = json.loads((results / "idle-baseline.json").read_text())
    measured = {b["node"]["id"]: b for b in data["baselines"] if b["when"] == "start"}
    assert len(measured) == 1, data  # the worker node's, once; not the head's, not the driver's
    (worker_id, baseline), = measured.items()
    (end,) = [b for b in data["baselines"] if b["when"] == "end"]
    assert end["node"]["id"] == worker_id and end["total_w"] > 0 and end["invocation"] == baseline["invocation"]
    (change,) = data["drift"]
    assert change["node"]["id"] == worker_id and change["start_w"] == baseline["total_w"]
    assert change["end_w"] == end["total_w"] and isinstance(change["flagged"], bool)
    assert baseline["requested_s"] == 1.0 and baseline["total_w"] > 0 and baseline["machine"], baseline
    for rec in remote.values():
        train = rec["phases"].get("train", {}).get("energy") or {}
        if rec["node"]["id"] != worker_id:
            assert "idle_baseline" not in rec and "net_total_kwh" not in train, rec["run_id"]
            continue
        assert rec["idle_baseline"]["node"]["id"] == worker_id
        assert rec["idle_baseline"]["total_w"] == baseline["total_w"]
        assert rec["idle_baseline"]["invocation"] == baseline["invocation"]
        if "train" in rec["phases"]:
            assert train["idle_w"] == baseline["total_w"]
            assert train["net_total_kwh"] == pytest.approx(
                max(0.0, train["total_kwh"] - baseline["total_w"] * train["duration_s"] / 3.6e6))


def _check_gpu_isolation(results: Path, out: str) -> None:
    """--isolation gpu: CUDA workloads held one (logical) GPU each on the node that has them, and say so in their
    records; CPU workloads held their node: nothing else ran there while they did."""
    records = _records(results)
    assert len(records) == 4, (sorted(records), out[-3000:])
    cuda = [r for r in records.values() if r["config"]["device"] == "cuda"]
    cpu = [r for r in records.values() if r["config"]["device"] == "cpu"]
    assert len(cuda) == 2 and len(cpu) == 2
    for rec in cuda:  # no GPU here: skipped, with the reason, by a GPU runner on the GPU node
        assert rec["status"] == "skipped" and "CUDA" in rec["reason"], (rec["status"], rec["reason"])
        node = rec["node"]
        assert node["isolation"] == "gpu" and node["gpu_ids"] in (["0"], ["1"]), node
        assert "sharing its CPU package and RAM" in node["isolation_note"]
        assert isinstance(node["neighbours"], list)
    assert len({r["node"]["id"] for r in cuda}) == 1  # the worker node: the only one with GPUs
    for rec in cpu:
        assert rec["status"] == "completed", rec["reason"]
        assert rec["node"]["isolation"] == "node" and rec["node"]["neighbours"] == [] and "gpu_ids" not in rec["node"]
    # a CPU workload's span never overlaps any other workload's on its node (GPU ones may overlap each other)
    for node, intervals in _spans(records).items():
        for start, end, wid, isolation in intervals:
            if isolation != "node":
                continue
            for other in intervals:
                if other[2] != wid:
                    assert other[1] <= start or other[0] >= end, (node, intervals)
    # the worker node measured its idle baseline before its first workload of this invocation too
    baselines = json.loads((results / "idle-baseline.json").read_text())["baselines"]
    assert [b["node"]["id"] for b in baselines] == [cuda[0]["node"]["id"]], baselines


@pytest.mark.slow
@needs_ray
def test_an_address_nobody_answers_or_a_cluster_without_slots_is_one_line_with_exit_code_2(tmp_path: Path) -> None:
    """One network namespace with a one-node cluster whose node offers no ``greenbench_slot``: an address nobody
    answers (a port nothing listens on) and that cluster are each one line on stderr, exit code 2, no record."""
    suite = _suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    driver = f"""began=$(date +%s)
{_greenbench("run", str(suite), "--results", str(tmp_path / "r"), "--executor", "ray", "--address", "127.0.0.1:6390")} \
  >{out}/nobody.out 2>{out}/nobody.err; echo "$? $(( $(date +%s) - began ))" >{out}/nobody.rc
{_greenbench("run", str(suite), "--results", str(tmp_path / "r"), "--executor", "ray", "--address", ADDRESS)} \
  >{out}/noslot.out 2>{out}/noslot.err; echo "$?" >{out}/noslot.rc
"""
    proc = run_on_cluster(driver, workdir=tmp_path, timeout=300, head_env={}, worker_env=None, head_resources="{}")
    logs = {p.name: p.read_text() for p in out.iterdir()}
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:], logs)
    assert not leftover_processes(tmp_path)
    rc, seconds = logs["nobody.rc"].split()
    assert rc == "2", logs
    lines = logs["nobody.err"].strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Ray cluster at 127.0.0.1:6390" in lines[0], logs["nobody.err"]
    assert "greenbench_slot" in lines[0]
    assert int(seconds) < 60
    assert logs["noslot.rc"].strip() == "2", logs
    # greenbench's own output is one line. Ray's C++ core logs its own warnings to stderr while ray.init connects
    # ("[<time> W <pid> <tid>] network_util.cc:…: Failed to determine local IP via external connectivity…": it
    # probes 8.8.8.8 for the machine's address, which this namespace has no route to): those are Ray's, kept.
    lines = [ln for ln in logs["noslot.err"].strip().splitlines() if not RAY_CORE_LOG.match(ln)]
    assert len(lines) == 1, logs["noslot.err"]
    assert lines[0].startswith(f"error: --executor ray: no node of the Ray cluster at {ADDRESS} offers the "
                               "'greenbench_slot' resource"), lines[0]
    assert "--resources='{\"greenbench_slot\": 1}'" in lines[0]
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
    for bad, key in (("ray_isolation: socket, ", "runner.ray_isolation"),
                     ("node_silence_margin_s: 0, ", "runner.node_silence_margin_s")):
        path.write_text(_suite(tmp_path).read_text().replace("runner: {", "runner: {" + bad))
        out = subprocess.run([sys.executable, "-m", "greenbench", "validate", str(path)], capture_output=True,
                             text=True, timeout=120, cwd=ROOT)
        assert out.returncode == 2 and key in out.stderr and len(out.stderr.strip().splitlines()) == 1, \
            out.stdout + out.stderr
    path.write_text(_suite(tmp_path).read_text().replace("runner: {", "runner: {ray_isolation: gpu, "))
    out = subprocess.run([sys.executable, "-m", "greenbench", "validate", str(path)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "greenbench", "run", str(_suite(tmp_path)), "--isolation", "gpu",
                          "--results", str(tmp_path / "r")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --isolation says what a workload holds on a Ray node: use it with --executor ray "
        "(or runner.executor: ray)"], out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "greenbench", "run", str(_suite(tmp_path)), "--isolation", "socket",
                          "--executor", "ray", "--results", str(tmp_path / "r")], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 2 and "--isolation" in out.stderr, out.stdout + out.stderr
    assert not list((tmp_path / "r").glob("*.json"))


# The seed (0 or 1) with the fewest completed runs in a results directory: what the local executor resumes.
PICK_SEED = ("import json, pathlib, sys; recs = [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).glob('*.json')]; "
             "done = [r['config']['seed'] for r in recs if r.get('status') == 'completed']; "
             "print(min((0, 1), key=done.count))")


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
seed=$({sys.executable} -c "{PICK_SEED}" {results}); echo "$seed" >{out}/local.seed
{GREENBENCH} run {suite} --results {results} --only seed=$seed >{out}/local.out 2>&1; echo "local=$?" >{out}/local.rc
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
    # the local executor resumed the Ray runs (same run ids): it ran what the Ray runs left of one seed's runs
    assert logs["local.rc"].strip() == "local=0", logs
    assert logs["second.rc"].strip() == "second=0", logs
    records = _records(results)
    assert len(records) == 8 and all(r["status"] == "completed" for r in records.values())
    seed = int(logs["local.seed"])
    by_local = {k for k, r in records.items() if "node" not in r}
    assert by_local and all(records[k]["config"]["seed"] == seed for k in by_local), logs["local.out"]
    if len(by_local) < 4:  # the Ray runs had completed some of that seed's runs: the local run resumed them
        assert "resuming:" in logs["local.out"] or "already recorded" in logs["local.out"], logs["local.out"]
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


@pytest.mark.slow
@needs_ray
def test_a_hung_node_runner_is_killed_by_the_watchdog_and_its_workload_retried_on_the_other_node(
        tmp_path: Path, mnist_dir: Path) -> None:
    """A node runner that is alive but silent — SIGSTOPped by its framework worker at the first workload's train
    point (tests/fault_injection.py's ``stop-parent``; the worker itself goes on) — is killed by the driver once
    it has said nothing for runner.timeout_s + runner.node_silence_margin_s (20 + 5 s here); its runs not yet
    recorded fail with the node and the silence in the reason and are retried on the other node."""
    suite = _suite(tmp_path, torch_only=True)
    suite.write_text(suite.read_text().replace("runner: {timeout_s: 600,",
                                               "runner: {timeout_s: 20, node_silence_margin_s: 5,"))
    assert "node_silence_margin_s: 5" in suite.read_text()
    results = tmp_path / "results"
    out = tmp_path / "out"
    out.mkdir()
    marker = tmp_path / "stopped.pid"
    driver = f"""{GREENBENCH} run {suite} --results {results} --executor ray --address {ADDRESS} >{out}/run.out 2>&1
echo "rc=$?" >{out}/run.rc
# the SIGSTOPped node runner is gone: the watchdog's kill reached it (gone, or dead and not yet reaped)
sleep 2; grep State /proc/$(cat {marker})/status >{out}/stopped.txt 2>/dev/null || echo "State: gone" >{out}/stopped.txt
"""
    plugin = {"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "GREENBENCH_WORKER_PLUGINS": "fault_injection",
              "GREENBENCH_FAULT": f"stop-parent={marker}@train"}
    began = time.monotonic()
    proc, workdir = _cluster(tmp_path, driver, mnist_dir, node_env=plugin)
    logs = {p.name: p.read_text() for p in out.iterdir()}
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:], logs)
    assert logs["run.rc"].strip() == "rc=0", logs
    assert logs["stopped.txt"].split()[1] in ("gone", "Z"), logs  # not T (stopped): killed
    assert not leftover_processes(workdir)
    records = _records(results)
    assert len(records) == 8 and all(r["status"] == "completed" for r in records.values()), \
        {k: (r["status"], r["reason"]) for k, r in records.items()}
    retried = [r for r in records.values() if r.get("attempts")]
    assert retried and len({r["workload_id"] for r in retried}) == 1, logs["run.out"]  # the stopped one only
    for rec in retried:
        silent = rec["attempts"][0]
        assert silent["status"] == "failed" and "went silent while running this workload" in silent["reason"]
        assert f"Ray node {silent['node']['hostname']} ({silent['node']['id'][:12]})" in silent["reason"]
        assert "no event from its node runner for" in silent["reason"] and "runner.timeout_s (20 s)" in silent["reason"]
        assert "retrying on another node (attempt 2 of 2)" in silent["reason"]
        assert silent["node"]["id"] != rec["node"]["id"]  # retried on the other node
    assert "retrying on another node" in logs["run.out"], logs["run.out"]
    assert time.monotonic() - began < 600
