"""``{expression}`` interpolation of a prompt, like an f-string; ``{{`` is a literal brace."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from ..errors import EdgeError


class InterpolationError(EdgeError):
    """A ``{…}`` that cannot be filled; the message names it and says what to do."""


_formatter = string.Formatter()


def interpolate(template: str, namespace: Mapping[str, Any]) -> str:
    """Fill every ``{expr}`` (with ``!r``/``!s``/``!a`` and ``:spec`` as in f-strings)."""
    try:
        parts = list(_formatter.parse(template))
    except ValueError as exc:
        raise InterpolationError(
            f"The prompt has an unmatched brace ({exc}). Write {{{{ or }}}} for a literal brace.") from None
    out: list[str] = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        expression = field.strip()
        if not expression:
            raise InterpolationError("The prompt has an empty {}. Write {{}} for literal braces.")
        try:
            value = eval(expression, {"__builtins__": __builtins__}, dict(namespace))
        except NameError as exc:
            name = getattr(exc, "name", None) or str(exc)
            raise InterpolationError(
                f"{{{expression}}}: name {name!r} is not defined. Define it in a cell above, "
                f"or write {{{{{expression}}}}} to keep the braces.") from None
        except Exception as exc:
            raise InterpolationError(
                f"{{{expression}}} could not be evaluated: {type(exc).__name__}: {exc}") from None
        if conversion == "r":
            value = repr(value)
        elif conversion == "a":
            value = ascii(value)
        elif conversion == "s":
            value = str(value)
        try:
            out.append(format(value, spec or ""))
        except (TypeError, ValueError) as exc:
            raise InterpolationError(f"{{{expression}:{spec}}}: {exc}") from None
    return "".join(out)
