"""The example GitHub Actions workflow parses, has the documented shape, and calls only real CLI options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "greenbench.yml"


@pytest.fixture(scope="module")
def wf() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _runs(job: dict) -> list[str]:
    return [s["run"] for s in job["steps"] if "run" in s]


def _uses(job: dict) -> list[str]:
    return [s["uses"] for s in job["steps"] if "uses" in s]


def test_triggers_and_jobs(wf):
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert {"push", "pull_request"} <= set(on)
    assert set(wf["jobs"]) == {"bench", "compare", "ray"}
    assert wf["jobs"]["compare"]["needs"] == "bench"


def test_the_ray_job_installs_the_extra_and_runs_the_cluster_tests_as_root(wf):
    ray = wf["jobs"]["ray"]
    script = "\n".join(_runs(ray))
    assert 'pip install -e ".[dev,ray]"' in script
    assert "sudo -E" in script and "tests/e2e/test_ray.py" in script  # network namespaces need root
    assert (ROOT / "tests" / "e2e" / "test_ray.py").is_file()


def test_bench_matrix_installs_cpu_torch_runs_smoke_and_uploads(wf):
    bench = wf["jobs"]["bench"]
    assert bench["strategy"]["matrix"]["runner"] == ["ubuntu-latest", "ubuntu-24.04-arm", "macos-14"]
    assert bench["runs-on"] == "${{ matrix.runner }}"
    assert "GREENBENCH_MACHINE" in bench["env"]
    script = "\n".join(_runs(bench))
    assert "--index-url https://download.pytorch.org/whl/cpu" in script
    assert 'greenbench run "$SUITE"' in script and wf["env"]["SUITE"] == "suites/smoke.yaml"
    assert (ROOT / wf["env"]["SUITE"]).is_file()
    # Enough repeats for the gate over the whole report: every smoke workload × 4 metrics × runner
    # is one row, and a change seen in three rows (time, energy and CO₂ of one workload on one
    # runner, or one metric on every runner) must still reach Benjamini–Hochberg's bar.
    from greenbench.compare.stats import min_attainable_p
    from greenbench.suite import expand, load_suite

    repeats = int(wf["env"]["REPEATS"])
    runs = expand(load_suite(ROOT / wf["env"]["SUITE"]))
    workloads = [r for r in runs if r.seed == runs[0].seed]  # compare pools the seeds of a workload
    rows = len(workloads) * 4 * len(bench["strategy"]["matrix"]["runner"])
    assert min_attainable_p(repeats, repeats) < 3 * 0.05 / rows, (repeats, rows)
    assert "actions/upload-artifact@v4" in _uses(bench)


def test_compare_job_downloads_merges_compares_reports_and_summarises(wf):
    job = wf["jobs"]["compare"]
    assert "actions/download-artifact@v4" in _uses(job)
    script = "\n".join(_runs(job))
    assert "greenbench compare base head" in script and "--fail-on-regression" in script
    assert "greenbench report" in script
    assert "$GITHUB_STEP_SUMMARY" in script
    tools = {s["with"]["tool"] for s in job["steps"] if s.get("uses", "").startswith("benchmark-action/")}
    assert tools == {"customSmallerIsBetter", "customBiggerIsBetter"}


def _greenbench_calls(wf: dict) -> list[list[str]]:
    calls = []
    for job in wf["jobs"].values():
        for script in _runs(job):
            for line in script.replace("\\\n", " ").splitlines():
                line = line.strip()
                for m in re.finditer(r"(?:^|[;&|]\s*)(greenbench\s[^;&|]*)", line):
                    calls.append(shlex.split(m.group(1).split(">>")[0]))
    return calls


def test_every_greenbench_call_uses_existing_commands_and_options(wf):
    import typer

    from greenbench.cli import app

    root = typer.main.get_command(app)
    calls = _greenbench_calls(wf)
    assert {c[1] for c in calls} >= {"env", "data", "run", "compare", "report"}
    for call in calls:
        cmd = root.commands[call[1]]
        rest = call[2:]
        if call[1] == "data":
            cmd, rest = cmd.commands[call[2]], call[3:]
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        for token in rest:
            if token.startswith("-"):
                assert token.split("=")[0] in opts, f"{' '.join(call)}: unknown option {token}"
