"""Loading suite files with errors a person can act on.

Every problem becomes one line of the form ``<file>: <key path>: <what is wrong>``,
for example ``suites/x.yaml: matrix.backend[1]: 'pytorch' is not one of: torch, tensorflow``.
YAML is loaded with the safe loader; duplicate keys are errors, not silently last-one-wins.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from greenbench.errors import SuiteError
from greenbench.suite.schema import Suite


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, list, dict, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_inner_models(arg))
    return out


_UNION_TAGS = {"float", "int", "str", "bool", "none", "list", "dict"}


def _walk(loc: tuple[Any, ...]) -> tuple[str, list[type[BaseModel]]]:
    """Turn a pydantic error location into ``a.b[1].c`` and the model(s) that hold its last key."""
    path = ""
    models: list[type[BaseModel]] = [Suite]
    holders: list[type[BaseModel]] = [Suite]
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        field = next((m.model_fields[part] for m in models if part in m.model_fields), None)
        if field is None:
            # pydantic inserts union-member tags (e.g. 'float', 'dict[...]') into locations; dict keys too.
            if part in _UNION_TAGS or "[" in str(part):
                continue
            path += f".{part}" if path else str(part)
            holders = models
            models = []
            continue
        path += f".{part}" if path else str(part)
        holders = models
        models = _inner_models(field.annotation)
    return path, holders


def _choices(expected: str) -> str:
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


def _format(err: dict[str, Any]) -> str:
    path, holders = _walk(tuple(err["loc"]))
    where = path or "(top level)"
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = err["loc"][-1]
        allowed = sorted({f for m in holders for f in m.model_fields})
        parent = where.rsplit(".", 1)[0] if "." in where else "(top level)"
        return f"{parent}: unknown key {key!r}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "literal_error":
        return f"{where}: {value!r} is not one of: {_choices(err['ctx']['expected'])}"
    if kind == "value_error":
        msg = str(err["ctx"].get("error", err["msg"]))
        return f"{where}: {msg}"
    return f"{where}: {value!r}: {err['msg'][0].lower()}{err['msg'][1:]}"


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
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
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{source}: no such suite file") from None
    except IsADirectoryError:
        raise SuiteError(f"{source}: is a directory, expected a YAML suite file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{source}: cannot read suite file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{source}: {where}invalid YAML: {problem}") from None
    return parse_suite(data, source)


__all__ = ["load_suite", "parse_suite", "format_validation_error"]
