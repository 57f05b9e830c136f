"""Learning-rate schedules, computed in numpy per optimizer step, identical for both backends.

This module imports no other greenbench module and no framework.
"""

from __future__ import annotations

import math

from greenbench.workloads import parity

SCHEDULES = ("constant", "cosine", "step")


def learning_rate_at(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total_steps``.

    ``constant``: ``base_lr``. ``cosine``: ``base_lr * (1 + cos(pi * step / total_steps)) / 2``
    (no warm-up, no restarts). ``step``: ``base_lr`` times 0.1 for each of the milestones
    (50 % and 75 % of all steps) already reached.
    """
    if schedule == "constant":
        return float(base_lr)
    total = max(int(total_steps), 1)
    if schedule == "cosine":
        return float(base_lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total)))
    if schedule == "step":
        passed = sum(step >= m * total for m in parity.LR_STEP_MILESTONES)
        return float(base_lr * parity.LR_STEP_GAMMA**passed)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; use one of: {', '.join(SCHEDULES)}")
