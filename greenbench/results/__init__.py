"""Run records: the JSON schema, the atomic store, and the pandas loader."""

from greenbench.results.frame import COLUMNS, METRICS, aggregate, load_results, record_to_row
from greenbench.results.record import SCHEMA_VERSION, STATUSES, RunRecord
from greenbench.results.store import ResultStore, atomic_write_text, read_record

__all__ = [
    "COLUMNS",
    "METRICS",
    "SCHEMA_VERSION",
    "STATUSES",
    "ResultStore",
    "RunRecord",
    "aggregate",
    "atomic_write_text",
    "load_results",
    "read_record",
    "record_to_row",
]
