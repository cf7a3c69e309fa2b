"""An answer's text → an instance of the schema's type, or one readable reason why not."""

from __future__ import annotations

from typing import Any

from ._schema import Schema


def _pydantic_reason(exc: Any) -> str:
    """pydantic's first error as "field.sub: message" (one line, no URL)."""
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the answer"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def validate(schema: Schema, text: str) -> Any:
    """The validated instance (a pydantic model, a dataclass, a dict for a TypedDict or a
    JSON-Schema dict); raises ValueError with one line naming the schema and the field."""
    from ..answer_format import parse_json_answer

    try:
        data = parse_json_answer(text)
    except ValueError as exc:
        raise ValueError(str(exc).replace("not valid JSON", f"not valid JSON for the schema "
                                                          f"{schema.name}", 1)) from None
    try:
        return _instance(schema, data)
    except ValueError as exc:
        raise ValueError(f"The answer does not match the schema {schema.name}: {exc}.") from None


def _instance(schema: Schema, data: Any) -> Any:
    if schema.by_pydantic:
        from pydantic import TypeAdapter, ValidationError

        try:
            if schema.kind == "pydantic":
                return schema.target.model_validate(data)
            return TypeAdapter(schema.target).validate_python(data)
        except ValidationError as exc:
            raise ValueError(_pydantic_reason(exc)) from None
    from ._plain import build, check, describe

    if schema.kind == "dict":
        check(data, schema.json_schema)
        return data
    # the type's own rules (a field with a default may be left out), not the strict form sent
    check(data, describe(schema.target))
    return data if schema.kind == "typeddict" else build(schema.target, data)
