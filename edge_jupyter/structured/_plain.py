"""Dataclasses and TypedDicts without pydantic, and JSON-Schema dicts: described and checked
with the standard library only (plain types: str, int, float, bool, None, list, dict,
``Optional``/unions, ``Literal``, nested dataclasses and TypedDicts)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               type(None): "null"}


def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _required(cls: Any) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return sorted(getattr(cls, "__required_keys__", _hints(cls)))


def describe(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a type hint."""
    from ._schema import SchemaError, is_typeddict

    if tp in _PRIMITIVES:
        return {"type": _PRIMITIVES[tp]}
    if tp is Any:
        return {}
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or is_typeddict(tp)):
        hints = _hints(tp)
        return {"type": "object", "properties": {k: describe(v) for k, v in hints.items()},
                "required": _required(tp)}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": describe(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": describe(args[1]) if args else {}}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is Union or isinstance(tp, types.UnionType):
        return {"anyOf": [describe(a) for a in args]}
    if tp in (list, dict):
        return {"type": "array" if tp is list else "object"}
    raise SchemaError(f"The field type {tp!r} cannot be described without pydantic; "
                      "install pydantic or use str, int, float, bool, lists and dicts.")


def json_kind(value: Any) -> str:
    """A JSON value's kind as a person says it ("a string", "an array", "null"): the one
    wording of schema checks and of tool arguments."""
    for py, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                     (str, "a string"), (list, "an array"), (dict, "an object")):
        if isinstance(value, py):
            return name
    return "null" if value is None else type(value).__name__


def _fits(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    py = {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}
    return isinstance(value, py.get(kind, object))


def check(value: Any, schema: dict[str, Any], where: str = "", defs: dict[str, Any] | None = None
          ) -> None:
    """Raise ValueError("where: what") when ``value`` does not fit ``schema`` (the keywords a
    structured answer uses: type, enum, const, properties, required, additionalProperties,
    items, anyOf, $ref to $defs)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    at = where or "the answer"
    if "$ref" in schema:
        schema = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        for option in options:
            try:
                check(value, option, where, defs)
                return
            except ValueError:
                continue
        raise ValueError(f"{at}: {json_kind(value)} fits none of the allowed forms")
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{at}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        raise ValueError(f"{at}: {value!r} is not {schema['const']!r}")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_fits(value, k) for k in kinds):
        raise ValueError(f"{at}: expected {' or '.join(kinds)}, got {json_kind(value)}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                raise ValueError(f"{at}: the field {key!r} is missing")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                check(item, props[key], f"{where}.{key}" if where else key, defs)
            elif extra is False:
                raise ValueError(f"{at}: unexpected field {key!r}")
            elif isinstance(extra, dict):
                check(item, extra, f"{where}.{key}" if where else key, defs)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            check(item, schema["items"], f"{where}[{i}]", defs)


def build(tp: Any, value: Any) -> Any:
    """``value`` (checked against ``describe(tp)``) as an instance of ``tp``: nested
    dataclasses built, TypedDicts left as dicts."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return tp(**{k: build(hints[k], v) for k, v in value.items() if k in hints})
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple, set, frozenset) and args and isinstance(value, list):
        items = [build(args[0], v) for v in value]
        return items if origin is list else origin(items)
    if (origin is Union or isinstance(tp, types.UnionType)) and value is not None:
        for option in args:
            if option is not type(None) and isinstance(option, type) and \
                    dataclasses.is_dataclass(option) and isinstance(value, dict):
                return build(option, value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value
