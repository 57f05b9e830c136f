"""Run records: the JSON schema, the atomic store, and the pandas loader.

The pandas loader (:mod:`greenbench.results.frame`) is imported on first use, so the runner, which
only writes records, does not pay for importing pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from greenbench.results.record import SCHEMA_VERSION, STATUSES, RunRecord
from greenbench.results.store import ResultStore, read_record

if TYPE_CHECKING:  # pragma: no cover
    from greenbench.results.frame import COLUMNS, METRICS, aggregate, load_results, record_to_row

_FRAME = {"COLUMNS", "METRICS", "aggregate", "load_results", "record_to_row"}


def __getattr__(name: str) -> Any:
    if name in _FRAME:
        return getattr(importlib.import_module("greenbench.results.frame"), name)
    raise AttributeError(f"module 'greenbench.results' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _FRAME)


__all__ = [
    "COLUMNS",
    "METRICS",
    "SCHEMA_VERSION",
    "STATUSES",
    "ResultStore",
    "RunRecord",
    "aggregate",
    "load_results",
    "read_record",
    "record_to_row",
]
