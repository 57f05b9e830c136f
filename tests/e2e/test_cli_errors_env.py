"""Bad values of the GREENBENCH_* variables greenbench parses are refused before anything is measured: one
`error:` line naming the variable and what is allowed, exit 2, no traceback, nothing written (the real CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import ROOT, SMOKE

BAD = [
    ("GREENBENCH_QUIET_WAIT_S", "garbage", "give a number of seconds >= 0"),
    ("GREENBENCH_QUIET_WAIT_S", "-1", "give a number of seconds >= 0"),
    ("GREENBENCH_QUIET_WAIT_S", "nan", "give a number of seconds >= 0"),
    ("GREENBENCH_BACKENDS", "nosuchmod", "cannot import module 'nosuchmod'"),
    ("GREENBENCH_BACKENDS", "os,,,", "module 'os' has no BACKENDS; each module needs a BACKENDS list of BackendInfo"),
    ("GREENBENCH_BACKENDS", "1bad name", "'1bad name' is not a Python module name"),
    ("GREENBENCH_MODELS", "nosuchmod", "cannot import module 'nosuchmod'"),
    ("GREENBENCH_MODELS", "os", "module 'os' has no MODELS; each module needs a MODELS list of ModelInfo"),
    ("GREENBENCH_MODELS", "1bad name", "'1bad name' is not a Python module name"),
    ("GREENBENCH_WORKER_PLUGINS", "nosuchmod", "cannot import module 'nosuchmod'"),
    ("GREENBENCH_WORKER_PLUGINS", "1bad name", "'1bad name' is not a Python module name"),
    ("GREENBENCH_CPU_TDP_W", "garbage", "give a number of watts > 0"),
    ("GREENBENCH_IDLE_BASELINE_S", "garbage", "give a number of seconds >= 0"),
]


def _cli(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200", **env})


def _one_error(result: subprocess.CompletedProcess[str], name: str, value: str, allowed: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {name}={value!r}: ") and allowed in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(("name", "value", "allowed"), BAD)
def test_a_bad_variable_is_one_line_for_validate_and_the_dry_run(name: str, value: str, allowed: str) -> None:
    _one_error(_cli("validate", str(SMOKE), str(SMOKE), **{name: value}), name, value, allowed)  # once, not per suite
    _one_error(_cli("run", str(SMOKE), "--dry-run", "--only", "backend=torch,model=mlp", **{name: value}),
               name, value, allowed)


@pytest.mark.parametrize("name", ["GREENBENCH_QUIET_WAIT_S", "GREENBENCH_WORKER_PLUGINS"])
def test_a_real_run_with_a_bad_variable_measures_and_records_nothing(name: str, tmp_path: Path) -> None:
    """Before: GREENBENCH_QUIET_WAIT_S=garbage measured 10 s idle, then recorded every run failed and exited 0;
    GREENBENCH_WORKER_PLUGINS=nosuchmod failed them as 'lost contact with the worker: [Errno 32] Broken pipe'."""
    value = "garbage" if name == "GREENBENCH_QUIET_WAIT_S" else "nosuchmod"
    out = tmp_path / "results"
    result = _cli("run", str(SMOKE), "--only", "backend=torch,model=mlp", "--results", str(out), **{name: value})
    _one_error(result, name, value, "give a number" if value == "garbage" else "cannot import module")
    assert not out.exists()


def test_env_says_a_declared_cpu_power_is_invalid() -> None:
    result = _cli("env", GREENBENCH_CPU_TDP_W="garbage")
    assert result.returncode == 0, result.stderr
    assert "= garbage W" not in result.stdout
    assert "INVALID GREENBENCH_CPU_TDP_W='garbage': give a number of watts > 0" in result.stdout
