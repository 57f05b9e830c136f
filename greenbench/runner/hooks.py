"""Phase hooks: the one seam through which code outside greenbench can act inside a worker.

A workload passes four points, in this order: ``setup`` (inside the setup window, before the
data is loaded), ``train`` (inside the train window, before the first epoch), ``evaluate``
(inside the evaluate window of the uncompressed model) and ``compress`` (inside each
variant's compress window, before the method is applied). At each point the worker calls
every registered hook as ``hook(point, spec)`` (``spec``: the :class:`~greenbench.suite.plan.RunSpec`
of the run). Whatever a hook raises is what the workload raises there.

In production the list is empty and each point costs one empty loop. Hooks get in through

* :func:`register`, in the process that executes workloads, or
* ``GREENBENCH_WORKER_PLUGINS=module[,module...]``: every worker imports these modules when it
  starts (:func:`load_plugins`), before it imports its framework, and registers each one's
  ``at_phase(point, spec)``. Workers are spawned processes: the variable crosses the spawn with
  the environment, and the module must be importable there (the worker starts with its
  parent's ``sys.path``; for a ``greenbench`` command, put the module's folder on ``PYTHONPATH``).
  ``greenbench run`` checks that the modules exist before it starts a worker (one ``error:`` line, exit 2);
  a module that still cannot be imported in the worker, or has no ``at_phase``, fails each of that
  worker's runs with the reason.

The test suite's fault injector (``tests/fault_injection.py``: a worker that raises, segfaults,
is killed, exits, hangs or slows down at a chosen point) is such a plugin.
"""

from __future__ import annotations

import os
from typing import Any, Callable

PLUGINS_ENV = "GREENBENCH_WORKER_PLUGINS"
POINTS = ("setup", "train", "evaluate", "compress")
NEEDS = "an at_phase(point, spec) function"

PhaseHook = Callable[[str, Any], None]
_hooks: list[PhaseHook] = []


def register(hook: PhaseHook) -> None:
    """Call ``hook(point, spec)`` at every phase point of every workload this process executes."""
    if hook not in _hooks:
        _hooks.append(hook)


def at_phase(point: str, spec: Any) -> None:
    """The worker reached ``point`` (one of :data:`POINTS`) for ``spec``: run the registered hooks."""
    for hook in _hooks:
        hook(point, spec)


def load_plugins(value: str | None = None) -> list[str]:
    """Import the modules named in ``value`` (default: ``$GREENBENCH_WORKER_PLUGINS``) and register
    each one's ``at_phase``; return their names."""
    from greenbench.plugins import import_module, module_names

    if value is None:
        value = os.environ.get(PLUGINS_ENV, "")
    names = module_names(PLUGINS_ENV, NEEDS, value)
    for name in names:
        hook = getattr(import_module(PLUGINS_ENV, name, NEEDS, value), "at_phase", None)
        if not callable(hook):
            raise TypeError(f"{PLUGINS_ENV}: module {name!r} has no at_phase(point, spec) function")
        register(hook)
    return names


__all__ = ["PLUGINS_ENV", "POINTS", "PhaseHook", "at_phase", "load_plugins", "register"]
