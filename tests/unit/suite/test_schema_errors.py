"""Bad suites get one clear line per problem: file, key path, bad value, what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenbench.errors import SuiteError
from greenbench.suite import load_suite


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return str(info.value).replace(str(path), "x.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: s\nmatrix: {backend: [torch, pytorch]}\n",
            "x.yaml: matrix.backend[1]: 'pytorch' is not one of: torch, tensorflow",
        ),
        (
            "name: s\nmatrix: {model: [mlp, resnet]}\n",
            "x.yaml: matrix.model[1]: 'resnet' is not one of: mlp, cnn, rnn, transformer",
        ),
        (
            "name: s\nmatrix: {device: [gpu]}\n",
            "x.yaml: matrix.device[0]: 'gpu' is not one of: cpu, cuda, mps",
        ),
        (
            "name: s\nmatrix: {optimizer: [adamw]}\n",
            "x.yaml: matrix.optimizer[0]: 'adamw' is not one of: sgd, adam, rmsprop",
        ),
        (
            "name: s\nmatrix: {compression: [none, prune-100]}\n",
            "x.yaml: matrix.compression[1]: 'prune-100' is not one of: "
            "none, prune-<1..99> (e.g. prune-50), int8-dynamic, int8-static, float16",
        ),
        (
            "name: s\nmatrix: {backend: [torch], bakend: [torch]}\n",
            "x.yaml: matrix: unknown key 'bakend'; allowed keys: augmentation, backend, compression, device, "
            "dropout, exclude, include, l1, l2, loop, model, optimizer, seed, threads",
        ),
        (
            "name: s\nmodels: {mlp: {hiden: [64]}}\n",
            "x.yaml: models.mlp: unknown key 'hiden'; allowed keys: activation, batch_size, dropout, epochs, hidden, "
            "learning_rate",
        ),
        (
            "name: s\nepochs: 3\n",
            "x.yaml: (top level): unknown key 'epochs'; allowed keys: data, description, energy, matrix, models, "
            "name, optimizers, runner, training",
        ),
        ("matrix: {backend: [torch]}\n", "x.yaml: name: required key is missing"),
        (
            "name: s\ndata: {train_samples: 1000, validation_samples: 1000}\n",
            "x.yaml: data: validation_samples (1000) must be less than train_samples (1000): the validation images "
            "are held out of the training images",
        ),
        (
            "name: s\nmatrix: {threads: [2, all, 0]}\n",
            "x.yaml: matrix.threads[2]: 0 is not a thread setting: give a count of threads 1..1024, all or default",
        ),
        (
            "name: s\nrunner: {omp_wait_policy: spin}\n",
            "x.yaml: runner.omp_wait_policy: 'spin' is not one of: passive, active",
        ),
        (
            "name: s\ntraining: {epochs: 0}\n",
            "x.yaml: training.epochs: 0: input should be greater than or equal to 1",
        ),
        (
            "name: s\nmatrix: {seed: [0, x]}\n",
            "x.yaml: matrix.seed[1]: 'x': input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "name: s\nmodels: {transformer: {dim: 10, heads: 3}}\n",
            "x.yaml: models.transformer: dim (10) must be divisible by heads (3)",
        ),
        (
            "name: s\nenergy: {country: France}\n",
            "x.yaml: energy.country: 'France' is not an ISO 3166-1 alpha-3 country code (e.g. USA, FRA, DEU)",
        ),
        (
            "name: s\nenergy: {country: XYZ}\n",
            "x.yaml: energy.country: 'XYZ' is not a country codecarbon has grid data for (ISO 3166-1 alpha-3 "
            "codes such as USA, FRA, DEU, GBR, IND, CHN)",
        ),
        (
            "name: s\nmatrix: {exclude: [{backend: jax}]}\n",
            "x.yaml: matrix.exclude[0].backend: 'jax' is not one of: torch, tensorflow",
        ),
        (
            "name: s\nmatrix: {augmentation: [flip]}\n",
            "x.yaml: matrix.augmentation[0]: 'flip' is not one of: none, shift, rotate, shift-rotate",
        ),
        (
            "name: s\nmatrix: {backend: []}\n",
            "x.yaml: matrix.backend: []: list should have at least 1 item after validation, not 0",
        ),
        (
            "name: s\ndata: {dataset: cifar10}\n",
            "x.yaml: data.dataset: 'cifar10' is not one of: mnist, fashion-mnist",
        ),
        (
            "name: s\nmodels: {mlp: {learning_rate: -0.1}}\n",
            "x.yaml: models.mlp.learning_rate: -0.1: input should be greater than 0",
        ),
        (
            "name: s\nenergy: {measure_power_secs: 5}\n",
            "x.yaml: energy.measure_power_secs: 5: input should be less than or equal to 1",
        ),
    ],
)
def test_bad_suite_messages(tmp_path: Path, text: str, message: str) -> None:
    assert _error(tmp_path, text) == message


def test_several_problems_are_all_reported_one_per_line(tmp_path: Path) -> None:
    msg = _error(tmp_path, "name: s\nmatrix: {backend: [pytorch], model: [resnet]}\n")
    assert msg.splitlines() == [
        "x.yaml: matrix.backend[0]: 'pytorch' is not one of: torch, tensorflow",
        "x.yaml: matrix.model[0]: 'resnet' is not one of: mlp, cnn, rnn, transformer",
    ]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    msg = _error(tmp_path, "name: s\nmatrix: [backend: torch\n")
    assert msg.startswith("x.yaml: line 3, column 1: invalid YAML:")


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    msg = _error(tmp_path, "name: s\nmatrix: {}\nmatrix: {}\n")
    assert "duplicate key 'matrix' (first on line 2)" in msg


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    msg = _error(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n")
    assert "invalid YAML" in msg and "python/object/apply" in msg


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "nope.yaml")
    assert _error(tmp_path, "") == "x.yaml: a suite must be a mapping with at least a 'name' key, got empty"


# The shipped suites, as the README describes them: (name, runs, trainings). Runs that differ only
# in compression share one training.
SHIPPED = {
    # 2 backends × 4 models × adam × {none, int8-dynamic} × seed 0
    "smoke.yaml": ("smoke", 2 * 4 * 1 * 2 * 1, 2 * 4 * 1 * 1),
    # 2 backends × 4 models × {sgd, adam} × {none, prune-50, int8-dynamic, float16} × seed 0
    "mnist.yaml": ("mnist", 2 * 4 * 2 * 4 * 1, 2 * 4 * 2 * 1),
    # 2 backends × 3 optimizers × 6 compressions × 3 seeds × the regularization settings per model:
    # dropout {null, 0} × l2 {0, 1e-4} × augmentation {none, shift-rotate} = 8, less the 2 with l2
    # and augmentation (exclude), plus the L1 setting (include, over every other axis) = 7 — for
    # the RNN only 4, as its own dropout (null) is 0: the 3 dropout-0 settings are its null ones.
    "full.yaml": ("full", 2 * 3 * 6 * 3 * (3 * 7 + 4), 2 * 3 * 3 * (3 * 7 + 4)),
}


def test_shipped_suites_are_valid() -> None:
    from greenbench.suite import expand
    from greenbench.suite.plan import group_by_workload

    root = Path(__file__).resolve().parents[3] / "suites"
    found = {path.name: path for path in sorted(root.glob("*.yaml"))}
    assert set(found) == set(SHIPPED)  # a new or renamed suite is added here, with its arithmetic
    for file, (name, runs, trainings) in SHIPPED.items():
        suite = load_suite(found[file])
        plan = expand(suite)
        assert suite.name == name, file
        assert len(plan) == runs, file
        assert len({r.run_id for r in plan}) == runs, file  # every run has its own id
        assert len(group_by_workload(plan)) == trainings, file
