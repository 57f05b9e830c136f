"""`greenbench run suites/smoke.yaml` end to end: real frameworks, real codecarbon, real records."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import greenbench
from greenbench.results import COLUMNS
from greenbench.suite import expand, load_suite

from e2e_support import ROOT, SMOKE, run_cli, sigint_default
from fault_injection import fault_env
from machine_support import probe_sensors
from process_support import gone

pytestmark = pytest.mark.slow

REQUIRED = ["run_id", "suite", "backend", "model", "device", "optimizer", "compression", "seed", "status",
            "test_accuracy", "train_time_s", "train_energy_kwh", "train_co2_kg", "total_energy_kwh",
            "total_co2_kg", "energy_source", "params", "machine"]


def test_smoke_suite_records_every_run_with_positive_energy(smoke_results: Path) -> None:
    plan = {r.run_id for r in expand(load_suite(SMOKE))}
    df = greenbench.load_results(smoke_results)
    assert set(df.run_id) == plan
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS and set(REQUIRED) <= set(df.columns)
    done = df[df.status == "completed"]
    assert set(done.run_id) == plan, df[df.status != "completed"][["run_id", "status", "reason"]].to_string()
    assert done[REQUIRED].drop(columns=["train_time_s", "train_energy_kwh", "train_co2_kg"]).notna().all().all()
    assert (done.test_accuracy > 0.5).all()
    trained = done[done.compression == "none"]
    assert (trained.train_energy_kwh > 0).all() and (trained.train_co2_kg > 0).all()
    assert (trained.train_time_s > 0).all() and (trained.params > 0).all()
    assert (done.total_energy_kwh > 0).all()
    # the energy is measured or estimated as this machine allows, and the records say which
    sensors = probe_sensors()
    for run in done.itertuples():
        assert run.cpu_energy_source in sensors.cpu_labels(), run.run_id
        assert run.gpu_energy_source == sensors.gpu_label() and run.ram_energy_source == "estimated:ram-model"
        assert run.energy_source == sensors.energy_source(run.cpu_energy_source), run.run_id
    # the same architecture has the same parameter count in both frameworks
    per_model = trained.groupby("model").params.nunique()
    assert (per_model == 1).all(), trained[["backend", "model", "params"]]


def test_compression_variants_share_one_training(smoke_results: Path) -> None:
    records = [json.loads(p.read_text()) for p in smoke_results.glob("*.json")]
    by_workload: dict[str, int] = {}
    for rec in records:
        by_workload[rec["workload_id"]] = by_workload.get(rec["workload_id"], 0) + ("train" in rec["phases"])
    assert set(by_workload.values()) == {1}
    variants = [r for r in records if r["compression"] and r["config"]["compression"] != "none"]
    assert variants and all(r["compression"]["trained_run_id"] for r in variants)


def test_every_run_keeps_its_log_beside_its_record(smoke_results: Path) -> None:
    for path in smoke_results.glob("*.json"):
        rec = json.loads(path.read_text())
        assert (smoke_results / "logs" / rec["log"]).is_file()
    # each worker's start-up output (framework import chatter) is logged too, not printed
    for backend in ("torch", "tensorflow"):
        assert (smoke_results / "logs" / f"worker-{backend}.log").is_file()


def test_rerun_resumes_and_redoes_nothing(smoke_results: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in smoke_results.glob("*.json")}
    proc = run_cli("run", str(SMOKE), "--results", str(smoke_results), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "16 already recorded" in proc.stdout
    assert {p.name: p.stat().st_mtime_ns for p in smoke_results.glob("*.json")} == before


def test_sigkill_mid_suite_then_rerun_loses_only_the_run_in_progress(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "results"
    args = ["run", str(SMOKE), "--results", str(out), "--only", "backend=torch", "--quiet"]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "greenbench", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("*.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # greenbench and its worker, at once
    proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert 2 <= len(first) < 8
    for p in out.glob("*.json"):
        json.loads(p.read_text())  # every file on disk is a whole record
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    plan = {r.run_id for r in expand(load_suite(SMOKE)) if r.backend == "torch"}
    assert {p.stem for p in out.glob("*.json")} == plan
    for name, mtime in first.items():  # completed runs were not redone
        rec = json.loads((out / name).read_text())
        if rec["status"] == "completed":
            assert (out / name).stat().st_mtime_ns == mtime


def md_table(md: str, caption: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under ``**caption**``, as dicts by column header."""
    lines = md.splitlines()
    start = lines.index(f"**{caption}**")
    table = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split(" | ")])
        elif table:
            break
    header, rule, *rows = table
    assert set("".join(rule)) <= {"-", "|", ":"}
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_report_and_exports_from_real_results(smoke_results: Path, tmp_path: Path) -> None:
    import pandas as pd

    df = greenbench.load_results(smoke_results).set_index("run_id")
    records = {r["run_id"]: r for r in (json.loads(p.read_text()) for p in smoke_results.glob("*.json"))}
    outputs = {}
    for fmt in ("html", "md", "csv"):
        target = tmp_path / f"report.{fmt}"
        proc = run_cli("report", str(smoke_results), "--format", fmt, "--out", str(target))
        assert proc.returncode == 0, proc.stderr
        outputs[fmt] = target

    # CSV: one row per record, the documented columns, the records' values
    csv = pd.read_csv(outputs["csv"]).set_index("run_id")
    assert list(csv.columns[: len(COLUMNS) - 1]) == [c for c in COLUMNS if c != "run_id"]
    assert set(csv.index) == set(records)
    for run_id, rec in records.items():
        row = csv.loc[run_id]
        assert row.status == rec["status"] and row.backend == rec["config"]["backend"]
        assert row.test_accuracy == pytest.approx(rec["metrics"]["test_accuracy"], rel=1e-12)
        assert row.total_energy_kwh == pytest.approx(df.loc[run_id, "total_energy_kwh"], rel=1e-9)
        assert row.energy_source == df.loc[run_id, "energy_source"]

    # Markdown: the suite, every run completed, each configuration's accuracy, how energy was obtained
    md = outputs["md"].read_text(encoding="utf-8")
    assert md.startswith("# greenbench report: smoke\n")
    assert f"{len(records)} runs of {len(records)} configuration(s) from 1 suite(s) (smoke)" in md
    assert f": {len(records)} completed. Seeds: 0." in md and "Every run completed." in md
    trained = {f"{r['config']['backend']} · {r['config']['model']}": r for r in records.values()
               if r["config"]["compression"] == "none"}
    per_config = md_table(md, "Per configuration: mean ± 95 % CI half-width over seeds")
    assert {row["configuration"]: row["test accuracy"] for row in per_config} == {
        name: f"{r['metrics']['test_accuracy'] * 100:.2f} %" for name, r in trained.items()}
    assert all(row["seeds"] == "1" for row in per_config)
    provenance = {(device.upper(), how) for r in records.values() for phase in r["phases"].values()
                  for device, how in ((phase.get("energy") or {}).get("provenance") or {}).items()}
    shown = {(row["device"], row["energy obtained by"]) for row in md_table(md, "How energy was obtained, per device")}
    assert shown == provenance
    estimated = any(how.startswith("estimated:") for _, how in provenance)
    assert ("**† Estimated energy:**" in md) == estimated
    html = outputs["html"].read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>") and "greenbench report: smoke" in html


def _start_training(out: Path) -> tuple[subprocess.Popen, list[str], int]:
    """Start a one-workload run held in training by a test-only delay; return it, its args and its worker's pid."""
    args = ["run", str(SMOKE), "--results", str(out), "--only", "backend=torch,model=mlp", "--quiet"]
    env = fault_env("sleep=60@train", {**os.environ, "COLUMNS": "200"})
    # Started as from a terminal: a test run launched in the background of a non-interactive shell
    # inherits SIGINT *ignored*, and Python (rightly) keeps ignoring it — Ctrl-C is not for background jobs.
    proc = subprocess.Popen([sys.executable, "-m", "greenbench", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    log = out / "logs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        texts = [p.read_text() for p in log.glob("*.log")] if log.is_dir() else []
        found = [t for t in texts if "injected fault" in t]
        if found:
            return proc, args, int(re.search(r"== greenbench worker pid (\d+)", found[0]).group(1))
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the run never reached its training phase")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_sigint_or_sigterm_stops_cleanly_marks_the_run_interrupted_and_rerun_resumes(
    tmp_path: Path, mnist_dir: Path, sig: signal.Signals, code: int
) -> None:
    # Ctrl-C, and SIGTERM as sent by a cancelled CI job, `timeout` or `docker stop`.
    out = tmp_path / "results"
    proc, args, worker = _start_training(out)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stdout + stderr
    assert "Traceback" not in stderr
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert len(records) == 2  # none and int8-dynamic of the one workload
    assert {r["status"] for r in records} == {"interrupted"}
    assert all(sig.name in r["reason"] and "rerun the same command" in r["reason"] for r in records)
    assert gone(worker)  # the worker was stopped with its run

    again = run_cli(*args)  # no fault this time: resumes and completes
    assert again.returncode == 0, again.stderr
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert {r["status"] for r in records} == {"completed"}


def test_a_worker_does_not_outlive_a_killed_greenbench(tmp_path: Path, mnist_dir: Path) -> None:
    # SIGKILL to greenbench alone: its worker must not go on training, unmeasured, beside later runs.
    proc, _, worker = _start_training(tmp_path / "results")
    proc.kill()
    proc.communicate(timeout=60)
    assert gone(worker), f"worker {worker} outlived its parent"


def test_two_processes_on_one_results_directory_share_the_work(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "results"
    args = ["run", str(SMOKE), "--results", str(out), "--only", "backend=torch", "--quiet"]
    env = {**os.environ, "COLUMNS": "200"}
    procs = [subprocess.Popen([sys.executable, "-m", "greenbench", *args], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    plan = {r.run_id for r in expand(load_suite(SMOKE)) if r.backend == "torch"}
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}  # every file a whole record
    assert set(records) == plan
    assert {r["status"] for r in records.values()} == {"completed"}
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind
    # each workload trained once, by one of the two processes
    trained = [r for r in records.values() if "train" in r["phases"]]
    assert len(trained) == len({r["workload_id"] for r in records.values()})
