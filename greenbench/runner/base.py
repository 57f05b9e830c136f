"""How runs are dispatched, behind one small interface.

The plan of runs is data (a list of :class:`~greenbench.suite.RunSpec`, grouped by
workload so each model trains once). A :class:`Dispatcher` executes one workload group
and yields events; it must yield exactly one ``record`` event per run of the group,
whatever happens to the process that ran it. Local worker processes implement it now
(:mod:`greenbench.runner.local`); a distributed engine (Ray, a batch queue) only has to
implement :meth:`Dispatcher.execute`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

from greenbench.choices import THREADS_ALL
from greenbench.suite.plan import RunSpec

# Event kinds a dispatcher yields, as plain dicts (picklable, JSON-able):
#   {"type": "epoch", "workload_id", "epoch", "epochs", "train_loss", "train_accuracy", "val_accuracy", "wall_s"}
#   {"type": "phase", "workload_id", "name", "wall_s"}          a measured window just closed
#   {"type": "record", "record": {...}}                          a run finished (any status)
Event = dict[str, Any]


@dataclass(frozen=True)
class WorkerKey:
    """What a worker process is set up for once, before its framework loads: the backend, the thread setting
    (TensorFlow sizes its thread pools once per process and refuses a second setting) and OpenMP's wait policy
    (read by the OpenMP runtime when it loads). Workloads that differ in any of them run in different workers.
    """

    backend: str
    threads: str = THREADS_ALL  # the threads axis value, as text: "all" or a count
    omp_wait_policy: str | None = None  # None: the environment's own setting

    @classmethod
    def of(cls, spec: RunSpec) -> "WorkerKey":
        return cls(spec.backend, str(spec.threads), spec.runner.omp_wait_policy)

    def __lt__(self, other: "WorkerKey") -> bool:  # sorted() starts workers in a stable order
        return self.name < other.name

    @property
    def name(self) -> str:
        """``torch``, ``torch-threads1``, ``tensorflow-threadsall-omp-passive``: the worker's log and process name."""
        name = self.backend
        if self.threads != THREADS_ALL or self.omp_wait_policy is not None:
            name += f"-threads{self.threads}"
        return name + (f"-omp-{self.omp_wait_policy}" if self.omp_wait_policy is not None else "")

    def process_env(self) -> dict[str, str]:
        """Environment variables the worker sets for itself before it imports its framework."""
        return {"OMP_WAIT_POLICY": self.omp_wait_policy.upper()} if self.omp_wait_policy is not None else {}


class Dispatcher(Protocol):
    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[Event]:
        """Run one workload group; yield events, including one ``record`` per run of the group."""

    def warm_up(self, keys: set[WorkerKey], log_dir: Path | None = None) -> None:
        """Optional: start getting ready to run workloads of these worker keys (start workers, import
        frameworks) and return; start-up output goes to ``log_dir``. The dispatcher must finish start-up before the
        first :meth:`execute` measures anything."""

    def wait_ready(self) -> None:
        """Optional: return once start-up (begun by :meth:`warm_up`) is over, so that the driver can measure
        the machine's idle power (:mod:`greenbench.measure.idle`) without a framework import in it."""

    def interrupt(self) -> None:
        """Stop the work in progress at once (SIGINT); the next :meth:`execute` starts afresh."""

    def close(self) -> None:
        """Release workers."""
