"""How runs are dispatched, behind one small interface.

The plan of runs is data (a list of :class:`~greenbench.suite.RunSpec`, grouped by
workload so each model trains once). A :class:`Dispatcher` executes one workload group
and yields events; it must yield exactly one ``record`` event per run of the group,
whatever happens to the process that ran it. Local worker processes implement it now
(:mod:`greenbench.runner.local`); a distributed engine (Ray, a batch queue) only has to
implement :meth:`Dispatcher.execute`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Protocol

from greenbench.suite.plan import RunSpec

# Event kinds a dispatcher yields, as plain dicts (picklable, JSON-able):
#   {"type": "epoch", "workload_id", "epoch", "epochs", "train_loss", "train_accuracy", "val_accuracy", "wall_s"}
#   {"type": "phase", "workload_id", "name", "wall_s"}          a measured window just closed
#   {"type": "record", "record": {...}}                          a run finished (any status)
Event = dict[str, Any]


class Dispatcher(Protocol):
    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[Event]:
        """Run one workload group; yield events, including one ``record`` per run of the group."""

    def warm_up(self, backends: set[str], log_dir: Path | None = None) -> None:
        """Optional: start getting ready to run these backends (start workers, import frameworks) and
        return; start-up output goes to ``log_dir``. The dispatcher must finish start-up before the
        first :meth:`execute` measures anything."""

    def wait_ready(self) -> None:
        """Optional: return once start-up (begun by :meth:`warm_up`) is over, so that the driver can measure
        the machine's idle power (:mod:`greenbench.measure.idle`) without a framework import in it."""

    def interrupt(self) -> None:
        """Stop the work in progress at once (SIGINT); the next :meth:`execute` starts afresh."""

    def close(self) -> None:
        """Release workers."""
