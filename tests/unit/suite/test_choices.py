"""One list per choice (greenbench/choices.py, greenbench/backend_registry.py), read by every layer."""

from __future__ import annotations

from greenbench import choices
from greenbench import backend_registry as registry


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

    assert schema.MODELS is specs.MODELS is choices.MODELS
    assert schema.AUGMENTATIONS is data.AUGMENTATIONS is choices.AUGMENTATIONS
    assert (schema.DEVICES, schema.OPTIMIZERS) == (choices.DEVICES, choices.OPTIMIZERS)
    assert tuple(schema.MODEL_CONFIGS) == tuple(schema.ModelsConfig.model_fields) == choices.MODELS
