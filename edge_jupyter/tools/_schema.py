"""A Python callable → the ``ChatFunctionTool`` OpenRouter takes: its name, its description
and the JSON Schema of its parameters, from the signature, the type hints and the docstring.

What each hint becomes (``describe``):

==============================  =============================================================
``str`` ``int`` ``float`` ``bool``  ``{"type": "string"|"integer"|"number"|"boolean"}``
``None``                          ``{"type": "null"}``
no hint, ``Any``, ``object``      ``{}`` (any JSON value; the docstring's words describe it)
``X | None``, ``Optional[X]``     ``{"anyOf": [X, {"type": "null"}]}`` (any ``Union`` likewise)
``Literal["a", "b"]``             ``{"type": "string", "enum": ["a", "b"]}``
an ``Enum``                       ``enum`` of its values (its names when the values are not JSON)
``list[X]`` ``set[X]`` ``Sequence[X]``  ``{"type": "array", "items": X}``
``tuple[X, ...]`` / ``tuple[A, B]``  an array of X / of exactly A then B (``prefixItems``)
``dict[str, X]`` ``Mapping[str, X]``  ``{"type": "object", "additionalProperties": X}``
a dataclass, a TypedDict          an object of its fields (those without a default required)
a pydantic model                  its ``model_json_schema()`` (``$defs`` moved to the top)
``datetime`` / ``date``           ``{"type": "string", "format": "date-time"|"date"}``
``Annotated[X, "words"]``         X, described by the words
==============================  =============================================================

A parameter with a default is not required (its JSON default is shown to the model);
``*args`` and ``**kwargs`` are left out — a model calls by name, and the function works
without them — so an argument the model invents is refused, not passed on.  Any other hint is
a :class:`ToolError` naming the parameter.  pydantic is never imported here: a hint can only
be a pydantic model if pydantic was imported by whoever defined it.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import json
import re
import sys
import types
import typing
from collections import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from ._errors import ToolError

#: ``ChatFunctionTool.function.name``: what OpenRouter (and OpenAI) accept as a tool's name
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               type(None): "null"}
_ARRAYS = (list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet,
           abc.Iterable, abc.Collection)
_OBJECTS = (dict, abc.Mapping, abc.MutableMapping)
_HINT_HELP = ("use str, int, float, bool, None, a list, tuple or dict of those, a Literal, an "
              "Enum, a dataclass, a TypedDict or a pydantic model")


@dataclass(frozen=True)
class Param:
    """One parameter a model fills by name (``*args``/``**kwargs`` are never one)."""

    name: str
    hint: Any  # the resolved hint; ``Any`` when there is none
    required: bool
    positional_only: bool  # passed by position: ``def f(a, /)``
    default: Any = inspect.Parameter.empty


@dataclass(frozen=True)
class Tool:
    """A callable read once: what the model is offered (``spec``) and what ``run`` needs."""

    name: str
    fn: Callable[..., Any]
    params: tuple[Param, ...]
    spec: dict[str, Any] = field(compare=False)
    is_async: bool = False

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def function_tool(fn: Callable[..., Any]) -> dict[str, Any]:
    """The ``ChatFunctionTool`` of ``fn`` (``{"type": "function", "function": {...}}``);
    raises :class:`ToolError` (one line) when ``fn`` cannot be a tool."""
    return read_tool(fn).spec


def tool_name(fn: Any) -> str:
    """The name the model calls ``fn`` by: its ``__name__`` (a partial's function's)."""
    if not callable(fn):
        raise ToolError(f"{fn!r} is a {type(fn).__name__}, not a function: a tool must be "
                        "callable.")
    # a functools.partial: its function's name; an object with __call__: its class's name
    name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None) \
        or type(fn).__name__
    if not isinstance(name, str) or name == "<lambda>":
        raise ToolError(f"{fn!r} has no name a model can call: define it with def.")
    if not NAME.match(name):
        raise ToolError(f"The function name {name!r} cannot be a tool name (letters, digits, _ "
                        "and - only, at most 64): rename it, or wrap it in a def.")
    return name


def read_tool(fn: Callable[..., Any]) -> Tool:
    """``fn`` read into a :class:`Tool`; raises :class:`ToolError`."""
    name = tool_name(fn)
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, SyntaxError, TypeError, AttributeError) as exc:
        # NameError: a string hint naming something not defined (yet); TypeError/ValueError:
        # a builtin without a readable signature
        raise ToolError(f"The type hints of {name}() cannot be read ({type(exc).__name__}: "
                        f"{_first_line(exc)}): define what they name, or drop the hint.") from None
    except ValueError:
        raise ToolError(f"{name}() has no signature Python can read (a builtin?): wrap it in a "
                        "def with named, typed parameters.") from None
    docs = _docs(fn)
    params: list[Param] = []
    properties: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue  # a model calls by name; the function works without them
        hint = Any if p.annotation is p.empty else p.annotation
        where = f"{p.name!r} of {name}()"
        schema = describe(hint, where, defs)
        type_name, words = docs.params.get(p.name, ("", ""))
        if words and p.annotation is p.empty and type_name:
            words = f"({type_name}) {words}"  # the docstring's type, where no hint gives one
        if words:
            schema = {**schema, "description": words}
        if p.default is not p.empty:
            default = _json_default(p.default)
            if default is not _NO_DEFAULT:
                schema = {**schema, "default": default}
        properties[p.name] = schema
        params.append(Param(p.name, hint, p.default is p.empty, p.kind is p.POSITIONAL_ONLY,
                            p.default))
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    required = [p.name for p in params if p.required]
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False  # run() refuses an argument it does not know
    if defs:
        parameters["$defs"] = defs
    function: dict[str, Any] = {"name": name, "description": docs.description or
                                f"The Python function {name}{_plain_signature(signature)}.",
                                "parameters": parameters}
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        vars(type(fn)).get("__call__"))
    return Tool(name, fn, tuple(params), {"type": "function", "function": function}, is_async)


def describe(hint: Any, where: str, defs: dict[str, Any], seen: tuple[Any, ...] = ()) -> dict[str, Any]:
    """The JSON Schema of one type hint (the table in the module docstring); pydantic models'
    ``$defs`` are gathered into ``defs``; raises :class:`ToolError` naming ``where``."""
    if hint is Any or hint is object or hint is inspect.Parameter.empty:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint in _PRIMITIVES:
        return {"type": _PRIMITIVES[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        inner = describe(args[0], where, defs, seen)
        words = " ".join(a for a in args[1:] if isinstance(a, str))
        return {**inner, "description": words} if words else inner
    if origin is Literal:
        return {**_same_type(list(args)), "enum": list(args)}
    if origin is Union or isinstance(hint, types.UnionType):
        return {"anyOf": [describe(a, where, defs, seen) for a in args]}
    if isinstance(hint, type):
        if hint in seen:
            raise ToolError(f"The parameter {where} refers to itself through {hint.__name__}: a "
                            "tool's arguments are plain JSON; flatten the type.")
        if issubclass(hint, datetime.datetime):
            return {"type": "string", "format": "date-time"}
        if issubclass(hint, datetime.date):
            return {"type": "string", "format": "date"}
        if issubclass(hint, enum.Enum):
            values = enum_values(hint)
            return {**_same_type(values), "enum": values}
        if is_pydantic_model(hint):
            return _pydantic(hint, defs)
        if dataclasses.is_dataclass(hint) or is_typeddict(hint):
            return _record(hint, where, defs, (*seen, hint))
    if origin is tuple or hint is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return {"type": "array", "items": describe(args[0], where, defs, seen) if args else {}}
        items = [describe(a, where, defs, seen) for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items),
                "maxItems": len(items)}
    if origin in _ARRAYS or hint in (list, set, frozenset):
        return {"type": "array", "items": describe(args[0], where, defs, seen) if args else {}}
    if origin in _OBJECTS or hint is dict:
        if args and args[0] not in (str, Any):
            raise ToolError(f"The parameter {where} is a dict with {args[0]!r} keys: JSON object "
                            "keys are strings; use dict[str, ...].")
        return {"type": "object",
                "additionalProperties": describe(args[1], where, defs, seen) if args else {}}
    raise ToolError(f"The parameter {where} has the type {_hint_name(hint)}, which has no JSON "
                    f"form a model can send: {_HINT_HELP}.")


def is_pydantic_model(obj: Any) -> bool:
    """Without importing pydantic: a model class exists only once someone imported it."""
    if sys.modules.get("pydantic") is None:
        return False
    from pydantic import BaseModel

    return isinstance(obj, type) and issubclass(obj, BaseModel)


def is_typeddict(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, dict) and hasattr(obj, "__total__") \
        and hasattr(obj, "__annotations__")


def record_fields(cls: type) -> tuple[dict[str, Any], set[str]]:
    """A dataclass's or TypedDict's fields (name → hint) and the names that are required."""
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        fields = [f for f in dataclasses.fields(cls) if f.init]
        required = {f.name for f in fields if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        return {f.name: hints.get(f.name, Any) for f in fields}, required
    return hints, set(getattr(cls, "__required_keys__", hints))


def enum_values(cls: type[enum.Enum]) -> list[Any]:
    """What the model sends for an Enum: its values when they are JSON, else its names."""
    values = [m.value for m in cls]
    if all(isinstance(v, (str, int, float, bool)) or v is None for v in values):
        return values
    return list(cls.__members__)


def _record(cls: type, where: str, defs: dict[str, Any], seen: tuple[Any, ...]) -> dict[str, Any]:
    try:
        fields, required = record_fields(cls)
    except (NameError, TypeError) as exc:
        raise ToolError(f"The fields of {cls.__name__} (parameter {where}) cannot be read: "
                        f"{_first_line(exc)}.") from None
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: describe(v, f"{where} (field {k!r} of {cls.__name__})", defs, seen)
                       for k, v in fields.items()},
        "additionalProperties": False}
    if required:
        schema["required"] = [k for k in fields if k in required]
    own = vars(cls).get("__doc__")  # its own: not dict's, which a TypedDict would inherit
    doc = inspect.cleandoc(own) if isinstance(own, str) else ""
    if doc and not doc.startswith(f"{cls.__name__}("):  # not the dataclass's generated one
        schema["description"] = doc.split("\n\n")[0].strip()
    return schema


def _pydantic(model: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    for key, value in schema.pop("$defs", {}).items():
        defs.setdefault(key, value)  # refs point at the top-level $defs of the parameters
    return schema


def _same_type(values: list[Any]) -> dict[str, Any]:
    """``{"type": ...}`` when every value of an enum is of one JSON type (models read it)."""
    kinds = {_PRIMITIVES.get(type(v)) for v in values}
    return {"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {}


_NO_DEFAULT = object()


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):  # as the model sends it: its value, or its name
        value = value.value if value.value in enum_values(type(value)) else value.name
    try:
        return json.loads(json.dumps(value, allow_nan=False))  # a tuple shown as a list
    except (TypeError, ValueError):
        return _NO_DEFAULT  # a default the model cannot read (an object): not shown


@dataclass(frozen=True)
class _Docs:
    description: str
    params: dict[str, tuple[str, str]]  # name → (the docstring's type, its words)


def _docs(fn: Any) -> _Docs:
    """The docstring's summary (and further text) and its Args:/Parameters descriptions
    (Google, NumPy, reST and Epydoc styles, read by ``docstring_parser``)."""
    doc = inspect.getdoc(fn)
    if isinstance(fn, type) and dataclasses.is_dataclass(fn) and doc and \
            doc.startswith(f"{fn.__name__}("):
        doc = None  # the generated "Name(a: int, ...)" says nothing the schema does not
    if not doc:
        return _Docs("", {})
    import docstring_parser  # here: ~15 ms, and only when a tool is made

    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        return _Docs(doc.strip(), {})
    text = "\n\n".join(t for t in (parsed.short_description, parsed.long_description) if t)
    params = {}
    for p in parsed.params:
        words = " ".join((p.description or "").split())
        if words:
            params[p.arg_name.lstrip("*")] = ((p.type_name or "").strip(), words)
    return _Docs(text.strip(), params)


def _plain_signature(signature: inspect.Signature) -> str:
    return "(" + ", ".join(n for n, p in signature.parameters.items()
                           if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)) + ")"


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
