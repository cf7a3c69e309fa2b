"""A model's JSON argument → the Python value the hint asks for, or one line saying why not.

The counterpart of ``_schema.describe``: every hint described there is checked and built here
— a dataclass from its object, an Enum from its value, a pydantic model by its own
``model_validate`` (its ``ValidationError`` becomes the reason) — so the function gets what
its signature promises, and a model that sent the wrong shape is told which argument and why,
and can try again.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
from collections import abc
from typing import Annotated, Any, Literal, Union

from ..structured import json_kind
from ._schema import enum_values, is_pydantic_model, is_typeddict, record_fields

_SIMPLE: dict[Any, str] = {str: "a string", int: "an integer", float: "a number",
                           bool: "a boolean (true or false)"}
_ARRAYS = {list: list, set: set, frozenset: frozenset, tuple: tuple, abc.Sequence: list,
           abc.MutableSequence: list, abc.Set: set, abc.MutableSet: set, abc.Iterable: list,
           abc.Collection: list}
_OBJECTS = (dict, abc.Mapping, abc.MutableMapping)
#: at most this many of pydantic's errors are sent back (the model fixes the first ones first)
PYDANTIC_ERRORS = 5


def convert(hint: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as ``hint`` asks; raises ``ValueError`` naming ``where`` (a plain
    ValueError, caught by ``run``: it becomes the error result, never escapes)."""
    if hint is Any or hint is object:
        return value
    if hint is None or hint is type(None):
        if value is not None:
            raise ValueError(f"{where}: expected null, got {json_kind(value)}")
        return None
    if hint in _SIMPLE:
        return _simple(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return convert(args[0], value, where)
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            raise ValueError(f"{where}: {value!r} is not one of {list(args)!r}")
        return value
    if origin is Union or isinstance(hint, types.UnionType):
        return _union(args, value, where)
    if isinstance(hint, type):
        if issubclass(hint, (datetime.date, datetime.datetime)):
            return _when(hint, value, where)
        if issubclass(hint, enum.Enum):
            return _enum(hint, value, where)
        if is_pydantic_model(hint):
            return _pydantic(hint, value, where)
        if dataclasses.is_dataclass(hint) or is_typeddict(hint):
            return _record(hint, value, where)
    if origin is tuple or hint is tuple:
        return _tuple(args, value, where)
    if origin in _ARRAYS or hint in (list, set, frozenset):
        items = [convert(args[0] if args else Any, v, f"{where}[{i}]")
                 for i, v in enumerate(_expect(list, value, where))]
        return _ARRAYS[origin or hint](items)
    if origin in _OBJECTS or hint is dict:
        return {k: convert(args[1] if args else Any, v, f"{where}.{k}")
                for k, v in _expect(dict, value, where).items()}
    return value  # not reached: _schema refused every other hint when the tool was made


def _simple(hint: type, value: Any, where: str) -> Any:
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)  # 3.0 is the integer 3 in JSON's eyes
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ValueError(f"{where}: expected {_SIMPLE[hint]}, got {json_kind(value)}")


def _union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    others = [o for o in options if o is not type(None)]
    if value is not None and len(others) == 1:  # Optional[X]: X's own reason, not "null or…"
        return convert(others[0], value, where)
    reasons = []
    for option in sorted(options, key=lambda o: o is not type(None)):  # None first: cheap
        try:
            return convert(option, value, where)
        except ValueError as exc:
            reasons.append(str(exc).removeprefix(f"{where}: "))
    raise ValueError(f"{where}: fits none of the allowed forms ({'; '.join(reasons)})")


def _enum(cls: type[enum.Enum], value: Any, where: str) -> Any:
    allowed = enum_values(cls)
    if value in allowed:
        return cls(value) if allowed == [m.value for m in cls] else cls[value]
    raise ValueError(f"{where}: {value!r} is not one of {allowed!r}")


def _when(cls: type, value: Any, where: str) -> Any:
    text = _expect(str, value, where)
    try:
        return cls.fromisoformat(text)  # type: ignore[attr-defined]
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an ISO 8601 "
                              f"{'date and time' if cls is datetime.datetime else 'date'}"
                              ) from None


def _tuple(args: tuple[Any, ...], value: Any, where: str) -> tuple[Any, ...]:
    items = _expect(list, value, where)
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        hint = args[0] if args else Any
        return tuple(convert(hint, v, f"{where}[{i}]") for i, v in enumerate(items))
    if len(items) != len(args):
        raise ValueError(f"{where}: expected {len(args)} items, got {len(items)}")
    return tuple(convert(h, v, f"{where}[{i}]") for i, (h, v) in enumerate(zip(args, items, strict=True)))


def _record(cls: type, value: Any, where: str) -> Any:
    data = _expect(dict, value, where)
    fields, required = record_fields(cls)
    missing = [k for k in fields if k in required and k not in data]
    if missing:
        raise ValueError(f"{where}: the field {missing[0]!r} of {cls.__name__} is missing")
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ValueError(f"{where}: {cls.__name__} has no field {unknown[0]!r} (its fields: "
                              f"{', '.join(fields)})")
    built = {k: convert(fields[k], v, f"{where}.{k}") for k, v in data.items()}
    if is_typeddict(cls):
        return built
    try:
        return cls(**built)
    except (TypeError, ValueError) as exc:  # the dataclass's own __post_init__ checks
        raise ValueError(f"{where}: {cls.__name__} refused it: {exc}") from None


def _pydantic(model: Any, value: Any, where: str) -> Any:
    from pydantic import ValidationError  # a model exists: pydantic is imported already

    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ValueError(f"{where}: {pydantic_reason(exc)}") from None


def pydantic_reason(exc: Any) -> str:
    """pydantic's errors as "field: message" (no URLs: the model needs the field, not docs)."""
    errors = exc.errors(include_url=False)
    shown = [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'the value'}: {e.get('msg')}"
             for e in errors[:PYDANTIC_ERRORS]]
    more = f" (and {len(errors) - PYDANTIC_ERRORS} more)" if len(errors) > PYDANTIC_ERRORS else ""
    return "; ".join(shown) + more if shown else str(exc).splitlines()[0]


def _expect(kind: type, value: Any, where: str) -> Any:
    if not isinstance(value, kind):
        wants: dict[type, str] = {list: "an array", dict: "an object", str: "a string"}
        want = wants[kind]
        raise ValueError(f"{where}: expected {want}, got {json_kind(value)}")
    return value
