"""The structured-answer branch of the error tree."""

from __future__ import annotations

from ..errors import EdgeError


class SchemaError(EdgeError):
    """``--schema NAME`` / ``schema=`` names something that is not a schema (a pydantic
    model, a dataclass, a TypedDict or a JSON-Schema dict); nothing was sent."""


class AnswerInvalid(EdgeError):
    """The answer arrived (and was paid for) but does not fit the schema; ``result`` holds
    it, its raw text in ``.text``, the reason in ``.error`` (``ask`` raises it)."""

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result
