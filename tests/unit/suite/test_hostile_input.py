"""Hostile or careless suite input: every case is one clear error (or a safe result), never a traceback.

Suite names of any script map to distinct, safe folder names; YAML is bounded in size, alias
expansion and nesting; NaN and infinity are no setting; a matrix axis holds each value once, and a
matrix that expands to nothing (or to too much) is an error; ``--only`` values must exist in the plan.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from greenbench import api
from greenbench.errors import SuiteError, UserError
from greenbench.results import ResultStore
from greenbench.suite import load_suite, parse_suite
from greenbench.suite.load import MAX_NODES, MAX_SUITE_BYTES
from greenbench.suite.schema import MAX_COMBINATIONS, SLUG_MAX, suite_slug

SMOKE = Path(__file__).resolve().parents[3] / "suites" / "smoke.yaml"


# --------------------------------------------------------------------------- suite names → folder names
@pytest.mark.parametrize("name", ["smoke", "mnist", "full", "my_suite-2.1", "A" * SLUG_MAX])
def test_plain_ascii_names_keep_their_exact_folder(name: str) -> None:
    assert suite_slug(name) == name  # users have results in results/smoke: it must stay there


HOSTILE = [
    "テスト", "тест", "测试", "a/b", "a\\b", "../../etc", "..", ".", "-rf", "[red]x[/]", "[/]", "a\x00b", "a\nb",
    "\x1b[31mred", " ", "///", "x" * 120, "é" * 120, "con", ".hidden", "a..b/..", "ok name",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_any_name_becomes_one_safe_path_component(name: str, tmp_path: Path) -> None:
    slug = suite_slug(name)
    assert slug and slug not in {".", ".."} and slug[0] not in "-."
    assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in slug), slug
    assert len(slug) <= SLUG_MAX + 9
    assert suite_slug(name) == slug  # stable
    root = tmp_path / "results"
    assert (root / slug).resolve().parent == root.resolve()  # never escapes the results root
    (root / slug).mkdir(parents=True)  # and the OS takes it


def test_changed_names_carry_a_hash_so_different_names_never_share_a_folder() -> None:
    slugs = {name: suite_slug(name) for name in HOSTILE + ["smoke", "a-b", "a b", "a_b", "a/b", "a\\b"]}
    assert len(set(slugs.values())) == len(slugs)
    assert suite_slug("テスト") != suite_slug("тест")
    assert suite_slug("a b").startswith("a-b-") and suite_slug("a-b") == "a-b"  # readable where possible


def _suite(name: str) -> object:
    return parse_suite({"name": name})


def test_japanese_and_russian_suites_get_their_own_results_and_reports(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ja, ru = _suite("テスト"), _suite("тест")
    dirs = {api.results_dir_for(ja), api.results_dir_for(ru)}
    assert len(dirs) == 2 and all(d.parent == Path("results") for d in dirs)
    from greenbench.report import default_report_path

    assert default_report_path(["テスト"], ["m"], "html") != default_report_path(["тест"], ["m"], "html")
    assert default_report_path(["テスト"], ["m"], "html") == Path("reports") / f"{suite_slug('テスト')}.html"


def test_results_of_a_renamed_folder_scheme_are_still_found(tmp_path: Path, make_record, monkeypatch) -> None:
    # Before hashed names, "My Suite" lived in results/My-Suite: that folder keeps being used.
    monkeypatch.chdir(tmp_path)
    ResultStore(Path("results/My-Suite")).write(make_record(suite="My Suite"))
    assert api.results_dir_for(_suite("My Suite")) == Path("results/My-Suite")
    # ...but not by another suite whose name shortens the same way
    assert api.results_dir_for(_suite("My/Suite")) == Path("results") / suite_slug("My/Suite")
    assert api.results_dir_for(_suite("My/Suite")) != Path("results/My-Suite")


def test_a_folder_of_another_suite_is_refused_by_run(tmp_path: Path, make_record, mnist_dir: Path) -> None:
    from greenbench.runner.local import run_plan

    out = tmp_path / "results"
    ResultStore(out).write(make_record(suite="テスト"))
    suite = _suite("тест")

    class Never:
        def execute(self, group, log_path):  # pragma: no cover - must not be reached
            raise AssertionError("ran in another suite's folder")

        def close(self) -> None:
            pass

    with pytest.raises(UserError) as info:
        run_plan(suite, [], results_dir=out, dispatcher=Never())
    assert info.value.exit_code == 2
    assert "belongs to suite 'テスト'" in str(info.value) and "not to suite 'тест'" in str(info.value)
    assert "--results" in str(info.value)


# --------------------------------------------------------------------------- YAML bounds
def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BILLION_LAUGHS = """\
name: lol
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_billion_laughs_file_fails_fast(tmp_path: Path) -> None:
    path = _write(tmp_path, BILLION_LAUGHS)
    t0 = time.process_time()
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert time.process_time() - t0 < 5  # ~10^9 values if expanded; the check is linear in the file
    assert str(info.value) == (
        f"{path}: line 7: too large: more than {MAX_NODES:,} values once aliases (*name) are expanded; a suite "
        "needs a few hundred (is this a 'billion laughs' file?)"
    )


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nmodels:\n  mlp: &m {epochs: 2, batch_size: 32}\n  cnn: *m\n")
    assert load_suite(path).models.cnn.epochs == 2


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ndescription: &a [*a]\n")
    with pytest.raises(SuiteError, match=r"line 2: an alias refers to the node that contains it"):
        load_suite(path)


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ndescription: " + "a" * MAX_SUITE_BYTES + "\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}: too large for a suite file: more than 1024 KiB (the limit; a suite is a few KiB)"


def test_an_endless_file_is_refused() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(SuiteError, match="too large for a suite file"):
        load_suite("/dev/zero")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nv: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply (hundreds of levels); a suite needs a few"),
        ("name: x\nseed: 2001-13-45\n", "invalid YAML value: month must be in 1..12"),
        ("name: x\nseed: " + "9" * 5000 + "\n", "invalid YAML value: Exceeds the limit (4300 digits)"),
        ("name: x\n? [a, b]\n: c\n", "line 2, column 3: invalid YAML: a list cannot be a mapping key"),
        ("name: x\n? {a: 1}\n: c\n", "line 2, column 3: invalid YAML: a dict cannot be a mapping key"),
    ],
    ids=["deep", "bad-date", "huge-int", "list-key", "dict-key"],
)
def test_values_yaml_accepts_but_python_refuses_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 6); a suite file is UTF-8 YAML"


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("runner: {timeout_s: .nan}", "runner.timeout_s: nan: NaN and infinity are not allowed, give a finite number "
                                      "(allowed: > 0 and <= 2592000)"),
        ("runner: {timeout_s: .inf}", "runner.timeout_s: inf: NaN and infinity are not allowed, give a finite number "
                                      "(allowed: > 0 and <= 2592000)"),
        ("runner: {timeout_s: -.inf}", "runner.timeout_s: -inf: NaN and infinity are not allowed, give a finite "
                                       "number (allowed: > 0 and <= 2592000)"),
        ("runner: {timeout_s: 0}", "runner.timeout_s: 0: input should be greater than 0"),
        ("runner: {timeout_s: -5}", "runner.timeout_s: -5: input should be greater than 0"),
        ("energy: {measure_power_secs: .nan}", "energy.measure_power_secs: nan: NaN and infinity are not allowed, give "
                                               "a finite number (allowed: > 0 and <= 1)"),
        ("energy: {min_phase_s: .inf}", "energy.min_phase_s: inf: NaN and infinity are not allowed, give a finite "
                                        "number (allowed: >= 0 and <= 86400)"),
        ("training: {target_accuracy: .nan}", "training.target_accuracy: nan: NaN and infinity are not allowed, give "
                                              "a finite number (allowed: > 0 and <= 1)"),
        ("optimizers: {adam: {learning_rate: .inf}}", "optimizers.adam.learning_rate: inf: NaN and infinity are not "
                                                      "allowed, give a finite number (allowed: > 0 and <= 10)"),
        ("matrix: {dropout: [.nan]}", "matrix.dropout[0]: nan: NaN and infinity are not allowed, give a finite number "
                                      "(allowed: >= 0 and < 1)"),
        ("matrix: {l2: [.inf]}", "matrix.l2[0]: inf: NaN and infinity are not allowed, give a finite number "
                                 "(allowed: >= 0 and <= 1)"),
        ("models: {mlp: {learning_rate: .nan}}", "models.mlp.learning_rate: nan: NaN and infinity are not allowed, "
                                                 "give a finite number (allowed: > 0 and <= 10)"),
        ("models: {rnn: {learning_rate: .inf}}", "models.rnn.learning_rate: inf: NaN and infinity are not allowed, "
                                                 "give a finite number (allowed: > 0 and <= 10)"),
    ],
)
def test_nan_and_infinity_are_no_setting(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = _write(tmp_path, f"name: x\n{yaml_text}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert f"{path}: {message}" in str(info.value).splitlines()


BOOLEAN = "a boolean is not a number (YAML reads true/false, yes/no and on/off as booleans); give "


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("training: {epochs: true}", f"training.epochs: true: {BOOLEAN}an integer (allowed: >= 1 and <= 1000)"),
        ("training: {epochs: yes}", f"training.epochs: true: {BOOLEAN}an integer (allowed: >= 1 and <= 1000)"),
        ("training: {batch_size: true}", f"training.batch_size: true: {BOOLEAN}an integer (allowed: >= 1 and <= 65536)"),
        ("matrix: {seed: [true]}", f"matrix.seed[0]: true: {BOOLEAN}an integer (allowed: >= 0 and <= 2147483647)"),
        ("matrix: {include: [{seed: off}]}", f"matrix.include[0].seed: false: {BOOLEAN}an integer "
                                             "(allowed: >= 0 and <= 2147483647)"),
        ("matrix: {dropout: [true]}", f"matrix.dropout[0]: true: {BOOLEAN}a number (allowed: >= 0 and < 1)"),
        ("runner: {timeout_s: true}", f"runner.timeout_s: true: {BOOLEAN}a number (allowed: > 0 and <= 2592000)"),
        ("energy: {measure_power_secs: true}", f"energy.measure_power_secs: true: {BOOLEAN}a number "
                                               "(allowed: > 0 and <= 1)"),
        ("models: {mlp: {epochs: true}}", f"models.mlp.epochs: true: {BOOLEAN}an integer (allowed: >= 1 and <= 1000)"),
        ("models: {mlp: {hidden: [64, true]}}", f"models.mlp.hidden[1]: true: {BOOLEAN}an integer "
                                                "(allowed: >= 1 and <= 8192)"),
        ("models: {rnn: {learning_rate: true}}", f"models.rnn.learning_rate: true: {BOOLEAN}a number "
                                                 "(allowed: > 0 and <= 10)"),
        ("models: {rnn: {learning_rate: {adam: true}}}", f"models.rnn.learning_rate.adam: true: {BOOLEAN}a number"),
    ],
)
def test_a_boolean_is_no_number(tmp_path: Path, yaml_text: str, message: str) -> None:
    # pydantic alone reads true as 1: `epochs: yes` was one epoch, `seed: [true]` seed 1 (a name of 123 was refused)
    path = _write(tmp_path, f"name: x\n{yaml_text}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}: {message}"  # one line


def test_settings_that_are_booleans_still_take_booleans(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nrunner: {require_quiet: yes}\nenergy: {enabled: false}\n"
                            "optimizers: {sgd: {nesterov: on}}\n")
    suite = load_suite(path)
    assert suite.runner.require_quiet is True and suite.energy.enabled is False
    assert suite.optimizers.sgd.nesterov is True


@pytest.mark.parametrize("yaml_text", ["models: {rnn: {learning_rate: .inf}}", "models: {mlp: {learning_rate: .nan}}"])
def test_a_value_fitting_no_member_of_a_union_is_one_line(tmp_path: Path, yaml_text: str) -> None:
    # learning_rate is a number or a mapping optimizer -> number: not a second line 'input should be a valid dictionary'
    path = _write(tmp_path, f"name: x\n{yaml_text}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and "learning_rate: " in lines[0] and "dictionary" not in lines[0], lines
    assert "finite number" in lines[0]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("models: {rnn: {learning_rate: 1e300}}", "models.rnn.learning_rate: '1e300': input should be less than or "
                                                  "equal to 10"),
        ("models: {mlp: {learning_rate: 10.5}}", "models.mlp.learning_rate: 10.5: input should be less than or "
                                                 "equal to 10"),
        ("models: {rnn: {learning_rate: {adam: 100}}}", "models.rnn.learning_rate.adam: 100: input should be less "
                                                        "than or equal to 10"),
        ("models: {mlp: {learning_rate: -0.1}}", "models.mlp.learning_rate: -0.1: input should be greater than 0"),
        ("optimizers: {sgd: {learning_rate: 1.0e+300}}", "optimizers.sgd.learning_rate: 1e+300: input should be less "
                                                      "than or equal to 10"),
        ("optimizers: {adam: {epsilon: 2}}", "optimizers.adam.epsilon: 2: input should be less than or equal to 1"),
        ("optimizers: {rmsprop: {epsilon: 1.0e+300}}", "optimizers.rmsprop.epsilon: 1e+300: input should be less than "
                                                    "or equal to 1"),
        ("matrix: {l2: [0, 1.0e+300]}", "matrix.l2[1]: 1e+300: input should be less than or equal to 1"),
        ("matrix: {l1: [5]}", "matrix.l1[0]: 5: input should be less than or equal to 1"),
        ("matrix: {include: [{l2: 2}]}", "matrix.include[0].l2: 2: input should be less than or equal to 1"),
        ("runner: {timeout_s: 1000000000}", "runner.timeout_s: 1000000000: input should be less than or equal to 2592000"),
        ("runner: {inference_batch: 1000000000}", "runner.inference_batch: 1000000000: input should be less than or "
                                                  "equal to 65536"),
        ("energy: {idle_recheck_after_s: 1000000000000}", "energy.idle_recheck_after_s: 1000000000000: input should "
                                                            "be less than or equal to 31622400"),
    ],
)
def test_settings_have_an_upper_bound(tmp_path: Path, yaml_text: str, message: str) -> None:
    # (YAML reads 1e300 as a string, which pydantic reads as a number.) learning_rate: 1e300 passed (the dry run showed lr 1e+300); learning rates are at most 10, epsilons and
    # the L1 / L2 penalties at most 1. Unbounded before too: timeout_s: 1e9 meant "never time out" without saying
    # so, and an inference_batch of 1e9 is the static batch a recurrent TFLite model is converted with (allocated)
    path = _write(tmp_path, f"name: x\n{yaml_text}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}: {message}"  # one line


def test_the_largest_allowed_runner_sizes_are_fine(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nrunner: {timeout_s: 2592000, inference_batch: 65536}\n"
                            "energy: {idle_recheck_after_s: 31622400}\n")
    suite = load_suite(path)
    assert (suite.runner.timeout_s, suite.runner.inference_batch) == (2592000, 65536)
    assert suite.energy.idle_recheck_after_s == 31622400
    assert api.plan_suite(SMOKE, timeout=2592000.0)[0].runner.timeout_s == 2592000.0


def test_the_largest_allowed_hyperparameters_are_fine(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nmodels: {mlp: {learning_rate: 10}, rnn: {learning_rate: {sgd: 10}}}\n"
                            "optimizers: {adam: {learning_rate: 10, epsilon: 1}}\nmatrix: {l1: [0, 1], l2: [1]}\n")
    suite = load_suite(path)
    assert suite.models.mlp.learning_rate == 10 and suite.matrix.l1 == [0, 1]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 0.0, -1.0, 2592000.5, 1e9])
def test_timeout_override_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(UserError) as info:
        api.plan_suite(SMOKE, timeout=value)
    assert str(info.value) == (
        f"--timeout {value:g}: not allowed; the time allowed per run must be a finite number of seconds greater "
        "than 0 and at most 2592000 (30 days), e.g. 600"
    )


# --------------------------------------------------------------------------- the matrix
@pytest.mark.parametrize(
    ("axis", "values", "shown"),
    [("model", "[mlp, cnn, mlp]", "'mlp'"), ("seed", "[0, 1, 0]", "0"), ("dropout", "[null, 0.1, 0.1]", "0.1"),
     ("compression", "[none, prune-50, prune-50]", "'prune-50'"), ("l2", "[0, 0.0]", "0.0")],
)
def test_a_duplicate_axis_value_is_named(tmp_path: Path, axis: str, values: str, shown: str) -> None:
    path = _write(tmp_path, f"name: x\nmatrix: {{{axis}: {values}}}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}: matrix.{axis}: duplicate value {shown}: each value may appear once in an axis"


def test_a_matrix_that_excludes_everything_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nmatrix:\n  backend: [torch]\n  exclude: [{backend: torch}]\n")
    with pytest.raises(SuiteError) as info:
        api.plan_suite(path)
    assert info.value.exit_code == 2
    assert str(info.value) == (
        f"{path}: matrix: expands to no runs: the exclude entries remove every combination; narrow or remove an "
        "exclude entry, or add an include entry"
    )


def test_a_matrix_too_large_to_expand_is_refused_before_expanding(tmp_path: Path) -> None:
    seeds = ", ".join(str(i) for i in range(200))
    l1 = ", ".join(f"{i / 1000:g}" for i in range(200))
    path = _write(tmp_path, f"name: x\nmatrix: {{seed: [{seeds}], l1: [{l1}]}}\n")
    t0 = time.process_time()
    with pytest.raises(SuiteError) as info:
        api.plan_suite(path)
    assert time.process_time() - t0 < 5
    assert str(info.value) == (
        f"{path}: matrix: expands to 80,000 combinations before exclude; at most {MAX_COMBINATIONS:,} are allowed "
        "(split the study into several suites)"
    )


# --------------------------------------------------------------------------- --only
@pytest.mark.parametrize(
    ("only", "message"),
    [
        ("backend=jax", "--only backend=jax: no run of this suite has backend 'jax'; backend here is one of: torch, "
                        "tensorflow"),
        ("model=cnnn", "--only model=cnnn: no run of this suite has model 'cnnn'; model here is one of: mlp, cnn, "
                       "rnn, transformer"),
        ("model=cnn|cnnn|resnet", "--only model=cnnn|resnet: no run of this suite has model 'cnnn' or 'resnet'; "
                                  "model here is one of: mlp, cnn, rnn, transformer"),
        ("compression=prune-50", "--only compression=prune-50: no run of this suite has compression 'prune-50'; "
                                 "compression here is one of: none, int8-dynamic"),
        ("seed=1", "--only seed=1: no run of this suite has seed '1'; seed here is one of: 0"),
    ],
)
def test_an_only_value_that_matches_nothing_names_the_values_that_exist(only: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        api.plan_suite(SMOKE, only=[only])
    assert info.value.exit_code == 2 and str(info.value) == message


def test_only_values_that_exist_but_never_together(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nmatrix:\n  backend: [torch, tensorflow]\n  model: [mlp, cnn]\n"
                            "  exclude: [{backend: torch, model: cnn}]\n")
    with pytest.raises(UserError) as info:
        api.plan_suite(path, only=["backend=torch,model=cnn"])
    assert str(info.value) == (
        "--only backend=torch, model=cnn: matches none of the suite's 3 runs (each value exists, but no run has "
        "them all)"
    )


def test_only_matches_numbers_by_value() -> None:
    _, runs = api.plan_suite(SMOKE, only=["model=mlp", "dropout=0.2"])
    assert {r.model for r in runs} == {"mlp"} and {r.dropout for r in runs} == {0.2}
    _, same = api.plan_suite(SMOKE, only=["model=mlp", "dropout=2e-1"])
    assert [r.run_id for r in same] == [r.run_id for r in runs]


def test_the_marker_keeps_the_exact_name(tmp_path: Path) -> None:
    name = "テスト [/] \x1b[31m"
    store = ResultStore(tmp_path / suite_slug(name))
    store.bind(name)
    assert json.loads((store.root / ".greenbench-suite").read_text(encoding="utf-8"))["suite"] == name
