"""Building records: the parts the parent process and the worker share."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from greenbench._version import __version__
from greenbench.results.record import SCHEMA_VERSION
from greenbench.suite.plan import RunSpec


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def base_record(
    spec: RunSpec,
    status: str,
    *,
    env: dict[str, Any],
    reason: str | None = None,
    stderr_tail: str | None = None,
    started_at: str | None = None,
    log: Path | str | None = None,
) -> dict[str, Any]:
    """A record with everything but the measurements."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "workload_id": spec.workload_id,
        "suite": spec.suite,
        "status": status,
        "reason": reason,
        "stderr_tail": stderr_tail,
        "config": spec.model_dump(mode="json"),
        "greenbench_version": __version__,
        "machine": str(env.get("machine", "unknown")),
        "env": env,
        "started_at": started_at or now_iso(),
        "finished_at": now_iso(),
        "metrics": {},
        "history": [],
        "phases": {},
        "compression": None,
        "samples": None,
        "log": str(log) if log is not None else None,
    }


def tail(path: Path, lines: int = 40, max_chars: int = 8000) -> str | None:
    """The last lines of a log file (what a failed record shows), or None if there is none."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    text = "\n".join(text.splitlines()[-lines:])
    return text[-max_chars:] or None
