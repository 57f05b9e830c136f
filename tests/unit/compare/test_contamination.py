"""Co-tenancy in `greenbench compare` (issue 13): matched runs measured while other processes shared the machine
are named by the comparability guard, counted per side, and refused with --refuse-contaminated."""

from __future__ import annotations

from typing import Any

import pytest

from greenbench.compare import compare, run_compare
from greenbench.console import make_console
from greenbench.errors import UserError

REASON = "other processes used 48% of the machine's CPU during train (threshold 10%)"


def contaminate(rec: dict[str, Any]) -> None:
    rec["cotenancy"] = {"contaminated": True, "max_other_share": 0.48, "worst_phase": "train", "threshold": 0.1,
                        "reason": REASON}


def clean(rec: dict[str, Any]) -> None:
    rec["cotenancy"] = {"contaminated": False, "max_other_share": 0.01, "worst_phase": "train", "threshold": 0.1,
                        "reason": None}


def test_the_guard_names_contaminated_runs_per_side(side: Any) -> None:
    c = compare(side("base", noise_seed=1, mutate=clean), side("head", noise_seed=2, mutate=contaminate))
    assert c.contaminated["base"] == 0 and c.contaminated["head"] > 0
    (msg,) = [m for m in c.guard_messages if "shared the machine" in m]
    assert msg.startswith(f"head: {c.contaminated['head']} of {c.contaminated['head']} runs were measured while "
                          "other processes shared the machine (contaminated: e.g. " + REASON)
    assert c.to_dict()["contaminated"] == c.contaminated


def test_clean_and_old_records_raise_no_message(side: Any) -> None:
    c = compare(side("base", noise_seed=1, mutate=clean), side("head", noise_seed=2))  # head: records before co-tenancy
    assert c.contaminated == {"base": 0, "head": 0}
    assert not [m for m in c.guard_messages if "shared the machine" in m]


def test_refuse_contaminated_is_a_one_line_error(side: Any) -> None:
    base, head = side("base", noise_seed=1, mutate=contaminate), side("head", noise_seed=2, mutate=clean)
    console = make_console(force_terminal=False)
    with pytest.raises(UserError) as err:
        run_compare(base, head, console=console, refuse_contaminated=True)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("--refuse-contaminated: matched runs were measured while other processes shared the "
                           "machine (")
    assert " on base)" in text and "greenbench run --require-quiet" in text
    # without the option the comparison goes ahead and warns
    assert run_compare(base, head, console=console) == 0
