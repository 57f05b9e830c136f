"""Net energy of a record that ran on a Ray node: its node's idle baseline, never the driver's.

The driver adds net energy to every record it writes (``add_net_energy`` with the driver machine's baseline);
a record that names the Ray node that ran it (``node``) or carries a baseline already is left alone there, and
the Ray dispatcher applies that node's baseline itself (``apply_baseline``, with the node named)."""

from __future__ import annotations

import pytest

from greenbench.measure import idle
from test_idle import FakeMeter, baseline_of, entry


def _record(**extra: object) -> dict:
    return {"run_id": "r", "status": "completed", **extra,
            "phases": {"train": {"wall_s": 20.0, "energy": entry({"cpu": 30.0, "ram": 5.0}, 20.0)}}}


def test_the_drivers_baseline_never_applies_to_a_record_from_a_ray_node() -> None:
    driver = baseline_of(FakeMeter({"cpu": 10.0}))
    rec = _record(node={"id": "n1", "hostname": "bench-03"})
    assert idle.add_net_energy(rec, driver, invocation="inv") is rec
    assert "net_total_kwh" not in rec["phases"]["train"]["energy"] and "idle_baseline" not in rec


def test_a_record_with_its_nodes_baseline_keeps_it() -> None:
    node = baseline_of(FakeMeter({"cpu": 4.0}))
    driver = baseline_of(FakeMeter({"cpu": 10.0}))
    rec = idle.apply_baseline(_record(node={"id": "n1"}), node, invocation="inv-n", node={"id": "n1", "hostname": "h"})
    assert rec["idle_baseline"]["node"] == {"id": "n1", "hostname": "h"}
    assert rec["idle_baseline"]["total_w"] == pytest.approx(node["total_w"])
    train = rec["phases"]["train"]["energy"]
    assert train["idle_w"] == pytest.approx(node["total_w"])
    assert train["net_total_kwh"] == pytest.approx(train["total_kwh"] - node["total_w"] * 20.0 / 3.6e6)
    assert idle.add_net_energy(rec, driver, invocation="inv-d") is rec  # the driver's pass changes nothing
    # a local record (no node, no baseline yet) gets the driver's, as before
    local = idle.add_net_energy(_record(), driver, invocation="inv-d")
    assert local["idle_baseline"]["total_w"] == pytest.approx(driver["total_w"])
