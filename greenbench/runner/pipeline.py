"""The orchestrator's side of dispatch: workload groups handed out one or many at a time.

:func:`greenbench.runner.local.run_plan` owns resume, claims, record writing, signals and progress; a
dispatcher only executes groups. A plain dispatcher (:class:`~greenbench.runner.base.Dispatcher`) gets one
group at a time through :meth:`~greenbench.runner.base.Dispatcher.execute`; a dispatcher that runs several at
once (:mod:`greenbench.runner.ray_dispatcher`, one per cluster node) has ``execute_many`` and pulls groups from
a :class:`Feed` whenever it has room for one. Either way each group is claimed (the per-workload file lock of
:meth:`~greenbench.results.store.ResultStore.claim`) before it is handed out and stays claimed until its
last record is written, so two ``greenbench run`` processes on one results directory share the work the same
way whether one workload or many are in flight.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from greenbench.runner.base import Event
from greenbench.runner.records import base_record
from greenbench.suite.plan import RunSpec, group_by_workload

if TYPE_CHECKING:  # pragma: no cover
    from greenbench.results.store import ResultStore
    from greenbench.runner.outcome import SuiteOutcome
    from greenbench.runner.progress import RunProgress

Group = tuple[list[RunSpec], Path]  # a workload group and the log file its worker writes


class Feed:
    """The workload groups still to run, in plan order, each claimed as it is handed out.

    Iterating yields ``(group, log_path)`` for every group this process holds: claimed, less the runs another
    process recorded meanwhile. A group another process holds is reported busy; a group whose framework is not
    installed is recorded ``skipped`` here. A claim is released once every run of its group is recorded
    (:meth:`recorded`) or when the feed is closed; :meth:`in_flight` lists the runs handed out and not yet
    recorded (what an interrupt marks ``interrupted``).
    """

    def __init__(self, todo: list[RunSpec], store: "ResultStore", *, rerun: bool, progress: "RunProgress",
                 outcome: "SuiteOutcome", env: dict[str, Any], skip: Callable[[RunSpec], str | None]) -> None:
        self.todo, self.store, self.rerun = todo, store, rerun
        self.progress, self.outcome, self.env, self.skip = progress, outcome, env, skip
        self._claims: dict[str, contextlib.ExitStack] = {}
        self._pending: dict[str, dict[str, RunSpec]] = {}

    def __iter__(self) -> Iterator[Group]:
        for group in group_by_workload(self.todo):
            key = group[0].workload_id
            stack = contextlib.ExitStack()
            try:
                mine = stack.enter_context(self.store.claim(key))
                if not mine:
                    stack.close()
                    self.outcome.busy.append(key)
                    self.progress.skip_busy(group)
                    continue
                if not self.rerun:  # another process may have finished it while we waited
                    fresh = self.store.scan().records
                    group = [r for r in group if fresh.get(r.run_id, {}).get("status") not in ("completed", "skipped")]
                    if not group:
                        stack.close()
                        continue
                reason = self.skip(group[0])
                if reason is not None:
                    for spec in group:
                        rec = base_record(spec, "skipped", env=self.env, reason=reason)
                        self.store.write(rec)
                        self.progress.record(rec)
                        self.outcome.executed += 1
                    stack.close()
                    continue
            except BaseException:
                stack.close()
                raise
            self._claims[key] = stack
            self._pending[key] = {r.run_id: r for r in group}
            self.progress.start_workload(group)
            yield group, self.store.log_path(key)

    def recorded(self, rec: dict[str, Any], *, final: bool = True) -> None:
        """A record of a handed-out run was written; ``final=False``: the run goes on (a retry follows)."""
        if not final:
            return
        key = rec["workload_id"]
        pending = self._pending.get(key)
        if pending is None:
            return
        pending.pop(rec["run_id"], None)
        if not pending:
            del self._pending[key]
            self._claims.pop(key).close()

    def in_flight(self) -> list[RunSpec]:
        return [spec for pending in self._pending.values() for spec in pending.values()]

    def close(self) -> None:
        """Release every claim still held (interrupted or failed groups: they are redone by the next run)."""
        claims, self._claims = self._claims, {}
        for stack in claims.values():
            stack.close()
        self._pending.clear()


def dispatch(dispatcher: Any, feed: Feed) -> Iterator[Event]:
    """Every event of every group of ``feed``: through ``dispatcher.execute_many`` when it has one (several
    groups in flight), else one group at a time through ``dispatcher.execute``."""
    many = getattr(dispatcher, "execute_many", None)
    if many is not None:
        yield from many(iter(feed))
        return
    for group, log_path in feed:
        yield from dispatcher.execute(group, log_path)


__all__ = ["Feed", "Group", "dispatch"]
