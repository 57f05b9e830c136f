"""Ray dispatch: a suite's workloads run on the nodes of a Ray cluster, one measured workload per node at a time.

Ray is the engine (scheduling, RPC, the object store, the cluster itself); greenbench adds measurement
isolation and keeps the orchestrator (:func:`greenbench.runner.local.run_plan`: resume, claims, record
writing, signals, progress) on the driver, unchanged.

* **Isolation**: every node that may run workloads offers one unit of a custom resource, ``greenbench_slot``
  (``ray start --resources='{"greenbench_slot": 1}'``; KubeRay: ``rayStartParams.resources``). One
  :class:`NodeRunner` actor per slot holds that unit for the whole suite, so a node never runs two measured
  workloads at once, and nothing else greenbench starts lands there.
* **Same worker as locally**: a :class:`NodeRunner` drives a :class:`~greenbench.runner.local.LocalDispatcher`
  on its node: the same spawned per-framework worker processes, the same ``runner.timeout_s``, failure
  records and start-up rule (the frameworks are imported before the first measured window), and the record's
  ``env`` is the fingerprint of the node that ran it.
* **Results come back**: events stream to the driver in batches (:meth:`NodeRunner.poll`); every record
  gains ``node`` (Ray node id, hostname, IP, and when the workload ran there), and each workload's log file
  is sent back when it ends. The driver writes records and logs exactly as the local path does.
* **Data**: a node without a verified copy of the dataset gets the driver's copy through the object store and
  verifies its checksums before use (:meth:`NodeRunner.install_data`).
* **Faults**: a node or actor lost mid-workload makes the runs not yet recorded ``failed`` (the reason names the
  node) and retries the workload on another node, ``retries`` times (default 1). Ctrl-C / SIGTERM on the driver:
  :meth:`RayDispatcher.interrupt` kills the actors (their worker processes die with them), the orchestrator
  marks the runs in flight ``interrupted``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from greenbench.errors import UserError
from greenbench.runner.base import Event
from greenbench.runner.records import base_record, now_iso
from greenbench.suite.plan import RunSpec

SLOT = "greenbench_slot"
INSTALL_HINT = "install with pip install 'greenbench[ray]'"
START_HINT = f"""start one with `ray start --head --resources='{{"{SLOT}": 1}}'` (and the same --resources on every \
node that may run workloads), or pass --address HOST:PORT"""
_POLL_S = 0.5  # longest a poll waits on the node for an event
_STARTUP_S = 600.0  # a node runner that does not come up in this time is given up


def import_ray() -> Any:
    """``ray``, or one clear error when it is not installed."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray: Ray is not installed here; {INSTALL_HINT}") from None
    return ray


# --------------------------------------------------------------------------- on the node
class NodeRunner:
    """Runs workload groups on one node, in the same per-framework worker processes as the local executor.

    Created as a Ray actor holding one ``greenbench_slot``: one per node at a time. Methods are called from the
    driver; :meth:`start` runs a group in a thread, :meth:`poll` hands its events back in batches (the actor
    is threaded, so a poll runs while the group does).
    """

    def __init__(self, backends: list[str]) -> None:
        import ray

        from greenbench.runner.local import LocalDispatcher

        ctx = ray.get_runtime_context()
        self.node = {"id": ctx.get_node_id(), "hostname": socket.gethostname(),
                     "ip": ray.util.get_node_ip_address(), "pid": os.getpid()}
        self.workdir = Path(tempfile.mkdtemp(prefix="greenbench-ray-"))
        self.logs = self.workdir / "logs"
        self.logs.mkdir()
        self.dispatcher = LocalDispatcher()  # its env: this node's fingerprint, computed here
        self.dispatcher.warm_up(set(backends), log_dir=self.logs)  # frameworks import while the driver goes on
        self._events: queue.Queue[Event] = queue.Queue()
        self._thread: threading.Thread | None = None

    def describe(self) -> dict[str, Any]:
        return {"node": self.node, "env": self.dispatcher.env}

    # ------------------------------------------------------------------ data
    def has_data(self, name: str, data_dir: str | None) -> bool:
        """Whether this node has a copy of ``name`` that verifies (every checksum re-computed)."""
        from greenbench.data import verify
        from greenbench.errors import DataError

        try:
            rows = verify(name, data_dir)
        except DataError:
            return False
        return bool(rows) and all(r.status == "ok" for r in rows)

    def install_data(self, name: str, files: dict[str, bytes], data_dir: str | None) -> str:
        """Write the driver's copy into this node's dataset cache and verify it before any use."""
        from greenbench.data import dataset_cache_dir, verify
        from greenbench.errors import ChecksumError
        from greenbench.fsutil import atomic_write_bytes

        target = dataset_cache_dir(name)
        target.mkdir(parents=True, exist_ok=True)
        for fname, blob in files.items():
            atomic_write_bytes(target / Path(fname).name, blob)
        rows = verify(name, data_dir)
        bad = [f"{r.file}: {r.status}" for r in rows if r.status != "ok"]
        if bad:
            raise ChecksumError(f"{name} sent to node {self.node['hostname']} failed verification: {'; '.join(bad)}")
        return str(target)

    # ------------------------------------------------------------------ workloads
    def start(self, spec_dicts: list[dict[str, Any]], log_name: str) -> None:
        specs = [RunSpec.model_validate(d) for d in spec_dicts]
        log_path = self.logs / log_name
        log_path.unlink(missing_ok=True)  # the driver appends what this attempt logs to its own copy
        events: queue.Queue[Event] = queue.Queue()
        self._events = events
        node = self.node

        def run() -> None:
            began = time.time()
            try:
                for event in self.dispatcher.execute(specs, log_path):
                    if event["type"] == "record":
                        event["record"]["node"] = {**node, "started_unix": began, "recorded_unix": time.time()}
                    events.put(event)
            except BaseException as exc:  # noqa: BLE001 - reported to the driver, which fails the runs left
                events.put({"type": "_error", "reason": f"{type(exc).__name__}: {exc}"[:600]})
            finally:
                try:
                    log = log_path.read_bytes()
                except OSError:
                    log = b""
                events.put({"type": "_done", "log": log, "ended_unix": time.time()})

        self._thread = threading.Thread(target=run, name="greenbench-workload", daemon=True)
        self._thread.start()

    def poll(self, timeout_s: float = _POLL_S) -> list[Event]:
        """The events since the last poll (waits up to ``timeout_s`` for the first)."""
        events = self._events
        out: list[Event] = []
        try:
            out.append(events.get(timeout=timeout_s))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(events.get_nowait())
            except queue.Empty:
                return out

    def startup_logs(self) -> dict[str, bytes]:
        out = {}
        for path in self.logs.glob("worker-*.log"):
            with contextlib.suppress(OSError):
                out[path.name] = path.read_bytes()
        return out

    def close(self) -> dict[str, bytes]:
        """Stop the workers; returns their start-up logs."""
        self.dispatcher.close()
        return self.startup_logs()


# --------------------------------------------------------------------------- on the driver
@dataclass
class _Task:
    group: list[RunSpec]
    log_path: Path
    attempt: int = 1
    avoid: set[str] = field(default_factory=set)  # node ids this workload was lost on
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier attempts (lost nodes)
    pending: dict[str, RunSpec] = field(default_factory=dict)
    started: str = ""


@dataclass
class _Runner:
    handle: Any
    ready_ref: Any  # describe(): resolves once the actor is up
    node: dict[str, Any] | None = None
    env: dict[str, Any] | None = None
    task: _Task | None = None
    poll_ref: Any = None
    data_ok: set[tuple[str, str | None]] = field(default_factory=set)
    created: float = field(default_factory=time.monotonic)


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _lost_why(exc: BaseException) -> str:
    """Why a node runner is gone, short: Ray's exception type and the first clause of its message."""
    first = _first_line(exc).split(". ")[0]
    if ": " in first and first.startswith("The actor"):  # "The actor <id> is unavailable: <cause>: …"
        first = first.split(": ", 1)[1]
    return f"{type(exc).__name__}: {first}"[:200]


class RayDispatcher:
    """Dispatch workload groups to the nodes of a Ray cluster, at most one in flight per ``greenbench_slot``."""

    def __init__(self, address: str | None = None, *, retries: int = 1, slot: str = SLOT,
                 connect: bool = True) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or "auto"
        self.retries = retries
        self.slot = slot
        self._runners: list[_Runner] = []
        self._backends: list[str] = []
        self._log_dir: Path | None = None
        self._data_refs: dict[tuple[str, str | None], Any] = {}
        self._env: dict[str, Any] | None = None
        self._ray: Any = None
        if connect:
            self._connect()

    # ------------------------------------------------------------------ connection
    def _probe(self) -> None:
        """An explicit HOST:PORT that does not answer is one clear error now (``ray.init`` retries for minutes)."""
        if self.address in ("auto", "local") or "://" in self.address:
            return
        host, sep, port = self.address.rpartition(":")
        if not sep or not port.isdigit():
            raise UserError(f"--address {self.address!r}: expected HOST:PORT, e.g. 127.0.0.1:6379")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=5.0):
                pass
        except OSError as exc:
            raise UserError(f"--executor ray: cannot reach the Ray cluster at {self.address} "
                            f"({exc.strerror or exc}); {START_HINT}") from None

    def _connect(self) -> None:
        ray = import_ray()
        self._probe()
        kwargs: dict[str, Any] = {"address": self.address, "logging_level": logging.WARNING, "log_to_driver": False,
                                  "namespace": "greenbench"}
        if _is_loopback(self.address):
            kwargs["_node_ip_address"] = "127.0.0.1"  # no probe for this machine's external address
        on_main = threading.current_thread() is threading.main_thread()
        term = signal.getsignal(signal.SIGTERM) if on_main else None
        try:
            ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError by version
            where = "found on this machine" if self.address == "auto" else f"reachable at {self.address}"
            raise UserError(f"--executor ray: no Ray cluster {where} ({_first_line(exc)}); {START_HINT}") from None
        finally:
            if on_main and term is not None:  # ray.init replaces the SIGTERM handler; the orchestrator owns it
                signal.signal(signal.SIGTERM, term)
        self._ray = ray
        slots = int(ray.cluster_resources().get(self.slot, 0))
        if slots < 1:
            ray.shutdown()
            raise UserError(f"--executor ray: no node of the Ray cluster at {self.address} offers the {self.slot!r} "
                            f"resource, so no node may run a measured workload; start worker nodes with "
                            f"`ray start --address ... --resources='{{\"{self.slot}\": 1}}'`")
        self.slots = slots

    @property
    def env(self) -> dict[str, Any]:
        """The driver's fingerprint (skipped records, decided here); every executed record carries its node's."""
        if self._env is None:
            from greenbench.measure.env import fingerprint

            self._env = fingerprint()
        return self._env

    # ------------------------------------------------------------------ start-up
    def _new_runner(self) -> _Runner:
        ray = self._ray
        actor = ray.remote(NodeRunner).options(
            resources={self.slot: 1}, num_cpus=0, max_concurrency=4, max_restarts=0,
        ).remote(self._backends)
        return _Runner(handle=actor, ready_ref=actor.describe.remote())

    def warm_up(self, backends: set[str], log_dir: Path | None = None) -> None:
        """One node runner per slot; each starts its framework workers on its node at once."""
        self._backends = sorted(backends)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self._log_dir = log_dir
        while len(self._runners) < self.slots:
            self._runners.append(self._new_runner())

    def wait_ready(self) -> None:
        """Wait until every node runner is up (its workers finish importing before its first workload)."""
        refs = [r.ready_ref for r in self._runners if r.node is None]
        if refs:
            self._ray.wait(refs, num_returns=len(refs), timeout=_STARTUP_S)

    # ------------------------------------------------------------------ data
    def _data_files(self, name: str, data_dir: str | None) -> Any:
        key = (name, data_dir)
        if key not in self._data_refs:
            from greenbench.data import DATASETS, fetch

            spec = DATASETS[name]
            directory = fetch(name, data_dir, progress=False)  # the driver's verified copy
            wanted = {n for f in spec.files for n in f.local_names()} | set(spec.npz_names)
            files = {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name in wanted and p.is_file()}
            self._data_refs[key] = self._ray.put(files)
        return self._data_refs[key]

    def _ensure_data(self, runner: _Runner, spec: RunSpec) -> None:
        key = (spec.data.dataset, spec.data.dir)
        if key in runner.data_ok:
            return
        ray = self._ray
        if not ray.get(runner.handle.has_data.remote(*key)):
            ray.get(runner.handle.install_data.remote(key[0], self._data_files(*key), key[1]))
        runner.data_ok.add(key)

    # ------------------------------------------------------------------ execution
    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[Event]:
        """One group (the plain :class:`~greenbench.runner.base.Dispatcher` interface)."""
        yield from self.execute_many(iter([(group, log_path)]))

    def _lost_records(self, task: _Task, runner: _Runner, why: str, retrying: bool) -> Iterator[Event]:
        node = runner.node or {}
        where = f"Ray node {node.get('hostname', '?')} ({str(node.get('id', '?'))[:12]})"
        reason = f"lost {where} while running this workload: {why}"
        if retrying:
            reason += f"; retrying on another node (attempt {task.attempt + 1} of {self.retries + 1})"
        from greenbench.runner.records import tail

        for spec in list(task.pending.values()):
            rec = base_record(spec, "failed", env=runner.env or self.env, reason=reason, started_at=task.started,
                              stderr_tail=tail(task.log_path), log=task.log_path.name)
            rec["node"] = {**node, "lost": True}
            if task.history:
                rec["attempts"] = list(task.history)
            yield {"type": "record", "record": rec, "retrying": retrying}
        task.history.append({"attempt": task.attempt, "status": "failed", "reason": reason, "node": dict(node),
                             "at": now_iso()})

    def _append_log(self, path: Path, blob: bytes) -> None:
        if not blob:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as fh:
            fh.write(blob)

    def _start(self, runner: _Runner, task: _Task) -> None:
        spec = task.group[0]
        self._ensure_data(runner, spec)
        task.pending = {r.run_id: r for r in task.group}
        task.started = now_iso()
        runner.task = task
        runner.handle.start.remote([r.model_dump(mode="json") for r in task.group], task.log_path.name)
        runner.poll_ref = runner.handle.poll.remote()

    def execute_many(self, groups: Iterator[tuple[list[RunSpec], Path]]) -> Iterator[Event]:
        """Run every group of ``groups``, one per free node runner, pulling the next only when one is free."""
        ray = self._ray
        if not self._runners:  # warm_up was not called: the workers start with their first workload
            self.warm_up(set(self._backends))
        retry: collections.deque[_Task] = collections.deque()
        exhausted = False
        while True:
            # node runners that came up
            starting = [r for r in self._runners if r.node is None]
            if starting:
                done, _ = ray.wait([r.ready_ref for r in starting], num_returns=len(starting), timeout=0)
                for r in starting:
                    if r.ready_ref in done:
                        try:
                            info = ray.get(r.ready_ref)
                        except Exception as exc:  # noqa: BLE001 - a runner that cannot start is replaced once
                            self._runners.remove(r)
                            raise UserError(f"--executor ray: a node runner could not start: {_first_line(exc)}") from None
                        r.node, r.env = info["node"], info["env"]
            # hand out work to idle runners
            for r in [r for r in self._runners if r.node is not None and r.task is None]:
                task = None
                for i, t in enumerate(retry):  # a retry goes to another node when it can
                    if r.node["id"] not in t.avoid or not any(
                            o.node is not None and o.task is None and o.node["id"] not in t.avoid
                            for o in self._runners if o is not r):
                        task = t
                        del retry[i]
                        break
                if task is None and not retry and not exhausted:
                    item = next(groups, None)
                    if item is None:
                        exhausted = True
                    else:
                        task = _Task(group=item[0], log_path=item[1])
                if task is not None:
                    self._start(r, task)
            busy = [r for r in self._runners if r.task is not None]
            if not busy and exhausted and not retry:
                return
            if not busy and not self._runners:
                # every node runner is gone (nodes lost): try again with new ones, which wait for a free slot
                for _ in range(self.slots):
                    self._runners.append(self._new_runner())
            if not busy:
                ready_refs = [r.ready_ref for r in self._runners if r.node is None]
                if ready_refs:
                    ray.wait(ready_refs, num_returns=1, timeout=_POLL_S)
                    if all(time.monotonic() - r.created > _STARTUP_S for r in self._runners if r.node is None) \
                            and not any(r.node is not None for r in self._runners):
                        raise UserError(f"--executor ray: no node with a free {self.slot!r} came up within "
                                        f"{_STARTUP_S:g} s; {START_HINT}")
                continue
            done, _ = ray.wait([r.poll_ref for r in busy], num_returns=1, timeout=_POLL_S)
            for r in busy:
                if r.poll_ref not in done:
                    continue
                task = r.task
                assert task is not None
                try:
                    events = ray.get(r.poll_ref)
                except Exception as exc:  # noqa: BLE001 - the actor or its node is gone (RayActorError, …)
                    self._runners.remove(r)
                    with contextlib.suppress(Exception):
                        ray.kill(r.handle)
                    self._runners.append(self._new_runner())  # takes a slot when one is (or becomes) free
                    again = task.attempt <= self.retries and bool(task.pending)
                    yield from self._lost_records(task, r, _lost_why(exc), again)
                    if again:
                        task.attempt += 1
                        if r.node is not None:
                            task.avoid.add(r.node["id"])
                        retry.append(task)
                    continue
                finished = False
                for event in events:
                    kind = event.get("type")
                    if kind == "record":
                        rec = event["record"]
                        task.pending.pop(rec["run_id"], None)
                        if task.history:
                            rec["attempts"] = list(task.history)
                        yield event
                    elif kind == "_done":
                        self._append_log(task.log_path, event.get("log") or b"")
                        finished = True
                    elif kind == "_error":
                        continue  # the runs left are failed below
                    else:
                        yield event
                if finished:
                    r.task, r.poll_ref = None, None
                    if task.pending:  # a node runner that ended without recording these
                        yield from self._lost_records(task, r, "the node runner ended without recording it", False)
                else:
                    r.poll_ref = r.handle.poll.remote()

    # ------------------------------------------------------------------ stop
    def interrupt(self) -> None:
        """Ctrl-C / SIGTERM on the driver: kill every node runner at once (its worker processes die with it)."""
        ray = self._ray
        for r in self._runners:
            with contextlib.suppress(Exception):
                ray.kill(r.handle, no_restart=True)
        self._runners.clear()

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        try:
            up = [r for r in self._runners if r.node is not None]
            if up:
                logs = ray.get([r.handle.close.remote() for r in up], timeout=60)
                if self._log_dir is not None:
                    for node, files in zip([r.node for r in up], logs):
                        for name, blob in files.items():
                            stem = name.removesuffix(".log")
                            (self._log_dir / f"{stem}@{str(node['id'])[:12]}.log").write_bytes(blob)
        except Exception:  # noqa: BLE001, S110 - best effort: the records are written already
            pass
        finally:
            for r in self._runners:
                with contextlib.suppress(Exception):
                    ray.kill(r.handle, no_restart=True)
            self._runners.clear()
            with contextlib.suppress(Exception):
                ray.shutdown()


__all__ = ["INSTALL_HINT", "NodeRunner", "RayDispatcher", "SLOT", "import_ray"]
