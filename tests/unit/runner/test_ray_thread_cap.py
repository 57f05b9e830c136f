"""Ray on the node, without Ray: a node runner removes the OMP_NUM_THREADS=1 that Ray puts into an actor holding no
CPU (its raylet, the parent, does not have it; /proc/<ppid>/environ is a file here) before it starts the measuring
workers, and keeps one the operator gave ``ray start``; and the driver measures no idle baseline of its own for
a dispatcher whose nodes measure theirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from greenbench.runner.ray_dispatcher import drop_ray_thread_cap


def _environ(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "environ"
    path.write_bytes(b"\0".join(e.encode() for e in entries) + b"\0")
    return path


def test_rays_own_cap_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert drop_ray_thread_cap(_environ(tmp_path, "PATH=/usr/bin", "HOME=/root")) == "1"
    assert "OMP_NUM_THREADS" not in os.environ


def test_the_operators_setting_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert drop_ray_thread_cap(_environ(tmp_path, "PATH=/usr/bin", "OMP_NUM_THREADS=4")) is None
    assert os.environ["OMP_NUM_THREADS"] == "4"


def test_nothing_to_do_without_the_variable_or_without_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert drop_ray_thread_cap(_environ(tmp_path, "PATH=/usr/bin")) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert drop_ray_thread_cap(tmp_path / "no-such-file") is None  # cannot tell whose it is: left, and recorded
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_a_dispatcher_whose_nodes_measure_idle_power_gets_no_driver_baseline(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from greenbench.results.store import ResultStore
    from greenbench.runner.local import _Idle
    from greenbench.runner.ray_dispatcher import RayDispatcher
    from greenbench.suite import parse_suite

    monkeypatch.setenv("GREENBENCH_IDLE_BASELINE_S", "5")  # the driver's machine would measure 5 s of idle power
    suite = parse_suite({"name": "idle"})
    store = ResultStore(tmp_path)
    assert _Idle(suite, store, object(), None, True).wanted  # the local executor's machine runs the workloads
    assert RayDispatcher.measures_idle_on_nodes is True
    assert not _Idle(suite, store, RayDispatcher.__new__(RayDispatcher), None, True).wanted
