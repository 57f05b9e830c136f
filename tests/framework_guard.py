"""One framework per test process, enforced.

TensorFlow and torch's triton (shipped in the default torch wheel) segfault in one process, so
greenbench never puts two frameworks in one process, and neither do its tests. Every pytest
session has a framework — ``none``, ``torch`` or ``tensorflow`` (``--framework``): it collects
only the tests of that framework (marked ``torch`` / ``tensorflow``; unmarked tests belong to
``none``), and an import guard refuses, loudly, any other framework the moment it is imported.

``make test`` runs the three sessions one after another (``tests/sessions.py``). A plain
``pytest`` picks the one framework its selection needs (``--framework auto``, the default) and
stops with a usage error when the selection needs two.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import pytest

FRAMEWORKS = ("torch", "tensorflow")
# Top-level modules that belong to each framework: importing any of them commits the process to it.
MODULES = {
    "torch": "torch", "triton": "torch", "torchvision": "torch", "torchaudio": "torch",
    "tensorflow": "tensorflow", "keras": "tensorflow", "tf_keras": "tensorflow", "tensorboard": "tensorflow",
}
CHOICES = ("auto", "none", *FRAMEWORKS)
_GUARD = pytest.StashKey["ImportGuard | None"]()


class FrameworkIsolationError(ImportError):
    """An import of a framework this test process does not own."""


def backend_params(*names: str) -> list[Any]:
    """``pytest.param`` per backend name, each marked with its framework (for ``parametrize('backend', ...)``)."""
    return [pytest.param(name, marks=getattr(pytest.mark, name), id=name) for name in (names or FRAMEWORKS)]


def framework_of(item: pytest.Item) -> str:
    """The framework a collected test imports into the test process, from its marks (``none`` if unmarked)."""
    marked = {name for name in FRAMEWORKS if item.get_closest_marker(name) is not None}
    if len(marked) > 1:
        raise pytest.UsageError(f"{item.nodeid} is marked {' and '.join(sorted(marked))}: one framework per test")
    return marked.pop() if marked else "none"


def loaded_frameworks() -> dict[str, list[str]]:
    """Framework → the top-level modules of it already imported in this process."""
    out: dict[str, list[str]] = {}
    for module, framework in MODULES.items():
        if module in sys.modules:
            out.setdefault(framework, []).append(module)
    return out


class _RefusingLoader(importlib.abc.Loader):
    """Refuses at import time only: a ``find_spec`` probe (is it installed?) is no violation."""

    def __init__(self, message: str, violations: list[str]) -> None:
        self.message, self.violations = message, violations

    def create_module(self, spec: Any) -> Any:
        self.violations.append(self.message)
        raise FrameworkIsolationError(self.message)

    def exec_module(self, module: Any) -> None:  # pragma: no cover - create_module always raises first
        raise FrameworkIsolationError(self.message)


@dataclass
class ImportGuard(importlib.abc.MetaPathFinder):
    """A meta-path finder that refuses the frameworks this process does not own.

    ``importlib.util.find_spec`` still finds a refused framework (``framework_installed`` stays
    true: it is installed); only executing the import raises. Every refusal is kept in
    ``violations`` so the session fails even when library code catches the ImportError.
    """

    owner: str  # "none", "torch" or "tensorflow"
    violations: list[str] = field(default_factory=list)

    def install(self) -> "ImportGuard":
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
        return self

    def uninstall(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def refuses(self, framework: str) -> bool:
        return framework != self.owner

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: Any = None) -> Any:
        framework = MODULES.get(fullname)
        if framework is None or not self.refuses(framework):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            return None  # not installed: the ordinary ModuleNotFoundError follows
        message = (f"one framework per process: this test process is for "
                   f"{'no framework' if self.owner == 'none' else self.owner} and refused to import "
                   f"{fullname!r} ({framework}); mark the test '@pytest.mark.{framework}' so it runs in the "
                   f"{framework} session (tests/framework_guard.py)")
        return importlib.machinery.ModuleSpec(fullname, _RefusingLoader(message, self.violations), origin=spec.origin)


# --------------------------------------------------------------------------- the pytest plugin
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--framework", choices=CHOICES, default="auto",
        help="The one framework this test process may import: none, torch, tensorflow, or auto (the one the "
             "selected tests need; an error if they need two). `make test` runs none, torch and tensorflow in turn.",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name in FRAMEWORKS:
        config.addinivalue_line("markers", f"{name}: imports {name} into the test process (runs in the "
                                           f"--framework {name} session only)")
    wanted = config.getoption("--framework")
    # While collecting, a session of one framework may import it; an "auto" session may import none
    # (a test module that imports a framework at module level is refused here, loudly).
    config.stash[_GUARD] = ImportGuard("none" if wanted == "auto" else wanted).install()


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(_GUARD, None)
    if guard is not None:
        guard.uninstall()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests of this session's framework (after -m/-k have deselected theirs) and arm the guard."""
    wanted = config.getoption("--framework")
    needed = {framework_of(item) for item in items}
    if wanted == "auto":
        frameworks = needed - {"none"}
        if len(frameworks) > 1:
            raise pytest.UsageError(
                "the selected tests need both torch and tensorflow, which never share a process: run `make test` "
                "(three sessions), or choose one with --framework none|torch|tensorflow")
        wanted = frameworks.pop() if frameworks else "none"
    keep = [item for item in items if framework_of(item) == wanted]
    dropped = [item for item in items if framework_of(item) != wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    already = {fw: mods for fw, mods in loaded_frameworks().items() if fw != wanted}
    if already:
        raise pytest.UsageError(f"one framework per process: {already} imported before the {wanted} session began")
    config.stash[_GUARD].owner = wanted


def pytest_report_header(config: pytest.Config) -> str:
    return f"framework session: --framework {config.getoption('--framework')} (one framework per process)"


def _fail_on_new_violations(item: pytest.Item) -> Any:
    guard = item.config.stash.get(_GUARD, None)
    before = len(guard.violations) if guard else 0
    result = yield
    if guard and len(guard.violations) > before:
        pytest.fail(guard.violations[before], pytrace=False)
    return result


# A test (or its fixtures) that tripped the guard fails with the guard's message, even where library
# code caught the ImportError.
pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_fail_on_new_violations)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_fail_on_new_violations)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guard = session.config.stash.get(_GUARD, None)
    if guard and guard.violations:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("!", "framework isolation violated", red=True, bold=True)
            for line in dict.fromkeys(guard.violations):
                reporter.write_line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
