"""The worker process: imports one framework, executes workload groups sent by the parent.

Protocol over a ``multiprocessing`` pipe: once its framework is imported the worker sends
``{"type": "ready"}``; the parent sends ``("workload", [RunSpec dicts], log_path)`` or ``None``
(stop); the worker answers with event dicts (see :mod:`greenbench.runner.base`) and a final
``{"type": "done"}``.
While a workload runs, the worker's stdout and stderr (file descriptors 1 and 2, so
native libraries' output too) go to that workload's log file.
At start, before its framework, the worker loads the plugins named in ``GREENBENCH_WORKER_PLUGINS``
(:mod:`greenbench.runner.hooks`, the phase-hook seam; none in normal use).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

_MAX_REASON = 600


def _redirect_output(log_path: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _die_with_parent(parent_pid: int) -> None:
    """End this worker as soon as the parent is gone (SIGKILL, a crash).

    An orphan would go on training, unmeasured, and load the machine that the next measured
    runs use. Linux: the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``, no cost
    while running); elsewhere a thread checks the parent once a second.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # the parent died before the request was in place
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="greenbench-parent-watch", daemon=True).start()


# The parent owns Ctrl-C and SIGTERM: it marks the run interrupted and kills its workers. It starts each
# worker with these signals blocked (see greenbench.runner.local), so a Ctrl-C to the whole process group
# while the worker is still starting (the spawn bootstrap imports greenbench before worker_main runs) waits,
# pending, until they are ignored here and is then discarded: no KeyboardInterrupt traceback on the terminal.
PARENT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_parent_signals() -> None:
    for sig in PARENT_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, PARENT_SIGNALS)


def worker_main(conn: Any, backend_name: str, env: dict[str, Any], startup_log: str | None = None,
                parent_pid: int | None = None, process_env: dict[str, str] | None = None) -> None:
    ignore_parent_signals()
    # The worker's own settings (WorkerKey.process_env: OMP_WAIT_POLICY) before any framework loads: OpenMP
    # runtimes read them once, when the library is loaded.
    os.environ.update(process_env or {})
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    if startup_log is not None:  # the framework's start-up chatter goes to a log, not the terminal
        try:
            _redirect_output(startup_log)
        except OSError:  # an unwritable log costs only the log: the parent reports unwritable results
            pass
    faulthandler.enable()  # a segfault leaves a Python stack in the log
    from greenbench.runner import hooks

    plugin_error = None
    try:
        hooks.load_plugins()  # $GREENBENCH_WORKER_PLUGINS: the phase-hook seam, empty in production
    except Exception as exc:  # noqa: BLE001 - every run of this worker fails with this reason, not a lost worker
        plugin_error = f"{type(exc).__name__}: {exc}"[:_MAX_REASON]
        with contextlib.suppress(OSError):
            traceback.print_exc()
    from greenbench.runner.execute import WorkloadExecutor
    from greenbench.suite.plan import RunSpec

    executor: WorkloadExecutor | None = None
    # Warm start: import the framework and start codecarbon once (its hardware detection takes
    # about a second) before any measured work, then tell the parent. A failure here is not
    # fatal: the first workload retries and turns it into failed records.
    try:
        if plugin_error is None:
            executor = WorkloadExecutor(backend_name, env)
            executor.warm_up()
    except Exception:  # noqa: BLE001 - reported by the first workload instead
        executor = None
    try:
        conn.send({"type": "ready", "ok": executor is not None})
    except (OSError, BrokenPipeError):
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            # All work is recorded by the parent and our logs are flushed: skip the interpreter's
            # finalization, which takes a second or more with a framework loaded.
            with contextlib.suppress(OSError):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(0)
        _, spec_dicts, log_path = msg
        try:
            _redirect_output(log_path)
            specs = [RunSpec.model_validate(d) for d in spec_dicts]
            print(f"== greenbench worker pid {os.getpid()}: workload {specs[0].workload_id} "
                  f"({', '.join(s.compression for s in specs)})", flush=True)
            if plugin_error is not None:
                raise RuntimeError(f"the worker could not load its plugins: {plugin_error}")
            if executor is None:
                executor = WorkloadExecutor(backend_name, env)
            for event in executor.run(specs, log_name=os.path.basename(log_path)):
                conn.send(event)
        except Exception as exc:  # noqa: BLE001 - any error becomes failed records, the worker lives on
            with contextlib.suppress(OSError):  # the log itself may be what failed (a full disk)
                traceback.print_exc()
            reason = f"{type(exc).__name__}: {exc}"[:_MAX_REASON]
            conn.send({"type": "error", "reason": reason})
        finally:
            with contextlib.suppress(OSError):
                sys.stdout.flush()
                sys.stderr.flush()
        conn.send({"type": "done"})
