"""Capabilities a run of the tests promises: where promised, a missing one fails instead of skipping.

A test that needs something outside Python (headless Chromium, Debian's Fashion-MNIST, a Ray cluster on
loopback: Ray installed, root and a network namespace of its own) is marked
``@pytest.mark.requires("chromium")`` and skips, with its reason, where that is absent — on a
contributor's laptop, say. CI installs those things and lists them in ``GREENBENCH_TEST_REQUIRE``
(comma-separated): there a skip of such a test is a failure, so a green CI cannot hide a report that
was never opened in a browser.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

CAPABILITIES = ("chromium", "fashion-mnist", "ray")


def required() -> set[str]:
    names = {n.strip() for n in os.environ.get("GREENBENCH_TEST_REQUIRE", "").split(",") if n.strip()}
    unknown = names - set(CAPABILITIES)
    if unknown:
        raise pytest.UsageError(f"GREENBENCH_TEST_REQUIRE: unknown capability {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(CAPABILITIES)}")
    return names


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(name): needs a capability outside Python "
                                       f"({', '.join(CAPABILITIES)}); fails instead of skipping where "
                                       "GREENBENCH_TEST_REQUIRE names it")
    required()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    if report.skipped:
        promised = required()
        for mark in item.iter_markers("requires"):
            name = mark.args[0]
            if name in promised:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                reason = reason.removeprefix("Skipped: ")
                report.outcome = "failed"
                report.longrepr = f"{name} is promised here (GREENBENCH_TEST_REQUIRE) but missing: {reason}"
                break
    return report
