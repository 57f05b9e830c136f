"""Fault injection for the runner's failure tests: a worker plugin (see greenbench/runner/hooks.py).

``GREENBENCH_FAULT=<kind>@<point>[:<run-id part>]`` makes a worker misbehave on purpose at phase
point ``setup``, ``train``, ``evaluate`` or ``compress`` (of runs whose id contains the part, if
given). kinds: ``raise``, ``segfault``, ``abort``, ``kill`` (as the OOM killer does), ``hang``,
``exit`` (code 3), ``sleep=<seconds>`` (a slowdown), ``stop-parent=<marker file>`` (a hung but alive
parent — a Ray node runner, say: the first worker to create the marker file writes its parent's pid into it
and SIGSTOPs the parent; any other worker does nothing). The worker prints ``greenbench: injected
fault ...`` to its log first. ``GREENBENCH_FAULT_SLOW_START=<seconds>`` makes every worker that loads
the plugin slow to start (as a framework import on a busy machine is): the plugin is imported before
the worker says it is ready.

The product knows nothing of this: a test enables the plugin in the workers it starts with
:func:`enable` (a runner started in the test process) or :func:`fault_env` (a ``greenbench``
command in a subprocess), which set ``GREENBENCH_WORKER_PLUGINS=fault_injection`` and put this
folder on the import path.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

FAULT_ENV = "GREENBENCH_FAULT"
PLUGINS_ENV = "GREENBENCH_WORKER_PLUGINS"  # greenbench.runner.hooks.PLUGINS_ENV (not imported: no greenbench here)
SLOW_START_ENV = "GREENBENCH_FAULT_SLOW_START"
TESTS_DIR = Path(__file__).resolve().parent

if os.environ.get(SLOW_START_ENV):  # imported by a starting worker, before it reports ready
    print(f"greenbench: injected slow start of {os.environ[SLOW_START_ENV]} s", flush=True)
    time.sleep(float(os.environ[SLOW_START_ENV]))


def at_phase(point: str, spec: Any) -> None:
    """The phase hook: misbehave as ``$GREENBENCH_FAULT`` says when it names this point (and run)."""
    value = os.environ.get(FAULT_ENV)
    if not value:
        return
    kind, _, where = value.partition("@")
    at, _, match = where.partition(":")
    if at != point or (match and match not in spec.run_id):
        return
    print(f"greenbench: injected fault {kind!r} at {point}", flush=True)
    if kind == "raise":
        raise RuntimeError(f"injected failure at {point}")
    if kind == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "abort":
        os.abort()
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "hang":
        time.sleep(10**6)
    if kind == "exit":
        os._exit(3)
    if kind.startswith("sleep="):
        time.sleep(float(kind.split("=", 1)[1]))
    if kind.startswith("stop-parent="):
        try:  # once: whoever creates the marker first
            fd = os.open(kind.split("=", 1)[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{os.getppid()}\n".encode())
        os.close(fd)
        os.kill(os.getppid(), signal.SIGSTOP)


def fault_env(fault: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a ``greenbench`` subprocess needs for its workers to inject ``fault``, added to
    ``env`` (default: this process's environment)."""
    base = dict(os.environ if env is None else env)
    path = [str(TESTS_DIR), *filter(None, base.get("PYTHONPATH", "").split(os.pathsep))]
    return {**base, FAULT_ENV: fault, PLUGINS_ENV: "fault_injection", "PYTHONPATH": os.pathsep.join(path)}


def enable(monkeypatch: Any, fault: str) -> None:
    """Inject ``fault`` in the workers a runner started by this test process spawns (they inherit the
    environment and this process's ``sys.path``, which holds the tests folder)."""
    monkeypatch.setenv(PLUGINS_ENV, "fault_injection")
    monkeypatch.setenv(FAULT_ENV, fault)
