"""The CLI: exit codes, one-line errors, and that no framework is imported on light paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from network_support import offline_env

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}  # wide enough that no table cell wraps
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


_PROBE = """
import sys, runpy
sys.argv = ["greenbench", *{args!r}]
try:
    runpy.run_module("greenbench", run_name="__main__")
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "tensorflow", "keras") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["validate", "suites/smoke.yaml"], ["env"], ["run", "suites/smoke.yaml", "--dry-run"],
     ["report", "--help"], ["compare", "--help"]],
)
def test_light_commands_never_import_a_framework(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(args=args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == "HEAVY=", proc.stderr


def test_importing_the_package_and_cli_is_light() -> None:
    code = "import sys, greenbench, greenbench.cli, greenbench.api; print([m for m in ('torch','tensorflow') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version() -> None:
    from greenbench import __version__

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"greenbench {__version__}"


def test_validate_good_suites() -> None:
    proc = cli("validate", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "suites").glob("*.yaml")))
    assert proc.returncode == 0, proc.stderr
    assert "suites/mnist.yaml: suite 'mnist'" in proc.stdout


def test_bad_suite_is_one_line_per_problem_exit_2_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\nmatrix: {backend: [torch, pytorch]}\n")
    proc = cli("validate", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{bad}: matrix.backend[1]: 'pytorch' is not one of: torch, tensorflow"
    proc = cli("run", str(bad), "--dry-run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: {bad}: matrix.backend[1]: 'pytorch' is not one of: torch, tensorflow"


def test_dry_run_lists_every_run_of_the_default_study() -> None:
    proc = cli("run", "suites/mnist.yaml", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "64 runs (16 trainings" in proc.stdout
    run_ids = set(re.findall(r"\b(?:torch|tensorflow)-[a-z0-9-]+-s\d+-[0-9a-f]{10}\b", proc.stdout))
    assert len(run_ids) == 64
    assert {tuple(r.split("-")[:2]) for r in run_ids} == {
        (b, m) for b in ("torch", "tensorflow") for m in ("mlp", "cnn", "rnn", "transformer")
    }


@pytest.mark.parametrize(
    ("only", "message"),
    [
        ("colour=red", "error: --only: unknown key 'colour'; allowed keys: backend, model, device, optimizer, "
                       "compression, seed, dropout, l1, l2, augmentation, loop, threads"),
        ("backend", "error: --only 'backend': expected key=value pairs like backend=torch,model=cnn"),
        ("model=resnet", "error: --only model=resnet: no run of this suite has model 'resnet'; "
                         "model here is one of: mlp, cnn, rnn, transformer"),
    ],
)
def test_only_filter_errors(only: str, message: str) -> None:
    proc = cli("run", "suites/smoke.yaml", "--dry-run", "--only", only)
    assert proc.returncode == 2 and proc.stderr.strip() == message


def test_only_filter_selects_a_subset() -> None:
    proc = cli("run", "suites/smoke.yaml", "--dry-run", "--only", "backend=torch,model=cnn|mlp")
    assert proc.returncode == 0
    assert "4 runs (2 trainings" in proc.stdout


def test_unknown_option_is_a_usage_error() -> None:
    proc = cli("run", "suites/smoke.yaml", "--bogus")
    assert proc.returncode == 2 and "No such option" in proc.stderr


def test_run_without_data_is_one_line_exit_2_and_records_nothing(tmp_path: Path) -> None:
    """Offline, no copy anywhere: one message naming the missing files and the ways to provide them."""
    offline, attempts = offline_env(tmp_path)  # no network in the child, wherever the test runs (checked)
    env = {k: v for k, v in os.environ.items() if k != "GREENBENCH_DATA_DIR"}
    env.update(COLUMNS="250", GREENBENCH_CACHE_DIR=str(tmp_path / "cache"), **offline)
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "greenbench", "run", "suites/smoke.yaml", "--results", str(out)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: MNIST data not found: missing train-images-idx3-ubyte.gz")
    assert "GREENBENCH_DATA_DIR" in line and "Traceback" not in proc.stderr
    assert not list(out.glob("*.json"))
    assert attempts.exists()  # it tried the download mirrors, and the hook refused them


@pytest.mark.parametrize(("command", "usage"), [
    ("run", "run [OPTIONS] {SUITE}"), ("validate", "validate [OPTIONS] {SUITE}..."),
    ("report", "report [OPTIONS] [RESULTS_DIR]..."), ("compare", "compare [OPTIONS] {BASE} {HEAD}"),
])
def test_usage_lines_name_the_arguments(command: str, usage: str) -> None:
    """Typer writes a required argument as {NAME}; the names are the README's, not the Python parameters'."""
    proc = subprocess.run([sys.executable, "-m", "greenbench", command, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0 and usage in proc.stdout, proc.stdout[:400]


def test_an_unreadable_suite_is_exit_1_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A missing permission is the environment's fault (exit 1), not the suite's (exit 2). Faked with open()
    refusing the file: chmod 000 means nothing to root, who runs CI's tmpfs tests."""
    import builtins

    from greenbench import cli as cli_module

    suite = tmp_path / "locked.yaml"
    suite.write_text((ROOT / "suites" / "smoke.yaml").read_text())
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if str(file) == str(suite):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    for argv in (["greenbench", "validate", str(suite)], ["greenbench", "run", str(suite), "--dry-run"]):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as info:
            cli_module.main()
        assert info.value.code == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot read suite file: permission denied (EACCES)" in err[0], err
