"""Structured answers: a schema from the notebook (a pydantic model, a dataclass, a TypedDict,
a JSON-Schema dict) → ``response_format`` ``json_schema`` (strict) → a validated instance.

- :func:`schema_of` (``_schema``): the :class:`Schema` of an object, its ``response_format``;
- :func:`validate` (``_validate``): an answer's text → the instance, or a one-line ValueError;
- :func:`columns` (``_frame``): ``map``'s typed column per field;
- ``_plain``: the same without pydantic (standard library only), and for JSON-Schema dicts;
- ``_errors``: :class:`SchemaError` (not a schema), :class:`AnswerInvalid` (``ask``'s answer
  does not fit).

pydantic is optional and imported lazily: only when a dataclass/TypedDict is converted or a
pydantic model is met (``%load_ext`` imports none of this package).
"""

from __future__ import annotations

from ._errors import AnswerInvalid, SchemaError
from ._frame import columns
from ._plain import json_kind
from ._schema import Schema, schema_of
from ._validate import validate

#: ``supported_parameters`` entries in ``/models`` that mean a model takes ``response_format``
SUPPORT_PARAMETERS = ("structured_outputs", "response_format")
#: OpenRouter's plugin that repairs malformed JSON answers (``ResponseHealingPlugin``)
HEALING_PLUGIN = {"id": "response-healing"}

__all__ = ["HEALING_PLUGIN", "SUPPORT_PARAMETERS", "AnswerInvalid", "Schema", "SchemaError",
           "columns", "json_kind", "schema_of", "validate"]
