"""Suite files: the YAML schema, loading with clear errors, and matrix expansion into runs."""

from greenbench.suite.load import load_suite, parse_suite
from greenbench.suite.plan import RunSpec, TrainSpec, expand, group_by_workload
from greenbench.suite.schema import Suite

__all__ = ["Suite", "RunSpec", "TrainSpec", "load_suite", "parse_suite", "expand", "group_by_workload"]
