"""End-to-end fixtures: the real CLI on suites/smoke.yaml with both real frameworks and real codecarbon.

The full smoke suite runs once per test session (module-scoped results are shared by the
tests that only read them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "suites" / "smoke.yaml"


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 900, extra_env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Path:
    """Results of one real, uninterrupted run of the smoke suite."""
    out = tmp_path_factory.mktemp("smoke") / "results"
    proc = run_cli("run", str(SMOKE), "--results", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out
