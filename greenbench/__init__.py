"""greenbench: fair, honest benchmarks of deep-learning frameworks.

Importing :mod:`greenbench` never imports torch or TensorFlow; the backends load
their framework lazily, inside the worker process that runs a training job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greenbench._version import __version__

__all__ = ["__version__", "load_results", "aggregate_results", "run_suite", "load_suite"]

if TYPE_CHECKING:  # pragma: no cover
    from greenbench.api import aggregate_results, load_results, load_suite, run_suite


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import greenbench` (and `greenbench --help`) cheap.
    if name in {"load_results", "aggregate_results", "run_suite", "load_suite"}:
        from greenbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'greenbench' has no attribute {name!r}")
