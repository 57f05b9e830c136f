"""An explicitly given --data-dir that does not exist or is a file is one error line, exit 2 — not a silent
fall-back to $GREENBENCH_DATA_DIR (`data verify` said 'ok' for files elsewhere) nor a run recording
config.data.dir '/nonexistent' (the real CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import ROOT, SMOKE


@pytest.mark.parametrize("kind", ["missing", "file"])
@pytest.mark.parametrize("command", [["data", "verify"], ["data", "fetch"], ["run", str(SMOKE), "--dry-run"],
                                     ["run", str(SMOKE), "--only", "backend=torch,model=mlp"]])
def test_an_explicit_data_dir_that_is_not_a_directory_is_one_line_exit_2(
    tmp_path: Path, kind: str, command: list[str]
) -> None:
    target = tmp_path / "nonexistent"
    if kind == "file":
        target.write_text("not a folder")
    out = tmp_path / "results"
    args = [*command, "--data-dir", str(target)] + (["--results", str(out)] if command[0] == "run" else [])
    result = subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    why = "no such directory" if kind == "missing" else "is a file, not a directory"
    assert lines == [lines[0]] and lines[0].startswith(f"error: --data-dir {target}: {why}"), result.stderr
    assert "ok" not in result.stdout and not out.exists()
