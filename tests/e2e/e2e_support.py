"""Helpers shared by the end-to-end tests (a uniquely named module: every test folder has a ``conftest``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "suites" / "smoke.yaml"


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 900, extra_env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def sigint_default() -> None:
    """``preexec_fn`` for a CLI the test will Ctrl-C: started as from a terminal. A test run launched in the background
    of a non-interactive shell inherits SIGINT *ignored*, and Python (rightly) keeps ignoring it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
