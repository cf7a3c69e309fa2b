"""``map(..., schema=)``: the validated answers of the rows as one typed column per field.

dtypes from the JSON Schema of each top-level property: ``integer`` → ``Int64``, ``number``
→ ``float64``, ``boolean`` → ``boolean``, ``string`` → ``string`` (all nullable: a row that
failed or did not fit is NA), anything else (objects, arrays, unions) → ``object``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from ._schema import Schema

_DTYPES = {"integer": "Int64", "number": "float64", "boolean": "boolean", "string": "string"}


def field_kind(prop: dict[str, Any]) -> str:
    """The one JSON type of a property (``anyOf`` with null counts as the other), or ""."""
    options = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(options, list):
        kinds = [field_kind(o) for o in options if o.get("type") != "null"]
        return kinds[0] if len(kinds) == 1 else ""
    kind = prop.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 else ""
    return kind if isinstance(kind, str) else ""


def as_fields(instance: Any) -> dict[str, Any]:
    """A validated instance as {field: value} (pydantic model, dataclass or dict)."""
    if hasattr(instance, "model_dump"):
        return dict(instance.model_dump())
    if dataclasses.is_dataclass(instance) and not isinstance(instance, type):
        return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}
    return dict(instance) if isinstance(instance, dict) else {}


def columns(schema: Schema, instances: list[Any], taken: set[str]) -> dict[str, Any]:
    """One array per top-level field, in the schema's order, aligned to
    ``instances`` (None: NA). A field named like one of ``taken`` gets a ``value_`` prefix."""
    import numpy as np
    import pandas as pd

    props = schema.json_schema.get("properties") or {}
    rows = [as_fields(i) if i is not None else None for i in instances]
    out: dict[str, Any] = {}
    for name, prop in props.items():
        values = [None if r is None else r.get(name) for r in rows]
        dtype = _DTYPES.get(field_kind(prop) if isinstance(prop, dict) else "", "object")
        column = f"value_{name}" if name in taken else name
        # arrays, not Series: the frame puts them on its own index, row for row
        if dtype == "float64":
            out[column] = np.array([np.nan if v is None else v for v in values], dtype="float64")
        elif dtype == "object":
            column_values = np.empty(len(values), dtype=object)
            column_values[:] = values  # lists stay one value each, not a 2-D array
            out[column] = column_values
        else:
            out[column] = pd.array(values, dtype=cast(Any, dtype))  # a name pandas-stubs lists apart
    return out
