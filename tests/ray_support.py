"""A Ray cluster of two nodes on this machine, on loopback only, for the tests of ``--executor ray``.

Ray binds and announces the machine's external interface unless it runs in a network namespace of its own,
so the cluster and the driver run in one shell script under ``unshare -n`` (root: here and in CI) after
``ip link set lo up``: 127.0.0.1 is the only address there is. The script starts a head node and a worker
node, each offering one ``greenbench_slot`` (the worker node optionally Ray's logical ``GPU`` too), runs the driver command, and on the way out (a trap, whatever
happened) ends every process of its network namespace: what Ray started and nothing else on the machine
(``ray stop`` would end every Ray process of the machine).

The worker node gets no ``GREENBENCH_DATA_DIR`` and a cache of its own, so it lacks MNIST and the driver has
to ship it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
PORT = 6379
ADDRESS = f"127.0.0.1:{PORT}"
HEAD_NODE, WORKER_NODE = "gb-head", "gb-worker"


def ray_missing() -> str | None:
    """Why these tests cannot run here, or None."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install 'greenbench[ray]')"
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs root, unshare and ip to start a Ray cluster on loopback only (a network namespace of its own)"
    return None


SLOT = '{"greenbench_slot": 1}'


def _start(node: str, head: bool, env: dict[str, str], resources: str = SLOT, gpus: int = 0) -> str:
    where = f"--head --port={PORT} --include-dashboard=false" if head else f"--address={ADDRESS}"
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # --num-gpus: Ray's logical GPU resource (what a one-per-GPU workload holds); no GPU is needed for it
    return (f"env -u GREENBENCH_DATA_DIR {envs} {BIN}/ray start {where} --node-ip-address=127.0.0.1 "
            f"--node-name={node} --num-cpus=1 --num-gpus={gpus} --object-store-memory=100000000 "
            f"--disable-usage-stats --resources={shlex.quote(resources)}")


def cluster_script(workdir: Path, driver: str, *, head_env: dict[str, str], worker_env: dict[str, str] | None,
                   head_resources: str = SLOT, worker_gpus: int = 0) -> str:
    """The shell script: loopback up, head and worker node (none when ``worker_env`` is None), ``driver`` (its
    exit code is the script's), clean-up."""
    if worker_env is None:
        worker = "echo >{w}/worker-pids".format(w=workdir)
    else:
        worker = (f"{_start(WORKER_NODE, False, worker_env, gpus=worker_gpus)} >{workdir}/ray-worker.log 2>&1 || "
                  f"{{ echo \"ray worker failed\"; cat {workdir}/ray-worker.log; exit 91; }}\n"
                  f"ns_pids | sort | comm -13 {workdir}/head-pids - >{workdir}/worker-pids"
                  "  # the worker node's daemons (raylet, agents)")
    return f"""set -u
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0 RAY_ADDRESS={ADDRESS}
NS=$(readlink /proc/$$/ns/net)
echo "$NS" >{workdir}/netns
cleanup() {{
  trap - EXIT INT TERM
  for round in 1 2 3 4 5 6 7 8 9 10; do  # until none is left: a dying process may start another
    sig=KILL; [ $round = 1 ] && sig=TERM
    left=0
    for p in /proc/[0-9]*; do
      pid=${{p#/proc/}}
      [ "$pid" = "$$" ] && continue
      if [ "$(readlink $p/ns/net 2>/dev/null)" = "$NS" ]; then kill -$sig "$pid" 2>/dev/null && left=1; fi
    done
    [ $left = 0 ] && break
    sleep 1
  done
}}
trap cleanup EXIT
trap 'exit 143' TERM
{_start(HEAD_NODE, True, head_env, head_resources)} >{workdir}/ray-head.log 2>&1 || {{ echo "ray head failed"; cat {workdir}/ray-head.log; exit 90; }}
ns_pids() {{ for p in /proc/[0-9]*; do [ "$(readlink $p/ns/net 2>/dev/null)" = "$NS" ] && echo ${{p#/proc/}}; done; }}
ns_pids | sort >{workdir}/head-pids
{worker}
# kill_worker_node: SIGKILL the worker node's daemons and everything they started (its actors and their workers)
kill_worker_node() {{ {sys.executable} {Path(__file__).resolve()} kill-tree $(cat {workdir}/worker-pids); }}
# wait_for GLOB: until a file matches (10 min at most)
wait_for() {{ i=0; while [ $i -lt 1200 ]; do for f in $1; do [ -e "$f" ] && return 0; done; sleep 0.5; i=$((i+1)); done; return 1; }}
# nodes_runners: greenbench processes on the cluster (node runners, their framework workers), one per line
node_runners() {{ for p in $(ns_pids); do tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -E 'NodeRunner|multiprocessing.spawn|multiprocessing-fork' && true; done; }}
echo "cluster up" >&2
{driver}
"""


# The driver in the background of a shell script starts with SIGINT ignored (POSIX), so Python would never
# raise KeyboardInterrupt; this puts SIGINT back to its default before greenbench starts.
GREENBENCH = (f"{sys.executable} -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
              f"os.execv(sys.executable, [sys.executable, \"-m\", \"greenbench\", *sys.argv[1:]])'")


def run_on_cluster(driver: str, *, head_env: dict[str, str], worker_env: dict[str, str] | None,
                   timeout: float = 1200, workdir: Path | None = None, head_resources: str = SLOT,
                   worker_gpus: int = 0) -> subprocess.CompletedProcess:
    """Run ``driver`` (a shell command) on a fresh loopback cluster — a head node offering ``head_resources``
    and, unless ``worker_env`` is None, a worker node with one slot and ``worker_gpus`` logical GPUs; the
    cluster is gone afterwards."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="gbray-"))
    script = workdir / "cluster.sh"
    script.write_text(cluster_script(workdir, driver, head_env=head_env, worker_env=worker_env,
                                     head_resources=head_resources, worker_gpus=worker_gpus))
    return subprocess.run(["unshare", "-n", "sh", str(script)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})


def leftover_processes(workdir: Path) -> list[str]:
    """Processes still alive in the cluster script's network namespace (none once the script has ended)."""
    ns = (workdir / "netns").read_text().strip()
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns" / "net") != ns:
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out.append(f"{proc.name}: {cmd[:200]}")
    return out


def _kill_tree(roots: list[int]) -> None:
    """SIGKILL ``roots`` and all their descendants, found in one pass over /proc (fast: the test's timing matters)."""
    import signal

    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(proc.name))
    todo, victims = list(roots), []
    while todo:
        pid = todo.pop()
        victims.append(pid)
        todo += children.get(pid, [])
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__" and sys.argv[1:2] == ["kill-tree"]:
    _kill_tree([int(a) for a in sys.argv[2:]])
