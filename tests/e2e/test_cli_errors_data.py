"""An explicitly given --data-dir that does not exist or is a file is one error line, exit 2 — not a silent
fall-back to $GREENBENCH_DATA_DIR (`data verify` said 'ok' for files elsewhere) nor a run recording
config.data.dir '/nonexistent' (the real CLI)."""

from __future__ import annotations

import os
import shutil
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


@pytest.mark.parametrize("have", [(), ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")],
                         ids=["empty", "partial"])
@pytest.mark.parametrize("command", ["verify", "fetch"])
def test_an_explicit_data_dir_that_lacks_files_is_the_only_one_looked_in(
    tmp_path: Path, mnist_dir: Path, have: tuple[str, ...], command: str
) -> None:
    from network_support import offline_env

    target = tmp_path / "given"
    target.mkdir()
    for name in have:
        shutil.copyfile(mnist_dir / name, target / name)
    extra, _ = offline_env(tmp_path)  # fetch may try to download the rest: here it cannot
    env = {**os.environ, **extra, "GREENBENCH_DATA_DIR": str(mnist_dir),  # a good copy a fall-back would find
           "GREENBENCH_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "greenbench", "data", command, "--data-dir", str(target)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stdout + result.stderr  # as data verify exits for a bad file
    assert result.stdout == ""  # before: 'ok' for each file of $GREENBENCH_DATA_DIR, or 'ready in' it; exit 0
    (line,) = result.stderr.strip().splitlines()
    missing = [n for n in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                           "t10k-labels-idx1-ubyte.gz") if n not in have]
    assert line.startswith(f"error: MNIST data not found: missing {', '.join(missing)} (each"), line
    assert f"--data-dir / data.dir {target} (" in line and " only, as given; download: " in line, line
    assert str(mnist_dir) not in line
    assert sorted(p.name for p in target.iterdir()) == sorted(have)  # nothing partial left behind


@pytest.mark.parametrize("command", ["verify", "fetch"])
def test_a_corrupt_gzip_is_one_error_line_saying_what_to_do(tmp_path: Path, mnist_dir: Path, command: str) -> None:
    # before, verify printed 'malformed …' with 'expected <sha> / actual None' on stdout and no error line
    from network_support import offline_env

    target = tmp_path / "given"
    target.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        shutil.copyfile(mnist_dir / name, target / name)
    victim = target / "train-labels-idx1-ubyte.gz"
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one byte of the compressed stream
    victim.write_bytes(bytes(raw))
    extra, _ = offline_env(tmp_path)
    env = {**os.environ, **extra, "GREENBENCH_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "greenbench", "data", command, "--data-dir", str(target)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stdout + result.stderr  # verify's code for a bad file
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {victim}: corrupt gzip file ("), line
    assert line.endswith("); delete it and provide or fetch it again"), line
    assert "actual None" not in result.stdout and "Traceback" not in result.stderr
    assert victim.read_bytes() == bytes(raw)  # left as it is
