"""The quiet-machine policy: before a workload is measured, wait — bounded — until other processes leave the
machine alone, and record what was seen.

A probe measures, over ``probe_s`` seconds, the share of the machine's CPU capacity used by processes outside
the run's own tree (the same definition as a window's co-tenancy, :mod:`greenbench.measure.cotenancy`).
:func:`wait_until_quiet` probes until one probe is at or under ``threshold`` or ``max_wait_s`` has passed;
``require`` turns a busy machine into an error instead of a wait (``greenbench run --require-quiet``).

``runner.quiet_wait_s`` in a suite bounds the wait (default 30 s, 0 switches the policy off);
``GREENBENCH_QUIET_WAIT_S`` sets it per machine (the test session sets 0, tests of the policy opt back in).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

from greenbench.errors import EnvironmentFault, UserError
from greenbench.measure.cotenancy import CoTenancy

ENV_QUIET_WAIT = "GREENBENCH_QUIET_WAIT_S"
PROBE_S = 0.5


def quiet_wait_s(suite_value: float) -> float:
    """The wait bound in force: ``$GREENBENCH_QUIET_WAIT_S`` when set (this machine's choice), else the suite's."""
    raw = os.environ.get(ENV_QUIET_WAIT, "").strip()
    if not raw:
        return float(suite_value)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 86400):
        raise UserError(f"{ENV_QUIET_WAIT}={raw!r}: give a number of seconds >= 0 and <= 86400 (0: do not wait)")
    return value


def probe_share(seconds: float = PROBE_S, cotenancy: CoTenancy | None = None) -> float:
    """The share of the machine's CPU that processes outside the run's tree used over the next ``seconds``."""
    co = cotenancy or CoTenancy(gpu=False)
    start = co.snapshot()
    time.sleep(seconds)
    share = co.window(start, co.snapshot())["other_share"]
    return float(share or 0.0)


def wait_until_quiet(*, threshold: float, max_wait_s: float, require: bool = False,
                     probe: Callable[[], float] | None = None, clock: Callable[[], float] = time.monotonic
                     ) -> dict[str, Any]:
    """Probe until the machine is quiet (a probe ≤ ``threshold``) or ``max_wait_s`` passed; what was seen.

    ``{"quiet": bool, "waited_s": float, "probes": int, "last_share": float, "max_share": float,
    "threshold": float, "max_wait_s": float}``. With ``require``, a busy first probe raises
    :class:`EnvironmentFault` at once (nothing is waited for).
    """
    probe = probe or probe_share
    t0 = clock()
    shares: list[float] = []
    while True:
        share = probe()
        shares.append(share)
        quiet = share <= threshold
        waited = clock() - t0
        if require and not quiet:
            raise EnvironmentFault(
                f"the machine is busy: other processes used {share:.0%} of its CPU (threshold {threshold:.0%}); "
                "--require-quiet refuses to measure beside them — stop them, or run without --require-quiet "
                "to wait for quiet (runner.quiet_wait_s) and have such runs marked")
        if quiet or waited >= max_wait_s:
            return {"quiet": quiet, "waited_s": round(waited, 3), "probes": len(shares), "last_share": share,
                    "max_share": max(shares), "threshold": threshold, "max_wait_s": max_wait_s}


__all__ = ["ENV_QUIET_WAIT", "PROBE_S", "probe_share", "quiet_wait_s", "wait_until_quiet"]
