"""click's usage errors (a bad option value, an unknown option or command, a missing argument) and a standard
output that cannot be written: one line on stderr, never a rich box or a traceback (the real CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import ROOT, SMOKE


def _cli(*args: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=ROOT, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


@pytest.mark.parametrize(("args", "says"), [
    (["run", str(SMOKE), "--executor", "k8s"], "error: Invalid value for '--executor': 'k8s' is not one of 'local', 'ray'."),
    (["report", "results", "--format", "xyz"], "error: Invalid value for '--format' / '-f': 'xyz' is not one of"),
    (["run", str(SMOKE), "--timeout", "abc"], "error: Invalid value for '--timeout': "),
    (["compare", "a", "b", "--correction", "x"], "error: Invalid value for '--correction': 'x' is not one of 'bh'"),
    (["data", "fetch", "-d", "cifar10"], "error: Invalid value for '--dataset' / '-d': 'cifar10' is not one of"),
    (["calibrate", "--step-s", "abc"], "error: Invalid value for '--step-s': "),
    (["run", str(SMOKE), "--bogus"], "error: No such option: --bogus"),
    (["validate"], "error: Missing argument 'SUITE'."),
    (["data", "bogus"], "error: No such command 'bogus'."),
])
def test_a_usage_error_is_one_line_exit_2(args: list[str], says: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says), result.stderr
    assert lines[0].endswith("--help)")  # where to read what is allowed
    assert "╭" not in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_help_and_version_still_work() -> None:
    for args in (["--help"], ["run", "--help"], ["data", "--help"]):
        result = _cli(*args)
        assert result.returncode == 0 and "Usage: " in result.stdout and result.stderr == "", args
    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("greenbench ")
    result = _cli("data")  # no subcommand: the help, as before
    assert result.returncode == 2 and "fetch" in result.stdout + result.stderr and "error:" not in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("args", [["env", "--json"], ["env"], ["validate", str(SMOKE)],
                                  ["run", str(SMOKE), "--dry-run", "--json"], ["run", str(SMOKE), "--dry-run"]])
def test_a_full_standard_output_is_one_line_exit_1(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        result = _cli(*args, stdout=full)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: cannot write to standard output: no space left on the device (ENOSPC); free some space or send "
        "the output elsewhere"], result.stderr


def test_a_closed_pipe_is_still_quiet() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "greenbench", "run", str(SMOKE), "--dry-run"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    proc.wait(60)
    assert "Traceback" not in err and "error:" not in err
