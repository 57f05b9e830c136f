"""run_plan and signals: SIGTERM stops the suite like Ctrl-C; handlers are only touched from the main thread."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any, Iterator

from greenbench.runner.local import run_plan
from greenbench.runner.records import base_record
from greenbench.suite import expand, load_suite
from greenbench.suite.plan import RunSpec

SMOKE = Path(__file__).resolve().parents[3] / "suites" / "smoke.yaml"


class FakeDispatcher:
    """Records every run as completed, or sends this process a signal in the middle of a workload."""

    def __init__(self, send: signal.Signals | None = None) -> None:
        self.send = send
        self.interrupted = self.closed = False

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
        if self.send is not None:
            os.kill(os.getpid(), self.send)  # delivered to the main thread, which is running us
        for spec in group:
            yield {"type": "record", "record": base_record(spec, "completed", env={})}

    def interrupt(self) -> None:
        self.interrupted = True

    def close(self) -> None:
        self.closed = True


def _plan():
    suite = load_suite(SMOKE)
    return suite, [r for r in expand(suite) if r.backend == "torch" and r.model == "mlp"]


def test_sigterm_marks_the_workload_interrupted_and_restores_the_handler(tmp_path: Path, mnist_dir: Path) -> None:
    suite, runs = _plan()
    # whatever this process started with (Python's default_int_handler from a terminal; SIG_IGN when
    # launched in the background of a non-interactive shell, as nohup and some CI runners do)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    fake = FakeDispatcher(send=signal.SIGTERM)
    outcome = run_plan(suite, runs, results_dir=tmp_path, dispatcher=fake)
    assert outcome.interrupted and outcome.interrupted_by == "SIGTERM"
    assert outcome.counts == {"interrupted": 2}
    assert fake.interrupted and fake.closed
    assert {s: signal.getsignal(s) for s in before} == before  # both put back as they were


class RayLikeDispatcher(FakeDispatcher):
    """Blocks the way ``ray.wait`` does: the handler's exception is swallowed in native code and a plain
    ``KeyboardInterrupt()`` raised in its place (``ray._raylet``: ``check_signals`` then ``check_status``)."""

    def execute(self, group: list[RunSpec], log_path: Path) -> Iterator[dict[str, Any]]:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt as exc:
            assert type(exc) is not KeyboardInterrupt  # the handler did run, raising its own kind
            raise KeyboardInterrupt() from None  # what Ray's check_status raises instead
        raise AssertionError("SIGTERM was not handled")
        yield {}  # pragma: no cover - makes this a generator like the real dispatchers


def test_a_sigterm_turned_into_keyboardinterrupt_by_a_library_is_still_a_sigterm(tmp_path: Path,
                                                                                  mnist_dir: Path) -> None:
    # Found by CI on the Ray path: a SIGTERM that arrived while the driver waited in ray.wait ended the
    # suite as if it were a Ctrl-C (exit 130, records "by the user (SIGINT)") instead of 143.
    suite, runs = _plan()
    fake = RayLikeDispatcher()
    outcome = run_plan(suite, runs, results_dir=tmp_path, dispatcher=fake)
    assert outcome.interrupted_by == "SIGTERM"
    assert outcome.counts == {"interrupted": 2}
    reasons = {json.loads(p.read_text())["reason"] for p in tmp_path.glob("*.json")}
    assert reasons == {"interrupted by SIGTERM; rerun the same command to resume"}


def test_an_ignored_sigterm_stays_ignored(tmp_path: Path, mnist_dir: Path) -> None:
    suite, runs = _plan()
    old = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        outcome = run_plan(suite, runs, results_dir=tmp_path, dispatcher=FakeDispatcher(send=signal.SIGTERM))
        assert not outcome.interrupted and outcome.counts == {"completed": 2}
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, old)


def test_run_plan_works_outside_the_main_thread(tmp_path: Path, mnist_dir: Path) -> None:
    # signal.signal may only be called from the main thread: run_plan must not try elsewhere.
    suite, runs = _plan()
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["outcome"] = run_plan(suite, runs, results_dir=tmp_path, dispatcher=FakeDispatcher())
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            result["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout=120)
    assert "error" not in result, result.get("error")
    assert result["outcome"].counts == {"completed": 2}
