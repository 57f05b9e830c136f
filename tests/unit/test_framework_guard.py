"""The one-framework-per-process guard of the test suite (tests/framework_guard.py) fires, and only when it must."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from framework_guard import FrameworkIsolationError, ImportGuard, loaded_frameworks

TESTS = Path(__file__).resolve().parents[1]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture
def guard():
    g = ImportGuard("torch").install()
    yield g
    g.uninstall()


def test_this_session_has_no_framework_loaded() -> None:
    assert loaded_frameworks() == {}


def test_a_refused_framework_raises_and_is_recorded(guard: ImportGuard) -> None:
    if not _installed("keras"):
        pytest.skip("keras is not installed: nothing to refuse")
    with pytest.raises(FrameworkIsolationError, match="refused to import 'keras'"):
        import keras  # noqa: F401
    assert "keras" not in sys.modules
    assert len(guard.violations) == 1 and "mark the test '@pytest.mark.tensorflow'" in guard.violations[0]


def test_a_probe_for_an_installed_framework_is_no_violation(guard: ImportGuard) -> None:
    """``framework_installed`` asks find_spec: the framework is installed, and asking is allowed."""
    from greenbench.backends.base import framework_installed

    assert framework_installed("tensorflow") == _installed("tensorflow")
    assert guard.violations == []


def test_the_owned_framework_and_other_modules_pass(guard: ImportGuard) -> None:
    assert guard.find_spec("json") is None and guard.find_spec("torch") is None
    assert guard.find_spec("torchvision_not_a_module") is None
    assert guard.refuses("tensorflow") and not guard.refuses("torch")


def _pytest(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(body))
    (tmp_path / "conftest.py").write_text("from framework_guard import *  # noqa: F401,F403\n")
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_session_fails_loudly_when_a_test_imports_another_framework(tmp_path: Path) -> None:
    """Positive control, end to end: an unmarked test importing torch fails its session with the guard's message,
    even when the test swallows the ImportError."""
    if not _installed("torch"):
        pytest.skip("torch is not installed: nothing to refuse")
    done = _pytest(tmp_path, """
        def test_imports_torch():
            try:
                import torch  # noqa: F401
            except ImportError:
                pass
    """, "--framework", "none")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 failed" in out and "framework isolation violated" in out
    assert "refused to import 'torch'" in out


def test_a_selection_needing_both_frameworks_is_a_usage_error(tmp_path: Path) -> None:
    done = _pytest(tmp_path, """
        import pytest

        @pytest.mark.torch
        def test_a():
            pass

        @pytest.mark.tensorflow
        def test_b():
            pass
    """)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "need both torch and tensorflow" in done.stdout + done.stderr


def test_a_session_runs_only_its_own_framework_tests(tmp_path: Path) -> None:
    body = """
        import pytest

        @pytest.mark.torch
        def test_a():
            pass

        @pytest.mark.tensorflow
        def test_b():
            pass

        def test_c():
            pass
    """
    for framework, expected in (("torch", "1 passed, 2 deselected"), ("none", "1 passed, 2 deselected")):
        done = _pytest(tmp_path, body, "--framework", framework)
        assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr
