"""A record the operating system will not let ``run`` read (permission denied) is not corrupt: it may hold a good
measurement. ``run`` stops before running anything (exit 1, one line naming the file and the fix) instead of
setting it aside as ``.corrupt-N`` and redoing its run, and no attempt is ever written over it.

chmod means nothing to root, who runs CI: the refusal is faked on the file's read (the ``refuse_read``
fixture). ``run_plan`` checks the dataset before it dispatches, so the tests that call it take the real MNIST copy
(``mnist_dir``: they skip without one); nothing here trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from greenbench.errors import EnvironmentFault
from greenbench.results.store import ResultStore
from greenbench.runner.local import run_plan
from greenbench.runner.records import base_record
from greenbench.suite import expand, load_suite
from greenbench.suite.plan import RunSpec

SMOKE = Path(__file__).resolve().parents[3] / "suites" / "smoke.yaml"
DENIED = "cannot read (permission denied); make it readable for this user"


class Completes:
    """Records every run it is given as completed, and remembers which."""

    env = {"machine": "fake-machine"}

    def __init__(self) -> None:
        self.ran: list[str] = []

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
        for spec in group:
            self.ran.append(spec.run_id)
            rec = base_record(spec, "completed", env=self.env)
            rec["metrics"] = {"test_accuracy": 0.9}
            yield {"type": "record", "record": rec}

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass


def plan():
    suite = load_suite(SMOKE)
    suite = suite.model_copy(update={"energy": suite.energy.model_copy(update={"enabled": False})})
    return suite, [r for r in expand(suite) if r.backend == "torch" and r.model == "mlp"]


def test_run_stops_on_a_record_it_may_not_read_and_moves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 refuse_read: Any, mnist_dir: Path) -> None:
    suite, runs = plan()
    first = Completes()
    run_plan(suite, runs, results_dir=tmp_path, dispatcher=first)
    assert sorted(first.ran) == sorted(r.run_id for r in runs)
    victim = tmp_path / f"{runs[0].run_id}.json"
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    refuse_read(victim)

    again = Completes()
    with pytest.raises(EnvironmentFault) as info:
        run_plan(suite, runs, results_dir=tmp_path, dispatcher=again)
    assert info.value.exit_code == 1
    assert str(info.value) == (f"{victim}: {DENIED}; nothing was run and no record was changed: fix it, then run "
                               "the same command again")
    assert again.ran == []  # not redone
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # not set aside as .corrupt-N, not rewritten
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_several_locked_records_are_counted(tmp_path: Path, refuse_read: Any, mnist_dir: Path) -> None:
    suite, runs = plan()
    run_plan(suite, runs, results_dir=tmp_path, dispatcher=Completes())
    refuse_read(*sorted(tmp_path.glob("*.json"))[:2])
    with pytest.raises(EnvironmentFault, match=r": cannot read \(permission denied\); make it readable for this user"
                                               r" \(and 1 more record file\(s\)\); nothing was run"):
        run_plan(suite, runs, results_dir=tmp_path, dispatcher=Completes())


def test_a_corrupt_record_is_still_set_aside_and_redone(tmp_path: Path, mnist_dir: Path) -> None:
    """The positive control: bad content (not a refused read) keeps today's behaviour."""
    suite, runs = plan()
    run_plan(suite, runs, results_dir=tmp_path, dispatcher=Completes())
    victim = tmp_path / f"{runs[0].run_id}.json"
    victim.write_text('{"run_id": ')
    again = Completes()
    outcome = run_plan(suite, runs, results_dir=tmp_path, dispatcher=again)
    assert again.ran == [runs[0].run_id]
    assert [p.name for p in tmp_path.glob("*.corrupt-*")] == [f"{victim.name}.corrupt-1"]
    assert len(outcome.corrupt) == 1


def test_no_attempt_is_written_over_a_record_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 refuse_read: Any) -> None:
    suite, runs = plan()
    store = ResultStore(tmp_path)
    store.bind(suite.name)
    store.write(base_record(runs[0], "completed", env={}))
    victim = store.record_path(runs[0].run_id)
    kept = victim.read_bytes()
    refuse_read(victim)
    with pytest.raises(EnvironmentFault) as info:
        store.write(base_record(runs[0], "failed", env={}, reason="worker crashed"))
    assert str(info.value).startswith(f"{victim}: {DENIED}; the failed attempt of this run was not recorded over it.")
    monkeypatch.undo()
    assert victim.read_bytes() == kept
