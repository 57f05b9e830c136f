"""A worker ends when its parent dies: PR_SET_PDEATHSIG on Linux, a watchdog thread elsewhere."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from process_support import gone, running

# B: the "worker" — arranges to die with its parent, reports its pid, then would idle for a minute.
CHILD = (
    "import os, sys, time\n"
    "sys.platform = {platform!r}\n"
    "from greenbench.runner.worker import _die_with_parent\n"
    "_die_with_parent(os.getppid())\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(60)\n"
)
# A: the "parent" — starts B, passes B's pid on, then waits to be killed.
PARENT = (
    "import subprocess, sys, time\n"
    "b = subprocess.Popen([sys.executable, '-c', {child!r}], stdout=subprocess.PIPE, text=True)\n"
    "print(b.stdout.readline().strip(), flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to watch the processes")
@pytest.mark.parametrize("platform", ["linux", "darwin"], ids=["pdeathsig", "watchdog"])
def test_worker_dies_with_its_parent(platform: str) -> None:
    if platform == "linux" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    code = PARENT.format(child=CHILD.format(platform=platform))
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker: int | None = None
    try:
        worker = int(parent.stdout.readline())
        assert running(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert gone(worker, within_s=10), f"worker {worker} outlived its parent ({platform} path)"
    finally:
        parent.kill()
        parent.wait()
        if worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
