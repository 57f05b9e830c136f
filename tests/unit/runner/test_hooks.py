"""The phase-hook seam (greenbench/runner/hooks.py): empty unless a test registers a hook or names a plugin
module in GREENBENCH_WORKER_PLUGINS, which a spawned worker imports at start."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from greenbench.runner import hooks

PLUGIN = '''
import os
from pathlib import Path

Path(os.environ["PLUGIN_MARKER"]).write_text(str(os.getpid()))
calls = []

def at_phase(point, spec):
    calls.append((point, spec))
'''


@pytest.fixture
def no_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_hooks", [])


def test_nothing_is_loaded_or_called_without_plugins(no_hooks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hooks.PLUGINS_ENV, raising=False)
    assert hooks.load_plugins() == []
    hooks.at_phase("train", object())  # no hook: nothing happens
    assert hooks._hooks == []


def test_a_named_plugin_is_called_at_every_point(no_hooks: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gb_test_plugin.py").write_text(PLUGIN)
    (tmp_path / "gb_not_a_plugin.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PLUGIN_MARKER", str(tmp_path / "marker"))
    assert hooks.load_plugins(" gb_test_plugin, ") == ["gb_test_plugin"]
    import gb_test_plugin

    spec: Any = object()
    for point in hooks.POINTS:
        hooks.at_phase(point, spec)
    assert gb_test_plugin.calls == [(point, spec) for point in hooks.POINTS]
    with pytest.raises(TypeError, match="GREENBENCH_WORKER_PLUGINS: module 'gb_not_a_plugin' has no at_phase"):
        hooks.load_plugins("gb_not_a_plugin")


def test_a_spawned_worker_loads_the_plugins_named_in_its_environment(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from greenbench.runner.worker import worker_main

    (tmp_path / "gb_spawn_plugin.py").write_text(PLUGIN)
    marker = tmp_path / "marker"
    monkeypatch.syspath_prepend(str(tmp_path))  # a spawned process starts with its parent's sys.path
    monkeypatch.setenv("PLUGIN_MARKER", str(marker))
    monkeypatch.setenv(hooks.PLUGINS_ENV, "gb_spawn_plugin")
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=worker_main, args=(theirs, "no-such-backend", {}))  # no framework is imported
    proc.start()
    try:
        assert ours.poll(120), "the worker never said it was ready"
        assert ours.recv() == {"type": "ready", "ok": False}
        assert marker.read_text() == str(proc.pid) != str(os.getpid())
        ours.send(None)
        proc.join(30)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()


def test_a_worker_whose_plugin_cannot_load_fails_its_runs_with_that_reason(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Not 'lost contact with the worker: broken pipe' with the cause only in a log: the worker lives, says it is
    not ready, and fails each workload with the plugin's error as the reason."""
    from greenbench.runner.worker import worker_main
    from greenbench.suite import expand, parse_suite

    (tmp_path / "gb_not_a_plugin.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(hooks.PLUGINS_ENV, "gb_not_a_plugin")
    spec = expand(parse_suite({"name": "p", "matrix": {"backend": ["torch"], "model": ["mlp"]}}))[0]
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=worker_main, args=(theirs, "torch", {}, str(tmp_path / "start.log")))
    proc.start()
    try:
        assert ours.poll(120), "the worker never said it was ready"
        assert ours.recv() == {"type": "ready", "ok": False}
        ours.send(("run", [spec.model_dump(mode="json")], str(tmp_path / "w.log")))
        assert ours.poll(60)
        error = ours.recv()
        assert error["type"] == "error"
        assert "could not load its plugins" in error["reason"]
        assert "GREENBENCH_WORKER_PLUGINS: module 'gb_not_a_plugin' has no at_phase" in error["reason"]
        assert ours.recv() == {"type": "done"}
        assert "torch" not in (tmp_path / "start.log").read_text()  # the framework was never imported for nothing
        ours.send(None)
        proc.join(30)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
