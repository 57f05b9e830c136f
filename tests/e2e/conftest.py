"""End-to-end fixtures: the real CLI on suites/smoke.yaml with both real frameworks and real codecarbon.

The full smoke suite runs once per test session (module-scoped results are shared by the
tests that only read them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import SMOKE, run_cli


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Path:
    """Results of one real, uninterrupted run of the smoke suite."""
    out = tmp_path_factory.mktemp("smoke") / "results"
    proc = run_cli("run", str(SMOKE), "--results", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out
