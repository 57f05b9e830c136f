"""A worker starts with SIGINT and SIGTERM blocked, so a Ctrl-C while it is still starting cannot print a
KeyboardInterrupt traceback from it; worker_main then ignores them and unblocks them (the parent stops it).

Run in a fresh interpreter: the first worker start also launches multiprocessing's resource tracker,
which unblocks these signals in the starting thread, and only a fresh process shows that case.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads signal masks from /proc")

PROBE = '''
import os, signal, time
from pathlib import Path

def masks():
    fields = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines() if ":" in l)
    return int(fields["SigBlk"], 16), int(fields["SigIgn"], 16)

def probe(conn, backend, env, startup_log=None, parent_pid=None, process_env=None):
    conn.send(("entry", masks()))
    conn.recv()  # the parent sends SIGINT and SIGTERM to us meanwhile: they must wait, pending
    from greenbench.runner.worker import ignore_parent_signals
    ignore_parent_signals()  # what worker_main does first
    conn.send(("after", masks()))
    conn.recv()
'''

DRIVER = '''
import json, os, signal, sys, time
import probe_mod
import greenbench.runner.worker as worker
worker.worker_main = probe_mod.probe  # _Worker imports it at start
from greenbench.runner.base import WorkerKey
from greenbench.runner.local import _Worker

w = _Worker(WorkerKey("torch"), {})
out = {}
kind, out["entry"] = w.conn.recv()
os.kill(w.proc.pid, signal.SIGINT)
os.kill(w.proc.pid, signal.SIGTERM)
def pending():  # the signals the child holds: delivered to it, blocked, waiting (process- and thread-directed)
    fields = dict(l.split(":", 1) for l in open(f"/proc/{w.proc.pid}/status").read().splitlines() if ":" in l)
    return int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)
deadline = time.monotonic() + 10
while pending() & 0x4002 != 0x4002 and time.monotonic() < deadline:  # SIGINT (bit 1), SIGTERM (bit 14)
    time.sleep(0.01)
out["pending_while_blocked"] = pending()
out["alive_while_blocked"] = w.proc.is_alive()
w.conn.send("go")
kind, out["after"] = w.conn.recv()
out["alive_after"] = w.proc.is_alive()
w.conn.send("stop")
w.proc.join(10)
out["exitcode"] = w.proc.exitcode
out["parent_mask_restored"] = not (signal.pthread_sigmask(signal.SIG_BLOCK, []) & {signal.SIGINT, signal.SIGTERM})
print(json.dumps(out))
'''


def test_a_starting_worker_holds_ctrl_c_until_it_ignores_it(tmp_path: Path) -> None:
    (tmp_path / "probe_mod.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", DRIVER], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    bits = (1 << (2 - 1)) | (1 << (15 - 1))  # SIGINT, SIGTERM
    blocked, ignored = out["entry"]
    assert blocked & bits == bits  # blocked from the first instruction of the child on
    # The SIGINT and SIGTERM sent meanwhile reached it and wait, pending (not lost, not acted on) ...
    assert out["pending_while_blocked"] & bits == bits
    assert out["alive_while_blocked"]  # ... and did not kill it
    blocked, ignored = out["after"]
    assert blocked & bits == 0 and ignored & bits == bits  # then ignored, and no longer blocked
    assert out["alive_after"]  # the pending signals were discarded, not delivered
    assert out["exitcode"] == 0
    assert out["parent_mask_restored"]  # the parent's own Ctrl-C handling is untouched
    assert "Traceback" not in proc.stderr


# Ctrl-C taken by another thread of greenbench (its progress display's, say) while a worker starts: Python runs
# the handler in the main thread, inside Process.start(). Reproduced exactly: a thread unblocks SIGINT for
# itself and takes it while the spawn is half done (after the child exists, before its start-up data is sent).
MID_START = '''
import json, os, signal, sys, threading, time
import multiprocessing.popen_spawn_posix as popen
import probe_mod
import greenbench.runner.worker as worker
worker.worker_main = probe_mod.probe
from greenbench.runner.base import WorkerKey
from greenbench.runner.local import LocalDispatcher

signal.signal(signal.SIGINT, signal.default_int_handler)
real_launch = popen.Popen._launch

def _taker():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    os.kill(os.getpid(), signal.SIGINT)

def launch(self, process_obj):
    t = threading.Thread(target=_taker)
    t.start()
    t.join()
    for _ in range(100):  # give the main thread its chances to run the Python handler, here, mid-start
        time.sleep(0.001)
    return real_launch(self, process_obj)

popen.Popen._launch = launch
dispatcher = LocalDispatcher(env={})
out = {"interrupted": False}
try:
    dispatcher._worker(WorkerKey("torch"))
except KeyboardInterrupt:  # held over the start, raised once the worker is started and registered
    out["interrupted"] = True
(w,) = dispatcher._workers.values()  # registered: an interrupt's clean-up finds it
kind, out["entry"] = w.conn.recv()  # the child read its start-up data and runs
w.kill()
print(json.dumps(out))
'''


def test_ctrl_c_taken_by_another_thread_mid_start_waits_until_the_worker_has_started(tmp_path: Path) -> None:
    (tmp_path / "probe_mod.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", MID_START], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["interrupted"] and out["entry"] is not None  # interrupted, after the worker got its start-up data
    assert "Traceback" not in proc.stderr and "EOFError" not in proc.stderr, proc.stderr


def test_signals_deferred_holds_then_delivers(monkeypatch) -> None:
    import signal
    import threading

    from greenbench.runner.local import signals_deferred

    seen: list[str] = []
    monkeypatch.setattr(signal, "SIGUSR1", signal.SIGUSR1)
    previous = signal.signal(signal.SIGUSR1, lambda n, f: seen.append("handled"))
    try:
        with signals_deferred((signal.SIGUSR1,)):
            t = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1))
            t.start()
            t.join()
            for _ in range(50):
                pass
            seen.append("inside")
        assert seen == ["inside", "handled"]  # held during the block, then handled by its own handler once
    finally:
        signal.signal(signal.SIGUSR1, previous)
