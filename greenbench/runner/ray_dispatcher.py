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
* **One per GPU (opt-in)**: with ``isolation="gpu"`` (``runner.ray_isolation: gpu``, ``--isolation gpu``) a
  workload whose device is ``cuda`` runs in a *GPU runner* instead: a :class:`NodeRunner` holding one Ray ``GPU``
  (Ray sets its ``CUDA_VISIBLE_DEVICES``), one per GPU of every node that offers a slot, pinned there. Several
  such workloads share a node, one per GPU, and their records say so (``node.isolation``, ``node.gpu_ids``,
  ``node.neighbours``, ``node.isolation_note``: CPU and RAM energy then share a socket). Other workloads keep
  the whole node: the driver starts one on a node only while none of its GPU runners is busy or starting, and a
  GPU workload never starts beside one (a CPU workload that waits reserves its node, so GPU work drains there).
* **Idle baseline per node**: before a node's first workload the driver asks one runner there to measure the
  node's idle power (:meth:`NodeRunner.measure_idle`, its workers imported and waiting, nothing else of
  greenbench busy on the node; the node's ``GREENBENCH_IDLE_BASELINE_S`` or ``energy.idle_baseline_s``). Each
  record of that node gets net energy above *its node's* baseline (``idle_baseline.node`` names it) and the
  baselines are appended to the results directory's ``idle-baseline.json``.
* **Faults**: a node or actor lost mid-workload makes the runs not yet recorded ``failed`` (the reason names the
  node) and retries the workload on another node, ``retries`` times (default 1). A node runner that is alive
  but sends no event for longer than the workload's ``runner.timeout_s`` plus ``silence_margin_s`` (hung: the
  local timeout would have reported by then) is killed by the driver and treated the same way. Ctrl-C / SIGTERM
  on the driver: :meth:`RayDispatcher.interrupt` kills the actors (their worker processes die with them), the
  orchestrator marks the runs in flight ``interrupted``.
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
_IDLE_LIMIT_S = 3600.0 + _STARTUP_S  # the longest an idle baseline may take (GREENBENCH_IDLE_BASELINE_S's maximum)
ISOLATIONS = ("node", "gpu")
GPU_NOTE = ("one workload per GPU (runner.ray_isolation: gpu): the workloads in node.neighbours ran on this node "
            "at the same time, on other GPUs, sharing its CPU package and RAM, so this run's CPU and RAM energy "
            "(and a machine-level estimate) include part of theirs; its GPU energy covers its own GPU "
            "(CUDA_VISIBLE_DEVICES)")


def import_ray() -> Any:
    """``ray``, or one clear error when it is not installed."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray: Ray is not installed here; {INSTALL_HINT}") from None
    return ray


# --------------------------------------------------------------------------- on the node
def drop_ray_thread_cap(parent_environ: Path | None = None) -> str | None:
    """Remove the ``OMP_NUM_THREADS`` Ray put into this actor's environment, and return its value (else ``None``).

    Ray sets ``OMP_NUM_THREADS`` in a worker holding no CPU resource (``num_cpus=0``, as a node runner is) to 1,
    unless it is already set (``set_omp_num_threads_if_unset`` in ``ray/_private/utils.py``, Ray's issue #6998).
    Inherited by the measuring workers, it would make torch's own default one thread (``threads: default``) and
    cap any OpenMP code there, unlike the same run on the local executor. The value is Ray's when the raylet
    that started this process (its parent) does not have it; a value the operator gave ``ray start`` stays.
    """
    value = os.environ.get("OMP_NUM_THREADS")
    if value is None:
        return None
    try:
        parent = (parent_environ or Path(f"/proc/{os.getppid()}/environ")).read_bytes().split(b"\0")
    except OSError:  # no /proc (not Linux): leave it, the records say what the workers ran with
        return None
    if any(entry.startswith(b"OMP_NUM_THREADS=") for entry in parent):
        return None
    del os.environ["OMP_NUM_THREADS"]
    return value


class NodeRunner:
    """Runs workload groups on one node, in the same per-framework worker processes as the local executor.

    Created as a Ray actor holding one ``greenbench_slot``: one per node at a time. Methods are called from the
    driver; :meth:`start` runs a group in a thread, :meth:`poll` hands its events back in batches (the actor
    is threaded, so a poll runs while the group does).
    """

    def __init__(self, backends: list[Any], isolation: str = "node") -> None:
        import ray

        from greenbench.runner.local import LocalDispatcher

        ctx = ray.get_runtime_context()
        self.node = {"id": ctx.get_node_id(), "hostname": socket.gethostname(),
                     "ip": ray.util.get_node_ip_address(), "pid": os.getpid(), "isolation": isolation}
        if isolation == "gpu":  # the GPU Ray gave this runner (its CUDA_VISIBLE_DEVICES, inherited by the workers)
            self.node["gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
        self.workdir = Path(tempfile.mkdtemp(prefix="greenbench-ray-"))
        self.logs = self.workdir / "logs"
        self.logs.mkdir()
        drop_ray_thread_cap()  # before the workers start: they run with the node's own thread environment
        self.dispatcher = LocalDispatcher()  # its env: this node's fingerprint, computed here
        self.dispatcher.warm_up(set(backends), log_dir=self.logs)  # frameworks import while the driver goes on
        self._events: queue.Queue[Event] = queue.Queue()
        self._thread: threading.Thread | None = None

    def describe(self) -> dict[str, Any]:
        """This runner's node and fingerprint, once its workers have imported their frameworks: a runner is up
        only when its start-up can no longer overlap a measured window on its node."""
        self.dispatcher.wait_ready()
        return {"node": self.node, "env": self.dispatcher.env}

    def measure_idle(self, spec_dict: dict[str, Any]) -> dict[str, Any] | None:
        """This node's idle baseline (:func:`greenbench.measure.idle.measure_idle`, run here with the suite's
        energy settings and this node's ``GREENBENCH_IDLE_BASELINE_S``); ``None`` when it is switched off here."""
        from greenbench.measure import idle
        from greenbench.measure.settings import settings_for

        spec = RunSpec.model_validate(spec_dict)
        try:
            settings = settings_for(spec.energy)
            seconds = settings.idle_seconds() if settings is not None else 0.0
        except UserError as exc:  # a bad per-machine setting on this node: no baseline here, and why
            return {"total_w": None, "reason": f"not measured on this node: {exc}"}
        if settings is None or seconds <= 0:
            return None
        self.dispatcher.wait_ready()  # a framework import is not idle
        return idle.measure_idle(settings, seconds, threshold=spec.runner.cotenancy_threshold)

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


def kill_node_runner(pid: int) -> str:
    """Run on a node (a Ray task pinned there): SIGKILL the hung node runner ``pid`` — ``ray.kill`` asks the
    actor's own process to exit, which a stopped or wedged process never does. Only a process that is a
    NodeRunner actor is killed (``ray::NodeRunner`` in its command line, where /proc can tell)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return "gone"
    except OSError:
        cmdline = "NodeRunner"  # no /proc here: trust the pid the runner reported itself
    if "NodeRunner" not in cmdline:
        return f"not a node runner: {cmdline[:80]}"
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "gone"
    return "killed"


# --------------------------------------------------------------------------- on the driver
@dataclass
class _Task:
    group: list[RunSpec]
    log_path: Path
    kind: str = "slot"  # "slot": holds its node; "gpu": a CUDA workload in a GPU runner (isolation gpu)
    attempt: int = 1
    avoid: set[str] = field(default_factory=set)  # node ids this workload was lost on
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier attempts (lost nodes)
    pending: dict[str, RunSpec] = field(default_factory=dict)
    started: str = ""
    neighbours: set[str] = field(default_factory=set)  # workloads that ran on its node while it did
    reserved: str | None = None  # a waiting node-exclusive workload: the node where GPU work drains for it

    @property
    def limit_s(self) -> float:
        """The longest the node may legitimately stay silent: the workload's timeout (each run's allowance)."""
        return max(r.runner.timeout_s for r in self.group)


@dataclass
class _Runner:
    handle: Any
    ready_ref: Any  # describe(): resolves once the actor is up and its workers are ready
    kind: str = "slot"  # "slot": holds a greenbench_slot; "gpu": holds one GPU of node ``pin``
    pin: str | None = None  # the node a GPU runner is pinned to
    node: dict[str, Any] | None = None
    env: dict[str, Any] | None = None
    task: _Task | None = None
    poll_ref: Any = None
    idle_ref: Any = None  # measure_idle() in flight
    idle_end: bool = False  # ... to measure its node's idle power again at the end (drift), not the baseline
    last_event: float = 0.0  # when its task started or it last sent an event (time.monotonic)
    data_ok: set[tuple[str, str | None]] = field(default_factory=set)
    created: float = field(default_factory=time.monotonic)

    @property
    def node_id(self) -> str | None:
        return self.node["id"] if self.node is not None else self.pin

    @property
    def busy(self) -> bool:
        return self.task is not None or self.idle_ref is not None


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


def _where(node: dict[str, Any] | None) -> str:
    node = node or {}
    return f"Ray node {node.get('hostname', '?')} ({str(node.get('id', '?'))[:12]})"


class RayDispatcher:
    """Dispatch workload groups to the nodes of a Ray cluster, at most one in flight per ``greenbench_slot``
    (and, with ``isolation="gpu"``, one CUDA workload per GPU)."""

    #: The idle baseline of a record is its node's, measured there (greenbench.measure.idle leaves records
    #: that carry ``node`` alone); the driver's own baseline describes the driver's machine only.
    measures_idle_on_nodes = True

    def __init__(self, address: str | None = None, *, retries: int = 1, slot: str = SLOT, isolation: str = "node",
                 silence_margin_s: float = 300.0, connect: bool = True) -> None:
        if isolation not in ISOLATIONS:
            raise UserError(f"--isolation {isolation!r}: not one of: {', '.join(ISOLATIONS)}")
        if not silence_margin_s > 0:
            raise UserError(f"runner.node_silence_margin_s {silence_margin_s!r}: give a number of seconds above 0")
        self.address = address or os.environ.get("RAY_ADDRESS") or "auto"
        self.retries = retries
        self.slot = slot
        self.isolation = isolation
        self.silence_margin_s = float(silence_margin_s)
        self._runners: list[_Runner] = []
        self._backends: list[Any] = []
        self._log_dir: Path | None = None
        self._data_refs: dict[tuple[str, str | None], Any] = {}
        self._env: dict[str, Any] | None = None
        self._ray: Any = None
        self._kill_refs: list[Any] = []  # kill_node_runner tasks sent to the nodes of hung runners
        self._gpu_nodes: dict[str, int] | None = None  # node id -> GPUs, nodes that offer a slot (isolation gpu)
        self._baselines: dict[str, dict[str, Any] | None] = {}  # node id -> its idle baseline (None: off there)
        self._baseline_at: dict[str, float] = {}  # node id -> when its baseline came (time.monotonic)
        self._rechecked: set[str] = set()  # nodes whose idle power was measured again at the end
        self._idle_spec: dict[str, Any] | None = None  # a spec of the suite: its energy settings, for measure_idle
        from greenbench.measure.idle import invocation_id

        self._invocation = invocation_id()  # the node baselines' invocation (idle-baseline.json, records)
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
        except SystemExit as exc:
            if exc.code == signal.SIGTERM:  # ray.init's own SIGTERM handler: sys.exit(15). Nothing runs yet,
                raise SystemExit(128 + signal.SIGTERM) from None  # so end as a SIGTERM ends us elsewhere: 143
            raise
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
    def _new_runner(self, kind: str = "slot", pin: str | None = None) -> _Runner:
        ray = self._ray
        if kind == "gpu":  # one GPU of node ``pin``: Ray sets the runner's CUDA_VISIBLE_DEVICES to it
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options: dict[str, Any] = {"num_gpus": 1, "scheduling_strategy": NodeAffinitySchedulingStrategy(pin, soft=False)}
        else:
            options = {"resources": {self.slot: 1}}
        actor = ray.remote(NodeRunner).options(
            num_cpus=0, max_concurrency=4, max_restarts=0, **options,
        ).remote(self._backends, "gpu" if kind == "gpu" else "node")
        return _Runner(handle=actor, ready_ref=actor.describe.remote(), kind=kind, pin=pin)

    def warm_up(self, backends: set[Any], log_dir: Path | None = None) -> None:
        """One node runner per slot; each starts its framework workers on its node at once. (GPU runners, with
        ``isolation="gpu"``, start when the first CUDA workload comes.)"""
        self._backends = sorted(backends)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self._log_dir = log_dir
        while len([r for r in self._runners if r.kind == "slot"]) < self.slots:
            self._runners.append(self._new_runner())

    def wait_ready(self) -> None:
        """Wait until every node runner is up (its workers finish importing before its first workload)."""
        refs = [r.ready_ref for r in self._runners if r.node is None]
        if refs:
            self._ray.wait(refs, num_returns=len(refs), timeout=_STARTUP_S)

    def _gpu_layout(self, refresh: bool = False) -> dict[str, int]:
        """The GPUs of the live nodes that offer a slot (the nodes that may run measured workloads)."""
        if self._gpu_nodes is None or refresh:
            self._gpu_nodes = {n["NodeID"]: int(n.get("Resources", {}).get("GPU", 0)) for n in self._ray.nodes()
                               if n.get("Alive") and n.get("Resources", {}).get(self.slot, 0) > 0
                               and int(n.get("Resources", {}).get("GPU", 0)) >= 1}
        return self._gpu_nodes

    def _kind(self, group: list[RunSpec]) -> str:
        if self.isolation == "gpu" and group[0].device == "cuda" and self._gpu_layout():
            return "gpu"
        return "slot"  # the whole node (isolation node, another device, or no node with a GPU to hold)

    def _ensure_gpu_runners(self) -> None:
        """One GPU runner per GPU of each node in the layout; started on a node only while no node-exclusive
        workload runs there (their framework imports must not overlap its measured windows)."""
        for node_id, gpus in self._gpu_layout().items():
            here = [r for r in self._runners if r.node_id == node_id]
            if any(r.kind == "slot" and r.busy for r in here):
                continue
            for _ in range(gpus - sum(r.kind == "gpu" for r in here)):
                self._runners.append(self._new_runner("gpu", node_id))

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

    def _lost_records(self, task: _Task, runner: _Runner, why: str, retrying: bool, *,
                      what: str = "lost {where} while running this workload") -> Iterator[Event]:
        node = runner.node or {}
        reason = f"{what.format(where=_where(node))}: {why}"
        if retrying:
            reason += f"; retrying on another node (attempt {task.attempt + 1} of {self.retries + 1})"
        from greenbench.runner.records import tail

        for spec in list(task.pending.values()):
            rec = base_record(spec, "failed", env=runner.env or self.env, reason=reason, started_at=task.started,
                              stderr_tail=tail(task.log_path), log=task.log_path.name)
            rec["node"] = {**node, "lost": True, "neighbours": sorted(task.neighbours)}
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
        task.reserved = None
        wid = spec.workload_id
        for other in self._runners:  # who shares the node with whom (always nobody for a node-exclusive one)
            if other is not runner and other.task is not None and other.node_id == runner.node_id:
                other.task.neighbours.add(wid)
                task.neighbours.add(other.task.group[0].workload_id)
        runner.task = task
        runner.last_event = time.monotonic()
        runner.handle.start.remote([r.model_dump(mode="json") for r in task.group], task.log_path.name)
        runner.poll_ref = runner.handle.poll.remote()

    # ------------------------------------------------------------------ idle baselines
    def _measure_idle(self, runner: _Runner) -> None:
        """Ask ``runner`` for its node's idle baseline (nothing else of greenbench runs there meanwhile)."""
        assert self._idle_spec is not None
        runner.idle_ref = runner.handle.measure_idle.remote(self._idle_spec)
        runner.last_event = time.monotonic()

    def _got_baseline(self, runner: _Runner, baseline: dict[str, Any] | None) -> None:
        node = runner.node or {}
        if runner.idle_end:  # the end-of-suite measurement: how far the node's idle power drifted
            runner.idle_end = False
            start = self._baselines.get(node["id"])
            if baseline is not None and start is not None:
                from greenbench.measure.idle import drift

                self._save_idle(runner, baseline, "end", drift(start, baseline))
            return
        self._baselines[node["id"]] = baseline
        self._baseline_at[node["id"]] = time.monotonic()
        if baseline is not None:
            self._save_idle(runner, baseline, "start")

    def _save_idle(self, runner: _Runner, baseline: dict[str, Any], when: str,
                   change: dict[str, Any] | None = None) -> None:
        if self._log_dir is None:
            return
        from greenbench.errors import write_fault
        from greenbench.measure import idle
        from greenbench.results.store import RESUME

        node = runner.node or {}
        results = self._log_dir.parent  # the orchestrator's results directory (its logs/ is our log_dir)
        where = {"node": {k: node.get(k) for k in ("id", "hostname", "ip")}}
        entry = {**baseline, "invocation": self._invocation, "when": when,
                 "machine": str((runner.env or {}).get("machine", "unknown")), **where}
        drifts = [{"invocation": self._invocation, **change, **where}] if change is not None else []
        try:
            idle.append(results, baselines=[entry], drifts=drifts)
        except OSError as exc:
            raise write_fault(exc, results / idle.FILE_NAME, "write the idle baseline", "--results", RESUME) from None

    def _recheck_idle(self) -> bool:
        """At the end of the suite, measure again the idle power of each node whose baseline is older than
        ``energy.idle_recheck_after_s`` (drift, as the local executor does for its machine). True while one runs."""
        if self._idle_spec is None:
            return False
        after = (self._idle_spec.get("energy") or {}).get("idle_recheck_after_s")
        if after is None:
            return False
        started = False
        for r in self._runners:
            node_id = r.node_id
            if (r.node is None or r.busy or node_id is None or node_id in self._rechecked
                    or self._baselines.get(node_id) is None
                    or time.monotonic() - self._baseline_at.get(node_id, time.monotonic()) <= float(after)):
                continue
            self._rechecked.add(node_id)
            r.idle_end = True
            self._measure_idle(r)
            started = True
        return started

    def _with_node_fields(self, runner: _Runner, task: _Task, rec: dict[str, Any]) -> dict[str, Any]:
        """A record from ``runner``: who shared its node, what isolation meant, net energy above its node's idle."""
        from greenbench.measure.idle import apply_baseline

        node = rec.setdefault("node", dict(runner.node or {}))
        node["neighbours"] = sorted(task.neighbours)
        if node.get("isolation") == "gpu":
            node["isolation_note"] = GPU_NOTE
        baseline = self._baselines.get(str(node.get("id")))
        if baseline is not None:
            rec = apply_baseline(rec, baseline, invocation=self._invocation,
                                 node={k: node.get(k) for k in ("id", "hostname")})
        return rec

    # ------------------------------------------------------------------ hand-out
    def _fits(self, runner: _Runner, task: _Task, queued: list[_Task]) -> bool:
        """Whether ``task`` may start on ``runner`` now."""
        if task.kind != runner.kind:
            return False
        node_id = runner.node_id
        if node_id in task.avoid and any(  # a retry goes to another node when it can
                o is not runner and o.node is not None and not o.busy and o.kind == task.kind
                and o.node_id not in task.avoid for o in self._runners):
            return False
        here = [o for o in self._runners if o is not runner and o.node_id == node_id]
        if task.kind == "slot":
            # the whole node: no GPU runner of the node busy or still starting (its framework import)
            if any(o.kind == "gpu" and (o.busy or o.node is None) for o in here):
                task.reserved = task.reserved or node_id  # GPU work drains there meanwhile
                return False
            return True
        # one GPU: never beside a node-exclusive workload, nor on a node one is waiting for
        if any(o.kind == "slot" and o.busy for o in here):
            return False
        return not any(t.reserved == node_id for t in queued if t.kind == "slot")

    def _pick(self, runner: _Runner, retry: collections.deque[_Task], waiting: list[_Task]) -> _Task | None:
        queued = [*retry, *waiting]
        for queue_ in (retry, waiting):
            for t in list(queue_):
                if self._fits(runner, t, queued):
                    queue_.remove(t)
                    return t
        return None

    def _lose(self, r: _Runner, why: str, *, what: str = "lost {where} while running this workload",
              retry: collections.deque[_Task], hung: bool = False) -> Iterator[Event]:
        """``r`` is gone (or, ``hung``, alive but silent: killed here): replace it, fail its runs not yet
        recorded, retry them elsewhere."""
        ray = self._ray
        self._runners.remove(r)
        with contextlib.suppress(Exception):
            ray.kill(r.handle, no_restart=True)
        if hung and r.node is not None:  # ray.kill alone waits for the process to cooperate: SIGKILL it there
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            with contextlib.suppress(Exception):
                self._kill_refs.append(ray.remote(kill_node_runner).options(
                    num_cpus=0, max_retries=0,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(r.node["id"], soft=False),
                ).remote(int(r.node["pid"])))
        if r.kind == "slot":
            self._runners.append(self._new_runner())  # takes a slot when one is (or becomes) free
        else:
            self._gpu_layout(refresh=True)  # a lost node's GPUs are gone; _ensure_gpu_runners replaces the rest
        task = r.task
        r.task, r.poll_ref, r.idle_ref = None, None, None
        if task is None:
            return
        again = task.attempt <= self.retries and bool(task.pending)
        yield from self._lost_records(task, r, why, again, what=what)
        if again:
            task.attempt += 1
            if r.node is not None:
                task.avoid.add(r.node["id"])
            retry.append(task)

    def execute_many(self, groups: Iterator[tuple[list[RunSpec], Path]]) -> Iterator[Event]:
        """Run every group of ``groups``, each on a free node runner of its kind, pulling the next only when one
        is free (at most as many pulled and waiting as there are runners)."""
        ray = self._ray
        if not self._runners:  # warm_up was not called: the workers start with their first workload
            self.warm_up(set(self._backends))
        retry: collections.deque[_Task] = collections.deque()
        waiting: list[_Task] = []
        exhausted = False

        def pull() -> _Task | None:
            nonlocal exhausted
            item = next(groups, None)
            if item is None:
                exhausted = True
                return None
            task = _Task(group=item[0], log_path=item[1], kind=self._kind(item[0]))
            if self._idle_spec is None:
                self._idle_spec = task.group[0].model_dump(mode="json")
            waiting.append(task)
            return task

        while True:
            # node runners that came up
            starting = [r for r in self._runners if r.node is None]
            if starting:
                done, _ = ray.wait([r.ready_ref for r in starting], num_returns=len(starting), timeout=0)
                for r in starting:
                    if r.ready_ref in done:
                        try:
                            info = ray.get(r.ready_ref)
                        except Exception as exc:  # noqa: BLE001
                            self._runners.remove(r)
                            if r.kind == "gpu" and r.pin not in self._gpu_layout(refresh=True):
                                continue  # its node went away: the layout no longer has it
                            raise UserError(f"--executor ray: a node runner could not start: {_first_line(exc)}") from None
                        r.node, r.env = info["node"], info["env"]
            if self._idle_spec is None and not exhausted:
                pull()  # a spec of the suite: the energy settings each node measures its idle baseline with
            if self.isolation == "gpu":
                if not self._gpu_layout():  # no GPU left to hold: CUDA workloads take a whole node
                    for t in [*retry, *waiting]:
                        t.kind = "slot"
                elif any(t.kind == "gpu" for t in [*retry, *waiting]):
                    self._ensure_gpu_runners()
            # hand out work to idle runners, each node's idle baseline first
            for r in [r for r in self._runners if r.node is not None and not r.busy]:
                node_id = r.node["id"]
                if node_id not in self._baselines:
                    measuring = any(o.idle_ref is not None and o.node_id == node_id for o in self._runners)
                    if self._idle_spec is not None and not measuring and not any(
                            o.busy for o in self._runners if o.node_id == node_id):
                        self._measure_idle(r)
                    continue
                task = self._pick(r, retry, waiting)
                while task is None and not exhausted and len(waiting) < len(self._runners):
                    new = pull()
                    if new is not None and self._fits(r, new, [*retry, *waiting]):
                        waiting.remove(new)
                        task = new
                if task is not None:
                    self._start(r, task)
            busy = [r for r in self._runners if r.task is not None]
            measuring = [r for r in self._runners if r.idle_ref is not None]
            if not busy and not measuring and exhausted and not retry and not waiting:
                if self._recheck_idle():
                    continue  # each long-running node's idle power again, then done
                return
            if not busy and not measuring and not any(r.kind == "slot" for r in self._runners):
                # every node runner is gone (nodes lost): try again with new ones, which wait for a free slot
                for _ in range(self.slots):
                    self._runners.append(self._new_runner())
            starting = [r for r in self._runners if r.node is None]
            if not busy and not measuring and starting and not any(r.node is not None for r in self._runners) \
                    and all(time.monotonic() - r.created > _STARTUP_S for r in starting):
                raise UserError(f"--executor ray: no node with a free {self.slot!r} came up within "
                                f"{_STARTUP_S:g} s; {START_HINT}")
            refs = [r.poll_ref for r in busy] + [r.idle_ref for r in measuring] + [r.ready_ref for r in starting]
            if not refs:  # nothing to wait on (cannot last: something is busy, starting or waiting)
                time.sleep(_POLL_S)
                continue
            done_refs, _ = ray.wait(refs, num_returns=1, timeout=_POLL_S)
            done = set(done_refs)
            now = time.monotonic()
            for r in measuring:
                if r.idle_ref in done:
                    try:
                        baseline = ray.get(r.idle_ref)
                    except Exception as exc:  # noqa: BLE001 - the runner or its node is gone
                        yield from self._lose(r, _lost_why(exc), retry=retry)
                        continue
                    r.idle_ref = None
                    self._got_baseline(r, baseline)
                elif now - r.last_event > _IDLE_LIMIT_S + self.silence_margin_s:
                    yield from self._lose(r, "its idle baseline never came back", retry=retry, hung=True)
            for r in busy:
                task = r.task
                assert task is not None
                if r.poll_ref not in done:
                    silent = now - r.last_event
                    if silent > task.limit_s + self.silence_margin_s:  # alive (or not), but hung: the watchdog
                        yield from self._lose(
                            r, f"no event from its node runner for {silent:.0f} s, more than the workload's "
                            f"runner.timeout_s ({task.limit_s:g} s) plus runner.node_silence_margin_s "
                            f"({self.silence_margin_s:g} s); the node runner was killed",
                            what="{where} went silent while running this workload", retry=retry, hung=True)
                    continue
                try:
                    events = ray.get(r.poll_ref)
                except Exception as exc:  # noqa: BLE001 - the actor or its node is gone (RayActorError, …)
                    yield from self._lose(r, _lost_why(exc), retry=retry)
                    continue
                if events:
                    r.last_event = now
                finished = False
                for event in events:
                    kind = event.get("type")
                    if kind == "record":
                        rec = self._with_node_fields(r, task, event["record"])
                        task.pending.pop(rec["run_id"], None)
                        if task.history:
                            rec["attempts"] = list(task.history)
                        yield {**event, "record": rec}
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
            if self._kill_refs:  # the hung runners' kills: done before the driver disconnects
                ray.wait(self._kill_refs, num_returns=len(self._kill_refs), timeout=30)
            up = [r for r in self._runners if r.node is not None]
            if up:
                logs = ray.get([r.handle.close.remote() for r in up], timeout=60)
                if self._log_dir is not None:
                    for node, files in zip([r.node for r in up], logs):
                        gpus = f"-gpu{'-'.join(node['gpu_ids'])}" if node.get("gpu_ids") else ""  # one per GPU runner
                        for name, blob in files.items():
                            stem = name.removesuffix(".log")
                            (self._log_dir / f"{stem}@{str(node['id'])[:12]}{gpus}.log").write_bytes(blob)
        except Exception:  # noqa: BLE001, S110 - best effort: the records are written already
            pass
        finally:
            for r in self._runners:
                with contextlib.suppress(Exception):
                    ray.kill(r.handle, no_restart=True)
            self._runners.clear()
            with contextlib.suppress(Exception):
                ray.shutdown()


__all__ = ["GPU_NOTE", "INSTALL_HINT", "ISOLATIONS", "NodeRunner", "RayDispatcher", "SLOT", "import_ray",
           "kill_node_runner"]
