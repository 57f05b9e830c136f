"""Loading suite files with errors a person can act on.

Every problem becomes one line of the form ``<file>: <key path>: <what is wrong>``,
for example ``suites/x.yaml: matrix.backend[1]: 'pytorch' is not one of: torch, tensorflow``.
YAML is loaded with the safe loader; duplicate keys are errors, not silently last-one-wins.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from greenbench.errors import EnvironmentFault, SuiteError
from greenbench.model_registry import BooleanInput, models as registered_models
from greenbench.suite.schema import ModelsConfig, Suite, models_config


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, f"a {type(key).__name__} cannot be a mapping key", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# Bounds on what a suite file may cost to read: a suite is a few hundred YAML nodes in a few KiB.
MAX_SUITE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # counted with every alias expanded: a "billion laughs" file stops here, at once


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_size(root: yaml.Node, source: str) -> None:
    """Refuse a document that is too large once its aliases are expanded, or that refers to itself.

    Aliases make PyYAML build shared objects cheaply, but anything that walks the result (validation,
    expansion, JSON) pays for every expanded node: ten nested aliases of ten make a billion. The expanded
    size of each node is counted once (memoised on the node), so the check is linear in the file.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            if size[key] > MAX_NODES:
                raise SuiteError(
                    f"{source}: line {node.start_mark.line + 1}: too large: more than {MAX_NODES:,} values once "
                    "aliases (*name) are expanded; a suite needs a few hundred (is this a 'billion laughs' file?)"
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise SuiteError(
                f"{source}: line {node.start_mark.line + 1}: an alias refers to the node that contains it; "
                "recursive YAML is not allowed in a suite"
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _read_yaml(text: str, source: str) -> Any:
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, list, dict, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_inner_models(arg))
    return out


_UNION_TAGS = {"float", "int", "str", "bool", "none", "list", "dict"}


def _union_member(loc: tuple[Any, ...]) -> int | None:
    """The index in ``loc`` of the union member tag pydantic inserted (``'float'``, ``'dict[...]'``), if any."""
    return next((i for i, _ in enumerate(loc) if _walk(loc[: i + 1])[2]), None)


def _walk(loc: tuple[Any, ...]) -> tuple[str, list[type[BaseModel]], bool]:
    """Turn a pydantic error location into ``a.b[1].c``, the model(s) that hold its last key, and whether its
    last part is a union member's tag."""
    tag = False
    path = ""
    models: list[type[BaseModel]] = [Suite]
    holders: list[type[BaseModel]] = [Suite]
    for part in loc:
        tag = False
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        field = next((m.model_fields[part] for m in models if part in m.model_fields), None)
        if field is None and isinstance(part, str) and any(issubclass(m, ModelsConfig) for m in models):
            # `models.<name>` of a model registered at run time: its settings class from the registry.
            config = registered_models().get(part)
            if config is not None:
                path += f".{part}"
                holders, models = models, [config.config]
                continue
        if field is None:
            # pydantic inserts union-member tags (e.g. 'float', 'dict[...]') into locations; dict keys too.
            if part in _UNION_TAGS or "[" in str(part) or str(part).startswith("constrained-"):
                tag = True
                continue
            path += f".{part}" if path else str(part)
            holders = models
            models = []
            continue
        path += f".{part}" if path else str(part)
        holders = models
        models = _inner_models(field.annotation)
    return path, holders, tag


_BOUND_TEXT = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _constraints(obj: Any, out: list[str]) -> None:
    """Collect ``> 0``-style bounds from an annotation's metadata (through Optional, list, Annotated)."""
    for meta in getattr(obj, "metadata", None) or []:
        for attr, sym in _BOUND_TEXT.items():
            value = getattr(meta, attr, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                # (an integer whole: 2147483647, not 2.14748e+09)
                bound = f"{sym} {value}" if isinstance(value, int) else f"{sym} {value:g}"
                if bound not in out:
                    out.append(bound)
        _constraints(meta, out)
    for arg in typing.get_args(getattr(obj, "annotation", obj)):
        _constraints(arg, out)


def _allowed_range(loc: tuple[Any, ...], holders: list[type[BaseModel]]) -> str:
    """`` (allowed: >= 0 and < 1)`` for the field an error is about, or ``""`` when it has no bounds."""
    key = next((p for p in reversed(loc) if isinstance(p, str) and p not in _UNION_TAGS
                and not p.startswith("constrained-")), None)
    bounds: list[str] = []
    for model in holders:
        field = model.model_fields.get(key) if key is not None else None
        if field is not None:
            _constraints(field, bounds)
    return f" (allowed: {' and '.join(bounds)})" if bounds else ""


def _choices(expected: str) -> str:
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


def _format(err: dict[str, Any]) -> str:
    path, holders, _ = _walk(tuple(err["loc"]))
    where = path or "(top level)"
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = err["loc"][-1]
        # (under `models:`, every registered model, a model registered at run time included)
        fields = [models_config() if issubclass(m, ModelsConfig) else m for m in holders]
        allowed = sorted({f for m in fields for f in m.model_fields})
        parent = where.rsplit(".", 1)[0] if "." in where else "(top level)"
        return f"{parent}: unknown key {key!r}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "literal_error":
        return f"{where}: {value!r} is not one of: {_choices(err['ctx']['expected'])}"
    if kind == "value_error":
        msg = str(err["ctx"].get("error", err["msg"]))
        return f"{where}: {msg}"
    if isinstance(value, BooleanInput) and kind in _NUMBER_TYPES:
        # (pydantic alone reads true as 1: `epochs: yes` would be one epoch; greenbench.model_registry.StrictSettings)
        what = "an integer" if kind.startswith("int") else "a number"
        return (f"{where}: {value!r}: a boolean is not a number (YAML reads true/false, yes/no and on/off as "
                f"booleans); give {what}{_allowed_range(tuple(err['loc']), holders)}")
    if kind == "finite_number":
        return f"{where}: {value!r}: NaN and infinity are not allowed, give a finite number{_allowed_range(tuple(err['loc']), holders)}"
    return f"{where}: {value!r}: {err['msg'][0].lower()}{err['msg'][1:]}"


_NUMBER_TYPES = {"int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"}
_CONTAINER_TYPES = {"dict_type", "list_type", "tuple_type", "set_type", "model_type", "model_attributes_type"}


def _wrong_member(err: dict[str, Any]) -> bool:
    """Whether ``err`` only says that a value is not of a union member whose shape it plainly does not have:
    a number is not a ``dict``, a mapping is not a ``float``."""
    container = isinstance(err.get("input"), (dict, list, tuple))
    return err["type"] in _CONTAINER_TYPES and not container or err["type"].endswith("_type") and container


def _one_per_union(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the errors of the union members a value's shape does not fit, where another member's error remains.

    ``learning_rate: .inf`` fails both members of ``float | dict[...]``; the second line ('input should be a
    valid dictionary') would only mislead.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        at = _union_member(loc)
        if at is not None:
            groups.setdefault(loc[:at], []).append(err)
    dropped: set[int] = set()
    for members in groups.values():
        wrong = [e for e in members if _union_member(tuple(e["loc"])) == len(e["loc"]) - 1 and _wrong_member(e)]
        if len(wrong) < len(members):
            dropped.update(id(e) for e in wrong)
    return [e for e in errors if id(e) not in dropped]


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = []
    for err in _one_per_union(exc.errors(include_url=False)):
        line = f"{source}: {_format(err)}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def parse_suite(data: Any, source: str = "<suite>") -> Suite:
    """Validate already-parsed YAML/JSON data as a :class:`Suite`."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise SuiteError(f"{source}: a suite must be a mapping with at least a 'name' key, got {kind}")
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(format_validation_error(source, exc)) from None


def load_suite(path: str | Path) -> Suite:
    """Read and validate a YAML suite file; raises :class:`SuiteError` with one line per problem."""
    p = Path(path)
    source = str(path)
    try:
        with open(p, "rb") as fh:  # read at most one byte past the limit: /dev/zero must not fill memory
            raw = fh.read(MAX_SUITE_BYTES + 1)
        if len(raw) > MAX_SUITE_BYTES:
            raise SuiteError(
                f"{source}: too large for a suite file: more than {MAX_SUITE_BYTES // 1024} KiB "
                f"(the limit; a suite is a few KiB)"
            )
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{source}: no such suite file") from None
    except IsADirectoryError:
        raise SuiteError(f"{source}: is a directory, expected a YAML suite file") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{source}: not UTF-8 text (byte {exc.start}); a suite file is UTF-8 YAML") from None
    except PermissionError:  # the environment's fault, not the suite's (exit 1)
        raise EnvironmentFault(f"{source}: cannot read suite file: permission denied (EACCES); make it readable "
                               "for this user or copy it somewhere readable") from None
    except OSError as exc:
        raise SuiteError(f"{source}: cannot read suite file: {exc.strerror or exc}") from None
    try:
        data = _read_yaml(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{source}: {where}invalid YAML: {problem}") from None
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise SuiteError(f"{source}: nested too deeply (hundreds of levels); a suite needs a few") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value PyYAML recognised but Python refused
        raise SuiteError(f"{source}: invalid YAML value: {exc}") from None
    return parse_suite(data, source)


__all__ = ["load_suite", "parse_suite", "format_validation_error"]
