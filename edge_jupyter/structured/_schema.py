"""A schema object from the notebook → the ``response_format`` OpenRouter takes, and back.

Four kinds are taken: a pydantic model, a dataclass, a TypedDict, a JSON-Schema dict.

Why pydantic's ``TypeAdapter`` for dataclasses and TypedDicts when pydantic is installed:
one library then writes the JSON Schema *and* validates against it, so the two never
disagree (nested types, ``Literal``, ``Optional``, lists of dataclasses), and it builds the
dataclass instance itself. pydantic stays optional: without it a dataclass or TypedDict of
plain types (str, int, float, bool, lists, dicts, ``Optional``, ``Literal``, nested ones)
is described and checked by the small standard-library code in ``_plain``. pydantic is
imported only when a pydantic model is met or a dataclass/TypedDict is converted, never at
``%load_ext``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from ._errors import SchemaError

_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Schema:
    """What to ask for (``json_schema``) and what to build from the answer (``target``)."""

    name: str
    json_schema: dict[str, Any] = field(hash=False, compare=False)
    #: the object given: a pydantic model class, a dataclass, a TypedDict or the dict itself
    target: Any = field(hash=False, compare=False, repr=False)
    kind: str = "dict"  # "pydantic", "dataclass", "typeddict" or "dict"
    #: who validates: pydantic (its TypeAdapter wrote the schema) or the standard library
    by_pydantic: bool = False

    def response_format(self) -> dict[str, Any]:
        """The body's ``response_format`` (``ChatFormatJsonSchemaConfig``), strict."""
        return {"type": "json_schema",
                "json_schema": {"name": self.name, "strict": True, "schema": self.json_schema}}


def _is_pydantic_model(obj: Any) -> bool:
    if sys.modules.get("pydantic") is None:  # not imported by anyone: obj cannot be a model
        return False
    from pydantic import BaseModel

    return isinstance(obj, type) and issubclass(obj, BaseModel)


def is_typeddict(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, dict) and hasattr(obj, "__annotations__") \
        and hasattr(obj, "__total__")


def _has_pydantic() -> bool:
    try:
        import pydantic  # noqa: F401
    except ImportError:
        return False
    return True


def strict(schema: Any) -> Any:
    """The schema as strict mode requires (the rules of the ``openai`` library's
    ``to_strict_json_schema``): every object closed (``additionalProperties: false``) with
    every property required (a field with a default is then always answered), no
    ``default: null``; pydantic's ``title`` keys dropped (noise the model need not read)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()
           if not (k == "title" and isinstance(v, str)) and not (k == "default" and v is None)}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if isinstance(schema.get("properties"), dict):  # names are data, never dropped as "title"
        out["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        out["required"] = list(schema["properties"])
    return out


def schema_of(obj: Any, name: str | None = None) -> Schema:
    """The :class:`Schema` of ``obj``; raises :class:`SchemaError` (one line) otherwise."""
    if isinstance(obj, Schema):
        return obj
    label = name or getattr(obj, "__name__", None) or "answer"
    if isinstance(obj, dict):
        if obj.get("type") != "object" and "properties" not in obj and "$ref" not in obj:
            raise SchemaError(f"The schema {label!r} is a dict but not a JSON Schema of an object "
                              '(it needs "type": "object" and "properties").')
        title = obj.get("title") if isinstance(obj.get("title"), str) else None
        return Schema(_clean(name or title or "answer"), obj, obj, "dict")
    if _is_pydantic_model(obj):
        return Schema(_clean(label), strict(obj.model_json_schema()), obj, "pydantic", True)
    kind = "dataclass" if isinstance(obj, type) and dataclasses.is_dataclass(obj) else (
        "typeddict" if is_typeddict(obj) else "")
    if not kind:
        raise SchemaError(f"{label!r} is of type {type(obj).__name__}, not a schema: give a pydantic "
                          "model, a dataclass, a TypedDict or a JSON-Schema dict (the class, "
                          "not an instance).")
    if _has_pydantic():
        from pydantic import PydanticUserError, TypeAdapter

        try:
            return Schema(_clean(label), strict(TypeAdapter(obj).json_schema()), obj, kind, True)
        except PydanticUserError:
            pass  # typing.TypedDict before Python 3.12: pydantic refuses it, _plain takes it
        except Exception as exc:  # a field type pydantic cannot describe
            raise SchemaError(f"{label!r} cannot be described as a JSON Schema: "
                              f"{str(exc).splitlines()[0]}") from None
    from ._plain import describe

    return Schema(_clean(label), strict(describe(obj)), obj, kind)


def _clean(name: str) -> str:
    """``json_schema.name``: letters, digits, ``_`` and ``-``, at most 64 (OpenAI's rule)."""
    return (_NAME.sub("_", name) or "answer")[:64]
