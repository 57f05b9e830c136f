"""What running a suite comes back with: counts, what was resumed, busy or corrupt, and how it ended.

The dispatcher loop (:mod:`greenbench.runner.local`) fills it in; the progress display and the
summary (:mod:`greenbench.runner.progress`) and the API read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SuiteOutcome:
    results_dir: Path
    planned: int
    executed: int = 0
    resumed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    corrupt: list[tuple[Path, str]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # workloads another process was running
    # (run_id, status, reason) of reruns that did not complete: their completed record was kept, the attempt
    # added to its "attempts" (greenbench.results.store.ResultStore.write)
    kept: list[tuple[str, str, str | None]] = field(default_factory=list)
    interrupted_by: str | None = None  # "SIGINT" or "SIGTERM" when the suite was stopped
    wall_s: float = 0.0

    @property
    def interrupted(self) -> bool:
        return self.interrupted_by is not None
