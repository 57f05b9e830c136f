"""A SIGTERM while the driver connects to Ray ends greenbench with 143, as it does at any other moment.

``ray.init`` installs a SIGTERM handler of its own that calls ``sys.exit(15)`` (``ray/_private/worker.py``);
a cancelled CI job would then see exit code 15. The fake ``ray`` here does exactly that, with a real signal.
"""

from __future__ import annotations

import os
import signal
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from greenbench.runner import ray_dispatcher
from greenbench.runner.ray_dispatcher import RayDispatcher


def _fake_ray(calls: list[str]) -> Any:
    def init(**kwargs: Any) -> None:
        calls.append("init")
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))  # as ray.init does
        os.kill(os.getpid(), signal.SIGTERM)  # a cancelled job, in the middle of connecting
        raise AssertionError("the SIGTERM was not handled")

    return SimpleNamespace(init=init)


def test_a_sigterm_during_ray_init_exits_143_and_puts_the_handler_back(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(ray_dispatcher, "import_ray", lambda: _fake_ray(calls))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exc:
        RayDispatcher("auto")
    assert calls == ["init"]
    assert exc.value.code == 143
    assert signal.getsignal(signal.SIGTERM) == before  # Ray's handler does not outlive the call
