"""Local dispatch: one spawned worker process per backend (and per thread setting and OpenMP wait policy: a
:class:`~greenbench.runner.base.WorkerKey`), reused across workloads.

torch and TensorFlow never share a process. A worker that raises, segfaults, runs
out of memory, hangs past its timeout or is killed costs only the workload in
progress: every run of that workload not yet recorded becomes a ``failed`` record
with the reason and the tail of the worker's log, the worker is replaced, and the
suite goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from greenbench.errors import UserError
from greenbench.results.store import ResultStore
from greenbench.runner.base import Dispatcher, Event, WorkerKey
from greenbench.runner.outcome import SuiteOutcome
from greenbench.runner.records import base_record, now_iso, tail
from greenbench.suite.plan import RunSpec

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from greenbench.suite.schema import Suite

_POLL_S = 0.2


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job, ``timeout``, ``docker stop``), handled like Ctrl-C."""


class _TermHandler:
    """SIGTERM's handler during a suite: raises :class:`Terminated` and remembers that it ran.

    The memory is what names the signal afterwards. A library blocked in native code may turn whatever
    the handler raised into a plain ``KeyboardInterrupt``: Ray does, in ``ray.get``/``ray.wait``
    (``_raylet.check_signals`` catches the handler's exception and ``check_status`` raises a new
    ``KeyboardInterrupt()``), so the exception's type alone would call a SIGTERM a Ctrl-C (exit 130, not 143).
    """

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.fired = True
        raise Terminated()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "worker stopped responding"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {
            "SIGSEGV": " (segmentation fault)",
            "SIGKILL": " (killed: out of memory or by another process)",
            "SIGABRT": " (aborted)",
            "SIGBUS": " (bus error)",
        }.get(name, "")
        return f"worker died from {name}{hint}"
    return f"worker exited with code {code}"


@contextlib.contextmanager
def signals_deferred(signals: tuple[signal.Signals, ...]) -> Iterator[None]:
    """Hold ``signals`` for the with-block and deliver them to their own handlers after it.

    Only the main thread can set handlers (elsewhere this does nothing); a handler Python cannot name
    (installed outside Python) is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in signals}
    held = {sig: handler for sig, handler in previous.items() if handler is not None}
    for sig in held:
        signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)  # now handled as it would have been (KeyboardInterrupt, …)


class _Worker:
    def __init__(self, key: WorkerKey, env: dict[str, Any], startup_log: Path | None = None) -> None:
        from greenbench.runner.worker import PARENT_SIGNALS, worker_main

        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        log = str(startup_log) if startup_log is not None else None
        self.proc = ctx.Process(target=worker_main, args=(child, key.backend, env, log, os.getpid(), key.process_env()),
                                name=f"greenbench-{key.name}", daemon=True)
        # Ctrl-C reaches the whole process group, the worker too. Until worker_main ignores them, a
        # starting worker would die of SIGINT with a KeyboardInterrupt traceback on the terminal, so it
        # starts with SIGINT and SIGTERM blocked (the mask survives fork and exec; worker_main ignores,
        # then unblocks them). Blocking, not ignoring, in this thread: a Ctrl-C meanwhile stays pending
        # for this process and is handled as soon as the worker is started.
        blocked = hasattr(signal, "pthread_sigmask")
        if blocked:
            # Start multiprocessing's resource tracker first: the first start() launches it, and
            # launching it *unblocks* SIGINT and SIGTERM in this thread, which would undo the block below.
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, PARENT_SIGNALS)
        try:
            # The mask keeps the signal from this thread only; LocalDispatcher._worker also holds the
            # Python handlers (signals_deferred) so that none runs inside start().
            self.proc.start()
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            child.close()

    def kill(self) -> None:
        if self.proc.pid is None:  # never started
            self.conn.close()
            return
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=10)
        self.conn.close()

    def request_stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, EOFError, BrokenPipeError, ValueError):
            pass

    def stop(self) -> None:
        self.request_stop()  # harmless when already requested: the worker has gone
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.kill()
        else:
            self.conn.close()


class LocalDispatcher(Dispatcher):
    """Dispatch workload groups to worker processes on this machine, one per :class:`WorkerKey`."""

    def __init__(self, env: dict[str, Any] | None = None) -> None:
        self._env = env
        self._workers: dict[WorkerKey, _Worker] = {}
        self._log_dir: Path | None = None  # where workers log their start-up (set by warm_up)
        self._starting: list[_Worker] = []  # started (warm_up, or replacing a dead one), not yet known ready

    @property
    def env(self) -> dict[str, Any]:
        if self._env is None:
            from greenbench.measure.env import fingerprint

            self._env = fingerprint()
        return self._env

    def _worker(self, key: WorkerKey) -> _Worker:
        w = self._workers.get(key)
        if w is None or not w.proc.is_alive():
            startup_log = self._log_dir / f"worker-{key.name}.log" if self._log_dir is not None else None
            from greenbench.runner.worker import PARENT_SIGNALS

            env = self.env
            # A signal mask keeps Ctrl-C from this thread, not from the process: another thread (the
            # progress display's) may take it, and Python then runs the handler in the main thread, inside
            # Process.start(). A KeyboardInterrupt there closes the pipe before the child has read its
            # start-up data (the child prints an EOFError traceback). So the handlers wait until the worker
            # is started and registered here, where an interrupt's clean-up finds it.
            with signals_deferred(PARENT_SIGNALS):
                w = self._workers[key] = _Worker(key, env, startup_log)
                self._starting.append(w)  # importing its framework: execute() waits for it (_await_ready)
        return w

    def warm_up(self, keys: set[WorkerKey], log_dir: Path | None = None) -> None:
        """Start a worker per key at once; they import their frameworks while the caller goes on.

        The imports (several seconds for TensorFlow) overlap with each other and with the parent's
        own preparation instead of each delaying its first workload; :meth:`execute` waits until
        every starting worker is ready, so none of it overlaps a measured window.
        """
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self._log_dir = log_dir
        for key in sorted(keys):
            self._worker(key)

    def _await_ready(self, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        for w in self._starting:
            while w.proc.is_alive() and time.monotonic() < deadline:
                try:
                    if w.conn.poll(_POLL_S) and w.conn.recv().get("type") == "ready":
                        break
                except (EOFError, OSError):
                    break  # execute() turns a dead worker into failed records
        self._starting = []

    def wait_ready(self) -> None:
        """Wait until every starting worker has imported its framework (the idle baseline waits for it:
        an import is not idle)."""
        self._await_ready()

    def _drop(self, key: WorkerKey) -> None:
        w = self._workers.pop(key, None)
        if w is not None:
            w.kill()

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[Event]:
        key = WorkerKey.of(group[0])  # a workload's runs share their training, so their threads and wait policy
        timeout = max(r.runner.timeout_s for r in group)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        w = self._worker(key)  # a worker replaced after a crash or timeout starts here
        # No framework import may overlap this group's measured windows, nor count against its timeout.
        self._await_ready()
        pending = {r.run_id: r for r in group}
        started = now_iso()
        failure: str | None = None
        error: str | None = None  # an exception the worker caught and survived
        try:
            w.conn.send(("workload", [r.model_dump(mode="json") for r in group], str(log_path)))
            deadline = time.monotonic() + timeout
            # Read until the worker's "done" even once every run is recorded: a "done" left in the
            # pipe would otherwise end the next workload before it starts.
            while True:
                if w.conn.poll(_POLL_S):
                    try:
                        event = w.conn.recv()
                    except (EOFError, OSError):
                        w.proc.join(timeout=5)
                        failure = _describe_exit(w.proc.exitcode)
                        break
                    if event.get("type") == "record":
                        pending.pop(event["record"]["run_id"], None)
                        deadline = time.monotonic() + timeout  # each run gets its own allowance
                    elif event.get("type") == "error":
                        error = event["reason"]
                        continue
                    elif event.get("type") == "done":
                        break
                    elif event.get("type") == "ready":  # a fresh worker's start-up signal
                        continue
                    yield event
                elif not w.proc.is_alive():
                    failure = _describe_exit(w.proc.exitcode)
                    break
                elif time.monotonic() > deadline:
                    failure = f"timed out after {timeout:g} s (runner.timeout_s); worker killed"
                    break
        except (BrokenPipeError, EOFError, OSError) as exc:
            failure = f"lost contact with the worker: {exc}"
        if failure is not None:
            self._drop(key)
        elif pending:
            failure = error or "worker finished without recording this run"
        if failure is not None:
            stderr = tail(log_path)
            for spec in pending.values():
                rec = base_record(
                    spec, "failed", env=self.env, reason=failure, stderr_tail=stderr, started_at=started,
                    log=log_path.name,
                )
                yield {"type": "record", "record": rec}

    def interrupt(self) -> None:
        for name in list(self._workers):
            self._drop(name)

    def close(self) -> None:
        for w in self._starting:  # started but never used (e.g. the data was missing): no need to wait
            w.kill()
        self._starting = []
        for w in self._workers.values():  # ask all at once, then wait for each
            w.request_stop()
        for w in self._workers.values():
            w.stop()
        self._workers.clear()


# --------------------------------------------------------------------------- orchestration
def _framework_skip(spec: RunSpec) -> str | None:
    from greenbench.backends.base import backend_info, framework_installed

    if not framework_installed(spec.backend):
        return f"{spec.backend} is not installed here ({backend_info(spec.backend).install_hint()})"
    return None


class _Idle:
    """The idle baseline of one invocation (:mod:`greenbench.measure.idle`): measured before the first
    workload, added to every record written, measured again at the end of a long invocation."""

    def __init__(self, suite: "Suite", store: ResultStore, dispatcher: Dispatcher, console: "Console | None",
                 quiet: bool) -> None:
        from greenbench.measure.idle import invocation_id
        from greenbench.measure.settings import settings_for

        self.settings = settings_for(suite.energy)
        self.seconds = self.settings.idle_seconds() if self.settings is not None else 0.0  # a bad override: one error now
        self.runner = suite.runner  # the quiet-machine policy and co-tenancy threshold apply to idle as to a run
        self.store, self.dispatcher = store, dispatcher
        self.console = console if not quiet else None
        self.invocation = invocation_id()
        self.start: dict[str, Any] | None = None
        self.started_at = 0.0

    @property
    def wanted(self) -> bool:
        # A dispatcher whose nodes measure their own idle power (Ray: each node before its first workload) needs
        # none of the driver's: the driver's machine runs no workload, and its figure would apply to no record.
        if getattr(self.dispatcher, "measures_idle_on_nodes", False):
            return False
        return self.settings is not None and self.seconds > 0

    def _machine(self) -> str:
        return str((getattr(self.dispatcher, "env", None) or {}).get("machine", "unknown"))

    def _measure(self) -> dict[str, Any]:
        from greenbench.measure import idle

        assert self.settings is not None
        wait_ready = getattr(self.dispatcher, "wait_ready", None)

        def meter(settings: Any) -> Any:
            m = idle._default_meter(settings)  # starts (detects the hardware) while the workers still import
            try:
                if wait_ready is not None:
                    wait_ready()  # a framework import is not idle
            except BaseException:
                m.close()
                raise
            return m

        return idle.measure_idle(self.settings, self.seconds, meter_factory=meter, before=self._wait_for_quiet,
                                 threshold=self.runner.cotenancy_threshold)

    def _wait_for_quiet(self) -> None:
        """Wait — bounded by runner.quiet_wait_s, as before a workload — until other processes leave the machine
        alone: idle measured beside them is not idle (a window still shared is marked, and nothing is subtracted
        from it). --require-quiet refuses workloads, not this wait."""
        from greenbench.measure.quiet import quiet_wait_s, wait_until_quiet

        max_wait = quiet_wait_s(self.runner.quiet_wait_s)
        if max_wait > 0:
            wait_until_quiet(threshold=self.runner.cotenancy_threshold, max_wait_s=max_wait)

    def _save(self, baseline: dict[str, Any], when: str, drift: dict[str, Any] | None = None) -> None:
        from greenbench.errors import write_fault
        from greenbench.measure import idle
        from greenbench.results.store import RESUME

        entry = {**baseline, "invocation": self.invocation, "when": when, "machine": self._machine()}
        drifts = [{"invocation": self.invocation, **drift}] if drift is not None else []
        try:
            idle.append(self.store.root, baselines=[entry], drifts=drifts)
        except OSError as exc:
            raise write_fault(exc, self.store.root / idle.FILE_NAME, "write the idle baseline", "--results",
                              RESUME) from None

    def begin(self) -> None:
        from greenbench.measure.idle import describe

        self.started_at = time.perf_counter()
        self.start = self._measure()
        self._save(self.start, "start")
        if self.console is not None:
            from greenbench.console import say

            say(self.console, describe(self.start))

    def apply(self, rec: dict[str, Any]) -> dict[str, Any]:
        from greenbench.measure.idle import add_net_energy

        return add_net_energy(rec, self.start, invocation=self.invocation)

    def end(self) -> None:
        """Measure again and report drift when the invocation ran longer than ``energy.idle_recheck_after_s``."""
        from greenbench.measure.idle import drift

        after = self.settings.idle_recheck_after_s if self.settings is not None else None
        if self.start is None or after is None or time.perf_counter() - self.started_at <= after:
            return
        end = self._measure()
        if self.start.get("contaminated") or end.get("contaminated"):  # a busy window is no idle to compare
            self._save(end, "end")
            if self.console is not None:
                from greenbench.console import say

                say(self.console, "idle recheck not compared with the start: "
                    f"{(end if end.get('contaminated') else self.start).get('contamination_reason')}", style="yellow")
            return
        change = drift(self.start, end)
        self._save(end, "end", change)
        if self.console is not None and change["flagged"]:
            from greenbench.console import say

            say(self.console, f"warning: idle power drifted {change['change']:+.0%} during this run "
                f"({change['start_w']:.3g} W → {change['end_w']:.3g} W, more than the {change['threshold']:.0%} "
                f"the baselines allow): net energy of later runs is less certain; see "
                f"{self.store.root / 'idle-baseline.json'}", style="yellow")


def run_plan(
    suite: "Suite",
    runs: list[RunSpec],
    *,
    results_dir: Path,
    dispatcher: Dispatcher,
    rerun: bool = False,
    console: "Console | None" = None,
    quiet: bool = True,
    verbose: bool = False,
) -> SuiteOutcome:
    """Execute ``runs`` (resuming from ``results_dir``), record every outcome, and summarize."""
    from greenbench.runner.pipeline import Feed, dispatch
    from greenbench.runner.progress import RunProgress, print_summary

    t0 = time.perf_counter()
    store = ResultStore(results_dir)
    # Before anything runs: the directory is this suite's (not another's) and can be written.
    store.bind(suite.name)
    outcome = SuiteOutcome(results_dir=results_dir, planned=len(runs))
    scan = store.scan()
    store.refuse_unreadable(scan)  # a record we may not read is not corrupt: stop before moving or redoing it
    for path, why in scan.corrupt:
        moved = store.quarantine(path)
        outcome.corrupt.append((moved, why))
    done_ids = set() if rerun else {rid for rid, rec in scan.records.items() if rec["status"] in ("completed", "skipped")}
    todo = [r for r in runs if r.run_id not in done_ids]
    outcome.resumed = len(runs) - len(todo)

    env = getattr(dispatcher, "env", None)
    idle = _Idle(suite, store, dispatcher, console, quiet)
    progress = RunProgress(console, total=len(todo), quiet=quiet, verbose=verbose, outcome=outcome)
    # The groups to run, each claimed as it is handed out (one or many in flight: runner/pipeline.py).
    feed = Feed(todo, store, rerun=rerun, progress=progress, outcome=outcome, env=env or {}, skip=_framework_skip)
    old_handler = signal.getsignal(signal.SIGINT)
    # SIGTERM stops the suite like Ctrl-C, unless whoever started us chose to ignore it (or this is
    # not the main thread, where no handler can be installed).
    on_main = threading.current_thread() is threading.main_thread()
    old_term = signal.getsignal(signal.SIGTERM) if on_main else None
    on_term = _TermHandler()
    if old_term == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_term)
    try:
        warm_up = getattr(dispatcher, "warm_up", None)
        keys = {WorkerKey.of(r) for r in todo if _framework_skip(r) is None}
        if warm_up is not None and keys:
            if console is not None and not quiet:
                from greenbench.console import say

                say(console, f"starting workers: {', '.join(k.name for k in sorted(keys))} (importing the frameworks)")
            warm_up(keys, log_dir=store.root / "logs")
        if todo:
            # Before any run: data that cannot be had is one clear error (exit 2), and the workers
            # started above are stopped on the way out.
            from greenbench.data import fetch

            fetch(suite.data.dataset, data_dir=suite.data.dir, progress=console is not None and not quiet)
        if keys and idle.wanted:  # something will be measured: the machine's idle power first
            idle.begin()
        with progress:
            for event in dispatch(dispatcher, feed):
                if event["type"] == "record":
                    rec = idle.apply(event["record"])  # net energy: added by the driver, workers unchanged
                    store.write(rec)
                    retrying = bool(event.get("retrying"))  # a run of a lost node, retried on another
                    feed.recorded(rec, final=not retrying)
                    outcome.executed += not retrying
                    progress.record(rec, retrying=retrying)
                else:
                    progress.event(event)
        idle.end()
    except KeyboardInterrupt as exc:
        outcome.interrupted_by = "SIGTERM" if isinstance(exc, Terminated) or on_term.fired else "SIGINT"
        if on_main:  # a second Ctrl-C or SIGTERM must not tear the records
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        dispatcher.interrupt()
        who = "by the user (SIGINT)" if outcome.interrupted_by == "SIGINT" else "by SIGTERM"
        for spec in feed.in_flight():
            log_path = store.log_path(spec.workload_id)
            rec = base_record(
                spec, "interrupted", env=getattr(dispatcher, "env", None) or {},
                reason=f"interrupted {who}; rerun the same command to resume",
                stderr_tail=tail(log_path), log=log_path.name,
            )
            try:
                store.write(rec)
            except UserError:  # e.g. the disk is full: a run without a record is redone all the same
                break
            outcome.executed += 1
    except UserError:
        # A record that cannot be written (disk full, read-only file system) or data that cannot be had:
        # stop the workers now, keep what is recorded, and let the caller report the one clear error.
        dispatcher.interrupt()
        raise
    finally:
        if on_main:  # (a handler installed outside Python reads as None and cannot be put back)
            for signum, handler in ((signal.SIGINT, old_handler), (signal.SIGTERM, old_term)):
                if handler is not None:
                    signal.signal(signum, handler)
        feed.close()
        dispatcher.close()
        outcome.wall_s = time.perf_counter() - t0
    outcome.kept = list(store.kept)
    final = store.scan().records
    for r in runs:
        status = final.get(r.run_id, {}).get("status", "not run")
        outcome.counts[status] = outcome.counts.get(status, 0) + 1
    if console is not None:
        print_summary(console, outcome, [final[r.run_id] for r in runs if r.run_id in final])
    return outcome


__all__ = ["LocalDispatcher", "SuiteOutcome", "Terminated", "run_plan"]
