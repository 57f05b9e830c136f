"""Options that contradict each other or say nothing: one `error:` line, exit 2, before anything runs (the real
CLI)."""

from __future__ import annotations

import pytest

from e2e_support import SMOKE, run_cli


def _one_error(result, says: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines == [says], result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- --only
@pytest.mark.parametrize(("only", "says"), [
    ([""], "error: --only '': empty filter; give key=value pairs like backend=torch,model=cnn (or leave --only out "
           "for every run of the suite)"),
    ([" , "], "error: --only ' , ': empty filter; give key=value pairs like backend=torch,model=cnn (or leave --only "
              "out for every run of the suite)"),
    (["backend=torch,backend=tensorflow"], "error: --only 'backend=torch,backend=tensorflow': backend is given twice; "
                                           "give each key once, its values separated by |: backend=torch|tensorflow"),
    (["backend=torch", "model=mlp", "backend=tensorflow"],
     "error: --only 'backend=torch' --only 'backend=tensorflow': backend is given twice; give each key once, its "
     "values separated by |: backend=torch|tensorflow"),
    (["backend=torch|"], "error: --only 'backend=torch|': 'backend=torch|' has an empty value; separate a key's "
                         "values with |, e.g. backend=torch|tensorflow"),
    (["model=mlp,backend=|torch"], "error: --only 'model=mlp,backend=|torch': 'backend=|torch' has an empty value; "
                                   "separate a key's values with |, e.g. backend=torch|tensorflow"),
])
def test_an_only_that_says_nothing_or_a_key_twice_is_an_error(only: list[str], says: str) -> None:
    # before: --only "" planned the whole suite, a key twice silently meant either value, and backend=torch|
    # was reported as '--only backend='
    args = [a for value in only for a in ("--only", value)]
    _one_error(run_cli("run", str(SMOKE), "--dry-run", *args), says)


def test_several_only_options_combine_their_keys() -> None:
    result = run_cli("run", str(SMOKE), "--dry-run", "--only", "backend=torch", "--only", "model=cnn|mlp")
    assert result.returncode == 0, result.stderr
    assert "4 runs (2 trainings" in result.stdout


# --------------------------------------------------------------------------- Ray's options
@pytest.mark.parametrize(("args", "says"), [
    (["--address", "foo:1"], "error: --address names a Ray cluster: use it with --executor ray "
                             "(or runner.executor: ray)"),
    (["--address", "foo:1", "--executor", "local"], "error: --address names a Ray cluster: use it with --executor ray "
                                                    "(or runner.executor: ray)"),
    (["--isolation", "gpu"], "error: --isolation says what a workload holds on a Ray node: use it with --executor ray "
                             "(or runner.executor: ray)"),
])
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_ray_options_without_ray_are_refused_by_the_dry_run_too(tmp_path, args: list[str], says: str,
                                                                 dry_run: bool) -> None:
    # before, run --dry-run --address foo:1 planned and exited 0, ignoring the option the real run refuses
    results = tmp_path / "r"
    result = run_cli("run", str(SMOKE), "--results", str(results), *args, *(["--dry-run"] if dry_run else []))
    _one_error(result, says)
    assert not results.exists()  # nothing ran


def test_ray_options_are_fine_when_the_suite_runs_on_ray(tmp_path) -> None:
    text = SMOKE.read_text(encoding="utf-8")
    assert "\nrunner:\n" in text
    suite = tmp_path / "smoke.yaml"
    suite.write_text(text.replace("\nrunner:\n", "\nrunner:\n  executor: ray\n"), encoding="utf-8")
    result = run_cli("run", str(suite), "--dry-run", "--address", "foo:1", "--isolation", "gpu")
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- the results directory of a dry run
@pytest.mark.parametrize("json_out", [False, True], ids=["plan", "json"])
@pytest.mark.parametrize("where", ["afile", "afile/sub"])
def test_the_dry_run_refuses_a_results_path_the_run_refuses(tmp_path, where: str, json_out: bool) -> None:
    # before, run -o afile --dry-run printed 'results → afile' and exited 0 though the run refuses that path
    (tmp_path / "afile").write_text("mine\n")
    says = (f"error: cannot create the results directory {where}: afile is a file, not a directory; remove or rename "
            "it, or choose another location with --results; what is recorded is kept: run the same command again "
            "to resume")
    dry = run_cli("run", str(SMOKE), "-o", where, "--dry-run", *(["--json"] if json_out else []), cwd=tmp_path)
    _one_error(dry, says)
    assert dry.stdout == ""
    real = run_cli("run", str(SMOKE), "-o", where, "--only", "backend=torch,model=mlp", cwd=tmp_path)
    _one_error(real, says)  # the same words
    assert (tmp_path / "afile").read_text() == "mine\n"


def test_the_dry_run_refuses_another_suites_results_directory(tmp_path) -> None:
    other = tmp_path / "r"
    other.mkdir()
    (other / ".greenbench-suite").write_text('{"suite": "another"}\n')
    _one_error(run_cli("run", str(SMOKE), "-o", str(other), "--dry-run"),
               f"error: results directory {other} belongs to suite 'another' (.greenbench-suite names suite "
               "'another'), not to suite 'smoke'; choose another directory for this suite with --results")
    assert run_cli("run", str(SMOKE), "-o", str(tmp_path / "new"), "--dry-run").returncode == 0
    assert not (tmp_path / "new").exists()  # a dry run writes nothing
