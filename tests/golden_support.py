"""Golden captures of what greenbench prints in an 80-column log, and the checks every capture must pass.

``GREENBENCH_UPDATE_GOLDEN=1 pytest …`` rewrites the files under ``tests/golden/`` from the
current output; review the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"

# A run id's or workload id's hash changes with any change to the suite schema's defaults; the
# layout around it does not (the hash has a fixed length).
_HASH = re.compile(r"(?<=-)[0-9a-f]{10}\b")


def normalize(text: str) -> str:
    return _HASH.sub("0123456789", text)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = normalize(text)
    if os.environ.get("GREENBENCH_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), text.splitlines(), f"golden/{name}", "now",
                                              lineterm=""))
        raise AssertionError(f"output differs from tests/golden/{name} "
                             f"(GREENBENCH_UPDATE_GOLDEN=1 rewrites it):\n{diff}")


def assert_fits(text: str, width: int = 80) -> None:
    """No line wider than ``width`` (in characters: the captures hold no wide glyphs)."""
    long = [ln for ln in text.splitlines() if len(ln) > width]
    assert not long, f"{len(long)} line(s) wider than {width}:\n" + "\n".join(long)


def assert_whole(text: str, values: list[str]) -> None:
    """Every value appears whole on one line (not split over two)."""
    lines = text.splitlines()
    missing = [v for v in values if not any(v in ln for ln in lines)]
    assert not missing, f"not whole on any line: {missing}"


def run_piped(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real CLI as a CI log runs it: stdout and stderr pipes, no terminal on stdin, COLUMNS unset."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL if stdin is None else None,
                          input=stdin)
