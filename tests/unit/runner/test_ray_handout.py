"""runner/ray_dispatcher.py's hand-out rules with one-per-GPU isolation, decided on the driver.

The rules are data (which runner of which kind is up, busy or starting on which node), so they are checked
here without a cluster; that Ray places and pins the runners and that the records come out right is
tests/e2e/test_ray.py's (real clusters). No Ray is imported here: the dispatcher is built without connecting.
"""

from __future__ import annotations

from pathlib import Path

from greenbench.runner.ray_dispatcher import RayDispatcher, _Runner, _Task
from greenbench.suite import expand, load_suite

ROOT = Path(__file__).resolve().parents[3]


def _task(kind: str) -> _Task:
    spec = next(r for r in expand(load_suite(ROOT / "suites" / "smoke.yaml")) if r.backend == "torch")
    return _Task(group=[spec], log_path=Path("w.log"), kind=kind)


def _runner(kind: str, node: str | None, *, pin: str | None = None, busy: bool = False) -> _Runner:
    r = _Runner(handle=None, ready_ref=None, kind=kind, pin=pin,
                node={"id": node, "hostname": node} if node is not None else None)
    if busy:
        r.task = _task(kind)
    return r


def _dispatcher(*runners: _Runner) -> RayDispatcher:
    d = RayDispatcher(isolation="gpu", connect=False)
    d._runners = list(runners)
    return d


def test_a_cpu_workload_waits_while_a_gpu_runner_of_its_node_is_busy_or_starting_and_reserves_the_node() -> None:
    slot_a, gpu_a = _runner("slot", "A"), _runner("gpu", "A", pin="A", busy=True)
    d = _dispatcher(slot_a, gpu_a)
    cpu = _task("slot")
    assert not d._fits(slot_a, cpu, [cpu])
    assert cpu.reserved == "A"  # GPU work drains on A meanwhile
    idle_gpu = _runner("gpu", "A", pin="A")
    d._runners.append(idle_gpu)
    gpu_work = _task("gpu")
    assert not d._fits(idle_gpu, gpu_work, [cpu, gpu_work])  # not on a node a CPU workload waits for
    gpu_a.task = None
    assert d._fits(slot_a, cpu, [cpu])
    starting = _runner("gpu", None, pin="A")  # pinned to A, still importing its framework
    d._runners.append(starting)
    assert not d._fits(slot_a, cpu, [cpu])


def test_gpu_workloads_share_a_node_but_never_start_beside_a_node_exclusive_one() -> None:
    slot_a, gpu0, gpu1 = _runner("slot", "A"), _runner("gpu", "A", pin="A", busy=True), _runner("gpu", "A", pin="A")
    d = _dispatcher(slot_a, gpu0, gpu1)
    gpu_work = _task("gpu")
    assert d._fits(gpu1, gpu_work, [gpu_work])  # one per GPU: beside the busy GPU runner
    slot_a.task = _task("slot")
    assert not d._fits(gpu1, gpu_work, [gpu_work])
    # another node's CPU workload is no reason to wait
    slot_a.task = None
    d._runners.append(_runner("slot", "B", busy=True))
    assert d._fits(gpu1, gpu_work, [gpu_work])


def test_a_runner_takes_only_its_own_kind_and_a_retry_prefers_another_node() -> None:
    slot_a, slot_b, gpu_a = _runner("slot", "A"), _runner("slot", "B"), _runner("gpu", "A", pin="A")
    d = _dispatcher(slot_a, slot_b, gpu_a)
    cpu, gpu_work = _task("slot"), _task("gpu")
    assert not d._fits(gpu_a, cpu, [cpu]) and not d._fits(slot_a, gpu_work, [gpu_work])
    cpu.avoid = {"A"}  # lost on A once
    assert not d._fits(slot_a, cpu, [cpu]) and d._fits(slot_b, cpu, [cpu])
    slot_b.task = _task("slot")
    assert d._fits(slot_a, cpu, [cpu])  # B busy: A rather than nowhere


def test_what_a_cuda_workload_holds_node_by_default_a_gpu_when_asked_and_a_node_when_no_slot_node_has_one() -> None:
    cuda = [_task("gpu").group[0].model_copy(update={"device": "cuda"})]
    cpu = _task("slot").group
    d = _dispatcher()
    d._gpu_nodes = {"A": 2}  # the layout Ray reports: node A offers a slot and two GPUs
    assert d._kind(cuda) == "gpu" and d._kind(cpu) == "slot"
    d.isolation = "node"
    assert d._kind(cuda) == "slot"
    d.isolation, d._gpu_nodes = "gpu", {}  # no node with a slot has a GPU: the whole node, as by default
    assert d._kind(cuda) == "slot"
