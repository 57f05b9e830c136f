"""The backend registry: everything greenbench knows about a backend, in one entry.

An entry (:class:`BackendInfo`) names the backend, where its class lives (``"module:Class"``,
imported only in a worker), its framework's top-level package (to tell whether it is installed
without importing it), the pip extra that installs it, the package versions its records and
comparisons carry, and its colour and marker in reports. The suite schema's allowed backends,
the runner's install hints and skip reasons, the results frame's and the comparability guard's
version columns, the environment fingerprint's packages and the report's colours all read
these entries; nothing outside ``greenbench/backends/`` names a backend.

Adding a backend is one folder and one entry in :data:`BUILTIN`, or, from outside greenbench,
one :func:`register_backend` call. A spawned worker does not share its parent's registrations:
name the modules that register backends in ``GREENBENCH_BACKENDS=module[,module...]`` and every
process (the parent and each worker) imports them on its first look-up; a module so named
registers each :class:`BackendInfo` in its ``BACKENDS`` list.

Standard library only: the parent process, the schema and ``greenbench --help`` read it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

BACKENDS_ENV = "GREENBENCH_BACKENDS"


@dataclass(frozen=True)
class BackendInfo:
    """One backend, as every part of greenbench sees it."""

    name: str
    #: ``"module:Class"`` of the :class:`~greenbench.backends.base.Backend` (imported in a worker only).
    target: str
    #: The framework's top-level package: installed when ``importlib.util.find_spec(package)`` finds it.
    package: str
    #: The pip extra that installs the framework (``pip install 'greenbench[<extra>]'``), if any.
    extra: str | None = None
    #: Version key → the distributions to ask ``importlib.metadata`` for (the first installed wins),
    #: in the order the fingerprint lists them. The first key is the framework's own version: the
    #: results frame's ``<key>_version`` column for a built-in backend. The comparability guard
    #: compares each key over this backend's runs.
    versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Colour and marker of this backend's points and bars in reports (``None``: from a palette).
    color: str | None = None
    marker: str | None = None

    @property
    def version_keys(self) -> tuple[str, ...]:
        return tuple(self.versions)

    @property
    def version_key(self) -> str | None:
        """The framework's own version key (the first), or ``None``."""
        return next(iter(self.versions), None)

    def install_hint(self) -> str:
        """How to install this backend's framework, for a skip reason."""
        if self.extra:
            return f"pip install 'greenbench[{self.extra}]'"
        return f"pip install {self.package}"

    def load(self) -> Any:
        """Import and instantiate the backend (this imports its framework)."""
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)()


#: The backends greenbench ships, in the order they are listed and run by default.
BUILTIN: tuple[BackendInfo, ...] = (
    BackendInfo(
        name="torch",
        target="greenbench.backends.torch.backend:TorchBackend",
        package="torch",
        extra="torch",
        versions={"torch": ("torch",)},
        color="#d55e00",
        marker="o",
    ),
    BackendInfo(
        name="tensorflow",
        target="greenbench.backends.tensorflow.backend:TensorFlowBackend",
        package="tensorflow",
        extra="tensorflow",
        versions={
            "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
            "keras": ("keras",),
        },
        color="#0072b2",
        marker="s",
    ),
)
BUILTIN_NAMES: tuple[str, ...] = tuple(b.name for b in BUILTIN)

_registry: dict[str, BackendInfo] = {b.name: b for b in BUILTIN}
_plugins_loaded: set[str] = set()


def register_backend(info: BackendInfo) -> BackendInfo:
    """Add ``info`` to the registry (again registering an equal entry is harmless)."""
    known = _registry.get(info.name)
    if known is not None and known != info:
        raise ValueError(f"backend {info.name!r} is already registered as {known.target}")
    _registry[info.name] = info
    return info


def unregister_backend(name: str) -> None:
    """Remove a backend registered with :func:`register_backend` (the built-in ones stay)."""
    if name in BUILTIN_NAMES:
        raise ValueError(f"backend {name!r} is built in")
    _registry.pop(name, None)


def _load_plugins() -> None:
    from greenbench.errors import UserError
    from greenbench.plugins import import_module, module_names

    needs = "a BACKENDS list of BackendInfo"
    for module in module_names(BACKENDS_ENV, needs):
        if module in _plugins_loaded:
            continue
        entries = getattr(import_module(BACKENDS_ENV, module, needs), "BACKENDS", None)
        if not isinstance(entries, (list, tuple)) or not all(isinstance(e, BackendInfo) for e in entries):
            raw = os.environ.get(BACKENDS_ENV, "")
            got = "no BACKENDS" if entries is None else "a BACKENDS that is not a list of BackendInfo"
            raise UserError(f"{BACKENDS_ENV}={raw!r}: module {module!r} has {got}; each module needs {needs}")
        for info in entries:
            try:
                register_backend(info)
            except ValueError as exc:  # a name taken by another entry
                raise UserError(f"{BACKENDS_ENV}: module {module!r}: {exc}") from None
        _plugins_loaded.add(module)


def backends() -> dict[str, BackendInfo]:
    """Every registered backend by name, the built-in ones first."""
    _load_plugins()
    return dict(_registry)


def backend_names() -> tuple[str, ...]:
    return tuple(backends())


def backend_info(name: str) -> BackendInfo:
    """The entry of backend ``name``; ``ValueError`` for an unknown one."""
    try:
        return backends()[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(backend_names())}") from None


def framework_installed(name: str) -> bool:
    """Whether backend ``name``'s framework can be imported, without importing it."""
    return importlib.util.find_spec(backend_info(name).package) is not None


__all__ = [
    "BACKENDS_ENV",
    "BUILTIN",
    "BUILTIN_NAMES",
    "BackendInfo",
    "backend_info",
    "backend_names",
    "backends",
    "framework_installed",
    "register_backend",
    "unregister_backend",
]
