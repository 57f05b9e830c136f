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
