"""One list per choice (greenbench/choices.py, greenbench/backend_registry.py, greenbench/model_registry.py),
read by every layer."""

from __future__ import annotations

from greenbench import choices
from greenbench import backend_registry as registry
from greenbench import model_registry


def test_the_matrix_axes_are_one_list_read_everywhere() -> None:
    from greenbench.compare import hardware, load
    from greenbench.report import data
    from greenbench.results import frame
    from greenbench.suite import plan, schema

    axes = choices.MATRIX_AXES
    assert axes[:5] == choices.LABEL_AXES and choices.CONFIG_AXES == tuple(a for a in axes if a != "seed")
    assert tuple(schema.Matrix.model_fields)[: len(axes)] == axes
    assert tuple(schema.MatrixEntry.model_fields) == axes
    assert tuple(plan.RunSpec.model_fields)[3 : 3 + len(axes)] == axes
    assert tuple(frame.CONFIG_COLUMNS) == axes and tuple(frame.COLUMNS[3 : 3 + len(axes)]) == axes
    assert data.LABEL_AXES == ("machine", *choices.CONFIG_AXES) and data.GROUP_BY == ["machine", *choices.CONFIG_AXES]
    assert tuple(load.WORKLOAD_COLUMNS[: len(choices.CONFIG_AXES)]) == choices.CONFIG_AXES
    assert tuple(load.LABEL_COLUMNS) == choices.LABEL_AXES
    assert tuple(hardware.HARDWARE_KEY[1 : 1 + len(choices.CONFIG_AXES)]) == choices.CONFIG_AXES


def test_the_built_in_backends_are_the_schema_default_and_their_versions_the_frame_columns() -> None:
    from greenbench.results import frame
    from greenbench.suite import schema

    assert registry.BUILTIN_NAMES == ("torch", "tensorflow")
    assert schema.Matrix().backend == list(registry.BUILTIN_NAMES)
    assert frame.FRAMEWORK_VERSION_COLUMNS == ["torch_version", "tensorflow_version"]
    assert [b.install_hint() for b in registry.BUILTIN] == ["pip install 'greenbench[torch]'",
                                                            "pip install 'greenbench[tensorflow]'"]


def test_the_axis_values_are_listed_once() -> None:
    from greenbench.suite import schema
    from greenbench.workloads import data, specs

    assert schema.MODELS is specs.MODELS is model_registry.BUILTIN_NAMES
    assert schema.AUGMENTATIONS is data.AUGMENTATIONS is choices.AUGMENTATIONS
    assert (schema.DEVICES, schema.OPTIMIZERS) == (choices.DEVICES, choices.OPTIMIZERS)
    assert not hasattr(choices, "MODELS")  # the model axis' values are the model registry's


def test_a_model_is_one_registry_entry() -> None:
    """The model axis' values, the schema's per-model settings and the weight specs all come from the
    model registry's entries."""
    from greenbench.suite import schema
    from greenbench.workloads import specs

    names = model_registry.BUILTIN_NAMES
    assert names == ("mlp", "cnn", "rnn", "transformer") == model_registry.model_names()
    assert tuple(schema.MODEL_CONFIGS) == tuple(schema.ModelsConfig.model_fields) == names
    for info in model_registry.BUILTIN:
        assert schema.MODEL_CONFIGS[info.name] is info.config
        assert schema.ModelsConfig.model_fields[info.name].annotation is info.config
        assert issubclass(info.config, model_registry.ModelSettings) and info.description
        arch = info.config().model_dump(exclude={"epochs", "batch_size", "learning_rate"})
        assert specs.weight_specs(info.name, arch) == info.weight_specs(arch) != []
    assert schema.Matrix(model=list(names)).model == list(names)
