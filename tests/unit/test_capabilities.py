"""Promised capabilities (tests/capabilities.py): a skip for a capability CI promised is a failure."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
BODY = """
    import pytest

    @pytest.mark.requires("chromium")
    def test_needs_a_browser():
        pytest.skip("chromium is not installed")

    @pytest.mark.requires("chromium")
    @pytest.mark.skipif(True, reason="chromedriver is not installed")
    def test_skipped_by_marker():
        pass

    def test_other_skip():
        pytest.skip("unrelated")
"""


def _pytest(tmp_path: Path, require: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(BODY))
    (tmp_path / "conftest.py").write_text("from capabilities import *  # noqa: F401,F403\n")
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "GREENBENCH_TEST_REQUIRE": require}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_unpromised_capabilities_skip(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "")
    assert done.returncode == 0 and "3 skipped" in done.stdout, done.stdout


def test_a_promised_capability_that_is_missing_fails(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "chromium,fashion-mnist")
    out = done.stdout
    assert done.returncode == 1, out
    assert "1 failed" in out and "1 skipped" in out and "1 error" in out, out
    assert "chromium is promised here (GREENBENCH_TEST_REQUIRE) but missing: chromium is not installed" in out
    assert "chromedriver is not installed" in out


def test_an_unknown_capability_is_a_usage_error(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "chromium,gpu")
    assert done.returncode != 0 and "GREENBENCH_TEST_REQUIRE: unknown capability gpu" in done.stdout + done.stderr
