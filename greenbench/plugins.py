"""The environment variables that name Python modules to import: read and checked in one place.

``GREENBENCH_BACKENDS`` and ``GREENBENCH_MODELS`` (modules with a ``BACKENDS`` / ``MODELS`` list, imported
by the registries) and ``GREENBENCH_WORKER_PLUGINS`` (modules with an ``at_phase`` function, imported by
each worker) take ``module[,module...]``. A name that is not a Python module name, a module that cannot be
imported or lacks what the variable needs is a :class:`~greenbench.errors.UserError` (exit 2) naming the
variable, the module and what is allowed — never a traceback, and never a misleading failure later.

Standard library and :mod:`greenbench.errors` only: the registries import it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from greenbench.errors import UserError

__all__ = ["check_findable", "import_module", "module_names"]


def _allowed(env: str, needs: str) -> str:
    return f"{env} takes importable Python module names separated by commas (e.g. mypkg.plugin), each with {needs}"


def module_names(env: str, needs: str, value: str | None = None) -> list[str]:
    """The module names in ``value`` (default: ``$env``), each checked to be a dotted Python name."""
    raw = os.environ.get(env, "") if value is None else value
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise UserError(f"{env}={raw!r}: {name!r} is not a Python module name; {_allowed(env, needs)}")
    return names


def import_module(env: str, name: str, needs: str, value: str | None = None) -> ModuleType:
    """Import ``name`` (named in ``env``); any failure is one :class:`UserError` naming both."""
    raw = os.environ.get(env, "") if value is None else value
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        why = f"no module named {exc.name!r}" if exc.name else str(exc)
    except Exception as exc:  # noqa: BLE001 - the module's own import failed: say so, in one line
        why = f"importing it raised {type(exc).__name__}: {exc}"
    raise UserError(f"{env}={raw!r}: cannot import module {name!r} ({why}); {_allowed(env, needs)}")


def check_findable(env: str, needs: str) -> list[str]:
    """Check, without running them, that the modules named in ``env`` exist (for modules another process
    imports: the parent says what is wrong before it starts the workers). Returns the names."""
    names = module_names(env, needs)
    raw = os.environ.get(env, "")
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package that is missing or fails to import
            found = False
        if not found:
            raise UserError(f"{env}={raw!r}: cannot import module {name!r} (no module named {name!r}); "
                            f"{_allowed(env, needs)}")
    return names
