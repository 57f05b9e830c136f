"""Hostile input and a failing environment through the real ``greenbench`` command line.

Each case ends with one clear ``error: ...`` line on stderr (exit 2 for bad input, 1 where the
environment failed, 130 for Ctrl-C), never a traceback, and nothing already recorded is lost.
Full and read-only disks are real: a small tmpfs the test mounts (root only; skipped with the
reason elsewhere). Tests that train real (tiny) models are marked slow.
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
from typing import Iterator

import pytest

from greenbench.results import ResultStore
from greenbench.suite.schema import suite_slug

from e2e_support import ROOT, SMOKE, run_cli, sigint_default
from fault_injection import fault_env
from fs_support import fill, read_only, snapshot, temporaries, tmpfs
from process_support import gone

# Two workloads of a tiny torch MLP: a real run in a few seconds.
TINY = """\
name: {name}
data: {{train_samples: 200, test_samples: 100}}
matrix:
  backend: [torch]
  model: [mlp]
  seed: [0, 1]
models:
  mlp: {{hidden: [16]}}
energy: {{min_phase_s: 0.0}}
runner: {{timeout_s: 120, latency_samples: 10, inference_batch: 100}}
"""


def tiny_suite(tmp_path: Path, name: str = "tiny", file: str = "tiny.yaml") -> Path:
    path = tmp_path / file
    path.write_text(TINY.format(name=json.dumps(name, ensure_ascii=False)), encoding="utf-8")
    return path


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single line on stderr, after checking there is no traceback anywhere."""
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mnt", size="4m") as mount:
        yield mount


# --------------------------------------------------------------------------- YAML bounds
BILLION_LAUGHS = "name: lol\na: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]\n" for a, b in zip("abcdefgh", "bcdefghi")
)


# Runs one command and reports the resources of that command alone: RUSAGE_CHILDREN of the test process
# would include every earlier child of the session (its max RSS is the largest child's ever, e.g. a
# framework-importing worker), so the measuring parent is a fresh process with this one child.
_MEASURED = """
import json, os, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss}))
"""


@pytest.mark.parametrize("command", [["validate"], ["run", "--dry-run"]], ids=["validate", "run"])
def test_a_billion_laughs_suite_fails_at_once_with_exit_2(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(BILLION_LAUGHS)
    # expanded: 10^9 strings, minutes and GBs
    measured = subprocess.run([sys.executable, "-c", _MEASURED, sys.executable, "-m", "greenbench", command[0],
                               str(path), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert measured.returncode == 0, measured.stderr
    out = json.loads(measured.stdout)
    proc = subprocess.CompletedProcess(command, out["returncode"], out["stdout"], out["stderr"])
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert line.endswith(f"{path}: line 7: too large: more than 100,000 values once aliases (*name) are expanded; "
                         "a suite needs a few hundred (is this a 'billion laughs' file?)")
    assert out["cpu_s"] < 30  # CPU seconds of that command, start-up included
    assert out["maxrss_kib"] < 1_000_000  # well under a gigabyte


def test_a_suite_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: big\ndescription: " + "x" * (1024 * 1024) + "\n")
    proc = run_cli("validate", str(path), timeout=120)
    assert proc.returncode == 2
    assert one_error_line(proc) == f"{path}: too large for a suite file: more than 1024 KiB (the limit; a suite is a few KiB)"


# --------------------------------------------------------------------------- numeric options
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "1e999", "1e9"])
def test_run_timeout_must_be_finite_and_positive(value: str) -> None:
    proc = run_cli("run", str(SMOKE), "--dry-run", f"--timeout={value}", timeout=120)
    assert proc.returncode == 2
    shown = {"1e999": "inf", "-1": "-1", "0": "0", "1e9": "1e+09"}.get(value, value)
    assert one_error_line(proc) == (
        f"error: --timeout {shown}: not allowed; the time allowed per run must be a finite number of seconds "
        "greater than 0 and at most 2592000 (30 days), e.g. 600"
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "0.9", "-0.05"])
def test_compare_alpha_must_be_in_its_range(tmp_path: Path, value: str) -> None:
    proc = run_cli("compare", str(tmp_path), str(tmp_path), f"--alpha={value}", timeout=120)
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        f"error: --alpha {value}: not allowed; the significance level must be a number from 0.0001 to 0.5, e.g. 0.05"
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--threshold", "nan", "error: threshold 'nan' is not a number: write a percentage like 10% or a fraction "
                               "like 0.1"),
        ("--threshold", "inf", "error: threshold 'inf' is not a number: write a percentage like 10% or a fraction "
                               "like 0.1"),
        ("--threshold", "-5%", "error: threshold '-5%' must be a non-negative percentage (10%) or fraction (0.1)"),
        ("--threshold", "1e999%", "error: threshold '1e999%' must be a non-negative percentage (10%) or fraction "
                                  "(0.1)"),
        ("--accuracy-threshold", "nan", "error: accuracy threshold 'nan': write percentage points, e.g. 0.5pp or 0.5"),
        ("--accuracy-threshold", "-1pp", "error: accuracy threshold '-1pp' must be between 0 and 100 percentage "
                                         "points, e.g. 0.5pp"),
        ("--accuracy-threshold", "1e999", "error: accuracy threshold '1e999' must be between 0 and 100 percentage "
                                          "points, e.g. 0.5pp"),
    ],
)
def test_compare_thresholds_refuse_nan_infinity_and_negatives(
    tmp_path: Path, write_records, make_record, option: str, value: str, message: str
) -> None:
    base = write_records([make_record(seed=s) for s in range(2)], name="base")
    proc = run_cli("compare", str(base), str(base), f"{option}={value}", timeout=120)
    assert proc.returncode == 2
    assert one_error_line(proc) == message


# --------------------------------------------------------------------------- the plan
def test_only_a_value_that_matches_nothing(tmp_path: Path) -> None:
    proc = run_cli("run", str(SMOKE), "--dry-run", "--only", "backend=jax", timeout=120)
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        "error: --only backend=jax: no run of this suite has backend 'jax'; backend here is one of: torch, tensorflow"
    )


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ("{model: [mlp, mlp]}", "matrix.model: duplicate value 'mlp': each value may appear once in an axis"),
        ("{backend: [torch], exclude: [{backend: torch}]}",
         "matrix: expands to no runs: the exclude entries remove every combination; narrow or remove an exclude "
         "entry, or add an include entry"),
    ],
    ids=["duplicate", "empty"],
)
def test_a_matrix_with_a_duplicate_or_without_runs(tmp_path: Path, matrix: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: x\nmatrix: {matrix}\n")
    proc = run_cli("run", str(path), "--dry-run", timeout=120)
    assert proc.returncode == 2
    assert one_error_line(proc) == f"error: {path}: {message}"


# --------------------------------------------------------------------------- suite names and results folders
def test_unicode_suites_plan_distinct_results_folders(tmp_path: Path) -> None:
    shown = {}
    for name, file in (("テスト", "ja.yaml"), ("тест", "ru.yaml"), ("../../escape [red]", "x.yaml")):
        proc = run_cli("run", str(tiny_suite(tmp_path, name, file)), "--dry-run", cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, proc.stderr
        shown[name] = re.search(r"results → (\S+)", proc.stdout.replace("\n", " ")).group(1)
    assert shown == {name: f"results/{suite_slug(name)}" for name in shown}
    assert len(set(shown.values())) == 3


def test_a_results_folder_of_another_suite_is_refused(tmp_path: Path, make_record) -> None:
    out = tmp_path / "results" / "suite"  # where both names used to land
    ResultStore(out).write(make_record(suite="テスト"))
    kept = snapshot(out)
    proc = run_cli("run", str(tiny_suite(tmp_path, "тест")), "--results", str(out), timeout=120)
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        f"error: results directory {out} belongs to suite 'テスト' (its records are of suite 'テスト'), not to suite "
        "'тест'; choose another directory for this suite with --results"
    )
    assert snapshot(out) == kept


def test_a_file_in_the_way_of_the_results_folder(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("not a folder")
    proc = run_cli("run", str(tiny_suite(tmp_path)), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        "error: cannot create the results directory results/tiny: results is a file, not a directory; remove or "
        "rename it, or choose another location with --results; what is recorded is kept: run the same command "
        "again to resume"
    )
    assert (tmp_path / "results").read_text() == "not a folder"


# --------------------------------------------------------------------------- full and read-only disks
def test_run_on_a_read_only_disk_is_one_line_exit_1_and_nothing_is_touched(
    tmp_path: Path, small_fs: Path, make_record
) -> None:
    out = small_fs / "results"
    ResultStore(out).bind("tiny")
    ResultStore(out).write(make_record(suite="tiny"))
    kept = snapshot(out)
    read_only(small_fs)
    try:
        proc = run_cli("run", str(tiny_suite(tmp_path)), "--results", str(out), timeout=120)
    finally:
        read_only(small_fs, on=False)
    assert proc.returncode == 1
    assert one_error_line(proc) == (
        f"error: cannot write in the results directory {out}: the file system is read-only (EROFS); choose a "
        "writable location with --results; what is recorded is kept: run the same command again to resume"
    )
    assert "starting workers" not in proc.stdout  # refused before any worker started
    assert snapshot(out) == kept


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_report_on_a_full_or_read_only_disk(small_fs: Path, write_records, make_record, fault: str) -> None:
    results = write_records([make_record(seed=s) for s in range(3)])
    target = small_fs / "reports" / "r.md"
    first = run_cli("report", str(results), "--format", "md", "--out", str(target), timeout=300)
    assert first.returncode == 0, first.stderr
    previous = target.read_bytes()
    filler = fill(small_fs) if fault == "full" else None
    if fault == "read-only":
        read_only(small_fs)
    try:
        proc = run_cli("report", str(results), "--format", "md", "--out", str(target), timeout=300)
    finally:
        if fault == "read-only":
            read_only(small_fs, on=False)
    assert proc.returncode == 1
    why = ("no space left on the device (ENOSPC); free some space or choose another location with --out"
           if fault == "full" else "the file system is read-only (EROFS); choose a writable location with --out")
    assert one_error_line(proc) == f"error: cannot write the report {target}: {why}"
    assert target.read_bytes() == previous and temporaries(small_fs) == []
    if filler is not None:
        filler.unlink()
    again = run_cli("report", str(results), "--format", "md", "--out", str(target), timeout=300)
    assert again.returncode == 0, again.stderr  # the fault gone, the same command works


@pytest.mark.slow
def test_run_on_a_disk_that_fills_up_keeps_what_is_recorded_and_resumes(
    tmp_path: Path, small_fs: Path, mnist_dir: Path
) -> None:
    out = small_fs / "results"
    suite = tiny_suite(tmp_path)
    args = ["run", str(suite), "--results", str(out), "--quiet"]
    env = fault_env("sleep=15@train:-s1-", {**os.environ, "COLUMNS": "200"})  # hold the second workload
    proc = subprocess.Popen([sys.executable, "-m", "greenbench", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        logs = [p.read_text(errors="replace") for p in (out / "logs").glob("torch-*.log")] if out.is_dir() else []
        if any("injected fault" in t for t in logs):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the second workload never started")
    first = snapshot(out)
    done = [name for name in first if name.endswith(".json")]
    assert len(done) == 1 and json.loads(first[done[0]])["status"] == "completed", first[done[0]][:3000]
    filler = fill(small_fs)  # the disk fills up while the second run trains
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 1, stdout + stderr
    line = one_error_line(subprocess.CompletedProcess(args, 1, stdout, stderr))
    assert re.fullmatch(
        rf"error: cannot write the record {re.escape(str(out))}/torch-mlp-adam-none-s1-[0-9a-f]{{10}}\.json: no "
        r"space left on the device \(ENOSPC\); free some space or choose another location with --results; what is "
        r"recorded is kept: run the same command again to resume", line), line
    assert (out / done[0]).read_bytes() == first[done[0]]  # the completed record is intact
    assert [p.name for p in out.glob("*.json")] == [done[0]]  # and nothing half-written beside it
    assert temporaries(small_fs) == []
    mtime = (out / done[0]).stat().st_mtime_ns

    filler.unlink()
    again = run_cli(*args, timeout=300)  # no fault, space again: resumes
    assert again.returncode == 0, again.stdout + again.stderr
    recs = records(out)
    assert len(recs) == 2 and {r["status"] for r in recs.values()} == {"completed"}
    assert (out / done[0]).stat().st_mtime_ns == mtime  # the completed run was not redone


@pytest.mark.slow
def test_two_unicode_suites_never_resume_each_others_runs(tmp_path: Path, mnist_dir: Path) -> None:
    # Same configuration, so the same run ids: before, both names landed in results/suite and the
    # second "resumed" the first's runs.
    outs = {}
    for name, file in (("テスト", "ja.yaml"), ("тест", "ru.yaml")):
        proc = run_cli("run", str(tiny_suite(tmp_path, name, file)), "--quiet", cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "2 planned: 2 completed" in proc.stdout
        outs[name] = tmp_path / "results" / suite_slug(name)
    ja, ru = records(outs["テスト"]), records(outs["тест"])
    assert set(ja) == set(ru) and len(ja) == 2  # same ids, two folders
    assert {r["suite"] for r in ja.values()} == {"テスト"} and {r["suite"] for r in ru.values()} == {"тест"}
    for name, out in outs.items():
        assert ResultStore(out).owner() == name
    report = run_cli("report", cwd=tmp_path, timeout=300)
    assert report.returncode == 0, report.stderr
    assert sorted(p.name for p in (tmp_path / "reports").glob("*.html")) == ["_".join(sorted(
        suite_slug(n) for n in outs)) + ".html"]


# --------------------------------------------------------------------------- Ctrl-C at any moment
def test_ctrl_c_outside_a_run_is_one_line_and_exit_130() -> None:
    # main()'s own net, for a Ctrl-C that lands outside run_plan's handling (while planning, printing the summary)
    code = ("import greenbench.cli as cli\n"
            "def app(**kwargs):\n    raise KeyboardInterrupt\n"  # main() runs it as app(standalone_mode=False)
            "cli.app = app\ncli.main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130
    assert one_error_line(proc) == "interrupted (Ctrl-C)"


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _workers(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "spawn_main" in cmd and "resource_tracker" not in cmd:
            found.append(child)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the worker processes in /proc")
@pytest.mark.parametrize("moment", ["worker-spawning", "framework-import", "between-workloads"])
def test_ctrl_c_at_any_moment_exits_130_without_a_traceback(tmp_path: Path, mnist_dir: Path, moment: str) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "COLUMNS": "200"}
    if moment == "between-workloads":
        env = fault_env("sleep=60@train:-s1-", env)  # hold the second workload in training
    # A terminal's foreground job: its own process group, SIGINT at its default. Ctrl-C goes to the group.
    proc = subprocess.Popen([sys.executable, "-m", "greenbench", "run", str(tiny_suite(tmp_path)), "--results",
                             str(out)], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=sigint_default)
    seen: set[int] = set()
    deadline = time.monotonic() + 240
    kept: dict[str, bytes] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        seen.update(_workers(proc.pid))
        if moment == "worker-spawning" and seen:
            break  # the worker exists and is still in multiprocessing's bootstrap (importing greenbench)
        if moment == "framework-import" and (out / "logs" / "worker-torch.log").exists() and seen:
            time.sleep(0.5)  # well into `import torch`
            break
        if moment == "between-workloads" and list(out.glob("*.json")):
            logs = [p.read_text(errors="replace") for p in (out / "logs").glob("torch-*-s1-*.log")]
            if any("injected fault" in t for t in logs):
                kept = snapshot(out)
                break
        time.sleep(0.01)
    else:
        proc.kill()
        pytest.fail(f"never reached the moment {moment!r}: {proc.communicate()}")
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stdout and "Traceback" not in stderr, stdout + stderr
    assert "KeyboardInterrupt" not in stdout + stderr
    assert all(gone(pid) for pid in seen)  # no worker left behind
    for name, content in kept.items():  # completed records intact
        if name.endswith(".json") and json.loads(content)["status"] == "completed":
            assert (out / name).read_bytes() == content
    recs = records(out)
    if moment == "between-workloads":
        assert sorted(r["status"] for r in recs.values()) == ["completed", "interrupted"]
    else:
        assert all(r["status"] == "interrupted" for r in recs.values())  # nothing ran: at most marked interrupted
